// Query benchmarks of outbox-sync beside Dexie and raw IndexedDB, in one
// headless Chromium run (bench/browser/queries.mjs runs in the page): an
// equality query returning 100 of 100k records, paging through a 10k range
// 100 at a time, the first page sorted by last change, and the latency from a
// committed write to a live-query callback (our watch() beside Dexie's
// liveQuery). Writes bench/results/queries.md (medians with min and max,
// ratios, targets) and queries.json (every sample). Benchmarks never fail on a
// number; they fail when something does not work (a query returning the wrong
// count, a live query that never calls back).
//
//   node bench/browser/run-queries.mjs                 full run
//   BENCH_SMOKE=1 node bench/browser/run-queries.mjs   2000 records, 2 runs (the test's smoke run)
//
// BENCH_RUNS (repeats, default 20; 2 in the smoke run), BENCH_WARMUP
// (uncounted rounds of every side first, default 10; 1 in the smoke run), BENCH_OUT (results
// folder, default bench/results; the smoke run writes to a temporary folder
// unless set), BENCH_NOTE (a line in the report, e.g. that the machine was
// busy), BENCH_PKG (the package folder the page loads, default pkg/: to
// compare a change with main's package, run once with each, alternately),
// BENCH_TMP, OUTBOX_SYNC_SERVER_BIN, CHROMIUM_PATH.
// Exits with code 3 and writes nothing when the built package has no query
// engine (Outbox.prototype.query and watch).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { queryFields } from "./fields.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const HERE = import.meta.dirname;
const SMOKE = process.env.BENCH_SMOKE === "1";
const RUNS = Number(process.env.BENCH_RUNS ?? (SMOKE ? 2 : 20));
const OUT = process.env.BENCH_OUT ?? (SMOKE ? mkdtempSync(join(tmpdir(), "outbox-bench-queries-")) : join(ROOT, "bench/results"));
const SERVER_BIN = process.env.OUTBOX_SYNC_SERVER_BIN ?? join(ROOT, "target/release/outbox-sync-server");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PKG = resolve(process.env.BENCH_PKG ?? join(ROOT, "pkg"));
const TOKEN = "bench-queries";
const NO_ENGINE = 3;

// 100 records a site in every size; the range is 10k of 100k (a tenth in the smoke run).
const N = SMOKE
  ? { records: 2_000, range: 500, page: 100, limit: 100, liveSamples: 10 }
  : { records: 100_000, range: 10_000, page: 100, limit: 100, liveSamples: 50 };
N.sites = N.records / N.limit;
const PAGING_RUNS = Math.max(1, Math.ceil(RUNS / 4));
const LIVE_RUNS = Math.max(1, Math.ceil(RUNS / 10));
const WARMUP = Number(process.env.BENCH_WARMUP ?? (SMOKE ? 1 : 10));

const log = (...args) => console.error("bench queries:", ...args);

/** A folder on a real disk (the browser profile must not live in memory). */
function realDiskDir(prefix) {
  for (const base of [process.env.BENCH_TMP, tmpdir(), join(ROOT, "target")].filter(Boolean)) {
    mkdirSync(base, { recursive: true });
    const type = execFileSync("stat", ["-f", "-c", "%T", base]).toString().trim();
    if (type !== "tmpfs" && type !== "ramfs") return { dir: mkdtempSync(join(base, prefix)), fs: type };
  }
  throw new Error("no real disk for the browser profile: set BENCH_TMP");
}

async function bundle(outDir) {
  await build({
    stdin: { contents: 'import * as q from "./queries.mjs"; window.bench = q;', resolveDir: HERE, loader: "js" },
    outfile: join(outDir, "queries.js"),
    bundle: true,
    format: "esm",
    target: "chrome120",
    external: ["/pkg/*"],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
  });
  writeFileSync(join(outDir, "index.html"),
    '<!doctype html>\n<meta charset="utf-8">\n<title>outbox-sync query benchmarks</title>\n' +
    '<p>Driven by <code>bench/browser/run-queries.mjs</code>.</p>\n<script type="module" src="/queries.js"></script>\n');
}

