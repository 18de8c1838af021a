#!/usr/bin/env bash
# Soak benchmark: `marketpipe run` against `marketpipe sim` at a steady
# frame rate, sampling the pipeline's resident memory to show it stays flat
# (bounded channels, bounded books and dedup state, archive rotation, no
# per-frame growth). The simulator runs as its own process because it keeps
# a growing REST trade history by design (100,000 trades per product).
#
#   scripts/soak.sh [RATE_FRAMES_PER_S] [MINUTES]     (defaults: 5000 10)
#
# Prints one line per 30 s: elapsed, RSS of run, frames received, candles
# written, CPU seconds used; then the latency histogram and RSS drift.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-5000}
MINUTES=${2:-10}
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/marketpipe"
DIR=$(mktemp -d)
cleanup() {
  kill -INT "${RUN:-}" "${SIM:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
"$BIN" sim --listen 127.0.0.1:0 --rate "$RATE" --products 20 >"$DIR/sim.txt" 2>"$DIR/sim.err" &
SIM=$!
for _ in $(seq 50); do grep -q "products:" "$DIR/sim.txt" 2>/dev/null && break; sleep 0.2; done
WS=$(awk '/websocket/ {print $4}' "$DIR/sim.txt")
REST=$(awk '/websocket/ {print $6}' "$DIR/sim.txt")
PRODUCTS=$(awk '/products:/ {print $2}' "$DIR/sim.txt")
"$BIN" run --exchange coinbase --products "$PRODUCTS" --ws-url "$WS" --rest-url "$REST" \
  --listen 127.0.0.1:0 --data-dir "$DIR/data" >"$DIR/run.txt" 2>"$DIR/run.err" &
RUN=$!
for _ in $(seq 50); do grep -q "listening on" "$DIR/run.txt" 2>/dev/null && break; sleep 0.2; done
API=$(grep -o 'http://[0-9.:]*' "$DIR/run.txt" | head -1)
echo "run pid $RUN at $API; sim at $WS, $RATE frames/s, 20 products, $MINUTES min"
printf '%8s %10s %12s %12s %10s\n' elapsed rss_kb frames candles cpu_s
metric() { curl -s "$API/metrics" | awk -v n="$1" '$1 ~ "^"n"({|$)" {s+=$2} END {printf "%d", s}'; }
FIRST=""; LAST=""
for i in $(seq 0 $((MINUTES * 2))); do
  [ "$i" -gt 0 ] && sleep 30
  RSS=$(awk '/VmRSS/ {print $2}' "/proc/$RUN/status")
  CPU=$(awk '{printf "%.1f", ($14+$15)/100}' "/proc/$RUN/stat")
  printf '%7ds %10s %12s %12s %10s\n' $((i * 30)) "$RSS" "$(metric marketpipe_ws_frames_received_total)" \
    "$(metric marketpipe_candles_written_total)" "$CPU"
  # Memory once warm (books full, channels sized) vs the end.
  [ "$i" -eq 2 ] && FIRST=$RSS
  LAST=$RSS
done
curl -s "$API/metrics" | grep -E '^marketpipe_receive_to_candle_seconds_(bucket\{le="0\.(01|05|1)"\}|count)|^marketpipe_channel_(full|drops)|^marketpipe_archive_bytes' || true
echo "RSS of run after 1 min: ${FIRST} kB, at the end: ${LAST} kB"
