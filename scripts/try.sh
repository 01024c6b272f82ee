#!/usr/bin/env bash
# Try the bot out: scripts/try.sh [meetbot run options...]
# Creates/reuses .venv, installs the project (editable), then runs `meetbot run` from the repo root.
# With no config it uses the embedded defaults: SQLite ./meetbot.db, minutes under ./minutes, and a
# console adapter reading stdin (both paths are git-ignored).
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
exec .venv/bin/meetbot run "$@"