async function startServer(dataDir, www) {
  const child = spawn(SERVER_BIN, [
    "--listen", "127.0.0.1:0",
    "--data", join(dataDir, "bench.sqlite3"),
    "--fast-commits",
    "--any-collection",
    "--www", www,
    "--pkg", PKG,
    "--token", `${TOKEN}=${TOKEN}`,
  ], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr += chunk; });
  const url = await new Promise((resolveUrl, reject) => {
    let stdout = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on (http:\/\/\S+)/);
      if (match) resolveUrl(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${stderr}`)));
  });
  return {
    url,
    stop: () => new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.on("exit", done);
      child.kill("SIGINT");
    }),
  };
}

/** Gives the bench user the `n` records on the server, 1000 per push (ours pulls them, as a device would). */
async function seed(url, n) {
  for (let from = 0; from < n; from += 1000) {
    const events = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      events.push({ event_id: crypto.randomUUID(), collection: "notes", record_id: `q${i}`, op: "put", payload: queryFields(i, N.sites) });
    }
    const response = await fetch(`${url}/v1/push`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ events }),
    });
    if (!response.ok) throw new Error(`seed: HTTP ${response.status} ${await response.text()}`);
  }
}

// ---------------------------------------------------------------------------
// Statistics and the report.

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
}
const summary = (xs) => ({ median: quantile(xs, 0.5), p95: quantile(xs, 0.95), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length });
function fmt(x) {
  if (!Number.isFinite(x)) return "n/a";
  return x.toFixed(Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
}
const range = (s) => (s?.runs ? `${fmt(s.median)} ms (${fmt(s.min)}–${fmt(s.max)})` : "not run");

function report(r) {
  const f = r.figures;
  const rows = [];
  const yes = (v, test) => (Number.isFinite(v) ? (test(v) ? "yes" : "**no**") : "n/a");
  const speedRows = (key, title) => {
    const ours = f[`${key}.ours`];
    for (const [base, name] of [["dexie", "Dexie"], ["raw", "raw IndexedDB"]]) {
      const other = f[`${key}.${base}`];
      const speed = (other?.median ?? NaN) / (ours?.median ?? NaN);
      const target = base === "dexie" ? "≥ 0.8×" : "";
      rows.push(`| ${title}: ours vs ${name} | ${range(ours)} | ${range(other)} | ${fmt(speed)}× ${name} speed | ${target} | ${base === "dexie" ? yes(speed, (v) => v >= 0.8) : ""} |`);
    }
    const cold = (how) => f[`${key}.cold.${how}`];
    if (cold("ours")?.runs) rows.push(`| (info) ${title}, the first call after opening (cold, one sample): ours vs Dexie | ${fmt(cold("ours").median)} ms | ${fmt(cold("dexie").median)} ms | | | |`);
    const paired = f[`${key}.paired.dexie`];
    if (paired?.runs) rows.push(`| (info) ${title}: ours vs Dexie, paired (median of each run's Dexie time ÷ ours) | | | ${fmt(paired.median)}× (${fmt(paired.min)}–${fmt(paired.max)}) | | |`);
  };
  const n = r.settings.sizes;
  speedRows("equality", `Equality on an index, ${n.limit} of ${n.records} records (\`where: { site }\`)`);
  speedRows("paging", `Paging through a ${n.range}-record range, ${n.page} a page (\`between\`, each page after the last)`);
  speedRows("sorted", `First page of ${n.limit} of ${n.records}, newest change first (\`orderBy: "$updatedAt", direction: "desc"\`)`);
  const live = (from, how, q) => f[`live.${from}.${how}`]?.[q] ?? NaN;
  const writes = f["live.fromStart.dexie"]?.runs ?? 0;
  for (const [base, name] of [["dexie", "Dexie liveQuery (default: answers before the commit)"], ["dexie-committed", "Dexie liveQuery, cache disabled (answers after the commit)"]]) {
    for (const q of ["median", "p95"]) {
      const ratio = live("fromStart", "ours", q) / live("fromStart", base, q);
      rows.push(`| Live-query latency ${q === "median" ? "p50" : "p95"}, a write's start to the callback with it: watch() vs ${name} (${writes} writes) | ${fmt(live("fromStart", "ours", q))} ms | ${fmt(live("fromStart", base, q))} ms | ${fmt(ratio)}× Dexie time | ≤ 1.2× | ${yes(ratio, (v) => v <= 1.2)} |`);
    }
  }
  for (const q of ["median", "p95"]) {
    rows.push(`| (info) Live-query latency ${q === "median" ? "p50" : "p95"}, the write committed (its promise resolved) to the callback: ours vs Dexie with cache disabled | ${fmt(live("fromCommit", "ours", q))} ms | ${fmt(live("fromCommit", "dexie-committed", q))} ms | | | |`);
  }
  const m = r.machine;
  return [
    "# Query benchmarks",
    "",
    `${r.date.slice(0, 16)}Z on ${m.cores} cores (${m.cpu}), ${m.ramGiB} GiB RAM, load average ${m.load} at the start, ${m.chromium}, headless, profile on ${r.settings.disk}` +
      `${r.settings.smoke ? " — **smoke run: tiny sizes, not a measurement**" : ""}; package built from ${r.commit}.`,
    ...(r.note ? ["", r.note] : []),
    "",
    `After ${r.settings.warmup ?? 1} uncounted rounds of each side, median of ${r.settings.runs} runs for equality and the sorted page, ${r.settings.pagingRuns} for paging, ${r.settings.liveRuns}×${n.liveSamples} writes for the live queries; min–max in brackets; took ${r.seconds} s.`,
    "Written by `node bench/browser/run-queries.mjs` (`npm run bench` runs it); every sample is in `queries.json`.",
    "",
    "| figure | ours | baseline | ratio | target | met |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
    "How it is measured:",
    "",
    `- One Chromium with a fresh profile on a real disk. The same ${n.records} records (~1 KB each, ${n.sites} sites of ${n.limit}) are in three databases: ours pulled them from the reference server (so they are synced, as on a device; indexes declared on \`site\` and \`count\`), Dexie and raw IndexedDB hold them in a table with indexes on \`site\`, \`count\` and \`updatedAt\`.`,
    "- The three sides alternate within each run, in a rotating order. Ours is `query()`; Dexie is `where(...).equals/between`, `orderBy(...).reverse()` with `limit`; raw IndexedDB is an index `getAll(range, count)` and, for the reversed order, a cursor: the limit of what JS can do.",
    "- Every side first runs the same uncounted rounds (equality and the sorted page on other sites, one paging run), so the figures are of code the browser has compiled for speed, as in an app that has been used for a while; the cold rows give each side's very first call.",
    "- The paired rows divide Dexie's time by ours within each run (the sides ran back to back, so a busy moment slows both) and take the median: on a shared machine they move less than the ratio of the medians, which the targets use.",
    "- Paging on Dexie and raw IndexedDB is keyset paging (each page starts after the last key), the fast way; ours passes the previous page's `next` as `after`.",
    "- Live queries watch one site (`where: { site }`) on both sides; each write is a new record of that site (ours `put()` strict, the outbox paused so nothing syncs; Dexie `put()` with strict durability), awaited until the callback has it. Dexie 4 answers a live query from its cache as soon as the write is made, before it commits (its `fromCommit` would be 0): the target compares from the write's start, against Dexie as shipped and against Dexie with `cache: \"disabled\"`, which answers after the commit as ours does. Raw IndexedDB has no live queries.",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const load = loadavg().map((x) => x.toFixed(2)).join(" ");
  const work = realDiskDir("outbox-bench-queries-");
  const www = join(work.dir, "www");
  mkdirSync(www);
  await bundle(www);
  const server = await startServer(work.dir, www);
  log(`server at ${server.url}; profile and data in ${work.dir} (${work.fs})`);
  let context;
  const samples = {};
  const add = (key, value) => (samples[key] ??= []).push(value);
  try {
    context = await chromium.launchPersistentContext(join(work.dir, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      serviceWorkers: "block",
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
    const page = await context.newPage();
    page.on("pageerror", (e) => log("page error:", e.message));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => window.bench, null, { timeout: 30_000 });
    const inPage = (name, params) => page.evaluate(([n, p]) => window.bench[n](p), [name, params]);
    if (!(await inPage("hasQueries"))) {
      log("the built package has no query engine (Outbox.prototype.query and watch): nothing measured");
      return NO_ENGINE;
    }

    log(`seeding the server with ${N.records} records`);
    await seed(server.url, N.records);
    log("filling ours (a pull), Dexie and raw IndexedDB");
    const pullMs = await inPage("prepareOurs", { n: N.records, serverUrl: server.url, token: TOKEN });
    log(`ours pulled ${N.records} in ${Math.round(pullMs)} ms`);
    await inPage("prepareDexie", { n: N.records, sites: N.sites });
    await inPage("prepareRaw", { n: N.records, sites: N.sites });

    const sides = ["ours", "dexie", "raw"];
    const rotated = (run) => sides.map((_, i) => sides[(i + run) % sides.length]);
    const liveSides = ["ours", "dexie", "dexie-committed"];
    const rotatedLive = (run) => liveSides.map((_, i) => liveSides[(i + run) % liveSides.length]);
    // Warm-up rounds of each side, not counted (the first call of each is
    // kept as the cold figure, for information): in the 20:39Z idle run
    // ours' first five sorted pages took 10.3 ms (median) and the next
    // fifteen 6.5 ms, Dexie's 5.3 and 5.6 ms; the wasm and the glue are
    // compiled for speed only once they have run a while, which one
    // warm-up call did not cover. Every side gets the same rounds.
    for (let round = 0; round < WARMUP; round++) {
      for (const how of rotated(round)) {
        const eq = await inPage("equality", { how, site: (N.sites - 1 - round) % N.sites, limit: N.limit });
        const sorted = await inPage("firstSorted", { how, limit: N.limit });
        if (round === 0) {
          add(`equality.cold.${how}`, eq);
          add(`sorted.cold.${how}`, sorted);
        }
      }
    }
    for (const how of sides) await inPage("paging", { how, from: N.records - N.range, range: N.range, page: N.page });
    for (let run = 0; run < RUNS; run++) {
      // A different site each run, the same one for every side.
      const site = (run * 7919 + 13) % N.sites;
      const eq = {};
      const sorted = {};
      for (const how of rotated(run)) add(`equality.${how}`, (eq[how] = await inPage("equality", { how, site, limit: N.limit })));
      for (const how of rotated(run)) add(`sorted.${how}`, (sorted[how] = await inPage("firstSorted", { how, limit: N.limit })));
      add("equality.paired.dexie", eq.dexie / eq.ours);
      add("sorted.paired.dexie", sorted.dexie / sorted.ours);
    }
    log(`equality and sorted: ${RUNS} runs`);
    for (let run = 0; run < PAGING_RUNS; run++) {
      const from = (run * (N.range / 2)) % (N.records - N.range);
      const took = {};
      for (const how of rotated(run)) add(`paging.${how}`, (took[how] = await inPage("paging", { how, from, range: N.range, page: N.page })));
      add("paging.paired.dexie", took.dexie / took.ours);
    }
    log(`paging: ${PAGING_RUNS} runs`);
    for (let run = 0; run < LIVE_RUNS; run++) {
      for (const how of rotatedLive(run)) {
        const r = await inPage("liveLatency", { how, samples: N.liveSamples, sites: N.sites });
        for (const ms of r.fromCommit) add(`live.fromCommit.${how}`, ms);
        for (const ms of r.fromStart) add(`live.fromStart.${how}`, ms);
      }
    }
    log(`live queries: ${LIVE_RUNS} runs`);
    await inPage("closeAll");
  } finally {
    await context?.close();
    await server.stop();
    rmSync(work.dir, { recursive: true, force: true });
  }

  const chromiumVersion = (() => {
    try {
      return execFileSync(CHROMIUM, ["--version"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      return "unknown";
    }
  })();
  const results = {
    date: new Date().toISOString(),
    commit: execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]).toString().trim() + (process.env.BENCH_PKG ? ` (package from ${process.env.BENCH_PKG})` : ""),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown", ramGiB: Math.round(totalmem() / 2 ** 30), chromium: chromiumVersion, node: process.version, load },
    note: process.env.BENCH_NOTE ?? "",
    settings: { smoke: SMOKE, warmup: WARMUP, runs: RUNS, pagingRuns: PAGING_RUNS, liveRuns: LIVE_RUNS, sizes: N, disk: work.fs },
    seconds: Math.round((Date.now() - started) / 1000),
    figures: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, summary(xs)])),
    samples,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "queries.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(OUT, "queries.md"), report(results));
  log(`written: ${join(OUT, "queries.md")} and queries.json (${results.seconds} s)`);
  return 0;
}

process.exitCode = await main();
