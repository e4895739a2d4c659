// Where a query's time goes: runs one of the query benchmarks
// (bench/browser/queries.mjs) many times under the DevTools CPU profiler and
// prints the functions with the most self time, and how the time splits
// between wasm, JavaScript, garbage collection and waiting.
//
//   node bench/browser/profile-queries.mjs equality|sorted|paging|live[,...] [n] [pkg dir]
//
// n: records (default 20000, 100 a site). For wasm function names pass a
// package folder whose wasm kept them (see bench/browser/profile.mjs).
// Also prints ours beside Dexie and raw IndexedDB for the same calls, without
// the profiler: direction only, the real figures are run-queries.mjs's.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { queryFields } from "./fields.mjs";
import { printSelfTimes, selfTimes } from "./profile-summary.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const HERE = import.meta.dirname;
const [whats = "equality", nArg, pkgArg] = process.argv.slice(2);
const n = Number(nArg ?? 20000);
const sites = n / 100;
const pkg = resolve(pkgArg ?? join(ROOT, "pkg"));
const SERVER_BIN = process.env.OUTBOX_SYNC_SERVER_BIN ?? join(ROOT, "target/release/outbox-sync-server");
const TOKEN = "p";

const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), "outbox-profile-q-"));
const www = join(dir, "www");
mkdirSync(www);
await build({
  stdin: { contents: 'import * as q from "./queries.mjs"; window.bench = q;', resolveDir: HERE, loader: "js" },
  outfile: join(www, "queries.js"), bundle: true, format: "esm", target: "chrome120", external: ["/pkg/*"],
  define: { "process.env.NODE_ENV": '"production"' }, logLevel: "warning",
});
writeFileSync(join(www, "index.html"), '<!doctype html>\n<meta charset="utf-8">\n<script type="module" src="/queries.js"></script>\n');
const server = spawn(SERVER_BIN, ["--listen", "127.0.0.1:0", "--data", join(dir, "db.sqlite3"), "--fast-commits",
  "--any-collection", "--www", www, "--pkg", pkg, "--token", `${TOKEN}=${TOKEN}`], { stdio: ["ignore", "pipe", "inherit"] });
const url = await new Promise((ok) => {
  let out = "";
  server.stdout.on("data", (c) => { out += c; const m = out.match(/listening on (http:\/\/\S+)/); if (m) ok(m[1]); });
});
for (let from = 0; from < n; from += 1000) {
  const events = [];
  for (let i = from; i < Math.min(n, from + 1000); i++) events.push({ event_id: crypto.randomUUID(), collection: "notes", record_id: `q${i}`, op: "put", payload: queryFields(i, sites) });
  await fetch(`${url}/v1/push`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" }, body: JSON.stringify({ events }) });
}
const context = await chromium.launchPersistentContext(join(dir, "profile"), {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", headless: true, serviceWorkers: "block",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${url}/index.html`);
  await page.waitForFunction(() => window.bench);
  const inPage = (name, p) => page.evaluate(([m, q]) => window.bench[m](q), [name, p]);
  await inPage("prepareOurs", { n, serverUrl: url, token: TOKEN });
  await inPage("prepareDexie", { n, sites });
  await inPage("prepareRaw", { n, sites });
  for (const what of whats.split(",")) {
    const call = (how, k) => {
      if (what === "equality") return inPage("equality", { how, site: (k * 7919 + 13) % sites, limit: 100 });
      if (what === "sorted") return inPage("firstSorted", { how, limit: 100 });
      if (what === "paging") return inPage("paging", { how, from: (k * 1000) % (n - 2000), range: 2000, page: 100 });
      if (what === "live") return inPage("liveLatency", { how, samples: 40, warmup: 5, sites }).then((r) => r.fromStart.sort((a, b) => a - b)[20]);
      throw new Error(what);
    };
    const reps = what === "paging" ? 5 : what === "live" ? 2 : 40;
    const hows = what === "live" ? ["ours", "dexie", "dexie-committed"] : ["ours", "dexie", "raw"];
    const times = Object.fromEntries(hows.map((h) => [h, []]));
    for (let k = 0; k < reps; k++) for (const how of hows) times[how].push(await call(how, k));
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log("medians (ms, no profiler):", Object.fromEntries(hows.map((h) => [h, +median(times[h]).toFixed(2)])));
    const cdp = await context.newCDPSession(page);
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    await cdp.send("Profiler.start");
    const t0 = Date.now();
    for (let k = 0; k < reps * 2; k++) await call("ours", k);
    const wall = Date.now() - t0;
    const { profile } = await cdp.send("Profiler.stop");
    console.log(`${what} n=${n}: ${reps * 2} calls of ours under the profiler; wall ${wall} ms`);
    printSelfTimes(selfTimes(profile), { top: 30, digits: 1 });
  }
} finally {
  await context.close();
  server.kill("SIGINT");
  rmSync(dir, { recursive: true, force: true });
}
