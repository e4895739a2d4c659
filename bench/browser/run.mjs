// Browser benchmarks of outbox-sync beside their baselines, in one headless
// Chromium run: raw IndexedDB from plain JavaScript (the limit), Dexie, and
// Workbox's background-sync Queue. Writes bench/results/browser.json (every
// sample) and bench/results/browser.md (medians with min and max, ratios,
// targets). Benchmarks never fail on a number; they fail only when something
// does not work (a drain that loses events, a server that does not start).
//
//   node bench/browser/run.mjs                 full run (about 15-20 minutes on 2 cores)
//   BENCH_SMOKE=1 node bench/browser/run.mjs   50 events, one run each (the test's smoke run)
//
// BENCH_RUNS (repeats, default 5; drains and 10k pulls take at most 3, the
// slowest figures 1), BENCH_SIZES (JSON overriding sizes), BENCH_OUT (results folder, default
// bench/results; the smoke run writes to a temporary folder unless set),
// BENCH_TMP (where the browser profile and server data go; must be a real
// disk, not tmpfs), BENCH_PKG (the package folder, default pkg), OUTBOX_SYNC_SERVER_BIN, CHROMIUM_PATH.
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { fieldsOf } from "./fields.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const HERE = import.meta.dirname;
const SMOKE = process.env.BENCH_SMOKE === "1";
const RUNS = Number(process.env.BENCH_RUNS ?? (SMOKE ? 1 : 5));
const OUT = process.env.BENCH_OUT ?? (SMOKE ? mkdtempSync(join(tmpdir(), "outbox-bench-smoke-")) : join(ROOT, "bench/results"));
const SERVER_BIN = process.env.OUTBOX_SYNC_SERVER_BIN ?? join(ROOT, "target/release/outbox-sync-server");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// The package measured (BENCH_PKG: another build's folder, to compare two builds in one window).
const PKG = resolve(process.env.BENCH_PKG ?? join(ROOT, "pkg"));
const MODES = ["strict", "relaxed"];

// Sizes: the issue's in a full run, tiny in the smoke run.
const N = SMOKE
  ? { burst: 50, each: 20, latency: 10, drain: 50, workbox: 50, pullSmall: 50, pullLarge: 100, memory: 200, startup: 2 }
  : {
      burst: 10_000,
      each: 2_000, // one transaction per event, compared per event
      latency: 200,
      drain: 10_000,
      workbox: 2_000, // about 17 ms per event: compared per event
      pullSmall: 10_000,
      pullLarge: 100_000,
      memory: 20_000, // 100k takes about 15 minutes today (one transaction per confirmed event)
      startup: 10,
    };
// BENCH_SIZES='{"drain":2000}' overrides any size (for calibrating).
Object.assign(N, JSON.parse(process.env.BENCH_SIZES ?? "{}"));
const MID_RUNS = Math.min(RUNS, 3); // drains and 10k pulls
const LARGE_RUNS = 1; // Workbox, the 100k pull, memory
// BENCH_FIGURES=memory,startup (any of enqueue, latency, drain, workbox, pull,
// startup, memory) runs only those groups.
const FIGURES = new Set((process.env.BENCH_FIGURES ?? "enqueue,latency,drain,workbox,pull,startup,memory").split(","));

const log = (...args) => console.error("bench:", ...args);

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
    entryPoints: { "page": join(HERE, "page.mjs"), "sw": join(HERE, "sw.mjs") },
    outdir: outDir,
    bundle: true,
    format: "esm",
    target: "chrome120",
    external: ["/pkg/*"],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
  });
  for (const file of readdirSync(join(HERE, "static"))) copyFileSync(join(HERE, "static", file), join(outDir, file));
}

const TOKENS = { pullSmall: "bench-pull-small", pullLarge: "bench-pull-large", latency: "bench-latency" };
// Saves with startAutoSync() on come this far apart (more than auto-sync's
// 50 ms wait after a change: each change is synced before the next save).
const AUTO_PAUSE_MS = 80;
// Each drain gets a user of its own, so the pull after our drain brings back
// only what that drain sent.
const DRAIN_USERS = 200;
let drainUser = 0;
const nextDrainToken = () => `bench-drain-${drainUser++ % DRAIN_USERS}`;

