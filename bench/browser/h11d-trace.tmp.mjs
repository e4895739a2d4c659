// Where our time goes: runs one browser benchmark under the DevTools CPU
// profiler and prints the functions with the most self time, and how the
// time splits between wasm, JavaScript, garbage collection and waiting.
//
//   node bench/browser/profile.mjs enqueue|latency|pull|drain [n] [pkg dir]
//
// Release builds strip wasm function names; for names, pass a package
// folder whose wasm kept them, e.g. made by
//   wasm-bindgen --target web --out-dir /tmp/named target/wasm32-unknown-unknown/release/outbox_sync.wasm
//   wasm-opt -Oz --debuginfo (build.sh's flags) /tmp/named/outbox_sync_bg.wasm -o /tmp/named/outbox_sync_bg.wasm
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { fieldsOf } from "/work/wt/h11d/bench/browser/fields.mjs";
import { printSelfTimes, selfTimes } from "/work/wt/h11d/bench/browser/profile-summary.mjs";

const ROOT = "/work/wt/h11d";
const HERE = "/work/wt/h11d/bench/browser";
const [what = "enqueue", nArg, pkgArg] = process.argv.slice(2);
const n = Number(nArg ?? 5000);
const pkg = resolve(pkgArg ?? join(ROOT, "pkg"));
const SERVER_BIN = process.env.OUTBOX_SYNC_SERVER_BIN ?? join(ROOT, "target/release/outbox-sync-server");

const dir = mkdtempSync(join(tmpdir(), "outbox-profile-"));
const www = join(dir, "www");
mkdirSync(www);
await build({
  entryPoints: { page: join(HERE, "page.mjs"), sw: join(HERE, "sw.mjs") },
  outdir: www, bundle: true, format: "esm", target: "chrome120", external: ["/pkg/*"],
  define: { "process.env.NODE_ENV": '"production"' }, logLevel: "warning",
});
for (const file of readdirSync(join(HERE, "static"))) copyFileSync(join(HERE, "static", file), join(www, file));
writeFileSync(join(dir, "tokens"), "p=p\n");
const server = spawn(SERVER_BIN, ["--listen", "127.0.0.1:0", "--data", join(dir, "db.sqlite3"), "--fast-commits",
  "--any-collection", "--www", www, "--pkg", pkg, "--tokens-file", join(dir, "tokens")], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((ok) => {
  let out = "";
  server.stdout.on("data", (c) => { out += c; const m = out.match(/listening on (http:\/\/\S+)/); if (m) ok(m[1]); });
});
if (what === "pull") {
  for (let from = 0; from < n; from += 1000) {
    const events = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) events.push({ event_id: crypto.randomUUID(), collection: "notes", record_id: `p${i}`, op: "put", payload: fieldsOf(i) });
    await fetch(`${url}/v1/push`, { method: "POST", headers: { Authorization: "Bearer p", "Content-Type": "application/json" }, body: JSON.stringify({ events }) });
  }
}
const context = await chromium.launchPersistentContext(join(dir, "profile"), {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", headless: true, serviceWorkers: "block",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await context.newPage();
  await page.addInitScript(() => {
    const log = (globalThis.__trace = []);
    const t = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (stores, mode, opts) {
      const tx = t.call(this, stores, mode, opts);
      if (mode === "readwrite") {
        const e = { kind: "tx", stores: [].concat(stores).join(","), start: performance.now() };
        log.push(e);
        tx.addEventListener("complete", () => (e.end = performance.now()));
      }
      return tx;
    };
    for (const [proto, name] of [[IDBObjectStore.prototype, "S"], [IDBIndex.prototype, "I"]]) {
      for (const m of ["get", "getAll", "getAllKeys", "put", "delete", "add"]) {
        const orig = proto[m];
        if (!orig) continue;
        proto[m] = function (...args) {
          const r = orig.apply(this, args);
          const e = { kind: "req", stores: `${name}:${this.name}.${m}`, start: performance.now() };
          log.push(e);
          r.addEventListener("success", () => (e.end = performance.now()));
          return r;
        };
      }
    }
    const f = globalThis.fetch;
    globalThis.fetch = function (input, init) {
      const url = String(input?.url ?? input);
      const e = { kind: url.includes("/v1/push") ? "push" : "fetch", start: performance.now() };
      log.push(e);
      const p = f.call(this, input, init);
      p.then((r) => r.clone().text().then(() => (e.end = performance.now())), () => {});
      return p;
    };
  });
  await page.goto(`${url}/index.html`);
  await page.waitForFunction(() => window.bench);
  await page.evaluate(() => window.bench.ready());
  const cdp = await context.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  const params = { serverUrl: url, token: "p", durability: process.env.PROFILE_DURABILITY ?? "strict", n, run: "p" };
  // The drain's queue is filled before the profiler starts.
  if (what === "drain") await page.evaluate((p) => window.bench.fillForDrain(p), params);
  await page.evaluate(() => (globalThis.__trace.length = 0));
  const t0 = Date.now();
  const result = await page.evaluate(([w, p]) => {
    const b = window.bench;
    if (w === "enqueue") return b.enqueueBurst({ ...p, how: "ours-batch" });
    if (w === "latency") return b.enqueueLatency({ ...p, how: "ours", samples: p.n, warmup: 0 });
    if (w === "pull") return b.pullApply({ ...p, how: "ours" });
    if (w === "drain") return b.drainFilled();
    throw new Error(w);
  }, [what, params]);
  const wall = Date.now() - t0;
  const trace = await page.evaluate(() => globalThis.__trace);
  console.log(`${what} n=${n}: ${JSON.stringify(result).slice(0, 200)}; wall ${wall} ms`);
  const sum = (k, f = () => true) => { const xs = trace.filter((e) => e.kind === k && f(e) && e.end); const d = xs.map((e) => e.end - e.start); d.sort((a, b) => a - b); return `${k}: n=${xs.length} total=${d.reduce((a, b) => a + b, 0).toFixed(0)} ms p50=${(d[d.length >> 1] ?? 0).toFixed(1)} p90=${(d[Math.floor(d.length * 0.9)] ?? 0).toFixed(1)}`; };
  console.log(sum("push"));
  console.log(sum("tx", (e) => e.stores.includes("records")));
  console.log(sum("tx", (e) => !e.stores.includes("records")));
  const first = trace[0]?.start ?? 0;
  if (process.env.TRACE_DUMP) for (const e of trace.slice(Number(process.env.TRACE_FROM ?? 0), Number(process.env.TRACE_FROM ?? 0) + 400)) console.log(e.kind, e.stores ?? "", (e.start - first).toFixed(1), ((e.end ?? NaN) - first).toFixed(1));
} finally {
  await context.close();
  server.kill("SIGINT");
  rmSync(dir, { recursive: true, force: true });
}
