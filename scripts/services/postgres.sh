#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for marketpipe's tests.
#
#   scripts/services/postgres.sh start    install if missing, create the cluster once, start it; prints the URL
#   scripts/services/postgres.sh stop     stop it (only this cluster, and only if it is running)
#   scripts/services/postgres.sh restart  fast restart, as the reconnect test needs (drops every connection)
#   scripts/services/postgres.sh status   prints the URL and exits 0 if running, exits 3 if not
#   scripts/services/postgres.sh url      prints the URL
#
# The cluster lives in $MARKETPIPE_SERVICES_DIR/postgres (default: target/services/postgres in the
# repository, ignored by git) and listens on 127.0.0.1:$MARKETPIPE_POSTGRES_PORT (default 54329)
# with trust authentication for the `postgres` superuser: a test fixture, never a server to keep data
# in. Durability is off (fsync, synchronous_commit, full_page_writes) because nothing here needs to
# survive a power cut and the tests run faster. PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` system user (created if missing). Every command is safe to repeat.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
services_dir="${MARKETPIPE_SERVICES_DIR:-$repo/target/services}"
mkdir -p "$services_dir"
services_dir="$(cd "$services_dir" && pwd)"
dir="$services_dir/postgres"
port="${MARKETPIPE_POSTGRES_PORT:-54329}"
url="postgres://postgres@127.0.0.1:$port/postgres"

die() { echo "postgres.sh: $*" >&2; exit 1; }

# Finds initdb/pg_ctl (Debian keeps them out of PATH), installing PostgreSQL 15 if they are missing.
find_bin() {
  for candidate in /usr/lib/postgresql/15/bin "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")"; do
    if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then
      bin="$candidate"
      return
    fi
  done
  [ "$(id -u)" = 0 ] || die "PostgreSQL 15 is not installed and installing it needs root: apt-get install postgresql-15"
  echo "postgres.sh: installing PostgreSQL 15 from apt" >&2
  # Debian's package would create and start a cluster of its own on port 5432; we only want the binaries.
  mkdir -p /etc/postgresql-common
  [ -f /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql-15 >/dev/null
  bin=/usr/lib/postgresql/15/bin
  [ -x "$bin/pg_ctl" ] || die "installed postgresql-15 but $bin/pg_ctl is missing"
}

# Runs a PostgreSQL program as a user it accepts: ourselves, or `postgres` when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# As root the server runs as `postgres` (created if missing), which must be able to reach its
# directory; a checkout under a private home (/root is 0700) is not reachable, so such a cluster
# lives under /tmp instead, at a path derived from the checkout's, so that start, status and stop
# all find the same one.
choose_dir() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    if ! runuser -u postgres -- test -x "$services_dir"; then
      dir="/tmp/marketpipe-services-$(printf '%s' "$services_dir" | cksum | cut -d' ' -f1)/postgres"
    fi
  fi
  data="$dir/data"
  log="$dir/postgres.log"
}

prepare_user() {
  [ "$(id -u)" = 0 ] || return 0
  mkdir -p "$dir"
  chown postgres: "$dir"
  runuser -u postgres -- test -w "$dir" ||
    die "user postgres cannot reach $dir (a parent directory is not searchable); set MARKETPIPE_SERVICES_DIR elsewhere"
}

running() {
  [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
  prepare_user
  mkdir -p "$dir"
  if running; then
    echo "$url"
    return
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data"
    # C locale: byte-order text comparison, the same everywhere. -N: no fsync, a throwaway cluster.
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale -N >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    die "something else already listens on 127.0.0.1:$port; set MARKETPIPE_POSTGRES_PORT to a free port"
  fi
  local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir'"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
  as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "$opts" start >/dev/null ||
    { tail -n 20 "$log" >&2; die "the server did not start (log: $log)"; }
  echo "$url"
}

stop() {
  if running; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    echo "postgres.sh: stopped the cluster in $dir" >&2
  fi
}

restart() {
  running || die "no cluster of ours is running in $dir (start it first)"
  # -l again: without it the restarted server would log to pg_ctl's (our caller's) stdout.
  as_pg "$bin/pg_ctl" -D "$data" -l "$log" -m fast -w -t 60 restart >/dev/null ||
    { tail -n 20 "$log" >&2; die "the server did not come back (log: $log)"; }
}

find_bin
choose_dir
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status)
    if running; then echo "$url"; else echo "postgres.sh: not running ($dir)" >&2; exit 3; fi
    ;;
  url) echo "$url" ;;
  *) die "usage: $0 start|stop|restart|status|url" ;;
esac