async function startServer(dataDir, www) {
  const tokensFile = join(dataDir, "tokens");
  const tokens = [...Object.values(TOKENS), ...Array.from({ length: DRAIN_USERS }, (_, i) => `bench-drain-${i}`)];
  writeFileSync(tokensFile, tokens.map((t) => `${t}=${t}\n`).join(""));
  const child = spawn(SERVER_BIN, [
    "--listen", "127.0.0.1:0",
    "--data", join(dataDir, "bench.sqlite3"),
    "--fast-commits",
    "--any-collection",
    "--www", www,
    "--pkg", PKG,
    "--tokens-file", tokensFile,
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

/** Gives the token's user `n` records on the server, 1000 per push. */
async function seed(url, token, n, prefix) {
  for (let from = 0; from < n; from += 1000) {
    const events = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      events.push({ event_id: crypto.randomUUID(), collection: "notes", record_id: `${prefix}${i}`, op: "put", payload: fieldsOf(i) });
    }
    const response = await fetch(`${url}/v1/push`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ events }),
    });
    if (!response.ok) throw new Error(`seed: HTTP ${response.status} ${await response.text()}`);
  }
}

// ---------------------------------------------------------------------------
// Statistics and the report.

const sorted = (xs) => [...xs].sort((a, b) => a - b);
function quantile(xs, q) {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
}
const summary = (xs) => ({ median: quantile(xs, 0.5), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length });

/** "1.23× what", or "n/a" when a side is missing. */
const times = (x, what) => (Number.isFinite(x) ? `${fmt(x)}× ${what}` : "n/a");
function fmt(x, digits) {
  if (!Number.isFinite(x)) return "n/a";
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  return x.toFixed(d);
}
const range = (s, unit = "ms") => (s.runs ? `${fmt(s.median)} ${unit} (${fmt(s.min)}–${fmt(s.max)})` : "not run");

