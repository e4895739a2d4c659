// Query benchmarks inside the bench page: our outbox's query() and watch()
// beside Dexie (where/orderBy/liveQuery) and raw IndexedDB (index getAll and
// cursors, the limit), over the same records. Bundled by
// bench/browser/run-queries.mjs with esbuild; `/pkg/outbox_sync.js` comes from
// the reference server, as an app would load it. Driven through `window.bench`.
import init, { Outbox } from "/pkg/outbox_sync.js";
import { Dexie, liveQuery } from "dexie";
import { queryFields, siteOf } from "./fields.mjs";

const now = () => performance.now();
const DB = { ours: "bench-q-ours", dexie: "bench-q-dexie", raw: "bench-q-raw" };
const LIVE_SITE = "site-live";
const handles = {};

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function deleteDatabase(name) {
  await request(indexedDB.deleteDatabase(name));
}

/** Is the query engine in this build? (`watch` is the contract's last piece.) */
export async function hasQueries() {
  await init();
  return typeof Outbox.prototype.query === "function" && typeof Outbox.prototype.watch === "function";
}

// ---------------------------------------------------------------------------
// Filling the three stores with the same records.

/**
 * Ours: opens a fresh outbox with the indexes declared and pulls the `n`
 * records the server holds for `token` (so they are synced, as on a device),
 * then pauses syncing so that the live-query writes stay local.
 */
export async function prepareOurs({ n, serverUrl, token, durability = "strict" }) {
  await init();
  await deleteDatabase(DB.ours);
  const outbox = await Outbox.open(DB.ours, { durability, collections: { notes: { indexes: ["site", "count"] } } });
  await outbox.connect({ serverUrl, token });
  const t0 = now();
  const report = await outbox.syncNow();
  if (report.pulled !== n) throw new Error(`ours pulled ${report.pulled} of ${n}: ${JSON.stringify(report)}`);
  await outbox.pause();
  handles.ours = outbox;
  return now() - t0;
}

/** Dexie: the same records in a table indexed on site, count and updatedAt. */
export async function prepareDexie({ n, sites, durability = "strict" }) {
  await deleteDatabase(DB.dexie);
  const db = new Dexie(DB.dexie, { chromeTransactionDurability: durability });
  db.version(1).stores({ notes: "id, site, count, updatedAt" });
  await db.open();
  for (let from = 0; from < n; from += 1000) {
    const rows = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) rows.push({ id: `q${i}`, updatedAt: i, ...queryFields(i, sites) });
    await db.notes.bulkPut(rows);
  }
  handles.dexie = db;
  // Dexie 4 answers live queries optimistically, before the write commits; with
  // its cache disabled it answers after the commit, like ours.
  handles["dexie-committed"] = new Dexie(DB.dexie, { chromeTransactionDurability: durability, cache: "disabled" });
  handles["dexie-committed"].version(1).stores({ notes: "id, site, count, updatedAt" });
  await handles["dexie-committed"].open();
}

/** Raw IndexedDB: the same records in a store with the same three indexes. */
export async function prepareRaw({ n, sites }) {
  await deleteDatabase(DB.raw);
  const open = indexedDB.open(DB.raw, 1);
  open.onupgradeneeded = () => {
    const store = open.result.createObjectStore("notes", { keyPath: "id" });
    for (const index of ["site", "count", "updatedAt"]) store.createIndex(index, index);
  };
  const db = await request(open);
  for (let from = 0; from < n; from += 1000) {
    const tx = db.transaction("notes", "readwrite");
    const store = tx.objectStore("notes");
    for (let i = from; i < Math.min(n, from + 1000); i++) store.put({ id: `q${i}`, updatedAt: i, ...queryFields(i, sites) });
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
  }
  handles.raw = db;
}

export async function closeAll() {
  handles.ours?.close();
  handles.dexie?.close();
  handles["dexie-committed"]?.close();
  handles.raw?.close();
  for (const name of Object.values(DB)) await deleteDatabase(name);
}

// ---------------------------------------------------------------------------
// The figures: each returns milliseconds and checks what it got.

function expectCount(how, got, want) {
  if (got !== want) throw new Error(`${how} returned ${got} records, not ${want}`);
}

/** Equality on an index: the `limit` records of one site. */
export async function equality({ how, site, limit }) {
  const key = siteOf(site);
  const t0 = now();
  let records;
  if (how === "ours") records = (await handles.ours.query("notes", { where: { site: key }, limit })).records;
  else if (how === "dexie") records = await handles.dexie.notes.where("site").equals(key).limit(limit).toArray();
  else {
    const tx = handles.raw.transaction("notes", "readonly");
    records = await request(tx.objectStore("notes").index("site").getAll(IDBKeyRange.only(key), limit));
  }
  const ms = now() - t0;
  expectCount(how, records.length, limit);
  return ms;
}

