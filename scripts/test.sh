#!/usr/bin/env bash
# marketpipe's whole test suite: formatting, lints, unit/property/golden tests and the
# end-to-end tests (replay -> SQLite -> HTTP API, checked by an independent Python model),
# and the distributed mode's tests against real servers this script starts: PostgreSQL
# (a throwaway cluster), a Kafka-protocol broker (tansu) and S3 (moto).
# The README's test command and .ci/run both call this. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
# Debian's python3 runs the capture generator and the independent checker.
if ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3 >/dev/null
fi
# librdkafka (the `kafka` feature) is built from source: cmake, libcurl headers, pkg-config.
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -f /usr/include/curl/curl.h ] || [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
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
# And with Kafka support compiled in.
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "test services"
# Real servers for the PostgreSQL store and the distributed mode: each started here and
# stopped on exit if this run started it (one already running is left running).
stops=()
cleanup() {
  for s in "${stops[@]}"; do "scripts/services/$s.sh" stop || true; done
}
trap cleanup EXIT
service() { # name, env var
  if "scripts/services/$1.sh" status >/dev/null 2>&1; then
    printf -v "$2" '%s' "$("scripts/services/$1.sh" url)"
  else
    stops+=("$1")
    printf -v "$2" '%s' "$("scripts/services/$1.sh" start)"
  fi
  export "${2?}"
  echo "$1: ${!2}"
}
service postgres MARKETPIPE_TEST_POSTGRES_URL
service kafka MARKETPIPE_TEST_KAFKA_URL
# moto, for the S3 archive's tests (they build their clients from this URL and dummy keys).
service s3 MARKETPIPE_TEST_S3_ENDPOINT

step "cargo test"
cargo test --workspace --all-features --locked

step "all tests passed"
