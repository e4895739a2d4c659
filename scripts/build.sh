#!/usr/bin/env bash
# Builds the npm package's wasm and JS glue into pkg/ (release, tuned for size:
# lto, opt-level "z", one codegen unit, then wasm-opt -Oz from npm's binaryen)
# and reports its size raw and gzipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh >/dev/null
echo "building the wasm package (release) into pkg/"
wasm-pack build --release --target web --out-dir pkg --out-name outbox_sync --no-pack . 2>&1 | grep -v '^\[INFO\]' || true
wasm=pkg/outbox_sync_bg.wasm
[ -f "$wasm" ] || { echo "build failed: $wasm is missing (see the errors above)"; exit 1; }

size() { printf 'size: %-34s raw %7d B  gzip %7d B\n' "$1" "$(wc -c <"$2")" "$(gzip -9c "$2" | wc -c)"; }
size "$wasm (before wasm-opt)" "$wasm"
# Debian's wasm-opt is too old for current Rust output; npm's binaryen is current.
# The features are the ones rustc's wasm32 target enables by default.
node_modules/.bin/wasm-opt -Oz \
  --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-reference-types --enable-multivalue \
  "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
size "$wasm" "$wasm"
# The declarations must compile under lib ["es2022", "dom"] without skipLibCheck:
# wasm-bindgen declares `[Symbol.dispose]()`, which needs lib esnext.disposable
# (TS2550 otherwise). The method stays in the JS where the browser has
# Symbol.dispose; the declarations leave it out (close() is the documented way).
sed -i '/\[Symbol\.dispose\]()/d' pkg/outbox_sync.d.ts
if grep -q 'Symbol\.dispose' pkg/outbox_sync.d.ts; then
  echo "build failed: pkg/outbox_sync.d.ts still names Symbol.dispose"; exit 1
fi
size pkg/outbox_sync.js pkg/outbox_sync.js
