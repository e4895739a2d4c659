#!/usr/bin/env bash
# Builds the npm package's wasm and JS glue into pkg/ (release, tuned for size:
# lto, opt-level "z", one codegen unit, then wasm-opt -Oz (twice) from npm's binaryen,
# the glue minified by esbuild) and reports its size raw and gzipped.
# scripts/size-budget.mjs checks the result against size-budget.json.
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
# -Oz twice: the second round finds 0.9 KB gzip more (measured; --converge,
# which repeats until nothing changes, finds no more for much longer).
# --low-memory-unused lets wasm-opt fold constant offsets into loads and stores
# (1.1 KB gzip): it assumes no address computation wraps around into the first
# 1 KB of memory, which Rust's code never does on purpose.
# --symbolmap writes the shipped module's function names beside it (the module
# itself keeps none), for scripts/size-budget.mjs's breakdown by item.
# --strip-producers and --strip-target-features drop two custom sections
# (toolchain names, feature list) no browser reads: 265 B raw.
mkdir -p target/size
node_modules/.bin/wasm-opt --low-memory-unused -Oz -Oz --strip-producers --strip-target-features \
  --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-reference-types --enable-multivalue \
  --symbolmap --pass-arg=symbolmap@target/size/outbox_sync_bg.symbols \
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
# The glue as wasm-bindgen writes it carries every doc comment (the .d.ts has
# them too) and its indentation: without them (and with esbuild's syntax
# shortening) it is a third smaller gzipped. Names are kept (renaming them too
# saves 0.7 KB more gzipped but turns the class `Outbox` into `v` in consoles
# and stack traces); `new URL("...wasm", import.meta.url)`, which bundlers
# look for, stays as it is.
# The JavaScript modules the Rust code imports (`#[wasm_bindgen(module)]`,
# such as src/store/idb_rows.js), which wasm-bindgen copies to pkg/snippets/,
# are bundled into the glue, so the package stays one JS file (the service
# worker, the Vite plugin and `files` in package.json name only it).
glue=pkg/outbox_sync.js
size "$glue (before esbuild)" "$glue"
node_modules/.bin/esbuild "$glue" --bundle --minify-whitespace --minify-syntax --format=esm --log-level=warning --outfile="$glue.min"
mv "$glue.min" "$glue"
rm -rf pkg/snippets
# (The wasm's import object still names them as modules: that is no file.)
if grep -qE "(from|import)[ (]*[\"']\./snippets/" "$glue"; then
  echo "build failed: $glue still imports from pkg/snippets"; exit 1
fi
size "$glue" "$glue"
