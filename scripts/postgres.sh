#!/usr/bin/env bash
# Start (or reuse) a throw-away PostgreSQL server for the test suite, on loopback only.
# Usage: scripts/postgres.sh start|stop|url   (prints the admin URL on "start" and "url")
# Installs the Debian package if missing (root only). Data lives in /tmp so a fresh clone stays clean.
set -euo pipefail
PORT="${QUALCODE_PG_PORT:-55432}"
PGDATA_DIR="${QUALCODE_PGDATA:-/tmp/qualcode-pgdata-$PORT}"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && echo "$d"
}

ensure_installed() {
  if [ -z "$(pg_bin)" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing PostgreSQL (apt-get)..." >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    else
      echo "PostgreSQL is not installed and this user cannot apt-get install it" >&2; exit 1
    fi
  fi
}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    ensure_installed
    BIN=$(pg_bin)
    if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
      mkdir -p "$PGDATA_DIR"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
      as_pg "$BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w \
        -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    fi
    echo "$URL"
    ;;
  stop)
    BIN=$(pg_bin); [ -n "$BIN" ] && as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast stop >/dev/null 2>&1 || true
    ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
