#!/usr/bin/env bash
# Benchmarks (not tests: they never fail on a number). Today: the reference
# server's push throughput and cost per event as stored idempotency keys grow,
# each size beside the smallest as the baseline. Writes bench/results/server-push.md.
# BENCH_MAX_KEYS, BENCH_EVENTS, BENCH_BATCH, BENCH_DURABLE tune it (see
# server/examples/bench_push.rs). The browser-side benchmarks are issue 7's.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh >/dev/null
mkdir -p bench/results
out=bench/results/server-push.md
{
  echo "# Server push benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo
  cargo run --quiet --release -p outbox-sync-server --example bench_push
} | tee "$out"
echo "written: $out"

# The server under load: many clients pushing and pulling for a minute on a
# release build (server/tests/api/load.rs; LOAD_SECONDS, LOAD_CLIENTS tune it).
LOAD_SECONDS="${LOAD_SECONDS:-60}" LOAD_CLIENTS="${LOAD_CLIENTS:-32}" \
  LOAD_REPORT="$PWD/bench/results/server-load.md" \
  cargo test --quiet --release -p outbox-sync-server --test api load:: -- --nocapture
echo "written: bench/results/server-load.md"
