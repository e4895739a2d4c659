#!/usr/bin/env bash
# Benchmarks (not tests: they never fail on a number). First the reference
# server's push throughput beside a raw rusqlite floor measured in the same
# run (durable and fast commits, 1 and more clients, and PostgreSQL with its
# durable defaults in a throwaway cluster, scripts/postgres.sh with
# PG_DURABLE=1), then its cost per event as stored idempotency keys grow:
# bench/results/server-push.md. BENCH_EVENTS, BENCH_BATCH, BENCH_CLIENTS,
# BENCH_MAX_KEYS tune it (see server/examples/bench_push.rs); BENCH_NOTE adds
# a line to the results (e.g. that the machine was busy). Then the browser side in headless Chromium,
# ours beside raw IndexedDB, Dexie and Workbox (bench/browser/run.mjs):
# bench/results/browser.md and browser.json (about 15 minutes on 2 cores).
# Then the queries in headless Chromium, ours beside Dexie and raw IndexedDB
# (bench/browser/run-queries.mjs): bench/results/queries.md and queries.json
# (skipped with a message while the package has no query engine).
# Then a 50 MB file uploaded through the outbox beside a raw fetch loop
# (bench/browser/blobs.mjs): bench/results/blobs.md.
# BENCH_ONLY=server skips the browser side, BENCH_ONLY=browser the push
# benchmark, BENCH_ONLY=queries runs only the query benchmarks; BENCH_SMOKE=1 runs the browser side at tiny sizes (into a
# temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh >/dev/null
mkdir -p bench/results
out=bench/results/server-push.md
only="${BENCH_ONLY:-all}"
if [ "$only" != browser ] && [ "$only" != queries ]; then
{
  echo "# Server push benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
  echo
  if [ -n "${BENCH_NOTE:-}" ]; then echo "$BENCH_NOTE"; echo; fi
  cargo build --quiet --release -p outbox-sync-server --example bench_push
  PG_DURABLE=1 scripts/postgres.sh "${CARGO_TARGET_DIR:-target}/release/examples/bench_push"
} | tee "$out"
echo "written: $out"
fi

if [ "$only" != server ]; then
  scripts/build.sh
  cargo build --quiet --release -p outbox-sync-server --bin outbox-sync-server
  if [ "$only" != queries ]; then
    OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/release/outbox-sync-server" node bench/browser/run.mjs
  fi
  status=0
  OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/release/outbox-sync-server" node bench/browser/run-queries.mjs || status=$?
  # 3: the package has no query engine yet (the script said so); anything else is a failure.
  if [ "$status" != 0 ] && [ "$status" != 3 ]; then exit "$status"; fi
  if [ "$only" != queries ]; then
    OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/release/outbox-sync-server" node bench/browser/blobs.mjs
  fi
fi
[ "$only" = queries ] && exit 0

# The server under load: many clients pushing and pulling for a minute on a
# release build (server/tests/api/load.rs; LOAD_SECONDS, LOAD_CLIENTS tune it).
LOAD_SECONDS="${LOAD_SECONDS:-60}" LOAD_CLIENTS="${LOAD_CLIENTS:-32}" \
  LOAD_REPORT="$PWD/bench/results/server-load.md" LOAD_NOTE="${BENCH_NOTE:-}" \
  cargo test --quiet --release -p outbox-sync-server --test api load:: -- --nocapture
echo "written: bench/results/server-load.md"
