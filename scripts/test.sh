#!/usr/bin/env bash
# Runs every test of outbox-sync: formatting, lints, the native core, protocol
# and server tests, and the wasm suite in headless Chromium (page and service worker).
# Installs what is missing first. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

log=$(mktemp)
server_dir=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$log" "$server_dir"
}
trap cleanup EXIT
step() { printf '\n==> %s\n' "$*"; }

# A loopback port free right now (node is needed for the tests anyway).
free_port() {
  node -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Starts outbox-sync-server for the wasm net suite (tests/suite/net.rs) and
# sets server_url. Its CORS origin is the wasm-bindgen-test runner's, which
# WASM_BINDGEN_TEST_ADDRESS pins (wasm-bindgen-test-runner reads it for both
# its server and the URL the browser visits).
start_test_server() {
  cargo build -p outbox-sync-server --bin outbox-sync-server --quiet
  runner_addr="127.0.0.1:$(free_port)"
  # Cut-off JSON among the static files: a real 200 that is not a page.
  mkdir -p "$server_dir/www/malformed/v1" "$server_dir/pkg"
  printf '{"changes": [' >"$server_dir/www/malformed/v1/changes"
  # A page nested 100,000 arrays deep: too deep to decode safely.
  mkdir -p "$server_dir/www/deep/v1"
  node -e 'const n = 100000; process.stdout.write(`{"changes": ${"[".repeat(n)}${"]".repeat(n)}}`)' \
    >"$server_dir/www/deep/v1/changes"
  "${CARGO_TARGET_DIR:-target}/debug/outbox-sync-server" \
    --listen 127.0.0.1:0 --data "$server_dir/test.sqlite3" \
    --www "$server_dir/www" --pkg "$server_dir/pkg" \
    --token test-token=tester --any-collection \
    --collection net_strict=strict --collection net_merge=merge \
    --enable-fault-injection --cors-origin "http://$runner_addr" \
    >"$server_dir/server.log" 2>&1 &
  server_pid=$!
  server_url=
  for _ in $(seq 100); do
    server_url=$(grep -o 'listening on http://[0-9.:]*' "$server_dir/server.log" | awk '{print $3}' || true)
    if [ -n "$server_url" ] && node -e 'fetch(process.argv[1]).then(
        (r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$server_url/v1/health"; then
      echo "test server at $server_url (log: $server_dir/server.log), runner at http://$runner_addr"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "outbox-sync-server did not start; its log:"; cat "$server_dir/server.log"
  return 1
}

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native: core, protocol, server)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "clippy (wasm: store, js surface, wasm tests)"
cargo clippy -p outbox-sync --target wasm32-unknown-unknown --all-targets --quiet -- -D warnings

step "native tests (core, protocol, server over 127.0.0.1)"
cargo test --workspace 2>&1 | tee -a "$log"

step "server tests again on PostgreSQL (a throwaway cluster from scripts/postgres.sh), with several server instances on one database (server/tests/api/instances.rs)"
scripts/postgres.sh cargo test -p outbox-sync-server 2>&1 | tee -a "$log"

step "wasm tests in headless Chromium: page (tests/browser.rs) and service worker (tests/worker.rs), against outbox-sync-server"
start_test_server
# The URL is baked into the test build (option_env!); without it the net tests fail.
OUTBOX_SYNC_TEST_SERVER="$server_url" WASM_BINDGEN_TEST_ADDRESS="$runner_addr" \
  wasm-pack test --headless --chrome 2>&1 | tee -a "$log"

step "build the package (release, as shipped) for the end-to-end tests"
scripts/build.sh
node scripts/size-budget.mjs # the size budget: wasm + glue gzipped within size-budget.json

step "TypeScript: the generated declarations against a sample using the whole API (tests/types/)"
node_modules/.bin/tsc -p tests/types

step "end-to-end in headless Chromium: the demo and the API (tests/e2e/), the packed npm package in fresh apps (tests/package/)"
OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/outbox-sync-server" \
  node --test --test-concurrency=1 tests/e2e/ tests/package/ 2>&1 | tee -a "$log"

step "benchmark harness, smoke run (tests/bench/: tiny sizes, the numbers are not checked)"
OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/outbox-sync-server" \
  node --test tests/bench/ 2>&1 | tee -a "$log"

# One closing line over every runner above (cargo's and wasm-bindgen's
# "test result" lines, node's "# pass" and "# fail" lines).
passed=$(
  grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed|^# pass [0-9]+' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}'
)
failed=$(
  grep -Eo '[0-9]+ failed;|^# fail [0-9]+' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}'
)
printf '\nall tests: %s passed, %s failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
