#!/usr/bin/env bash
# marketpipe's whole test suite: formatting, lints, unit/property/golden tests and the
# end-to-end tests (replay -> SQLite -> HTTP API, checked by an independent Python model),
# and the PostgreSQL store's tests against a real server that this script starts.
# The README's test command and .ci/run both call this. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
# Debian's python3 runs the capture generator and the independent checker.
if ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3 >/dev/null
fi
if [ ! -f ../shared/bench/gen_capture.py ]; then
  echo "error: ../shared/bench/gen_capture.py is missing; the tests need the shared folder beside this repository" >&2
  exit 1
fi
cargo --version
python3 --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "test services"
# The PostgreSQL store's tests need a real server: a throwaway cluster, started here and
# stopped on exit if this run started it (one already running is left running).
if scripts/services/postgres.sh status >/dev/null 2>&1; then
  MARKETPIPE_TEST_POSTGRES_URL="$(scripts/services/postgres.sh url)"
else
  trap 'scripts/services/postgres.sh stop' EXIT
  MARKETPIPE_TEST_POSTGRES_URL="$(scripts/services/postgres.sh start)"
fi
export MARKETPIPE_TEST_POSTGRES_URL
echo "postgres: $MARKETPIPE_TEST_POSTGRES_URL"

step "cargo test"
cargo test --workspace --locked

step "all tests passed"
