#!/usr/bin/env bash
# Docker Compose, whichever flavour this machine has: the v2 plugin (`docker compose`) or the
# v1 program (`docker-compose`, what Debian bookworm packages). Arguments pass through:
#   ci/compose.sh -f docker-compose.yml -f docker-compose.hostnet.yml up -d --scale worker=2
set -euo pipefail

if docker compose version >/dev/null 2>&1; then
    exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
    exec docker-compose "$@"
else
    echo "compose.sh: neither 'docker compose' nor 'docker-compose' is installed" \
         "(Debian: apt-get install docker-compose; ci/docker-setup.sh does it)" >&2
    exit 127
fi
