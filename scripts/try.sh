#!/usr/bin/env bash
# Try the bot out:
#   scripts/try.sh                 a private IRC server on loopback (InspIRCd + Atheme, installed with apt
#                                  if missing and we are root) and the bot in #meetbot-test; connect any
#                                  IRC client to it. Falls back to the console when no server can be had.
#   scripts/try.sh --console       the console: type chat lines at the bot, no network at all
#   scripts/try.sh [run options]   `meetbot run` with those options (e.g. -c meetbot.yaml)
# Creates/reuses .venv, installs the project (editable), then runs from the repo root: SQLite
# ./meetbot.db and minutes under ./minutes (both git-ignored).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PIP_CACHE_DIR=$PWD/.cache/pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if [ ! -x .venv/bin/python ]; then
  PY=$(command -v python3.11 || command -v python3 || true)
  [ -n "$PY" ] || { echo "no python3.11 or python3 on PATH" >&2; exit 1; }
  echo "creating .venv with $("$PY" --version)" >&2
  "$PY" -m venv .venv
fi
echo "installing meetbot into .venv (pip install -e .)" >&2
.venv/bin/python -m pip install -q -e . 2>&1 | { grep -v '^WARNING: Location .* is ignored' || true; } >&2
if [ "${1:-}" = "--console" ]; then
  shift
  exec .venv/bin/meetbot run "$@"   # no networks configured -> the console
fi
[ $# -eq 0 ] || exec .venv/bin/meetbot run "$@"

IRCD=.cache/ircd
if ! .venv/bin/python scripts/ircd/ircd.py install >&2; then
  echo "-- no local IRC server available: running the console instead" >&2
  exec .venv/bin/meetbot run
fi
info=$(.venv/bin/python scripts/ircd/ircd.py start "$IRCD")
trap '.venv/bin/python scripts/ircd/ircd.py stop "$IRCD"' EXIT
port=$(.venv/bin/python -c 'import json,sys; print(json.loads(sys.argv[1])["ports"]["plain"])' "$info")
tls=$(.venv/bin/python -c 'import json,sys; print(json.loads(sys.argv[1])["ports"]["tls"])' "$info")
cat > "$IRCD/try.yaml" <<EOF
networks:
  - {name: local, type: irc, host: 127.0.0.1, port: $port, tls: false, nick: meetbot,
     channels: ["#meetbot-test"], join_on_invite: true}
EOF
cat >&2 <<EOF

-- A private IRC server is running on this machine only, with the bot in #meetbot-test.
   Connect any IRC client to 127.0.0.1 port $port (plain), or port $tls with TLS
   (self-signed: trust $IRCD/cert.pem or turn verification off), for example:
       irssi -c 127.0.0.1 -p $port -n alice        weechat: /server add local 127.0.0.1/$port
   then: /join #meetbot-test   and type   #startmeeting Try Out   ...   #endmeeting
   Minutes land under ./minutes. Ctrl-C stops the bot and the server.

EOF
.venv/bin/meetbot run -c "$IRCD/try.yaml"
