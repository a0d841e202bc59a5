#!/usr/bin/env bash
# The docker test stage: prepare Docker (engine, compose, local base image, wheelhouse; see
# ci/docker-setup.sh), then build the image and run the compose stack end to end
# (tests/test_docker.py). Run as root from anywhere in the repository:
#   bash ci/run-docker-tests.sh [extra pytest arguments]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
export PYTHON

start=$(date +%s)
bash ci/docker-setup.sh
echo "[run-docker-tests] setup took $(( $(date +%s) - start )) s" >&2

"$PYTHON" -m pytest -m docker tests/test_docker.py -v -p no:cacheprovider --durations=0 "$@"
