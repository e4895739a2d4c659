// outbox-sync/live: live values of an outbox as framework-free stores.
//
// Each store follows the Svelte store contract, which Vue refs, Solid signals
// and React's useSyncExternalStore (outbox-sync/react) adapt in a few lines:
// `subscribe(run)` calls `run(value)` at once with the current value, then
// after every change, and returns a function that stops it. `get()` reads the
// current value without subscribing. A store starts its query (outbox.watch,
// outbox.subscribe) when its first subscriber comes and stops it when the last
// one leaves; the last value is kept for the next subscriber.

/** What a query store holds before the outbox has answered. */
const LOADING = Object.freeze({ records: Object.freeze([]), next: null, loading: true, error: null });

/**
 * A store of the records a query returns, kept current by `outbox.watch`:
 * `{ records, next, loading, error }`. `loading` is true until the first
 * result; `error` is the last failure (the previous records stay). `outbox`
 * may be null or undefined while it is being opened: the store then stays
 * loading.
 *
 * @param {import("./index.js").Watchable | null | undefined} outbox
 * @param {string} collection
 * @param {import("./index.js").QueryOptions} [options]
 */
export function liveQuery(outbox, collection, options = {}) {
  if (!outbox) return constant(LOADING);
  checkCollection(collection);
  const query = copyOptions(options);
  return store(LOADING, (set, get) => {
    let stopped = false;
    const onResult = (result) => {
      if (stopped) return;
      set(Object.freeze({ records: Object.freeze([...(result?.records ?? [])]), next: result?.next ?? null, loading: false, error: null }));
    };
    const onError = (error) => {
      if (stopped) return;
      set(Object.freeze({ ...get(), loading: false, error: asError(error) }));
    };
    let unwatch = null;
    try {
      unwatch = outbox.watch(collection, query, onResult, onError);
    } catch (error) {
      onError(error);
    }
    return () => {
      stopped = true;
      if (typeof unwatch === "function") unwatch();
    };
  });
}

/**
 * A store of one record, kept current by a live query on its id:
 * `{ record, loading, error }`, where `record` is the record as this device
 * shows it, or null when there is none (or `id` is null: nothing chosen).
 *
 * @param {import("./index.js").Watchable | null | undefined} outbox
 * @param {string} collection
 * @param {string | null | undefined} id
 */
export function liveRecord(outbox, collection, id) {
  if (!outbox) return constant(RECORD_LOADING);
  if (id === null || id === undefined) return constant(NO_RECORD);
  if (typeof id !== "string" || id === "") {
    throw new TypeError(`liveRecord needs a record id (a non-empty string), not ${describe(id)}.`);
  }
  const records = liveQuery(outbox, collection, { where: { $id: id }, limit: 1 });
  return derived(records, RECORD_LOADING, (q) =>
    q.loading ? RECORD_LOADING : Object.freeze({ record: q.records[0] ?? null, loading: false, error: q.error }),
  );
}
const RECORD_LOADING = Object.freeze({ record: null, loading: true, error: null });
const NO_RECORD = Object.freeze({ record: null, loading: false, error: null });

/**
 * A store of `outbox.status()`: `{ status, error }`, `status` undefined until
 * the first answer. It reads the status again after every message of
 * `outbox.subscribe` (a change saved or synced in this page, another tab or
 * the service worker) and when the browser goes online or offline; reads are
 * coalesced (one at a time, the latest wins), so a burst of changes costs two.
 *
 * @param {import("./index.js").StatusSource | null | undefined} outbox
 */
export function liveStatus(outbox) {
  if (!outbox) return constant(STATUS_LOADING);
  return store(STATUS_LOADING, (set, get) => {
    let stopped = false;
    let reading = false;
    let again = false;
    const read = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      do {
        again = false;
        try {
          const status = await outbox.status();
          if (!stopped && !again) set(Object.freeze({ status, error: null }));
        } catch (error) {
          if (!stopped && !again) set(Object.freeze({ status: get().status, error: asError(error) }));
        }
      } while (again && !stopped);
      reading = false;
    };
    const stop = outbox.subscribe(() => void read());
    const events = typeof globalThis.addEventListener === "function" ? globalThis : null;
    events?.addEventListener("online", read);
    events?.addEventListener("offline", read);
    void read();
    return () => {
      stopped = true;
      stop?.();
      events?.removeEventListener("online", read);
      events?.removeEventListener("offline", read);
    };
  });
}
const STATUS_LOADING = Object.freeze({ status: undefined, error: null });

/**
 * A stable key for query options, equal for options equal by value (object
 * keys in any order): what outbox-sync/react compares so that an inline
 * options literal does not start a new query on every render.
 *
 * @param {import("./index.js").QueryOptions | null | undefined} options
 * @returns {string}
 */
export function queryKey(options) {
  return JSON.stringify(canonical(options ?? {}));
}

// ---------------------------------------------------------------------------
// The store machinery.

/**
 * A readable store whose `start(set, get)` runs when the first subscriber
 * comes and whose returned function runs when the last one leaves.
 */
function store(initial, start) {
  let value = initial;
  const runs = new Set();
  let stop = null;
  const set = (next) => {
    if (Object.is(next, value)) return;
    value = next;
    for (const run of [...runs]) if (runs.has(run)) run(value);
  };
  const get = () => value;
  return {
    get,
    subscribe(run) {
      if (typeof run !== "function") throw new TypeError("subscribe needs a function to call with each value.");
      // A fresh wrapper each time: the same function may subscribe twice.
      const entry = (v) => run(v);
      runs.add(entry);
      if (runs.size === 1) stop = start(set, get) ?? null;
      if (runs.has(entry)) run(value);
      return () => {
        if (!runs.delete(entry)) return;
        if (runs.size === 0 && stop) {
          const s = stop;
          stop = null;
          s();
        }
      };
    },
  };
}

/** A store that maps another's values (started and stopped with its own subscribers). */
function derived(source, initial, map) {
  return store(initial, (set) => source.subscribe((v) => set(map(v))));
}

/** A store that never changes. */
function constant(value) {
  return {
    get: () => value,
    subscribe(run) {
      if (typeof run !== "function") throw new TypeError("subscribe needs a function to call with each value.");
      run(value);
      return () => {};
    },
  };
}

// ---------------------------------------------------------------------------
// Helpers.

function checkCollection(collection) {
  if (typeof collection !== "string" || collection === "") {
    throw new TypeError(`A live query needs a collection name (a non-empty string), not ${describe(collection)}.`);
  }
}

/** A deep copy, so a caller changing its options object later does not change a running query. */
function copyOptions(options) {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`Query options must be an object such as { where: { site: "north" } }, not ${describe(options)}.`);
  }
  return canonical(options);
}

/** Plain data with object keys sorted and undefined members left out. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      if (value[key] !== undefined) out[key] = canonical(value[key]);
    }
    return out;
  }
  return value;
}

function asError(error) {
  return error instanceof Error ? error : new Error(String(error));
}

function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}
