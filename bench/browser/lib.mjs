// Benchmarks that run inside the browser (a page, a service worker or a
// worker): our outbox, raw IndexedDB from plain JavaScript (the limit), Dexie
// and Workbox's background-sync Queue. Bundled by bench/browser/run.mjs with
// esbuild; `/pkg/outbox_sync.js` stays external and comes from the reference
// server, as an app would load it.
import init, { Outbox } from "/pkg/outbox_sync.js";
import { Dexie } from "dexie";
import { Queue } from "workbox-background-sync";
import { fieldsOf } from "./fields.mjs";

export { fieldsOf };

let wasmReady = null;
/** Loads the wasm once; keeps its memory where drainMemory can watch it grow. */
export const ready = () =>
  (wasmReady ??= init().then((wasm) => {
    globalThis.__outboxWasmMemory = wasm.memory;
    return wasm;
  }));

const now = () => performance.now();

function uuid() {
  return crypto.randomUUID();
}

/** The event our outbox stores for a put (the same fields, snake_case as stored). */
function rawEvent(collection, recordId, fields, at) {
  return {
    event_id: uuid(), collection, record_id: recordId, op: "put", payload: fields, base_version: null,
    state: "queued", attempts: 0, created_at_ms: at, next_attempt_at_ms: null, last_error: null,
  };
}

/** The local view our outbox stores beside it. */
function rawRecord(collection, recordId, fields, at) {
  return { collection, record_id: recordId, fields, version: null, pending: 1, updated_at_ms: at };
}

/** The event as it travels in a push. */
function wireEvent(e) {
  return { event_id: e.event_id, collection: e.collection, record_id: e.record_id, op: e.op, base_version: e.base_version, payload: e.payload };
}

// ---------------------------------------------------------------------------
// Raw IndexedDB: the same layout as our outbox (schema version 2).

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
}

export async function deleteDatabase(name) {
  await request(indexedDB.deleteDatabase(name));
}

/**
 * Opens (creating) a database laid out like the outbox: outbox (seq, three
 * indexes), records (with the two indexes ours keeps since schema level 3 for
 * queries: by last change and by unsent changes), meta.
 */
export function openRaw(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    const db = open.result;
    const outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
    outbox.createIndex("by_event_id", "event_id", { unique: true });
    outbox.createIndex("by_state", "state");
    outbox.createIndex("by_record", ["collection", "record_id"]);
    const records = db.createObjectStore("records", { keyPath: ["collection", "record_id"] });
    records.createIndex("by_updated", ["collection", "updated_at_ms", "record_id"]);
    records.createIndex("by_pending", ["collection", "pending", "record_id"]);
    db.createObjectStore("meta");
  };
  return request(open);
}

function writeTx(db, stores, durability) {
  return db.transaction(stores, "readwrite", { durability });
}

/** Enqueues `n` events in one transaction (event + record view each), like a batch enqueue. */
export async function rawEnqueueBatched(db, n, durability, prefix = "r") {
  const at = Date.now();
  const tx = writeTx(db, ["outbox", "records"], durability);
  const outbox = tx.objectStore("outbox");
  const records = tx.objectStore("records");
  for (let i = 0; i < n; i++) {
    const fields = fieldsOf(i);
    outbox.add(rawEvent("notes", `${prefix}${i}`, fields, at));
    records.put(rawRecord("notes", `${prefix}${i}`, fields, at));
  }
  tx.commit?.();
  await done(tx);
}

/** Enqueues one event in its own transaction and waits for its commit. */
export async function rawEnqueueOne(db, i, durability, prefix = "r") {
  const at = Date.now();
  const fields = fieldsOf(i);
  const tx = writeTx(db, ["outbox", "records"], durability);
  tx.objectStore("outbox").add(rawEvent("notes", `${prefix}${i}`, fields, at));
  tx.objectStore("records").put(rawRecord("notes", `${prefix}${i}`, fields, at));
  tx.commit?.();
  await done(tx);
}

// ---------------------------------------------------------------------------
// Our outbox.

/** Opens our outbox with `durability` ("strict" or "relaxed"), like the baselines. */
export async function openOurs(name, durability) {
  await ready();
  return Outbox.open(name, { durability });
}

function putManyArgs(from, n, prefix) {
  const records = new Array(n);
  for (let i = 0; i < n; i++) records[i] = { recordId: `${prefix}${from + i}`, fields: fieldsOf(from + i) };
  return records;
}