function machine() {
  const version = (() => {
    try {
      return execFileSync(CHROMIUM, ["--version"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      return "unknown";
    }
  })();
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    ramGiB: Math.round(totalmem() / 2 ** 30),
    chromium: version,
    node: process.version,
  };
}

function sizes() {
  const files = ["pkg/outbox_sync_bg.wasm", "pkg/outbox_sync.js"];
  const out = {};
  for (const f of files) {
    const bytes = readFileSync(join(ROOT, f));
    out[f] = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  out.total = { raw: out[files[0]].raw + out[files[1]].raw, gzip: out[files[0]].gzip + out[files[1]].gzip };
  return out;
}

// ---------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const work = realDiskDir("outbox-bench-");
  const www = join(work.dir, "www");
  mkdirSync(www);
  await bundle(www);
  const server = await startServer(work.dir, www);
  log(`server at ${server.url}; profile and data in ${work.dir} (${work.fs})`);
  const profile = join(work.dir, "profile");
  let context;
  const results = { samples: {}, figures: {}, settings: { smoke: SMOKE, runs: RUNS, midRuns: MID_RUNS, largeRuns: LARGE_RUNS, sizes: N, disk: work.fs } };
  const add = (key, value) => (results.samples[key] ??= []).push(value);
  try {
    if (FIGURES.has("pull")) {
      log("seeding the server for the pull benchmarks");
      await seed(server.url, TOKENS.pullSmall, N.pullSmall, "s");
      await seed(server.url, TOKENS.pullLarge, N.pullLarge, "l");
    }

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      serviceWorkers: "allow",
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--enable-precise-memory-info",
      ],
    });
    const page = await context.newPage();
    page.on("pageerror", (e) => log("page error:", e.message));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
    await page.evaluate(() => window.benchReady);
    const inPage = (name, params) => page.evaluate(([n, p]) => window.bench[n](p), [name, params]);
    const inSw = (name, params) => page.evaluate(([n, p]) => window.bench.inServiceWorker(n, p), [name, params]);

    // Burst enqueue and single enqueue latency, per durability mode.
    for (const durability of FIGURES.has("enqueue") ? MODES : []) {
      for (let run = 0; run < RUNS; run++) {
        log(`enqueue (${durability}) run ${run + 1}/${RUNS}`);
        add(`enqueue.ours-batch.${durability}`, await inPage("enqueueBurst", { how: "ours-batch", n: N.burst, durability }));
        add(`enqueue.raw-batch.${durability}`, await inPage("enqueueBurst", { how: "raw-batch", n: N.burst, durability }));
        add(`enqueue.raw-each.${durability}`, await inPage("enqueueBurst", { how: "raw-each", n: N.each, durability }));
        add(`enqueue.ours-each.${durability}`, await inPage("enqueueBurst", { how: "ours-each", n: N.each, durability }));
      }
    }
    for (const durability of FIGURES.has("latency") ? MODES : []) {
      log(`single enqueue latency (${durability})`);
      for (let run = 0; run < RUNS; run++) {
        for (const how of ["ours", "raw"]) {
          const times = await inPage("enqueueLatency", { how, samples: N.latency, durability });
          add(`latency.${how}.${durability}.p50`, quantile(times, 0.5));
          add(`latency.${how}.${durability}.p95`, quantile(times, 0.95));
        }
        // With startAutoSync() on, saves spaced as a person makes them; raw
        // JS spaced the same.
        for (const [how, key] of [["ours-auto", "ours-auto"], ["raw", "raw-paused"]]) {
          const times = await inPage("enqueueLatency", {
            how, samples: N.latency, durability, pauseMs: AUTO_PAUSE_MS, serverUrl: server.url, token: TOKENS.latency,
          });
          add(`latency.${key}.${durability}.p50`, quantile(times, 0.5));
          add(`latency.${key}.${durability}.p95`, quantile(times, 0.95));
        }
      }
    }

    // Drains, in the service worker.
    const drainParams = () => ({ serverUrl: server.url, token: nextDrainToken() });
    for (const durability of FIGURES.has("drain") ? MODES : []) {
      for (let run = 0; run < MID_RUNS; run++) {
        log(`drain (${durability}) run ${run + 1}/${MID_RUNS}`);
        for (const how of ["ours", "raw"]) {
          const r = await inSw("drain", { ...drainParams(), how, n: N.drain, durability, run: `${durability}${run}` });
          add(`drain.${how}.${durability}`, r.drainMs);
          add(`drain.${how}.${durability}.whole`, r.ms);
          add(`drain.${how}.${durability}.requests`, r.requests);
        }
      }
    }
    for (let run = 0; run < (FIGURES.has("workbox") ? LARGE_RUNS : 0); run++) {
      log(`drain (workbox) run ${run + 1}/${LARGE_RUNS}`);
      const r = await inSw("drain", { ...drainParams(), how: "workbox", n: N.workbox, run: `wb${run}` });
      add("drain.workbox.default", r.ms);
      add("drain.workbox.default.requests", r.requests);
    }

    // Pull and apply, in the page.
    for (const [size, token, n] of FIGURES.has("pull") ? [["small", TOKENS.pullSmall, N.pullSmall], ["large", TOKENS.pullLarge, N.pullLarge]] : []) {
      const runs = size === "small" ? MID_RUNS : LARGE_RUNS;
      for (const durability of MODES) {
        for (let run = 0; run < runs; run++) {
          log(`pull ${n} (${durability}) run ${run + 1}/${runs}`);
          for (const how of ["ours", "raw", "dexie"]) {
            add(`pull.${size}.${how}.${durability}`, await inPage("pullApply", { how, n, durability, serverUrl: server.url, token }));
          }
        }
      }
    }

    // Start-up: fresh module workers (see the notes), warm after the first.
    if (FIGURES.has("startup")) {
    log("start-up");
    const database = "bench-startup";
    await inPage("createForStartup", database);
    await page.evaluate(([db]) => window.bench.startup("ours", db), [database]); // warm the HTTP and code caches
    for (let run = 0; run < N.startup; run++) {
      add("startup.ours", await page.evaluate(([db]) => window.bench.startup("ours", db), [database]));
      add("startup.raw", await page.evaluate(([db]) => window.bench.startup("raw", db), [database]));
    }
    }

    // Memory while draining a large queue (strict, as shipped).
    for (let run = 0; run < (FIGURES.has("memory") ? LARGE_RUNS : 0); run++) {
      log(`memory: draining ${N.memory} events`);
      const r = await inPage("drainMemory", { n: N.memory, durability: "strict", ...drainParams(), run: `mem${run}` });
      for (const [k, v] of Object.entries(r)) if (typeof v === "number") add(`memory.${k}`, v);
      results.heapTimeline = r.heapTimeline;
    }
  } finally {
    await context?.close();
    await server.stop();
    rmSync(work.dir, { recursive: true, force: true });
  }

  results.machine = machine();
  results.commit = execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]).toString().trim();
  results.sizes = sizes();
  results.date = new Date().toISOString();
  results.seconds = Math.round((Date.now() - started) / 1000);
  for (const [key, xs] of Object.entries(results.samples)) results.figures[key] = summary(xs);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "browser.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(OUT, "browser.md"), report(results));
  log(`written: ${join(OUT, "browser.md")} and browser.json (${results.seconds} s)`);
  if (!SMOKE && !process.env.BENCH_OUT && !process.env.BENCH_FIGURES) updateReadme(readFileSync(join(OUT, "browser.md"), "utf8"));
  return results;
}

