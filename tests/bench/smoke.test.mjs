// The benchmark harness still works: a tiny run (BENCH_SMOKE=1: 50 events,
// one run each) of bench/browser/run.mjs against the reference server in
// headless Chromium. Benchmarks never fail on a number; this checks only
// that every figure was measured and the report was written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

test("the browser benchmarks run end to end (smoke sizes)", { timeout: 300_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), "outbox-bench-smoke-"));
  try {
    const run = spawnSync(process.execPath, [join(ROOT, "bench/browser/run.mjs")], {
      env: {
        ...process.env,
        BENCH_SMOKE: "1",
        BENCH_OUT: out,
        OUTBOX_SYNC_SERVER_BIN: process.env.OUTBOX_SYNC_SERVER_BIN ?? join(ROOT, "target/debug/outbox-sync-server"),
      },
      encoding: "utf8",
      timeout: 290_000,
    });
    assert.equal(run.status, 0, `bench/browser/run.mjs failed:\n${run.stderr}\n${run.stdout}`);
    const results = JSON.parse(readFileSync(join(out, "browser.json"), "utf8"));
    for (const key of [
      "enqueue.ours-batch.strict", "enqueue.raw-batch.strict", "enqueue.raw-each.relaxed",
      "latency.ours.strict.p50", "drain.ours.strict", "drain.raw.strict", "drain.workbox.default",
      "pull.small.ours.strict", "pull.small.dexie.relaxed", "pull.large.raw.strict",
      "startup.ours", "startup.raw", "memory.peakHeap",
    ]) {
      const figure = results.figures[key];
      assert.ok(figure && Number.isFinite(figure.median) && figure.median > 0, `figure ${key} was measured`);
    }
    assert.ok(results.sizes.total.gzip > 0);
    const table = readFileSync(join(out, "browser.md"), "utf8");
    assert.match(table, /\| figure \| ours \| baseline \| ratio \| target \| met \| notes \|/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
