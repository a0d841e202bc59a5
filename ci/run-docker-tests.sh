#!/usr/bin/env bash
# The docker test stage: run the README's compose recipe exactly as written (the lines of the
# README between `<!-- compose-recipe: begin -->` and `<!-- compose-recipe: end -->`: Docker
# setup, `docker-compose up`, a training run from the host on the workers, one through the
# flows service), then check the stack it left running (tests/test_docker.py), then take the
# stack down (`docker-compose down -v`), whatever happened. Run as root from anywhere in the
# repository:
#   bash ci/run-docker-tests.sh [extra pytest arguments]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
export PYTHON

log() { printf '[run-docker-tests] %s\n' "$*" >&2; }

# The recipe's host commands (`logloss`, `prefect`) must run this checkout's code, which the
# image is built from (the workers unpickle its functions). CI installs the checkout with
# `pip install -e .` first; PYTHONPATH also covers a machine where another copy is installed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

recipe=$(mktemp)
awk '/<!-- compose-recipe: begin -->/ { inside = 1; next }
     /<!-- compose-recipe: end -->/   { inside = 0 }
     inside && !/^```/' README.md >"$recipe"
if ! grep -q 'docker-compose up' "$recipe"; then
    log "no compose recipe between the README's compose-recipe markers"
    exit 1
fi
log "the README's compose recipe:"
sed 's/^/    /' "$recipe" >&2

compose_down() {
    if command -v docker-compose >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        docker-compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    fi
}
finish() {
    local rc=$?
    if [ "$rc" -ne 0 ] && command -v docker-compose >/dev/null 2>&1; then
        docker-compose ps >&2 || true
        docker-compose logs --no-color --tail 60 >&2 || true
    fi
    log "taking the stack down"
    compose_down
    rm -f "$recipe"
    exit "$rc"
}
trap finish EXIT
compose_down   # leftovers of an earlier run, if any

start=$(date +%s)
# As written: every line a command, stopping at the first that fails.
bash -ex "$recipe"
log "the README's compose recipe took $(( $(date +%s) - start )) s"

"$PYTHON" -m pytest -m docker tests/test_docker.py -v -p no:cacheprovider --durations=0 "$@"
