#!/usr/bin/env bash
# Runs every test of outbox-sync: formatting, lints, the native core, protocol
# and server tests (SQLite, then the database tests again on PostgreSQL), the
# wasm suite (page and service worker) in Chromium, Firefox and WebKit, and the
# end-to-end tests. Installs what is missing first. Exits non-zero on the first
# failing step (the three engines all run before a wasm failure stops it), and
# closes with one line counting every test: passed, failed and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

# Each runner's output is kept apart (logs/NAME.log) and counted at the end.
logs=$(mktemp -d)
server_dir=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$logs" "$server_dir"
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

# Counts in one runner's log as "PASSED FAILED SKIPPED": cargo's and
# wasm-bindgen-test's "test result:" lines (ignored tests are skipped), and the
# summary of node's TAP reporter (todo counts as skipped, cancelled as failed).
count() {
  awk '
    /test result: / {
      for (i = 1; i <= NF; i++) {
        n = $(i - 1) + 0
        if ($i ~ /^passed/) p += n; else if ($i ~ /^failed/) f += n; else if ($i ~ /^ignored/) s += n
      }
    }
    /^# pass [0-9]+$/ { p += $3 }
    /^# (fail|cancelled) [0-9]+$/ { f += $3 }
    /^# (skipped|todo) [0-9]+$/ { s += $3 }
    END { print p + 0, f + 0, s + 0 }
  ' "$1"
}
# "N passed, N failed, N skipped" for one log.
counts_line() { count "$1" | awk '{ printf "%s passed, %s failed, %s skipped", $1, $2, $3 }'; }

# Node's test runner, with a pinned reporter: spec for people on stdout, TAP
# (whose summary lines count) into logs/NAME.log. Newer Node versions changed
# the default reporter, so nothing here depends on it.
node_test() {
  name=$1; shift
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$logs/$name.log" "$@"
}

step "native tests (core, protocol, server over 127.0.0.1) on SQLite"
# Unset, so the server's API tests run on SQLite even where the caller set a
# PostgreSQL URL; the PostgreSQL-only tests are #[ignore]d (counted as skipped).
env -u OUTBOX_SYNC_TEST_DATABASE_URL -u OUTBOX_SYNC_TEST_DATABASE_CA \
  cargo test --workspace 2>&1 | tee "$logs/cargo-sqlite.log"

step "the store's JavaScript helpers in Node: the push body from stored rows, the held payloads, the push answer's depth check (tests/helpers/)"
node_test helpers tests/helpers/

step "the framework bindings (outbox-sync/react, outbox-sync/live) against an in-memory outbox with the query contract, React in jsdom (tests/bindings/)"
node_test bindings tests/bindings/

step "the server's database tests again on PostgreSQL (a throwaway cluster from scripts/postgres.sh), the PostgreSQL-only ones included: several server instances on one database (server/tests/api/instances.rs), locks, dropped connections and TLS (postgres.rs)"
scripts/postgres.sh cargo test -p outbox-sync-server --test api --test secrets -- --include-ignored 2>&1 |
  tee "$logs/cargo-postgres.log"

step "wasm tests in Chromium, Firefox and WebKit: page (tests/browser.rs) and service worker (tests/worker.rs), against outbox-sync-server"
start_test_server
# The URL is baked into the test build (option_env!); without it the net tests fail.
# The runner's budget for one test binary, browser start included, is 20 s by
# default: Firefox on a busy 2-core machine needs more.
export OUTBOX_SYNC_TEST_SERVER="$server_url" WASM_BINDGEN_TEST_ADDRESS="$runner_addr" \
  WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"
failed_engines=()
wasm_engine() {
  name=$1; shift
  printf '\n--- wasm suite in %s\n' "$name"
  "$@" 2>&1 | tee "$logs/wasm-$name.log" || failed_engines+=("$name")
}
wasm_engine Chromium wasm-pack test --headless --chrome
wasm_engine Firefox wasm-pack test --headless --firefox --geckodriver "$(command -v geckodriver)"
# WebKitGTK's driver opens a real window: a virtual X display of its own.
wasm_engine WebKit xvfb-run -a wasm-pack test --headless --safari --safaridriver /usr/bin/WebKitWebDriver
unset OUTBOX_SYNC_TEST_SERVER WASM_BINDGEN_TEST_ADDRESS
echo
for name in Chromium Firefox WebKit; do
  # A runner that stops early (a browser that never answered) prints no count.
  case " ${failed_engines[*]} " in *" $name "*) verdict=" (FAILED: see its output above)" ;; *) verdict= ;; esac
  echo "wasm suite in $name: $(counts_line "$logs/wasm-$name.log")$verdict"
done
if [ ${#failed_engines[@]} -gt 0 ]; then
  echo "the wasm suite failed in: ${failed_engines[*]}"
  exit 1
fi

step "build the package (release, as shipped) for the end-to-end tests"
scripts/build.sh
node scripts/size-budget.mjs # the size budget: wasm + glue gzipped within size-budget.json

step "TypeScript: the generated declarations against a sample using the whole API (tests/types/)"
node_modules/.bin/tsc -p tests/types

step "end-to-end: the demo and the API in headless Chromium, the fallbacks where Background Sync is missing in Firefox and WebKit (tests/e2e/), the packed npm package in fresh apps (tests/package/)"
OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/outbox-sync-server" \
  node_test e2e --test-concurrency=1 tests/e2e/ tests/package/

step "benchmark harness, smoke run (tests/bench/: tiny sizes, the numbers are not checked)"
OUTBOX_SYNC_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/outbox-sync-server" \
  node_test bench tests/bench/

# One closing line over every runner above, each counted from its own log.
printf '\n'
total=(0 0 0)
for file in "$logs"/*.log; do
  read -r p f k < <(count "$file")
  printf '%-16s %s\n' "$(basename "$file" .log):" "$(counts_line "$file")"
  total=($((total[0] + p)) $((total[1] + f)) $((total[2] + k)))
done
printf '\nall tests: %s passed, %s failed, %s skipped\n' "${total[@]}"
[ "${total[1]}" = 0 ]