/** Queues `n` events in our outbox with putMany, `chunk` per transaction. */
export async function oursFill(outbox, n, chunk = 1000, prefix = "o") {
  for (let from = 0; from < n; from += chunk) {
    await outbox.putMany("notes", putManyArgs(from, Math.min(chunk, n - from), prefix));
  }
}

// ---------------------------------------------------------------------------
// Benchmarks. Each starts from fresh databases and returns milliseconds (or
// a small object of figures); the harness repeats them and takes medians.

/** Burst enqueue of `n` ~1 KB events. `how`: ours-batch, ours-each, raw-batch, raw-each. */
export async function enqueueBurst({ how, n, durability }) {
  const name = `bench-enqueue-${how}-${uuid()}`;
  try {
    if (how.startsWith("ours")) {
      const outbox = await openOurs(name, durability);
      const records = how === "ours-batch" ? putManyArgs(0, n, "o") : null;
      const fields = how === "ours-each" ? Array.from({ length: n }, (_, i) => fieldsOf(i)) : null;
      const t0 = now();
      if (records) await outbox.putMany("notes", records);
      else for (let i = 0; i < n; i++) await outbox.put("notes", `o${i}`, fields[i]);
      const ms = now() - t0;
      const pending = (await outbox.status()).pending;
      outbox.close();
      if (pending !== n) throw new Error(`ours queued ${pending}, expected ${n}`);
      return ms;
    }
    const db = await openRaw(name);
    const t0 = now();
    if (how === "raw-batch") await rawEnqueueBatched(db, n, durability);
    else for (let i = 0; i < n; i++) await rawEnqueueOne(db, i, durability);
    const ms = now() - t0;
    db.close();
    return ms;
  } finally {
    await deleteDatabase(name);
  }
}

/** `samples` single enqueues, each awaited; returns every latency in ms. */
/**
 * `samples` awaited single saves, timed one by one. `pauseMs` apart (0: back
 * to back). `how`: "ours", "ours-auto" (startAutoSync() on against
 * `serverUrl`: every change is synced in the pause after it, so the sync's
 * work lands between saves or beside them, never on purpose inside one) or
 * "raw".
 */
export async function enqueueLatency({ how, samples, warmup = 20, durability, pauseMs = 0, serverUrl, token }) {
  const name = `bench-latency-${how}-${uuid()}`;
  const times = [];
  const pause = () => (pauseMs > 0 ? new Promise((ok) => setTimeout(ok, pauseMs)) : null);
  try {
    if (how === "ours" || how === "ours-auto") {
      const outbox = await openOurs(name, durability);
      let stop = null;
      if (how === "ours-auto") {
        await outbox.connect({ serverUrl, token });
        stop = outbox.startAutoSync();
      }
      for (let i = 0; i < warmup + samples; i++) {
        const fields = fieldsOf(i);
        const t0 = now();
        await outbox.put("notes", `o${i}-${name}`, fields);
        if (i >= warmup) times.push(now() - t0);
        await pause();
      }
      if (stop) {
        stop();
        const { pending } = await outbox.status();
        if (pending > samples / 2) throw new Error(`auto-sync sent almost nothing: ${pending} pending`);
      }
      outbox.close();
    } else {
      const db = await openRaw(name);
      for (let i = 0; i < warmup + samples; i++) {
        const t0 = now();
        await rawEnqueueOne(db, i, durability);
        if (i >= warmup) times.push(now() - t0);
        await pause();
      }
      db.close();
    }
    return times;
  } finally {
    await deleteDatabase(name);
  }
}

// ---------------------------------------------------------------------------
// Drain (run in the service worker, where Workbox's Queue lives).

/** Counts requests by path so a drain can be told apart from the pull after it. */
const fetchLog = { firstPullAt: null, pushes: 0 };
if (typeof globalThis.fetch === "function" && !globalThis.__benchFetchWrapped) {
  const original = globalThis.fetch.bind(globalThis);
  globalThis.__benchFetchWrapped = true;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.includes("/v1/changes") && fetchLog.firstPullAt === null) fetchLog.firstPullAt = now();
    if (url.includes("/v1/push")) fetchLog.pushes++;
    return original(input, init);
  };
}

