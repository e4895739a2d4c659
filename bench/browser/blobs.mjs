// Benchmark (never fails on a number): uploading a 50 MB Blob through the
// outbox (put() then syncNow(): the upload step's 1 MiB chunks from the
// server's offset, then the push of the change) beside a raw-JS loop of
// `fetch` PUTs of 1 MiB slices of a Blob of the same size to the same
// endpoint, in one headless Chromium run against one server. The raw side
// uploads other bytes of the same size (the server stores a blob once: the
// same bytes twice would cost it nothing). Hashing is outside both timings
// (put() hashes before it resolves; the raw side hashes first too).
// Writes bench/results/blobs.md.
//
//   node bench/browser/blobs.mjs     (BENCH_RUNS=3, BENCH_MB=50; scripts/build.sh first;
//   `npm run bench` runs it last among the browser figures)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { ROOT, TOKEN, launchBrowser, startServer } from "../../tests/e2e/harness.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MB = Number(process.env.BENCH_MB ?? 50);
const OUT = process.env.BENCH_OUT ?? join(ROOT, "bench/results");
// `npm run bench` passes the release server (OUTBOX_SYNC_SERVER_BIN); alone, the e2e harness's debug build.
const SERVER_BUILD = process.env.OUTBOX_SYNC_SERVER_BIN?.includes("/release/") ? "release" : "debug";

const server = await startServer();
const browser = await launchBrowser({ serviceWorkers: "block" });
try {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/index.html?token=${TOKEN}`);
  const samples = { ours: [], raw: [] };
  for (let run = 0; run < RUNS; run++) {
    const result = await page.evaluate(async ([url, token, mb, run]) => {
      const { default: init, Outbox } = await import("/pkg/outbox_sync.js");
      await init();
      const size = mb * 1024 * 1024;
      const blobOf = (seed) => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i += 4096) crypto.getRandomValues(bytes.subarray(i, i + 4096));
        bytes[0] = seed;
        return new Blob([bytes], { type: "video/mp4" });
      };
      const hex = async (blob) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");

      const outbox = await Outbox.open(`bench-blobs-${run}-${Date.now()}`);
      await outbox.connect({ serverUrl: url, token });
      await outbox.put("bench_blobs", `video-${run}-${Date.now()}`, { video: blobOf(run) });
      const started = performance.now();
      const report = await outbox.syncNow();
      const ours = performance.now() - started;
      outbox.close();
      if (report.synced !== 1 || report.uploadedBytes !== size) throw new Error(`upload failed: ${JSON.stringify(report)}`);

      const other = blobOf(run + 100);
      const sha256 = await hex(other);
      const chunk = 1024 * 1024;
      const rawStarted = performance.now();
      let complete = false;
      for (let offset = 0; offset < size; offset += chunk) {
        const response = await fetch(`${url}/v1/blobs/${sha256}/upload?offset=${offset}&size=${size}`, {
          method: "PUT",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream" },
          body: other.slice(offset, offset + chunk),
        });
        if (!response.ok) throw new Error(`raw PUT: HTTP ${response.status}`);
        complete = (await response.json()).complete;
      }
      const raw = performance.now() - rawStarted;
      if (!complete) throw new Error("raw upload incomplete");
      return { ours, raw };
    }, [server.url, TOKEN, MB, run]);
    samples.ours.push(result.ours);
    samples.raw.push(result.raw);
    console.log(`run ${run + 1}: outbox ${result.ours.toFixed(0)} ms, raw fetch ${result.raw.toFixed(0)} ms`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [ours, raw] = [median(samples.ours), median(samples.raw)];
  const speed = raw / ours;
  const lines = [
    "# Blob upload benchmark",
    "",
    `${new Date().toISOString().slice(0, 16)}Z on ${cpus().length} cores, ${RUNS} runs, ${MB} MB each side, 1 MiB chunks, ${SERVER_BUILD} server build.`,
    "",
    "| side | median ms | min | max | MB/s |",
    "|---|---|---|---|---|",
    ...[["outbox (syncNow: upload step + push)", samples.ours], ["raw JS fetch PUT loop", samples.raw]].map(([name, xs]) =>
      `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${(MB / (median(xs) / 1000)).toFixed(1)} |`),
    "",
    `Outbox speed relative to raw fetch: **${speed.toFixed(2)}×** (target ≥ 0.8×).`,
    "",
  ];
  writeFileSync(join(OUT, "blobs.md"), lines.join("\n"));
  console.log(lines.join("\n"));
} finally {
  await browser.close();
  await server.stop();
}
