#!/usr/bin/env bash
# Soak benchmark: `marketpipe demo` at a steady frame rate, sampling the
# process's resident memory, to show it stays flat (bounded channels,
# bounded books, archive rotation, no per-frame growth).
#
#   scripts/soak.sh [RATE_FRAMES_PER_S] [MINUTES]     (defaults: 5000 10)
#
# Prints one line per 30 s: elapsed, RSS, frames received, candles written,
# receive-to-candle latency p-bucket counts; then a verdict on RSS drift.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-5000}
MINUTES=${2:-10}
cargo build --release --quiet
DIR=$(mktemp -d)
trap 'kill -INT $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
"${CARGO_TARGET_DIR:-target}"/release/marketpipe demo --listen 127.0.0.1:0 --rate "$RATE" --products 20 --data-dir "$DIR" \
  >"$DIR/out.txt" 2>"$DIR/err.txt" &
PID=$!
for _ in $(seq 50); do grep -q "listening on" "$DIR/out.txt" 2>/dev/null && break; sleep 0.2; done
API=$(grep -o 'http://[0-9.:]*' "$DIR/out.txt" | head -1)
echo "demo pid $PID at $API, $RATE frames/s, 20 products, $MINUTES min"
printf '%8s %10s %12s %12s %10s\n' elapsed rss_kb frames candles cpu_s
metric() { curl -s "$API/metrics" | awk -v n="$1" '$1 ~ "^"n"({|$)" {s+=$2} END {printf "%d", s}'; }
FIRST=""; LAST=""
for i in $(seq 0 $((MINUTES * 2))); do
  [ "$i" -gt 0 ] && sleep 30
  RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
  CPU=$(awk '{printf "%.1f", ($14+$15)/100}' /proc/$PID/stat)
  printf '%7ds %10s %12s %12s %10s\n' $((i * 30)) "$RSS" "$(metric marketpipe_ws_frames_received_total)" \
    "$(metric marketpipe_candles_written_total)" "$CPU"
  # Memory after the first minute (warm: books full, channels sized) vs the end.
  [ "$i" -eq 2 ] && FIRST=$RSS
  LAST=$RSS
done
curl -s "$API/metrics" | grep -E '^marketpipe_receive_to_candle_seconds_(bucket\{le="0.(05|1)"\}|count)|^marketpipe_channel_(full|drops)' || true
echo "RSS after 1 min: ${FIRST} kB, at the end: ${LAST} kB"
