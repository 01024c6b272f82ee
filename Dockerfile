# syntax=docker/dockerfile:1
# meetbot container: docker build -t meetbot .
#   docker run -v meetbot-data:/data -v "$PWD/meetbot.yaml:/data/meetbot.yaml:ro" meetbot
# /data holds the SQLite database and minutes (relative paths in the config resolve against it).

# --- builder: the project's wheel plus wheels of all its dependencies ---------------------------
FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN pip wheel . --no-deps -w /wheels \
 && pip wheel /wheels/meetbot-*.whl -w /wheels

# --- runtime --------------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/meetbot PATH=/opt/meetbot/bin:$PATH
RUN python -m venv /opt/meetbot
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels meetbot
RUN useradd --system --user-group --uid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin meetbot \
 && mkdir -p /data && chown meetbot:meetbot /data
COPY --chmod=0755 scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER meetbot
WORKDIR /data
VOLUME /data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
