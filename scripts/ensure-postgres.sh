#!/usr/bin/env bash
# Make sure a PostgreSQL server is reachable, (re)create an empty database `meetbot_test` on it, and
# print its SQLAlchemy URL (postgresql+asyncpg://...) on stdout. Everything else goes to stderr.
#
# 1. A server accepting on 127.0.0.1:5432 with trust auth for user postgres (the machine's own) is used.
# 2. Otherwise a private cluster under .cache/pg is started on 127.0.0.1:$MEETBOT_PG_PORT (55432),
#    trust auth, fsync off; Debian's `postgresql` is apt-installed first if its binaries are absent.
#    MEETBOT_PG_FORCE_PRIVATE=1 skips step 1.
# Idempotent: a second run reuses the running cluster and only recreates the database.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DB=meetbot_test
PORT=${MEETBOT_PG_PORT:-55432}
CACHE=$ROOT/.cache

log() { echo "ensure-postgres: $*" >&2; }
die() { log "error: $*"; exit 1; }

export PGCONNECT_TIMEOUT=5
export PGOPTIONS='-c client_min_messages=warning'
unset PGPASSWORD PGSERVICE

# psql as the client; -X ignores ~/.psqlrc, -w never prompts for a password.
q() { # q PORT SQL...
  local port=$1; shift
  local args=() sql
  for sql in "$@"; do args+=(-c "$sql"); done
  "$PSQL" -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "${args[@]}" >&2
}

recreate_db() { # recreate_db PORT
  q "$1" "DROP DATABASE IF EXISTS $DB WITH (FORCE)" "CREATE DATABASE $DB" \
    || die "could not recreate database $DB on 127.0.0.1:$1"
  echo "postgresql+asyncpg://postgres@127.0.0.1:$1/$DB"
}

# Newest Debian server binaries (/usr/lib/postgresql/N/bin), else whatever is on PATH.
find_pgbin() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] || continue
    if [ -z "$best" ] || [ "${d//[^0-9]/}" -gt "${best//[^0-9]/}" ]; then best=$d; fi
  done
  if [ -z "$best" ] && command -v initdb >/dev/null; then best=$(dirname "$(command -v initdb)"); fi
  echo "$best"
}

PGBIN=$(find_pgbin)
PSQL=$(command -v psql || true)
[ -z "$PSQL" ] && [ -n "$PGBIN" ] && [ -x "$PGBIN/psql" ] && PSQL=$PGBIN/psql
PG_ISREADY=$(command -v pg_isready || true)
[ -z "$PG_ISREADY" ] && [ -n "$PGBIN" ] && [ -x "$PGBIN/pg_isready" ] && PG_ISREADY=$PGBIN/pg_isready

# Serialise concurrent runs from this checkout (racing initdb/start, DROP/CREATE DATABASE).
# fd 9 holds the lock: the server must not inherit it (see 9>&- below).
mkdir -p "$CACHE"
exec 9>"$CACHE/pg.lock"
flock -w 300 9 || die "timed out waiting for $CACHE/pg.lock"

# --- 1. the machine's server on 5432 -------------------------------------------------------------
if [ "${MEETBOT_PG_FORCE_PRIVATE:-0}" = 1 ]; then
  log "MEETBOT_PG_FORCE_PRIVATE=1: not looking at 127.0.0.1:5432"
elif [ -n "$PG_ISREADY" ] && [ -n "$PSQL" ] && "$PG_ISREADY" -q -h 127.0.0.1 -p 5432 -t 3; then
  if q 5432 "SELECT 1" 2>/dev/null; then
    log "using the server on 127.0.0.1:5432"
    recreate_db 5432
    exit 0
  fi
  log "127.0.0.1:5432 accepts but not as postgres without a password; starting a private cluster"
fi

# --- 2. private cluster ------------------------------------------------------------------------------

if [ -z "$PGBIN" ]; then
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL binaries not found; install Debian's 'postgresql' package"
  log "installing Debian's postgresql (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { timeout 600 apt-get install -y -qq --no-install-recommends postgresql >&2; }
  if ! apt_install; then
    timeout 300 apt-get update -qq >&2 || die "apt-get update failed"
    apt_install || die "apt-get install postgresql failed"
  fi
  PGBIN=$(find_pgbin)
  [ -n "$PGBIN" ] || die "postgresql installed but no initdb found"
fi
[ -n "$PSQL" ] || PSQL=$PGBIN/psql

# Root can't run initdb/pg_ctl: run them as postgres, from / so cwd permissions don't matter.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server"
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
  as_pg() { (cd / && "$@"); }
fi

PGDIR=$CACHE/pg
mkdir -p "$PGDIR"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$PGDIR"
  if ! as_pg test -w "$PGDIR"; then
    # Some parent of the checkout is not traversable by postgres (e.g. a checkout under /root).
    PGDIR=${TMPDIR:-/tmp}/meetbot-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)
    log "postgres can't reach $CACHE/pg; using $PGDIR instead"
    mkdir -p "$PGDIR"
    chown postgres: "$PGDIR"
    chmod 700 "$PGDIR"
  fi
fi
DATA=$PGDIR/data

# A data directory made by another major version is useless with these binaries: start over.
if [ -f "$DATA/PG_VERSION" ]; then
  ver=$(cat "$DATA/PG_VERSION")
  if [ -x "/usr/lib/postgresql/$ver/bin/initdb" ]; then
    PGBIN=/usr/lib/postgresql/$ver/bin
  elif [ "$("$PGBIN/initdb" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/')" != "$ver" ]; then
    log "discarding $DATA (made by PostgreSQL $ver)"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DATA"
  fi
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initdb $DATA"
  rm -rf "$DATA"
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-instructions --no-sync >/dev/null \
    || as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C --no-instructions --no-sync >/dev/null
  # TCP only (no socket path-length limits), throwaway durability.
  as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- meetbot test cluster (scripts/ensure-postgres.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "private cluster already running ($DATA)"
else
  if [ -n "$PG_ISREADY" ] && "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" -t 1; then
    die "something else already listens on 127.0.0.1:$PORT; set MEETBOT_PG_PORT to a free port"
  fi
  log "starting private cluster on 127.0.0.1:$PORT ($DATA)"
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$PGDIR/log" -s -w -t 60 -o "-p $PORT" start >&2 9>&- \
    || { tail -n 20 "$PGDIR/log" >&2 || true; die "pg_ctl start failed (log: $PGDIR/log)"; }
fi

recreate_db "$PORT"