async function postJson(serverUrl, token, path, body) {
  const response = await fetch(serverUrl + path, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/**
 * Drains `n` queued events into the server. `how`: ours (syncNow), raw
 * (batched reads, the same batched POSTs, one bulk delete), workbox (Queue).
 * Returns { ms, drainMs, requests } where drainMs ends when the first pull
 * request starts (ours pulls after draining) and ms is the whole call.
 */
export async function drain({ how, n, durability, serverUrl, token, batch = 100, run }) {
  const name = `bench-drain-${how}-${uuid()}`;
  const prefix = `d${run}-${how}-`;
  if (how === "ours") {
    const outbox = await openOurs(name, durability);
    try {
      await oursFill(outbox, n, 1000, prefix);
      await outbox.connect({ serverUrl, token, batchSize: batch });
      fetchLog.firstPullAt = null;
      fetchLog.pushes = 0;
      const t0 = now();
      const report = await outbox.syncNow();
      const ms = now() - t0;
      if (report.synced !== n) throw new Error(`ours synced ${report.synced} of ${n}: ${JSON.stringify(report)}`);
      const status = await outbox.status();
      if (status.pending !== 0) throw new Error(`ours left ${status.pending} pending`);
      return { ms, drainMs: (fetchLog.firstPullAt ?? now()) - t0, requests: fetchLog.pushes };
    } finally {
      outbox.close();
      await deleteDatabase(name);
    }
  }
  if (how === "raw") {
    const db = await openRaw(name);
    try {
      for (let from = 0; from < n; from += 1000) await rawEnqueueBatched(db, Math.min(1000, n - from), durability, `${prefix}${from}-`);
      let requests = 0;
      const t0 = now();
      let after = null;
      let first = null;
      for (;;) {
        const tx = db.transaction("outbox", "readonly");
        const store = tx.objectStore("outbox");
        const range = after === null ? undefined : IDBKeyRange.lowerBound(after, true);
        const [keys, events] = await Promise.all([request(store.getAllKeys(range, batch)), request(store.getAll(range, batch))]);
        if (keys.length === 0) break;
        first ??= keys[0];
        after = keys[keys.length - 1];
        const answer = await postJson(serverUrl, token, "/v1/push", { events: events.map(wireEvent) });
        requests++;
        if (answer.results.some((r) => r.status !== "applied" && r.status !== "duplicate")) throw new Error("raw push refused");
      }
      const tx = writeTx(db, ["outbox"], durability);
      tx.objectStore("outbox").delete(IDBKeyRange.bound(first, after));
      tx.commit?.();
      await done(tx);
      const ms = now() - t0;
      return { ms, drainMs: ms, requests };
    } finally {
      db.close();
      await deleteDatabase(name);
    }
  }
  if (how === "workbox") {
    // onSync replaces the replay Workbox would start by itself at construction
    // (forceSyncFallback) or on a sync event; the benchmark calls it itself.
    const queue = new Queue(name, { forceSyncFallback: true, onSync: async () => {} });
    const at = Date.now();
    for (let i = 0; i < n; i++) {
      const event = wireEvent(rawEvent("notes", `${prefix}${i}`, fieldsOf(i), at));
      await queue.pushRequest({
        request: new Request(serverUrl + "/v1/push", {
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ events: [event] }),
        }),
      });
    }
    fetchLog.pushes = 0;
    const t0 = now();
    await queue.replayRequests();
    const ms = now() - t0;
    const left = await queue.size();
    // Workbox keeps its database open (no way to close it), so it is not
    // deleted here; each run uses its own queue, which the replay empties.
    if (left !== 0) throw new Error(`workbox left ${left}`);
    return { ms, drainMs: ms, requests: fetchLog.pushes };
  }
  throw new Error(`unknown drain ${how}`);
}

// ---------------------------------------------------------------------------
// Pull and apply: the same pages from the server (`pageSize` changes each).

async function pullPage(serverUrl, token, since, limit) {
  const url = `${serverUrl}/v1/changes?limit=${limit}${since ? `&since=${encodeURIComponent(since)}` : ""}`;
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`pull: HTTP ${response.status}`);
  return response.json();
}

