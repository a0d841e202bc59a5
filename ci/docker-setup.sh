#!/usr/bin/env bash
# Make this (Debian, root) machine ready to build the logloss image and run the compose stack
# with no container registry: installs Docker and Compose from Debian, starts dockerd, builds a
# base image with debootstrap, and fills a wheelhouse from PyPI. Idempotent: every step checks
# first, and the caches make a rerun take seconds.
#
# Settings (environment):
#   LOGLOSS_CI_CACHE       cache directory (rootfs, wheelhouse, dockerd log)   /var/cache/logloss-ci
#   LOGLOSS_BASE_IMAGE     tag of the local base image                         logloss-base:local
#   LOGLOSS_DEBIAN_SUITE   Debian release of the base image                    bookworm
#   LOGLOSS_DEBIAN_MIRROR  Debian mirror; default: the first one in this machine's apt sources
#   PYTHON                 host interpreter whose pip builds the wheelhouse    python3
#
# Leaves the wheels in ci/wheelhouse (git-ignored), for
#   docker build --build-arg BASE_IMAGE=logloss-base:local --build-arg WHEELHOUSE=ci/wheelhouse .
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LOGLOSS_CI_CACHE:-/var/cache/logloss-ci}
BASE_IMAGE=${LOGLOSS_BASE_IMAGE:-logloss-base:local}
SUITE=${LOGLOSS_DEBIAN_SUITE:-bookworm}
PYTHON=${PYTHON:-python3}
# What the Dockerfile installs beside the project's own dependencies (its EXTRA_REQUIREMENTS).
read -r -a IMAGE_EXTRAS <<<"$(sed -n 's/^ARG EXTRA_REQUIREMENTS="\(.*\)"$/\1/p' "$ROOT/Dockerfile")"

log() { printf '[docker-setup] %s\n' "$*" >&2; }
die() { printf '[docker-setup] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE"

# --- 1. Packages: Docker engine, Compose (plugin if Debian has one, else v1), debootstrap -------
have_compose() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }

if command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 && have_compose; then
    log "packages: docker, compose and debootstrap already installed"
else
    [ "$(id -u)" = 0 ] || die "run as root (apt-get install)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; die "apt-get update failed"; }
    pkgs=(debootstrap ca-certificates)
    command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
    if ! have_compose; then
        compose_pkg=docker-compose
        for candidate in docker-compose-plugin docker-compose-v2; do
            if apt-cache policy "$candidate" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
                compose_pkg=$candidate
                break
            fi
        done
        pkgs+=("$compose_pkg")
    fi
    log "packages: apt-get install ${pkgs[*]}"
    apt-get install -y -q "${pkgs[@]}" >>"$CACHE/apt.log" 2>&1 \
        || { tail -20 "$CACHE/apt.log" >&2; die "apt-get install ${pkgs[*]} failed"; }
fi

# --- 2. dockerd ---------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    log "dockerd: running"
else
    [ "$(id -u)" = 0 ] || die "dockerd is not running and only root can start it"
    log "dockerd: starting (log: $CACHE/dockerd.log)"
    # setsid + nohup: the daemon outlives this script and the CI step that runs it.
    setsid nohup dockerd >>"$CACHE/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { tail -30 "$CACHE/dockerd.log" >&2; die "dockerd did not come up in 60 s"; }
fi

