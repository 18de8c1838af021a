#!/usr/bin/env bash
# Side-by-side replay throughput on identical Binance traffic: marketpipe
# (decode, books, candles, SQLite) vs cryptofeed's raw-data playback (decode
# and books), as issue 4 asks. Installs cryptofeed into a private venv on
# first use (needs PyPI), generates the frames once, runs each side RUNS
# times (default 5), alternating, and reports the best run of each: on a
# shared VM a run's speed varies by tens of percent from minute to minute.
# It also reports the median of each run's own ratio (its two sides ran
# seconds apart), the typical figure where the best runs fell in
# different minutes.
# Each timed run follows WARMUP untimed runs of the same side (default 1,
# as hyperfine's --warmup), so that both sides meet the same warm OS
# caches; WARMUP=0 times cold runs. (A replay once ran up to 2x slower
# cold, zeroing transparent huge pages; mimalloc is now built without
# them, and cold and warm runs are within about 10%.)
#
#   [WARMUP=n] scripts/bench_vs_cryptofeed.sh [FRAMES] [SYMBOLS] [RUNS]     (defaults: 400000 20 5)
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-400000}
SYMBOLS=${2:-20}
RUNS=${3:-5}
WARMUP=${WARMUP:-1}
VENV=${CRYPTOFEED_VENV:-$HOME/.cache/marketpipe/cryptofeed-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import cryptofeed" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q cryptofeed
fi
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/marketpipe"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
python3 ../shared/bench/gen_capture.py --exchange binance --frames "$FRAMES" --symbols "$SYMBOLS" \
  --out "$DIR/bn.jsonl" --cryptofeed "$DIR/cf/" >/dev/null
# Both sides' inputs were just written: flush them to disk now, so that
# the kernel's writeback of some 250 MB does not run during the timed runs.
sync
cat >"$DIR/cf_play.py" <<'PY'
import glob, sys, time
from cryptofeed.raw_data_collection import playback
files = sorted(glob.glob(sys.argv[1] + "/BINANCE*"))
t = time.perf_counter()
stats = playback("BINANCE", files)
elapsed = time.perf_counter() - t
print(f"{stats['messages_processed']} {elapsed:.4f}")
PY
best_cf=""; best_mp=""; pairs=""
for run in $(seq "$RUNS"); do
  for _ in $(seq 0 "$WARMUP"); do
    read -r cf_msgs cf_s < <(cd "$DIR" && "$VENV/bin/python" cf_play.py cf)
  done
  for _ in $(seq 0 "$WARMUP"); do
    rm -rf "$DIR/data"
    MARKETPIPE_LOG=warn "$BIN" replay "$DIR/bn.jsonl" --data-dir "$DIR/data" --no-progress --summary-json "$DIR/summary.json" >/dev/null
  done
  read -r mp_records mp_s < <(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['records'], s['elapsed_s'])" "$DIR/summary.json")
  echo "run $run: cryptofeed $cf_msgs messages in ${cf_s}s; marketpipe $mp_records records in ${mp_s}s"
  pairs="$pairs $cf_s:$mp_s"
  best_cf=$(python3 -c "print(min(float(x) for x in '$best_cf $cf_s'.split()))")
  best_mp=$(python3 -c "print(min(float(x) for x in '$best_mp $mp_s'.split()))")
done
python3 - "$cf_msgs" "$best_cf" "$mp_records" "$best_mp" "$pairs" <<'PY'
import statistics, sys
cf_n, cf_s, mp_n, mp_s = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
cf, mp = cf_n / cf_s, mp_n / mp_s
print(f"cryptofeed: {cf:,.0f} messages/s   marketpipe: {mp:,.0f} records/s   ratio: {mp / cf:.1f}x")
# The best runs may come from different minutes; each run's own pair (run
# back to back) shares the minute. Their median is the typical ratio.
paired = [(mp_n / float(m)) / (cf_n / float(c)) for c, m in (p.split(":") for p in sys.argv[5].split())]
print(f"median ratio of the {len(paired)} side-by-side runs: {statistics.median(paired):.1f}x "
      f"(range {min(paired):.1f}-{max(paired):.1f}x)")
PY
