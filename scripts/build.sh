#!/usr/bin/env bash
# Builds the npm package's wasm and JS glue into pkg/ (release, tuned for size)
# and reports its size raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh >/dev/null
echo "building the wasm package (release) into pkg/"
wasm-pack build --release --target web --out-dir pkg --out-name outbox_sync --no-pack . 2>&1 | grep -v '^\[INFO\]' || true
[ -f pkg/outbox_sync_bg.wasm ] || { echo "build failed: pkg/outbox_sync_bg.wasm is missing (see the errors above)"; exit 1; }
for f in pkg/outbox_sync_bg.wasm pkg/outbox_sync.js; do
  raw=$(wc -c <"$f"); gz=$(gzip -9c "$f" | wc -c)
  printf 'size: %-28s raw %7d B  gzip %7d B\n' "$f" "$raw" "$gz"
done
