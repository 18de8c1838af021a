#!/usr/bin/env bash
# A throwaway Kafka-protocol broker (tansu) for marketpipe's tests.
#
#   scripts/services/kafka.sh start    install tansu if missing (cargo install, ~11 min the first
#                                      time), start it on 127.0.0.1; prints the bus URL
#   scripts/services/kafka.sh stop     stop it (only the broker this script started)
#   scripts/services/kafka.sh status   prints the URL and exits 0 if running, exits 3 if not
#   scripts/services/kafka.sh url      prints the URL
#
# tansu speaks the Kafka protocol to librdkafka (consumer groups, idempotent producers; no
# transactions, no topic auto-creation, which marketpipe never relies on). It runs from an empty
# directory under $MARKETPIPE_SERVICES_DIR/kafka (default target/services/kafka) with in-memory
# storage, so every start is a fresh, empty broker. Port: $MARKETPIPE_KAFKA_PORT (default 19092).
# Every command is safe to repeat.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
services_dir="${MARKETPIPE_SERVICES_DIR:-$repo/target/services}"
mkdir -p "$services_dir"
dir="$(cd "$services_dir" && pwd)/kafka"
port="${MARKETPIPE_KAFKA_PORT:-19092}"
url="kafka://127.0.0.1:$port"
pidfile="$dir/tansu.pid"
log="$dir/tansu.log"
version=0.6.0

die() { echo "kafka.sh: $*" >&2; exit 1; }

find_tansu() {
  if command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$version"; then
    tansu_bin="$(command -v tansu)"
    return
  fi
  if [ -x "$HOME/.cargo/bin/tansu" ]; then
    tansu_bin="$HOME/.cargo/bin/tansu"
    return
  fi
  echo "kafka.sh: installing tansu $version with cargo (about 11 minutes the first time)" >&2
  cargo install tansu --version "$version" --features dynostore,libsql --locked --quiet
  tansu_bin="$HOME/.cargo/bin/tansu"
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

start() {
  if running; then
    echo "$url"
    return
  fi
  # A broker this script did not start (one left running after its state
  # directory was deleted, say) would answer in place of the new one.
  if answers; then
    die "something else already answers on 127.0.0.1:$port; stop it or set MARKETPIPE_KAFKA_PORT to a free port"
  fi
  find_tansu
  rm -rf "$dir"
  mkdir -p "$dir"
  (
    cd "$dir"
    nohup "$tansu_bin" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$log" 2>&1 &
    echo $! >"$pidfile"
  )
  for _ in $(seq 1 100); do
    if answers; then
      echo "$url"
      return
    fi
    running || die "tansu exited at start; see $log: $(tail -5 "$log")"
    sleep 0.1
  done
  die "tansu did not answer on 127.0.0.1:$port within 10 s; see $log"
}

stop() {
  if running; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do
      running || break
      sleep 0.1
    done
    running && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "$url"; else exit 3; fi ;;
  url) echo "$url" ;;
  *) die "usage: $0 start|stop|status|url" ;;
esac
