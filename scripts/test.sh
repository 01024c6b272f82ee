#!/usr/bin/env bash
# The whole check, as CI runs it (.ci/run): venv + deps, PostgreSQL, ruff, mypy, pytest.
# usage: scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k minutes -x
# Runs from any directory. ruff, mypy and pytest all run even if one fails; exit status is non-zero
# if any step failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

now_ds() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 100000)); }   # tenths of a second
T0=$(now_ds)
step() { local e=$(($(now_ds) - T0)); printf '\n==> [%d.%ds] %s\n' $((e / 10)) $((e % 10)) "$*"; }

export PIP_CACHE_DIR=$ROOT/.cache/pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# --- virtualenv -------------------------------------------------------------------------------------
step "venv (.venv)"
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "existing .venv is broken or older than Python 3.11: recreating it"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  PY=$(command -v python3.11 || command -v python3 || true)
  [ -n "$PY" ] || { echo "no python3.11 or python3 on PATH" >&2; exit 1; }
  "$PY" -m venv .venv
  echo "created with $("$PY" --version)"
fi

step "pip install -e '.[test]'"
# setuptools/wheel in the venv itself: tests/test_packaging.py builds with --no-build-isolation.
# (The grep drops this machine's pip.conf noise about absent local find-links directories.)
timeout 900 .venv/bin/python -m pip install -q -e '.[test]' 'setuptools>=68' wheel 2>&1 \
  | { grep -v '^WARNING: Location .* is ignored' || true; }

# --- PostgreSQL -------------------------------------------------------------------------------------
step "PostgreSQL (scripts/ensure-postgres.sh)"
MEETBOT_TEST_PG_URL=$(scripts/ensure-postgres.sh)
export MEETBOT_TEST_PG_URL
export MEETBOT_REQUIRE_PG=1  # a missing PostgreSQL fails the storage tests rather than skipping them
echo "MEETBOT_TEST_PG_URL=$MEETBOT_TEST_PG_URL"

# --- IRC server (InspIRCd + Atheme) ------------------------------------------------------------------
step "IRC server packages (scripts/ircd/ircd.py install)"
# The tests start their own servers on free loopback ports; this only makes sure the binaries exist.
timeout 600 .venv/bin/python scripts/ircd/ircd.py install
export MEETBOT_REQUIRE_IRC=1  # a missing IRC server fails the IRC tests rather than skipping them

# --- Matrix homeserver ------------------------------------------------------------------------------
# Nothing is started here: tests/matrix/conftest.py installs Synapse into .cache/synapse-venv on first
# use (scripts/synapse/synapse.py; ~25-40 s cold) and starts one per session on a free loopback port.
export MEETBOT_REQUIRE_MATRIX=1  # Synapse that cannot be installed fails the Matrix tests, never skips

# --- browser (Debian's chromium, driven by Playwright in tests/web) ---------------------------------
step "chromium (apt)"
# Playwright never downloads a browser here: the tests point it at /usr/bin/chromium.
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium \
      || echo "chromium could not be installed" >&2
  else
    echo "chromium missing and apt-get unavailable (not root?)" >&2
  fi
fi
export MEETBOT_REQUIRE_BROWSER=1  # a missing browser fails the browser test rather than skipping it

# --- checks -----------------------------------------------------------------------------------------
# Tools run from .venv/bin (not `python -m`), so the repo root is not on sys.path: the source dirs
# plugins/ and alembic/ must never shadow the installed meetbot_plugins / the alembic library.
failed=()
step "ruff check ."
.venv/bin/ruff check . || failed+=(ruff)

step "mypy (config: setup.cfg [mypy])"
.venv/bin/mypy || failed+=(mypy)

step "pytest $*"
.venv/bin/pytest "$@" || failed+=(pytest)

step "done"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all steps passed"