/** Pulls every change of the token's user and applies them. `how`: ours, raw, dexie. */
export async function pullApply({ how, n, durability, serverUrl, token, pageSize = 500 }) {
  const name = `bench-pull-${how}-${uuid()}`;
  try {
    if (how === "ours") {
      const outbox = await openOurs(name, durability);
      await outbox.connect({ serverUrl, token });
      const t0 = now();
      const report = await outbox.syncNow();
      const ms = now() - t0;
      outbox.close();
      if (report.pulled !== n) throw new Error(`ours pulled ${report.pulled} of ${n}: ${JSON.stringify(report)}`);
      return ms;
    }
    let put;
    let close;
    if (how === "raw") {
      const db = await openRaw(name);
      put = async (changes, nextToken) => {
        const tx = writeTx(db, ["records", "meta"], durability);
        const records = tx.objectStore("records");
        const at = Date.now();
        for (const c of changes) records.put({ collection: c.collection, record_id: c.record_id, fields: c.data, version: c.version, pending: 0, updated_at_ms: at });
        tx.objectStore("meta").put(nextToken, "sync_token");
        tx.commit?.();
        await done(tx);
      };
      close = () => db.close();
    } else {
      const db = new Dexie(name, { chromeTransactionDurability: durability });
      // The same two indexes as ours and raw JS (see openRaw).
      db.version(1).stores({ records: "[collection+record_id], [collection+updated_at_ms+record_id], [collection+pending+record_id]", meta: "" });
      await db.open();
      put = (changes, nextToken) =>
        db.transaction("rw", db.records, db.meta, async () => {
          const at = Date.now();
          await db.records.bulkPut(changes.map((c) => ({ collection: c.collection, record_id: c.record_id, fields: c.data, version: c.version, pending: 0, updated_at_ms: at })));
          await db.meta.put(nextToken, "sync_token");
        });
      close = () => db.close();
    }
    let since = null;
    let count = 0;
    const t0 = now();
    for (;;) {
      const page = await pullPage(serverUrl, token, since, pageSize);
      await put(page.changes, page.next_token);
      count += page.changes.length;
      since = page.next_token;
      if (!page.has_more) break;
    }
    const ms = now() - t0;
    close();
    if (count !== n) throw new Error(`${how} pulled ${count} of ${n}`);
    return ms;
  } finally {
    await deleteDatabase(name);
  }
}

// ---------------------------------------------------------------------------
// A drain in two steps, for the profiler (bench/browser/profile.mjs), which
// profiles only the second: the queue filled, then drained.

let filled = null;
/** Opens an outbox, queues `n` events and connects it; `drainFilled` drains it. */
export async function fillForDrain({ n, durability, serverUrl, token, batch = 100, run }) {
  const name = `bench-profile-${uuid()}`;
  const outbox = await openOurs(name, durability);
  await oursFill(outbox, n, 1000, `f${run}-`);
  await outbox.connect({ serverUrl, token, batchSize: batch });
  filled = { outbox, name, n };
}

/** Drains what `fillForDrain` queued; returns { ms, drainMs } as `drain` does. */
export async function drainFilled() {
  const { outbox, name, n } = filled;
  filled = null;
  try {
    fetchLog.firstPullAt = null;
    const t0 = now();
    const report = await outbox.syncNow();
    const ms = now() - t0;
    if (report.synced !== n) throw new Error(`synced ${report.synced} of ${n}`);
    return { ms, drainMs: (fetchLog.firstPullAt ?? now()) - t0 };
  } finally {
    outbox.close();
    await deleteDatabase(name);
  }
}

// ---------------------------------------------------------------------------
// Memory: the JS heap and the wasm memory while our outbox drains `n` events.

export async function drainMemory({ n, durability, serverUrl, token, batch = 100, run }) {
  const name = `bench-memory-${uuid()}`;
  const outbox = await openOurs(name, durability);
  try {
    await oursFill(outbox, n, 1000, `m${run}-`);
    await outbox.connect({ serverUrl, token, batchSize: batch });
    const heap = () => performance.memory?.usedJSHeapSize ?? 0;
    const wasm = () => globalThis.__outboxWasmMemory?.buffer.byteLength ?? 0;
    const before = { heap: heap(), wasm: wasm() };
    let peakHeap = before.heap;
    let peakWasm = before.wasm;
    // [seconds, JS heap MB, wasm MB], once a second: flat means paged.
    const heapTimeline = [];
    const t0 = now();
    let nextSample = 0;
    const timer = setInterval(() => {
      peakHeap = Math.max(peakHeap, heap());
      peakWasm = Math.max(peakWasm, wasm());
      const at = (now() - t0) / 1000;
      if (at >= nextSample) {
        heapTimeline.push([Math.round(at), +(heap() / 2 ** 20).toFixed(1), +(wasm() / 2 ** 20).toFixed(1)]);
        nextSample = Math.floor(at) + 1;
      }
    }, 25);
    const report = await outbox.syncNow();
    const ms = now() - t0;
    clearInterval(timer);
    peakHeap = Math.max(peakHeap, heap());
    peakWasm = Math.max(peakWasm, wasm());
    if (report.synced !== n) throw new Error(`synced ${report.synced} of ${n}`);
    return { ms, heapBefore: before.heap, peakHeap, wasmBefore: before.wasm, peakWasm, heapTimeline };
  } finally {
    outbox.close();
    await deleteDatabase(name);
  }
}
