#!/usr/bin/env bash
# Runs every test of outbox-sync: formatting, lints, the native core, protocol
# and server tests, and the wasm suite in headless Chromium (page and service worker).
# Installs what is missing first. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native: core, protocol, server)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "clippy (wasm: store, js surface, wasm tests)"
cargo clippy -p outbox-sync --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings

step "native tests (core, protocol, server over 127.0.0.1)"
cargo test --workspace 2>&1 | tee -a "$log"

step "wasm tests in headless Chromium: page (tests/browser.rs) and service worker (tests/worker.rs)"
wasm-pack test --headless --chrome 2>&1 | tee -a "$log"

# One closing line over every runner above.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
printf '\nall tests: %s passed, %s failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
