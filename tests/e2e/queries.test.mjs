// query() and watch() through the JavaScript API in real pages: declared
// indexes, pages, clear errors, and live queries that follow this page's
// saves, another tab's, and a pull of another device's change.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { TOKEN, closePagesLeftOpen, eventually, launchBrowser, startServer } from "./harness.mjs";

let server;
let browser;

const INDEXES = { notes: { indexes: ["site", ["site", "rank"], "title"] } };

before(async () => {
  server = await startServer();
  browser = await launchBrowser({ serviceWorkers: "block" });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(() => closePagesLeftOpen(browser));

/** A page of the origin with the package loaded as `globalThis.Outbox`. */
async function openPage() {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/index.html?token=${TOKEN}`);
  await page.evaluate(async () => {
    const module = await import("/pkg/outbox_sync.js");
    await module.default();
    globalThis.Outbox = module.Outbox;
  });
  return page;
}

/** Waits until `check` stops throwing (its last error if it never does). */
async function holds(check, ms = 15_000) {
  let last;
  try {
    await eventually(async () => {
      try {
        await check();
        return true;
      } catch (error) {
        last = error;
        return false;
      }
    }, ms);
  } catch (timeout) {
    throw last ?? timeout;
  }
}

/** Runs `body(Outbox, arg)` in `page`. */
function inPage(page, body, arg = null) {
  return page.evaluate(
    ([source, value]) => new Function("Outbox", "arg", `return (${source})(Outbox, arg)`)(globalThis.Outbox, value),
    [body.toString(), arg],
  );
}

test("query() selects by declared indexes, orders, pages, and names the index a query lacks", async () => {
  const page = await openPage();
  const result = await inPage(page, async (Outbox, indexes) => {
    const outbox = await Outbox.open("queries-basic", { collections: indexes });
    await outbox.putMany("notes", Array.from({ length: 25 }, (_, i) => ({
      recordId: `n${String(i).padStart(2, "0")}`,
      fields: { site: i % 2 ? "B" : "A", rank: i, title: `${i < 10 ? "pump" : "valve"} ${i}` },
    })));
    const onB = await outbox.query("notes", { where: { site: "B", rank: { gte: 20 } }, orderBy: "rank", direction: "desc" });
    const pump = await outbox.query("notes", { where: { title: { startsWith: "pump" } }, limit: 100 });
    const pages = [];
    let after = null;
    do {
      const page = await outbox.query("notes", { orderBy: "$updatedAt", limit: 10, after });
      pages.push(page.records.map((r) => r.recordId));
      after = page.next;
    } while (after);
    const unsent = await outbox.query("notes", { where: { $state: "queued" }, limit: 3 });
    const errors = [];
    for (const bad of [{ where: { body: "x" } }, { where: { site: true } }, { limit: -1 }, { after: "nonsense" }]) {
      try {
        await outbox.query("notes", bad);
        errors.push(null);
      } catch (error) {
        errors.push({ name: error.name, code: error.code, message: error.message });
      }
    }
    const scanned = await outbox.query("notes", { where: { title: "valve 12" }, scan: true });
    outbox.close();
    return { onB, pump, pages, unsent, errors, scanned };
  }, INDEXES);
  assert.deepEqual(result.onB.records.map((r) => r.recordId), ["n23", "n21"]);
  assert.equal(result.onB.next, null);
  assert.deepEqual(result.onB.records[0].fields, { site: "B", rank: 23, title: "valve 23" });
  assert.equal(result.onB.records[0].state, "queued");
  assert.equal(result.pump.records.length, 10);
  assert.deepEqual(result.pages.map((p) => p.length), [10, 10, 5]);
  assert.equal(new Set(result.pages.flat()).size, 25, "every record once");
  assert.equal(result.unsent.records.length, 3);
  assert.equal(typeof result.unsent.next, "string");
  const [noIndex, flag, limit, cursor] = result.errors;
  assert.equal(noIndex.name, "OutboxError");
  assert.equal(noIndex.code, "index_needed");
  assert.match(noIndex.message, /indexes: \[\["body"\]\]/);
  assert.match(noIndex.message, /scan: true/);
  assert.equal(flag.code, "invalid_query");
  assert.equal(limit.code, "invalid_query");
  assert.equal(cursor.code, "invalid_query");
  assert.deepEqual(result.scanned.records.map((r) => r.recordId), ["n12"]);
  await page.close();
});

test("a live query follows this page's saves, another tab's, and a pulled change, and stays quiet otherwise", async () => {
  const watcher = await openPage();
  const writer = await openPage();
  await inPage(watcher, async (Outbox, { indexes, url, token }) => {
    const outbox = await Outbox.open("queries-live", { collections: indexes });
    await outbox.connect({ serverUrl: url, token });
    globalThis.results = [];
    globalThis.outbox = outbox;
    globalThis.stop = outbox.watch("notes", { where: { site: "A" }, orderBy: "rank" },
      (result) => globalThis.results.push(result.records.map((r) => `${r.recordId}:${r.fields.title}:${r.state}`)));
  }, { indexes: INDEXES, url: server.url, token: TOKEN });
  const results = () => inPage(watcher, () => globalThis.results);
  await holds(async () => assert.deepEqual(await results(), [[]]));

  // This page's own save.
  await inPage(watcher, () => globalThis.outbox.put("notes", "own", { site: "A", rank: 1, title: "mine" }));
  await holds(async () => assert.deepEqual((await results()).at(-1), ["own:mine:queued"]));
  // This page's own save outside the query (heard before its commit, read
  // again, the same result): nothing called back.
  const quiet = (await results()).length;
  await inPage(watcher, () => globalThis.outbox.put("notes", "own-b", { site: "B", rank: 1, title: "elsewhere" }));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await results()).length, quiet, "an own change outside the query calls nothing back");
  // A second connection in the same page: its save reaches the first's watch.
  await inPage(watcher, async (Outbox, indexes) => {
    globalThis.second = await Outbox.open("queries-live", { collections: indexes });
    await globalThis.second.put("notes", "mate", { site: "A", rank: 3, title: "same page" });
  }, INDEXES);
  await holds(async () => assert.deepEqual((await results()).at(-1), ["own:mine:queued", "mate:same page:queued"]));
  await inPage(watcher, async () => {
    await globalThis.second.delete("notes", "mate");
    globalThis.second.close();
  });
  await holds(async () => assert.deepEqual((await results()).at(-1), ["own:mine:queued"]));

  // Another tab's saves: one on the watched site, then a burst elsewhere.
  await inPage(writer, async (Outbox, indexes) => {
    globalThis.outbox = await Outbox.open("queries-live", { collections: indexes });
    await globalThis.outbox.put("notes", "tab", { site: "A", rank: 2, title: "from the tab" });
  }, INDEXES);
  await holds(async () => assert.deepEqual((await results()).at(-1), ["own:mine:queued", "tab:from the tab:queued"]));
  const before = (await results()).length;
  await inPage(writer, async () => {
    for (let i = 0; i < 5; i += 1) await globalThis.outbox.put("notes", `b${i}`, { site: "B", rank: i, title: "elsewhere" });
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await results()).length, before, "changes outside the query call nothing back");

  // A sync: the states change, then another device's change arrives by pull.
  await inPage(watcher, () => globalThis.outbox.syncNow());
  await holds(async () => assert.deepEqual((await results()).at(-1), ["own:mine:synced", "tab:from the tab:synced"]));
  await inPage(writer, async (Outbox, { url, token }) => {
    const other = await Outbox.open("queries-other-device");
    await other.connect({ serverUrl: url, token });
    await other.put("notes", "far", { site: "A", rank: 0, title: "from afar" });
    await other.syncNow();
  }, { url: server.url, token: TOKEN });
  await inPage(watcher, () => globalThis.outbox.syncNow());
  await holds(async () => assert.deepEqual((await results()).at(-1), ["far:from afar:synced", "own:mine:synced", "tab:from the tab:synced"]));

  // After stop(), nothing more.
  const stopped = (await results()).length;
  await inPage(watcher, async () => {
    globalThis.stop();
    await globalThis.outbox.put("notes", "late", { site: "A", rank: 9, title: "late" });
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await results()).length, stopped);
  await watcher.close();
  await writer.close();
});
