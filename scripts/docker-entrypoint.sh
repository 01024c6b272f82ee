#!/bin/sh
# Container entrypoint: bring the database schema up to date, then run the bot.
#
#   (no arguments)          meetbot db upgrade -c $MEETBOT_CONFIG; exec meetbot run -c $MEETBOT_CONFIG
#   -x ...                  the same, with the options passed on to `meetbot run`
#   COMMAND ...             runs COMMAND instead, e.g. `meetbot meeting list -c /etc/meetbot/meetbot.yaml`
#
# Environment:
#   MEETBOT_CONFIG      the config file (default /etc/meetbot/meetbot.yaml)
#   MEETBOT_DB_UPGRADE  0 skips the upgrade (when it is run separately before a rollout)
#
# Exit status: 64 when the config is missing or unreadable, the upgrade's status when it fails,
# otherwise the bot's own. `exec` makes the bot this process, so SIGTERM (docker stop) reaches it.
set -eu

say() { printf 'docker-entrypoint: %s\n' "$*" >&2; }

case "${1:-}" in
  "" | -*) ;;
  *) exec "$@" ;;
esac

CONFIG=${MEETBOT_CONFIG:-/etc/meetbot/meetbot.yaml}
if [ ! -e "$CONFIG" ]; then
  say "no config at $CONFIG"
  say "mount the directory that holds meetbot.yaml read-only, e.g. -v \"\$PWD/config:$(dirname "$CONFIG"):ro\","
  say "or point MEETBOT_CONFIG at it (config.example.yaml documents every option; the image has a copy"
  say "in /usr/local/share/meetbot/config.example.yaml)"
  exit 64
fi
if [ ! -r "$CONFIG" ]; then
  say "$CONFIG exists but user $(id -u) cannot read it; make it readable (chmod 0644, or group $(id -g))"
  exit 64
fi
if ! command -v meetbot >/dev/null 2>&1; then
  say "the meetbot command is not on PATH ($PATH)"
  exit 127
fi

if [ "${MEETBOT_DB_UPGRADE:-1}" != 0 ]; then
  status=0
  meetbot db upgrade -c "$CONFIG" || status=$?
  if [ "$status" -ne 0 ]; then
    say "\`meetbot db upgrade -c $CONFIG\` failed (exit $status): check the messages above;"
    say "is the database in database.url reachable and the config valid (meetbot config check)?"
    exit "$status"
  fi
fi

exec meetbot run -c "$CONFIG" "$@"
