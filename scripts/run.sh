#!/usr/bin/env bash
# The main job: builds the package and the reference server, then serves the
# demo app, the package and the sync API on http://127.0.0.1:8787 until Ctrl-C.
# Environment: PORT (8787), DATA (./data/demo.sqlite3), TOKEN (demo-token, user "demo").
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh
echo "building the reference server (release)"
cargo build --release --quiet -p outbox-sync-server

port=${PORT:-8787}
token=${TOKEN:-demo-token}
echo "serving the demo on http://127.0.0.1:$port/ (bearer token: $token)"
exec target/release/outbox-sync-server \
  --listen "127.0.0.1:$port" \
  --data "${DATA:-./data/demo.sqlite3}" \
  --token "$token=demo" \
  --collection notes=merge \
  --any-collection \
  --www www --pkg pkg \
  --enable-fault-injection
