#!/usr/bin/env bash
# S3 for marketpipe's tests: moto's S3 server on loopback.
#
#   scripts/services/s3.sh start   install moto if missing, start the server (if not already ours and running); prints the URL
#   scripts/services/s3.sh stop    stop it (only the server this script started, and only if it is running)
#   scripts/services/s3.sh status  prints the URL and exits 0 if ours is running and answers, exits 3 if not
#   scripts/services/s3.sh url     prints the URL
#   scripts/services/s3.sh env     prints `export` lines for the tests: MARKETPIPE_TEST_S3_ENDPOINT and
#                                  the AWS_* variables (dummy credentials, plain http) that point a client at it
#
# The server listens on 127.0.0.1:$MARKETPIPE_S3_PORT (default 9000); its pid file and log live in
# $MARKETPIPE_SERVICES_DIR/s3 (default: target/services/s3 in the repository, ignored by git). It keeps
# everything in memory and creates no bucket: each test creates its own. moto accepts any credentials:
# a test fixture, never a place to keep data. Every command is safe to repeat.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
services_dir="${MARKETPIPE_SERVICES_DIR:-$repo/target/services}"
mkdir -p "$services_dir"
services_dir="$(cd "$services_dir" && pwd)"
dir="$services_dir/s3"
pidfile="$dir/moto.pid"
log="$dir/moto.log"
port="${MARKETPIPE_S3_PORT:-9000}"
url="http://127.0.0.1:$port"

die() { echo "s3.sh: $*" >&2; exit 1; }

# The command that runs moto's server: `moto_server` when it is on PATH, else the module it wraps
# (pip may put the script where PATH does not look), installing moto[server] if neither is there.
find_moto() {
  if command -v moto_server >/dev/null 2>&1; then
    moto=(moto_server)
    return
  fi
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    command -v python3 >/dev/null || die "python3 is missing (apt-get install python3)"
    if ! python3 -m pip --version >/dev/null 2>&1; then
      [ "$(id -u)" = 0 ] || die "pip is missing and installing it needs root: apt-get install python3-pip"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    echo "s3.sh: installing moto[server] with pip" >&2
    # Debian's own python refuses system-wide installs without the second flag.
    python3 -m pip install --quiet 'moto[server]' 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages 'moto[server]' ||
      die "pip install 'moto[server]' failed"
  fi
  moto=(python3 -m moto.server)
}

# Whether something answers HTTP on the port (moto answers GET / with its bucket list).
answers() {
  python3 - "$url" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=1)
except urllib.error.HTTPError:
    pass  # an HTTP answer, even an error, means a server is there
PY
}

# Whether the server this script started is alive (its pid is ours and still runs moto).
ours() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q moto "/proc/$pid/cmdline" 2>/dev/null
}

start() {
  mkdir -p "$dir"
  if ours && answers; then
    echo "$url"
    return
  fi
  if answers; then
    die "something else already answers on 127.0.0.1:$port; set MARKETPIPE_S3_PORT to a free port"
  fi
  find_moto
  # stdin/stdout/stderr away from the caller: `$(s3.sh start)` must not wait for moto to exit.
  nohup "${moto[@]}" -H 127.0.0.1 -p "$port" </dev/null >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 150); do
    if answers; then
      echo "$url"
      return
    fi
    ours || { tail -n 20 "$log" >&2; die "moto exited at start (log: $log)"; }
    sleep 0.2
  done
  tail -n 20 "$log" >&2
  die "moto did not answer on $url within 30 s (log: $log)"
}

stop() {
  ours || { rm -f "$pidfile"; return 0; }
  local pid
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "s3.sh: stopped moto ($pid)" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if ours && answers; then echo "$url"; else echo "s3.sh: not running ($dir)" >&2; exit 3; fi
    ;;
  url) echo "$url" ;;
  env)
    cat <<ENV
export MARKETPIPE_TEST_S3_ENDPOINT=$url
export AWS_ENDPOINT_URL=$url
export AWS_ACCESS_KEY_ID=marketpipe-test
export AWS_SECRET_ACCESS_KEY=marketpipe-test
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
ENV
    ;;
  *) die "usage: $0 start|stop|status|url|env" ;;
esac
