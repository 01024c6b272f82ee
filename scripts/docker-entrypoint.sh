#!/bin/sh
# Container entrypoint: bring the database schema up to date, then run the bot.
# Extra arguments (`docker run IMAGE --flag`) are passed on to `meetbot run`.
set -eu
CONFIG=${MEETBOT_CONFIG:-/data/meetbot.yaml}
if [ ! -r "$CONFIG" ]; then
  echo "docker-entrypoint: $CONFIG not found; mount your config, e.g. -v \$PWD/meetbot.yaml:$CONFIG:ro" >&2
  exit 64
fi
meetbot db upgrade -c "$CONFIG"
exec meetbot run -c "$CONFIG" "$@"
