// An in-memory outbox with the query contract of outbox-sync (query, watch,
// get, status, subscribe), for testing the framework bindings without a
// browser. It is deliberately plain: equality, ranges, prefix and `in` on any
// field, `$id`, `$state` and `$updatedAt`, numeric-offset cursors. Every
// commit notifies `subscribe` listeners and re-runs live queries, which call
// back only when their result changed, always asynchronously.

const STATES = new Set(["synced", "queued", "syncing", "failed", "conflict"]);

export class FakeOutbox {
  constructor() {
    this.records = new Map(); // "collection\0id" -> LocalRecord
    this.clock = 1_000;
    this.listeners = new Set();
    this.watches = new Set();
    /** Every watch() call, for tests that count subscriptions. */
    this.watchCalls = [];
    /** Calls of status(), for tests that count reads. */
    this.statusReads = 0;
    /** Set to an Error to make status() reject. */
    this.statusFailure = null;
  }

  /** Saves a record as a pending change (state "queued"), then notifies. */
  async put(collection, recordId, fields, { state = "queued" } = {}) {
    await tick();
    const key = `${collection}\0${recordId}`;
    const old = this.records.get(key);
    this.records.set(key, {
      collection, recordId, fields: { ...fields }, version: old?.version ?? null,
      pending: state === "synced" ? 0 : (old?.pending ?? 0) + 1, state, updatedAt: ++this.clock,
    });
    this.#committed();
  }

  async delete(collection, recordId) {
    await tick();
    this.records.delete(`${collection}\0${recordId}`);
    this.#committed();
  }

  async get(collection, recordId) {
    await tick();
    return structuredClone(this.records.get(`${collection}\0${recordId}`) ?? null);
  }

  async status() {
    this.statusReads++;
    await tick();
    if (this.statusFailure) throw this.statusFailure;
    const all = [...this.records.values()];
    const count = (s) => all.filter((r) => r.state === s).length;
    const queued = count("queued");
    const syncing = count("syncing");
    const pending = queued + syncing;
    return {
      queued, syncing, failed: count("failed"), conflicts: count("conflict"), pending,
      message: pending === 0 ? "All changes saved" : `${pending} change${pending === 1 ? "" : "s"} pending`,
      online: true, paused: false, authRequired: false, lastSyncedAt: null,
      lastError: null, lastErrorDetail: null, nextAttemptAt: null,
    };
  }

  subscribe(listener) {
    const entry = { listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  async query(collection, options = {}) {
    await tick();
    return this.#run(collection, options);
  }

  watch(collection, options, callback, onError) {
    this.#run(collection, options); // refuses a bad query at once, like the real one may
    const watch = { collection, options: structuredClone(options), callback, onError, last: null, active: true };
    this.watchCalls.push(watch);
    this.watches.add(watch);
    void this.#deliver(watch);
    return () => {
      watch.active = false;
      this.watches.delete(watch);
    };
  }

  /** Live queries still subscribed. */
  get activeWatches() {
    return this.watches.size;
  }

  /** Makes every live query fail with `error` (as a storage failure would). */
  failWatches(error) {
    for (const watch of this.watches) queueMicrotask(() => watch.active && watch.onError?.(error));
  }

  #committed() {
    queueMicrotask(() => {
      for (const { listener } of [...this.listeners]) listener({ type: "changed" });
      for (const watch of [...this.watches]) void this.#deliver(watch);
    });
  }

  async #deliver(watch) {
    await tick();
    if (!watch.active) return;
    let result;
    try {
      result = this.#run(watch.collection, watch.options);
    } catch (error) {
      watch.onError?.(error);
      return;
    }
    const text = JSON.stringify(result);
    if (text === watch.last) return;
    watch.last = text;
    watch.callback(result);
  }

  #run(collection, { where = {}, orderBy = "$id", direction = "asc", limit = 100, after = null, scan = false } = {}) {
    if (typeof collection !== "string" || !collection) throw new TypeError("collection must be a non-empty string");
    for (const [field, condition] of Object.entries(where)) {
      if (field === "$state") {
        const states = typeof condition === "string" ? [condition] : condition?.in;
        if (!Array.isArray(states) || !states.every((s) => STATES.has(s))) throw new Error(`unknown $state ${JSON.stringify(condition)}`);
      } else if (!field.startsWith("$") && !scan && field !== "site" && field !== "title") {
        throw new Error(`The field "${field}" has no index: declare it in Outbox.open(name, { collections: { ${collection}: { indexes: ["${field}"] } } }), or pass scan: true.`);
      }
    }
    const value = (r, field) => (field === "$id" ? r.recordId : field === "$state" ? r.state : field === "$updatedAt" ? r.updatedAt : r.fields?.[field]);
    const matches = (v, c) => {
      if (typeof c !== "object" || c === null) return v === c;
      if ("in" in c && !c.in.includes(v)) return false;
      if ("startsWith" in c && !(typeof v === "string" && v.startsWith(c.startsWith))) return false;
      if ("gt" in c && !(v > c.gt)) return false;
      if ("gte" in c && !(v >= c.gte)) return false;
      if ("lt" in c && !(v < c.lt)) return false;
      if ("lte" in c && !(v <= c.lte)) return false;
      if ("between" in c && !(v >= c.between[0] && v <= c.between[1])) return false;
      return true;
    };
    const rows = [...this.records.values()]
      .filter((r) => r.collection === collection)
      .filter((r) => Object.entries(where).every(([f, c]) => matches(value(r, f), c)))
      .sort((a, b) => {
        const x = value(a, orderBy);
        const y = value(b, orderBy);
        const order = x < y ? -1 : x > y ? 1 : a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0;
        return direction === "desc" ? -order : order;
      });
    const start = after === null ? 0 : Number(after);
    const page = rows.slice(start, start + limit);
    return { records: structuredClone(page), next: start + limit < rows.length ? String(start + limit) : null };
  }
}

/** Waits a macrotask, as an IndexedDB request would. */
export const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