/** Puts the latest table (with its machine line) between the README's bench markers. */
function updateReadme(markdown) {
  const path = join(ROOT, "README.md");
  const readme = readFileSync(path, "utf8");
  const start = "<!-- bench:browser:start -->";
  const end = "<!-- bench:browser:end -->";
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) return log("README.md has no bench markers; not updated");
  const lines = markdown.split("\n");
  const body = [lines[2], "", ...lines.filter((l) => l.startsWith("|"))].join("\n");
  writeFileSync(path, `${readme.slice(0, from + start.length)}\n${body}\n${readme.slice(to)}`);
  log("README.md: the latest table is in its Benchmarks section");
}

// ---------------------------------------------------------------------------
// The Markdown table.

function report(r) {
  const f = r.figures;
  const g = (key) => f[key] ?? { median: NaN, min: NaN, max: NaN, runs: 0 };
  const has = (key) => key in f;
  const perEvent = (key, n) => g(key).median / n;
  const rows = [];
  const row = (figure, ours, baseline, ratio, target, met, note = "") =>
    rows.push(`| ${figure} | ${ours} | ${baseline} | ${ratio} | ${target} | ${met} | ${note} |`);
  const yes = (value, test) => (Number.isFinite(value) ? (test(value) ? "yes" : "**no**") : "n/a");
  const n = r.settings.sizes;
  const STRICT_ONLY = "not run";
  const cell = (key, unit) => (has(key) ? range(g(key), unit) : STRICT_ONLY);

  for (const mode of MODES) {
    const ours = `enqueue.ours-batch.${mode}`;
    const speedVsBatch = perEvent(`enqueue.raw-batch.${mode}`, n.burst) / perEvent(ours, n.burst);
    row(`Burst enqueue ${n.burst} × ~1 KB, ${mode}: putMany (one transaction) vs raw JS, one transaction`,
      cell(ours), range(g(`enqueue.raw-batch.${mode}`)), times(speedVsBatch, "raw speed"), "≥ 0.9×", yes(speedVsBatch, (v) => v >= 0.9));
    const speedVsEach = perEvent(`enqueue.raw-each.${mode}`, n.each) / perEvent(ours, n.burst);
    row(`Burst enqueue, ${mode}: putMany vs raw JS one transaction per event (${n.each} events; per event)`,
      has(ours) ? `${fmt(perEvent(ours, n.burst), 3)} ms/event` : STRICT_ONLY, `${fmt(perEvent(`enqueue.raw-each.${mode}`, n.each), 3)} ms/event`,
      times(speedVsEach, "raw speed"), "≥ 10×", yes(speedVsEach, (v) => v >= 10));
    if (has(`enqueue.ours-each.${mode}`)) {
      const eachVsEach = perEvent(`enqueue.raw-each.${mode}`, n.each) / perEvent(`enqueue.ours-each.${mode}`, n.each);
      row(`(info) ${n.each} awaited put() calls vs raw JS one transaction per event, ${mode}`,
        range(g(`enqueue.ours-each.${mode}`)), range(g(`enqueue.raw-each.${mode}`)), times(eachVsEach, "raw speed"), "", "");
    }
  }
  for (const mode of MODES) {
    for (const q of ["p50", "p95"]) {
      const ratio = g(`latency.ours.${mode}.${q}`).median / g(`latency.raw.${mode}.${q}`).median;
      row(`Single enqueue latency ${q}, ${mode}: put() vs raw JS put + commit (median of ${n.latency}-sample runs)`,
        cell(`latency.ours.${mode}.${q}`), range(g(`latency.raw.${mode}.${q}`)), times(ratio, "raw time"), "≤ 1.3×", yes(ratio, (v) => v <= 1.3));
    }
    for (const q of ["p50", "p95"]) {
      if (!has(`latency.ours-auto.${mode}.${q}`)) continue;
      const ratio = g(`latency.ours-auto.${mode}.${q}`).median / g(`latency.raw-paused.${mode}.${q}`).median;
      row(`Single enqueue latency ${q} with startAutoSync() on, ${mode}: put() ${AUTO_PAUSE_MS} ms apart, each change synced in between, vs raw JS put + commit as far apart`,
        cell(`latency.ours-auto.${mode}.${q}`), range(g(`latency.raw-paused.${mode}.${q}`)), times(ratio, "raw time"), "≤ 1.3×", yes(ratio, (v) => v <= 1.3),
        "auto-sync's work must not sit on the save's path");
    }
  }
  for (const mode of MODES) {
    const ours = g(`drain.ours.${mode}`);
    const vsRaw = ours.median / g(`drain.raw.${mode}`).median;
    const vsWb = g("drain.workbox.default").median / n.workbox / (ours.median / n.drain);
    row(`Drain ${n.drain} queued events into the server, ${mode}: ours (syncNow) vs Workbox Queue replay (${n.workbox} events)`,
      cell(`drain.ours.${mode}`), range(g("drain.workbox.default")), times(vsWb, "Workbox speed"), "≥ 30×",
      yes(vsWb, (v) => v >= 30), "Workbox writes with Chromium's default durability; one POST per event");
    row(`Drain, ${mode}: ours vs raw-JS floor (batched reads, the same batched POSTs, one bulk delete)`,
      cell(`drain.ours.${mode}`), range(g(`drain.raw.${mode}`)), times(vsRaw, "raw time"), "≤ 1.5×", yes(vsRaw, (v) => v <= 1.5),
      has(`drain.ours.${mode}`) ? `ours until its pull starts; the whole syncNow() with the pull of what it sent: ${range(g(`drain.ours.${mode}.whole`))}` : "");
  }
  for (const [size, count] of [["small", n.pullSmall], ["large", n.pullLarge]]) {
    for (const mode of MODES) {
      const ours = g(`pull.${size}.ours.${mode}`);
      const vsRaw = g(`pull.${size}.raw.${mode}`).median / ours.median;
      const vsDexie = g(`pull.${size}.dexie.${mode}`).median / ours.median;
      row(`Pull and apply ${count} changes, ${mode}: ours (syncNow) vs raw JS put, one transaction per page`,
        cell(`pull.${size}.ours.${mode}`), range(g(`pull.${size}.raw.${mode}`)), times(vsRaw, "raw speed"), "≥ 0.85×", yes(vsRaw, (v) => v >= 0.85));
      row(`Pull and apply ${count} changes, ${mode}: ours vs Dexie bulkPut, one transaction per page`,
        cell(`pull.${size}.ours.${mode}`), range(g(`pull.${size}.dexie.${mode}`)), times(vsDexie, "Dexie speed"), "", "");
    }
  }
  const su = g("startup.ours");
  const open = g("startup.raw");
  const overhead = (su.median - open.median) / open.median;
  row("Start to ready: glue + wasm instantiate + Outbox.open, vs indexedDB.open() alone (a fresh module worker each)",
    range(su), range(open), `${fmt(su.median / open.median)}× open; overhead ${fmt(overhead)}× open`, "overhead ≤ 1× open",
    yes(overhead, (v) => v <= 1));
  const s = r.sizes;
  row("Size: wasm + JS glue", `${fmt(s.total.raw / 1024, 0)} KB raw, ${fmt(s.total.gzip / 1024, 1)} KB gzip`, "", "", "≤ 100 KB gzip (then 60)",
    yes(s.total.gzip / 1024, (v) => v <= 100),
    `wasm ${fmt(s["pkg/outbox_sync_bg.wasm"].raw / 1024, 0)} KB / ${fmt(s["pkg/outbox_sync_bg.wasm"].gzip / 1024, 1)} KB gz, glue ${fmt(s["pkg/outbox_sync.js"].raw / 1024, 0)} KB / ${fmt(s["pkg/outbox_sync.js"].gzip / 1024, 1)} KB gz`);
  const mb = (key) => fmt(g(key).median / 2 ** 20, 1);
  row(`Memory draining ${n.memory} queued events (strict, in a page)`,
    `JS heap ${mb("memory.heapBefore")} → peak ${mb("memory.peakHeap")} MB; wasm memory ${mb("memory.wasmBefore")} → peak ${mb("memory.peakWasm")} MB`,
    "", "", "flat (paged)", "", `the drain (with its pull) took ${range(g("memory.ms"))}`);

  const m = r.machine;
  return [
    "# Browser benchmarks",
    "",
    `${r.date.slice(0, 16)}Z on ${m.cores} cores (${m.cpu}), ${m.ramGiB} GiB RAM, ${m.chromium}, headless, profile on ${r.settings.disk}` +
      `${r.settings.smoke ? " — **smoke run: tiny sizes, not a measurement**" : ""}; package built from ${r.commit}.`,
    `Median of ${r.settings.runs} runs for enqueue, latency and start-up, ${r.settings.midRuns} for drains and the ${n.pullSmall}-change pull, ${r.settings.largeRuns} for Workbox, the ${n.pullLarge}-change pull and memory; min–max in brackets; took ${r.seconds} s.`,
    "Written by `npm run bench` (`bench/browser/run.mjs`); every sample is in `browser.json`; what the numbers mean and what remains: `bench/results/analysis.md`.",
    "",
    "| figure | ours | baseline | ratio | target | met | notes |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "How it is measured:",
    "",
    "- One Chromium (Debian's, driven by playwright-core) with a fresh persistent profile on a real disk; the reference server (release build, SQLite, `--fast-commits` so that its fsyncs do not dominate the client's figures) on 127.0.0.1 serves the bench pages, the package and `/v1/`.",
    "- Every record is ~1 KB of fields. Raw JS writes the same data into the same layout as our outbox (an event with its three indexes and the record's local view). Ratios compare the same durability on both sides: `Outbox.open(name, { durability })` opens ours strict or relaxed like the baselines.",
    "- Drains run in a module service worker (Workbox's `Queue` needs `self.registration`); its Queue is built with `forceSyncFallback` and a no-op `onSync`, and `replayRequests()` is timed. Our drain is `syncNow()`, timed until its first pull request starts (it pulls after draining); the whole call is in the notes. Each drain has a server user of its own.",
    "- Pulls page 500 changes at a time on every side (our engine's page size); raw JS and Dexie write each page and its token in one transaction.",
    "- Start-up uses a fresh dedicated module worker per run (a stand-in for a service worker start), timed from the worker's time origin, warm HTTP and code caches, same database.",
    "",
  ].join("\n");
}

await main();
