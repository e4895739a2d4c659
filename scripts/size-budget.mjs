// The package's size budget: fails when the wasm and the JS glue in pkg/
// (as scripts/build.sh leaves them) together exceed the gzip budget committed
// in size-budget.json. Prints raw, gzip and brotli sizes and the largest items
// of the wasm (named from target/size/outbox_sync_bg.symbols, which build.sh
// writes). Deterministic: sizes only, no timing. Lower the budget in
// size-budget.json when the package shrinks.
//   node scripts/size-budget.mjs [--top N]
import { existsSync, readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { breakdown } from "./wasm-items.mjs";

const root = new URL("../", import.meta.url);
const files = { wasm: "pkg/outbox_sync_bg.wasm", glue: "pkg/outbox_sync.js" };
const symbols = "target/size/outbox_sync_bg.symbols";
const topArg = process.argv.indexOf("--top");
const top = topArg > 0 ? Number(process.argv[topArg + 1]) : 20;

const budget = JSON.parse(readFileSync(new URL("size-budget.json", root), "utf8"));
if (!Number.isInteger(budget.gzipBytes) || budget.gzipBytes <= 0) {
  console.error("size-budget.json needs gzipBytes: the most bytes wasm + glue may take gzipped");
  process.exit(2);
}

// gzip -9 and brotli at its best quality: what a static host would serve.
const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;
const brotli = (bytes) =>
  brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;

const sizes = {};
for (const [name, path] of Object.entries(files)) {
  const url = new URL(path, root);
  if (!existsSync(url)) {
    console.error(`size budget: ${path} is missing; run scripts/build.sh first`);
    process.exit(2);
  }
  const bytes = readFileSync(url);
  sizes[name] = { path, bytes, raw: bytes.length, gzip: gzip(bytes), brotli: brotli(bytes) };
}
const total = { raw: 0, gzip: 0, brotli: 0 };
for (const s of Object.values(sizes)) for (const k of Object.keys(total)) total[k] += s[k];

const kb = (n) => `${(n / 1000).toFixed(1).padStart(6)} KB`;
const row = (label, s) => `  ${label.padEnd(26)} raw ${kb(s.raw)}  gzip ${kb(s.gzip)}  brotli ${kb(s.brotli)}`;
console.log("size of the package's wasm and glue:");
for (const s of Object.values(sizes)) console.log(row(s.path, s));
console.log(row("total", total));

const symbolsUrl = new URL(symbols, root);
if (existsSync(symbolsUrl)) {
  const names = new Map();
  for (const line of readFileSync(symbolsUrl, "utf8").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) names.set(Number(line.slice(0, colon)), line.slice(colon + 1));
  }
  console.log(`\nthe wasm by item (${symbols}):`);
  console.log(breakdown(sizes.wasm.bytes, top, names).replace(/^/gm, "  "));
} else {
  console.log(`\n(no ${symbols}: build with scripts/build.sh for the breakdown by item)`);
}

const left = budget.gzipBytes - total.gzip;
if (left < 0) {
  console.error(
    `\nsize budget exceeded: wasm + glue are ${total.gzip} B gzipped, ${-left} B over the ` +
      `${budget.gzipBytes} B in size-budget.json. Find what grew in the items above ` +
      "(or, if the growth is worth it, raise the budget in the same commit and say why).",
  );
  process.exit(1);
}
console.log(`\nsize budget: ${total.gzip} B gzipped, within ${budget.gzipBytes} B (${left} B to spare)`);