/** Every record with `count` in [from, from + range), `page` at a time, each page after the last. */
export async function paging({ how, from, range, page }) {
  const lo = from;
  const hi = from + range - 1;
  let total = 0;
  const t0 = now();
  if (how === "ours") {
    let after;
    do {
      const result = await handles.ours.query("notes", { where: { count: { between: [lo, hi] } }, orderBy: "count", limit: page, after });
      total += result.records.length;
      after = result.next ?? undefined;
    } while (after !== undefined);
  } else if (how === "dexie") {
    // Keyset paging (the fast way in Dexie: offset() walks every skipped record).
    let last = null;
    for (;;) {
      const rows = await (last === null
        ? handles.dexie.notes.where("count").between(lo, hi, true, true)
        : handles.dexie.notes.where("count").between(last, hi, false, true)
      ).limit(page).toArray();
      total += rows.length;
      last = rows[rows.length - 1]?.count;
      if (rows.length < page || last >= hi) break;
    }
  } else {
    let last = null;
    for (;;) {
      const tx = handles.raw.transaction("notes", "readonly");
      const keys = last === null ? IDBKeyRange.bound(lo, hi) : IDBKeyRange.bound(last, hi, true, false);
      const rows = await request(tx.objectStore("notes").index("count").getAll(keys, page));
      total += rows.length;
      last = rows[rows.length - 1]?.count;
      if (rows.length < page || last >= hi) break;
    }
  }
  const ms = now() - t0;
  expectCount(how, total, range);
  return ms;
}

/** The first page of the whole collection, newest change first. */
export async function firstSorted({ how, limit }) {
  const t0 = now();
  let records;
  if (how === "ours") records = (await handles.ours.query("notes", { orderBy: "$updatedAt", direction: "desc", limit })).records;
  else if (how === "dexie") records = await handles.dexie.notes.orderBy("updatedAt").reverse().limit(limit).toArray();
  else {
    records = [];
    const tx = handles.raw.transaction("notes", "readonly");
    const cursor = tx.objectStore("notes").index("updatedAt").openCursor(null, "prev");
    await new Promise((resolve, reject) => {
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c || records.length === limit) return resolve();
        records.push(c.value);
        c.continue();
      };
      cursor.onerror = () => reject(cursor.error);
    });
  }
  const ms = now() - t0;
  expectCount(how, records.length, limit);
  return ms;
}

/**
 * Write-to-callback latency of a live query on one site: `samples` writes of
 * a new record into it (after `warmup` more), each awaited until the live
 * query delivered it. Resolves to { fromCommit, fromStart } (ms lists): from
 * the write's promise resolving (committed) and from the write's start.
 * `how`: ours, dexie (its default, optimistic answers), dexie-committed (cache disabled).
 */
export async function liveLatency({ how, samples, warmup = 5, sites }) {
  const total = samples + warmup;
  if (total > 100) throw new Error("at most 100 writes: the live query is one page of 100");
  let waiting = null; // { want, resolve }
  const deliver = (records) => {
    if (waiting && records.length >= waiting.want) {
      const w = waiting;
      waiting = null;
      w.resolve(now());
    }
  };
  let stop;
  const site = `${LIVE_SITE}-${how}-${Math.random().toString(36).slice(2)}`;
  if (how === "ours") {
    stop = handles.ours.watch("notes", { where: { site }, limit: 100 }, (r) => deliver(r.records), (e) => { throw e; });
  } else {
    const db = handles[how];
    const subscription = liveQuery(() => db.notes.where("site").equals(site).limit(100).toArray()).subscribe({
      next: deliver,
      error: (e) => { throw e; },
    });
    stop = () => subscription.unsubscribe();
  }
  // The first (empty) result, before any write.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const fromCommit = [];
  const fromStart = [];
  try {
    for (let k = 0; k < total; k++) {
      const delivered = new Promise((resolve) => (waiting = { want: k + 1, resolve }));
      const fields = { ...queryFields(1_000_000 + k, sites), site };
      const t0 = now();
      if (how === "ours") await handles.ours.put("notes", `live-${site}-${k}`, fields);
      else await handles[how].notes.put({ id: `live-${site}-${k}`, updatedAt: 1_000_000 + k, ...fields });
      const committed = now();
      const at = await Promise.race([delivered, new Promise((_, reject) => setTimeout(() => reject(new Error(`${how}: no live-query callback within 10 s`)), 10_000))]);
      if (k >= warmup) {
        fromCommit.push(Math.max(0, at - committed));
        fromStart.push(at - t0);
      }
    }
  } finally {
    stop();
  }
  return { fromCommit, fromStart };
}
