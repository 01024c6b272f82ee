# syntax=docker/dockerfile:1
# meetbot container image. Build:   docker build -t meetbot .
# Run (docs/admin.md, docker-compose.example.yml):
#   docker run -d --name meetbot --init -p 127.0.0.1:8080:8080 \
#     -v meetbot-data:/data -v "$PWD/config:/etc/meetbot:ro" -e MEETBOT_IRC_PASSWORD meetbot
#
# /data       volume and working directory: relative paths in the config resolve against it
#             (the SQLite default /data/meetbot.db, minutes in /data/minutes, Matrix state in
#             /data/.meetbot-matrix). Owned by the unprivileged user meetbot (uid/gid 10001).
# /etc/meetbot/meetbot.yaml  the config, mounted read-only (mount the directory, not the file,
#             so an edited file is seen by the bot's reload). MEETBOT_CONFIG names another path.
# Port 8080   the web archive, /healthz and /metrics when the config has `web:` (in a container
#             give it `host: 0.0.0.0`).
# The entrypoint runs `meetbot db upgrade`, then `exec meetbot run` (scripts/docker-entrypoint.sh).
#
# PYTHON_IMAGE: the base for both stages. Both must be the same image, and it must provide
# python (3.11+) with venv and pip, e.g. a local mirror of python:3.11-slim.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the meetbot wheel, then wheels of all its dependencies ------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Only what the wheel is made of (.dockerignore keeps everything else out of the context).
COPY pyproject.toml setup.cfg README.md ./
COPY meetbot ./meetbot
COPY plugins ./plugins
COPY alembic ./alembic
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m pip wheel --wheel-dir /wheels /wheels/meetbot-*.whl

# --- runtime: a venv with the wheels installed, no compiler, no sources -------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/meetbot PATH=/opt/meetbot/bin:$PATH \
    MEETBOT_CONFIG=/etc/meetbot/meetbot.yaml \
    MEETBOT_HEALTH_URL=http://127.0.0.1:8080/healthz
# The wheels come in through a bind mount, so they never end up in a layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/meetbot \
 && /opt/meetbot/bin/pip install --no-index --find-links=/wheels meetbot \
 && /opt/meetbot/bin/meetbot --version
RUN groupadd --gid 10001 meetbot \
 && useradd --uid 10001 --gid meetbot --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin meetbot \
 && mkdir -p /data /etc/meetbot \
 && chown meetbot:meetbot /data \
 && chmod 0750 /data
COPY config.example.yaml /usr/local/share/meetbot/config.example.yaml
COPY --chmod=0755 scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER meetbot:meetbot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Healthy = /healthz answers 200 (active or standby); 503 (database unreachable) or no answer is
# unhealthy. The slim image has no curl, hence Python. Needs `web:` in the config; without it,
# run with --no-healthcheck (compose: healthcheck: {disable: true}).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; print(u.urlopen(os.environ.get('MEETBOT_HEALTH_URL') or 'http://127.0.0.1:8080/healthz', timeout=4).read().decode())"]
# SIGTERM (docker stop) reaches meetbot itself: the entrypoint execs it. It quits the networks
# politely and closes the database; allow it some seconds (docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD []
