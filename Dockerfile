# mcpwall's container image: Debian (slim) with Python 3.11, mcpwall in a virtual environment,
# run as an unprivileged user on a read-only root filesystem.
#
#   docker build -t mcpwall:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --read-only --tmpfs /tmp -v mcpwall-data:/data -p 8700:8700 -p 8701:8701 mcpwall:0.1.0
#
# Writes go only to /tmp and to MCPWALL_HOME=/data (the SQLite database and its key file in the
# embedded mode; nothing at all with MCPWALL_DATABASE_URL and MCPWALL_SECRET_KEY set).
# tests/deploy/test_image_recipe.py runs this file's recipe (deploy/docker/build-venv.sh) and
# serves from its result the way this image does; tests/deploy/test_dockerfile.py lints it.
# docs/kubernetes.md is the guide.

# The official Python image on Debian 13 (trixie) slim: the Python pyproject.toml requires.
ARG PYTHON_IMAGE=python:3.11-slim-trixie

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY deploy/docker/build-venv.sh /usr/local/bin/build-venv.sh
COPY pyproject.toml README.md .gitignore ./
COPY src ./src
RUN build-venv.sh /src /opt/mcpwall

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mcpwall" \
      org.opencontainers.image.description="A policy gateway for the Model Context Protocol: the second wall in front of RBAC." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# The standard library compiled too (the base image ships it without bytecode), so that no
# import has to compile, and so write, at run time. A fixed numeric user and group, 10001,
# that owns only /data: Kubernetes' runAsNonRoot can check a number, not a name.
RUN python -m compileall -q -j 0 --invalidation-mode unchecked-hash /usr/local/lib/python3.11 \
    && groupadd --system --gid 10001 mcpwall \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin mcpwall \
    && mkdir -m 0700 /data \
    && chown 10001:10001 /data

COPY --from=build /opt/mcpwall /opt/mcpwall

ENV PATH=/opt/mcpwall/bin:$PATH \
    MCPWALL_HOME=/data \
    HOME=/data \
    TMPDIR=/tmp \
    PYTHONUNBUFFERED=1

VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

# 8700: agents (/mcp, /healthz, /readyz); 8701: the admin API, /metrics and the dashboard.
EXPOSE 8700 8701

HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["mcpwall", "healthcheck"]

ENTRYPOINT ["mcpwall"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8700", "--admin-port", "8701"]
