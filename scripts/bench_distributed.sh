#!/usr/bin/env bash
# Distributed throughput and latency: the simulator → `ingest` → Kafka (tansu) → two `process`
# members of one group → PostgreSQL, on this machine. Reports the frames per second the
# simulator generated and the pipeline kept up with, the events the process members applied,
# and the receive → stored-candle latency of trades at the 50th and 99th percentiles.
#
#   scripts/bench_distributed.sh [FRAMES_PER_S] [SECONDS] [PRODUCTS]   (defaults: 5000 30 20)
#
# Starts (and afterwards stops) the test PostgreSQL and tansu of scripts/services/ unless they
# are already running.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-5000}
SECONDS_=${2:-30}
PRODUCTS=${3:-20}
cargo build --release --features kafka --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/marketpipe"
stops=()
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  for s in "${stops[@]}"; do "scripts/services/$s.sh" stop >/dev/null || true; done
}
trap cleanup EXIT
for s in postgres kafka; do
  "scripts/services/$s.sh" status >/dev/null 2>&1 || { stops+=("$s"); "scripts/services/$s.sh" start >/dev/null; }
done
PG="$(scripts/services/postgres.sh url)"
KAFKA="$(scripts/services/kafka.sh url)"
RUN="bench$(date +%s)"
DIR=$(mktemp -d)
export MARKETPIPE_LOG=warn

"$BIN" sim --listen 127.0.0.1:0 --products "$PRODUCTS" --rate "$RATE" --duration "${SECONDS_}s" --wait-for-subscriber >"$DIR/sim.out" &
SIM=$!
until grep -q products: "$DIR/sim.out" 2>/dev/null; do sleep 0.1; done
WS=$(grep -o 'websocket [^ ]*' "$DIR/sim.out" | cut -d' ' -f2)
REST=$(grep -o 'rest [^ ]*' "$DIR/sim.out" | cut -d' ' -f2)
LIST=$(grep products: "$DIR/sim.out" | cut -d' ' -f2)
for m in a b; do
  "$BIN" process --bus "$KAFKA" --store "$PG?schema=$RUN" --group "$RUN" --topic-prefix "$RUN." >"$DIR/process-$m.out" &
  eval "PROC_$m=$!"
done
sleep 2
"$BIN" ingest --bus "$KAFKA" --topic-prefix "$RUN." --exchange coinbase --products "$LIST" --ws-url "$WS" --rest-url "$REST" \
  --listen 127.0.0.1:0 --data-dir "$DIR/ingest" --no-archive >"$DIR/ingest.out" &
INGEST=$!
sleep $((SECONDS_ + 3))
kill -INT "$INGEST"; wait "$INGEST" || true
sleep 3
kill -INT "$PROC_a" "$PROC_b"; wait "$PROC_a" "$PROC_b" || true
kill -INT "$SIM"; wait "$SIM" || true
echo "simulator: $RATE frames/s for ${SECONDS_}s over $PRODUCTS products"
grep -h "process summary" "$DIR"/process-*.out
python3 - "$DIR" "$SECONDS_" <<'PY'
import glob, re, sys
applied = 0
for f in glob.glob(sys.argv[1] + "/process-*.out"):
    m = re.search(r"applied (\d+) events", open(f).read())
    applied += int(m.group(1)) if m else 0
print(f"events applied by both members: {applied} ({applied / float(sys.argv[2]):,.0f}/s over the market's run)")
PY
rm -rf "$DIR"
