# One image for every service of the cluster: Prefect server, Dask scheduler, Dask workers
# and the flows service (see docker-compose.yml).
#
# Build arguments:
#   BASE_IMAGE  any Debian-like image with Python 3.11 (`python3`, venv and ensurepip).
#               Default: the public python:3.11-slim. Without registry access, build a base
#               locally (ci/docker-setup.sh does it with debootstrap) and pass its tag.
#   WHEELHOUSE  optional directory of wheels inside the build context (e.g. ci/wheelhouse).
#               When set, everything is installed offline from it
#               (pip --no-index --find-links); it must also hold setuptools and wheel,
#               which build the project itself. When empty, pip installs from PyPI. A
#               constraints.txt in it pins versions (ci/docker-setup.sh writes the host's).
#   EXTRA_REQUIREMENTS  installed beside the project's dependencies; bokeh serves the Dask
#               dashboard (http://127.0.0.1:8787). A wheelhouse must hold them too.
#
#   docker build -t logloss .
#   docker build --build-arg BASE_IMAGE=logloss-base:local \
#                --build-arg WHEELHOUSE=ci/wheelhouse -t logloss .

ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# Build stage: a virtual environment in /opt/venv holding the runtime dependencies and the
# project. A venv works the same on python:3.11-slim and on Debian's own python3 (whose pip
# refuses to install into the system interpreter), and the wheelhouse never reaches the final
# image.
FROM ${BASE_IMAGE} AS build

ARG WHEELHOUSE=
ARG EXTRA_REQUIREMENTS="bokeh>=3.1"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The wheelhouse, if any. Without one, pyproject.toml stands in so that the COPY stays valid
# (an empty source would copy the whole build context).
COPY ${WHEELHOUSE:-pyproject.toml} /tmp/wheelhouse/
COPY pyproject.toml /src/pyproject.toml

# Runtime dependencies first, in their own layer: it is rebuilt only when pyproject.toml or the
# wheelhouse changes, not on every source edit.
RUN set -eu; \
    if [ -n "${WHEELHOUSE}" ]; then set -- --no-index --find-links /tmp/wheelhouse; fi; \
    if [ -f /tmp/wheelhouse/constraints.txt ]; then set -- "$@" -c /tmp/wheelhouse/constraints.txt; fi; \
    python -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt; \
    set -f; for r in ${EXTRA_REQUIREMENTS}; do echo "$r" >> /tmp/requirements.txt; done; set +f; \
    pip install "$@" -r /tmp/requirements.txt

COPY README.md /src/README.md
COPY logloss/ /src/logloss/
COPY flows/ /src/flows/
RUN set -eu; \
    if [ -n "${WHEELHOUSE}" ]; then set -- --no-index --find-links /tmp/wheelhouse; fi; \
    if [ -f /tmp/wheelhouse/constraints.txt ]; then set -- "$@" -c /tmp/wheelhouse/constraints.txt; fi; \
    pip install "$@" /src; \
    logloss --help > /dev/null; \
    python -c 'import dask, distributed, prefect, logloss, flows'

# ---------------------------------------------------------------------------------------------
# Runtime stage.
FROM ${BASE_IMAGE}

ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PREFECT_HOME=/home/app/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    LOGLOSS_MODEL_DIR=/models \
    LOGLOSS_DATA=/data/breast_cancer.parquet

# An unprivileged user; the mount points belong to it so that named volumes (which copy the
# ownership of the directory they are mounted over) are writable.
RUN set -eu; \
    groupadd --gid 1000 app; \
    useradd --uid 1000 --gid app --create-home --shell /bin/sh app; \
    mkdir -p /app /data /models /var/lib/prefect /home/app/.prefect; \
    chown app:app /data /models /var/lib/prefect /home/app/.prefect

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The flows (also installed as a package). No data: the build context excludes data/
# (.dockerignore) and docker-compose.yml mounts the data directory read-only into the workers
# and the flows service (at /data, /app/data and its host path; see docs/cluster.md).
COPY flows/ /app/flows/

USER app
EXPOSE 4200 8786 8787
CMD ["logloss", "--help"]