# --- 3. Base image: a minimal Debian with python3, venv and pip, from debootstrap -----------------
debian_mirror() {
    if [ -n "${LOGLOSS_DEBIAN_MIRROR:-}" ]; then echo "$LOGLOSS_DEBIAN_MIRROR"; return; fi
    local uri
    # deb822 sources (URIs: ...) first, then one-line sources (deb URI SUITE ...); skip security.
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' \
          | grep -v -e security -e '^cdrom' | grep '/debian/*$' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' \
              | grep -v security | grep '/debian/*$' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image: $BASE_IMAGE exists"
else
    rootfs="$CACHE/rootfs-$SUITE"
    if [ ! -f "$rootfs/.complete" ]; then
        mirror=$(debian_mirror)
        log "base image: debootstrap $SUITE from $mirror (log: $CACHE/debootstrap.log)"
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
            || { tail -30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
        # Package caches and lists are not needed in an image.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        touch "$rootfs/.complete"
    fi
    log "base image: docker import -> $BASE_IMAGE"
    tar -C "$rootfs" --exclude=./.complete -c . \
        | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
fi

# --- 4. Host Python should match the base image's -------------------------------------------------
# The wheels are built by the host's pip, so the minor versions must agree (cp311 wheels for a
# cp311 image); markers on the full version (python_full_version < "3.11.3") are settled by the
# check against the image below.
host_py=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
image_py=$(docker run --rm --network none "$BASE_IMAGE" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$host_py" = "$image_py" ] || die "host $PYTHON is Python $host_py but $BASE_IMAGE has Python $image_py: \
the wheelhouse would hold wheels for the wrong interpreter (set PYTHON to a python$image_py)"
log "python: host $host_py = image $image_py"

# --- 5. Wheelhouse: the runtime dependencies, setuptools and wheel (they build the project) -------
# Pinned to the versions installed on the host where there are any, so that the host's Dask and
# Prefect clients talk to the same versions inside the containers.
wheels="$CACHE/wheelhouse-py$host_py"
mkdir -p "$wheels"
req="$CACHE/requirements.txt"
cons="$CACHE/constraints.txt"
"$PYTHON" - "$ROOT/pyproject.toml" >"$req" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
EOF
printf '%s\n' "setuptools>=68" wheel "${IMAGE_EXTRAS[@]}" >>"$req"
"$PYTHON" -m pip freeze --exclude-editable 2>/dev/null | grep -v -e ' @ ' -e '^-e ' -e '^logloss==' >"$cons" || true

extra="$CACHE/requirements-image.txt"   # what only the image's interpreter needs (see below)
touch "$extra"
stamp="$CACHE/wheelhouse-py$host_py.stamp"   # inputs of the last complete wheelhouse
inputs=$(cat "$req" "$extra" "$cons" <(docker image inspect -f '{{.Id}}' "$BASE_IMAGE") | sha256sum)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
    log "wheelhouse: cached ($(ls "$wheels" | wc -l) wheels; same requirements, constraints and base image)"
else
    pipw=("$PYTHON" -m pip wheel --disable-pip-version-check -q --wheel-dir "$wheels" --find-links "$wheels"
          -r "$req" -r "$extra" -c "$cons")
    if "${pipw[@]}" --no-index >"$CACHE/wheel.log" 2>&1; then
        log "wheelhouse: up to date ($(ls "$wheels" | wc -l) wheels, offline check)"
    else
        log "wheelhouse: fetching from PyPI (log: $CACHE/wheel.log)"
        "${pipw[@]}" >"$CACHE/wheel.log" 2>&1 || { tail -30 "$CACHE/wheel.log" >&2; die "pip wheel failed"; }
        log "wheelhouse: $(ls "$wheels" | wc -l) wheels"
    fi

    # The host resolved the markers for its own interpreter; resolve again, offline, with the image's
    # (e.g. redis needs async-timeout on Python < 3.11.3) and add what is missing, until it resolves.
    for attempt in 1 2 3 4 5 6; do
        if out=$(docker run --rm --network none -v "$wheels:/w:ro" -v "$req:/req.txt:ro" \
                     -v "$extra:/extra.txt:ro" -v "$cons:/cons.txt:ro" "$BASE_IMAGE" sh -c \
                     'python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --disable-pip-version-check \
                      --dry-run --no-index --find-links /w -r /req.txt -r /extra.txt -c /cons.txt' 2>&1); then
            log "wheelhouse: resolves offline for the image's Python"
            break
        fi
        missing=$(printf '%s\n' "$out" | sed -n 's/.*No matching distribution found for \([^;]*\).*/\1/p' \
                  | head -n1 | tr -d ' ')
        if [ -z "$missing" ] || [ "$attempt" = 6 ]; then
            printf '%s\n' "$out" | tail -20 >&2
            die "the wheelhouse does not resolve for $BASE_IMAGE"
        fi
        log "wheelhouse: the image also needs $missing"
        echo "$missing" >>"$extra"
        "${pipw[@]}" >>"$CACHE/wheel.log" 2>&1 || { tail -30 "$CACHE/wheel.log" >&2; die "pip wheel $missing failed"; }
    done
    # The list of what the image needs may have grown: hash the inputs again.
    cat "$req" "$extra" "$cons" <(docker image inspect -f '{{.Id}}' "$BASE_IMAGE") | sha256sum >"$stamp"
fi

# Into the build context (hard links when the cache is on the same file system).
rm -rf "$ROOT/ci/wheelhouse"
cp -al "$wheels" "$ROOT/ci/wheelhouse" 2>/dev/null || cp -a "$wheels" "$ROOT/ci/wheelhouse"
# The Dockerfile installs with these constraints: the image gets the host's versions, whatever
# older or newer wheels the cache also holds.
cp "$cons" "$ROOT/ci/wheelhouse/constraints.txt"

log "ready: docker build --build-arg BASE_IMAGE=$BASE_IMAGE --build-arg WHEELHOUSE=ci/wheelhouse -t logloss ."
