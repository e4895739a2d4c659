// The per-record work of a query on the stored objects IndexedDB gave,
// done in JavaScript in one call per page (src/store/idb_query.rs): read
// from wasm, each record cost some twenty calls across the boundary (its
// counters read, its view's properties set one by one), about a fifth of
// a query of 100 records in Chromium. scripts/build.sh bundles this file
// into the package's glue.

/**
 * For each stored record of `rows`: its count of unsent changes (0 when
 * missing) and 1 when it shows no fields (deleted, or never seen), two
 * numbers a record.
 */
export function countsOf(rows) {
  const counts = new Float64Array(rows.length * 2);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const pending = row.pending;
    counts[2 * i] = typeof pending === "number" ? pending : 0;
    counts[2 * i + 1] = row.local === undefined || row.local === null ? 1 : 0;
  }
  return counts;
}

/**
 * The stored records `rows` as `get()` shows them (`RecordView` in
 * src/js/views.rs: `{ collection, recordId, fields, version, pending,
 * state, updatedAt }`, the values the stored ones themselves), record `i`
 * in state `stateNames[states[i]]`; and whether a field of one of them is
 * an object or an array, which only can hold a file reference.
 */
export function viewsOf(rows, states, stateNames) {
  const records = new Array(rows.length);
  let mayHoldRefs = false;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const fields = row.local ?? null;
    records[i] = {
      collection: row.collection,
      recordId: row.record_id,
      fields,
      version: row.base_version ?? null,
      pending: row.pending,
      state: stateNames[states[i]],
      updatedAt: row.updated_at_ms,
    };
    if (!mayHoldRefs && fields !== null) {
      for (const name in fields) {
        const value = fields[name];
        if (typeof value === "object" && value !== null) {
          mayHoldRefs = true;
          break;
        }
      }
    }
  }
  return [records, mayHoldRefs];
}

/**
 * What tells two pages of a live query apart without their whole JSON
 * text (src/js/query.rs): each record's collection, id, time of last
 * change, unsent count, version and state, and the page's `next`. Pages
 * whose summaries differ differ; pages with the same summary are then
 * compared by their text.
 */
export function summaryOf(page) {
  let text = String(page.next);
  for (const record of page.records) {
    text += `\u0000${record.collection}\u0001${record.recordId}\u0001${record.updatedAt}\u0001${record.pending}\u0001${record.version}\u0001${record.state}`;
  }
  return text;
}

/**
 * The stored record `row` (a settlement's read, see src/store/idb_write.rs)
 * with its base made its local view at `version` and nothing pending, in
 * the stored form of LocalRecord (src/core/record.rs): `base_is_local`
 * instead of a copy of the fields, or a null base when it shows none.
 */
export function confirmedRow(row, version) {
  if (row.local === undefined || row.local === null) {
    row.base = null;
    delete row.base_is_local;
  } else {
    row.base_is_local = true;
    delete row.base;
  }
  row.base_version = version;
  row.pending = 0;
  return row;
}

/**
 * The payloads of the stored events `rows` (`undefined` for a missing
 * one), each taken out of its event, which keeps `payload: null`: a
 * settlement decodes the events without them and a payload only when it
 * needs it (src/store/idb.rs, `needs_payload` in src/core/settle.rs).
 */
export function takePayloads(rows) {
  const payloads = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row === undefined || row === null) continue;
    payloads[i] = row.payload;
    row.payload = null;
  }
  return payloads;
}

/**
 * The payloads of the stored events `rows`, each taken out of its event
 * (left `payload: null`), and each one's approximate size in bytes (as
 * `Value::approximate_size` in protocol/src/value.rs counts it, string
 * lengths in UTF-16 units): a take keeps the payloads as they are for the
 * push's body (src/store/outgoing.rs), and the core splits large events
 * off by their size.
 */
export function holdPayloads(rows) {
  const payloads = new Array(rows.length);
  const sizes = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const payload = row.payload ?? null;
    payloads[i] = payload;
    sizes[i] = sizeOf(payload);
    row.payload = null;
  }
  return [payloads, sizes];
}

function sizeOf(value) {
  switch (typeof value) {
    case "string":
      return value.length + 2;
    case "number":
      return 8;
    case "object": {
      if (value === null) return 5;
      let size = 2;
      if (Array.isArray(value)) {
        for (const item of value) size += sizeOf(item) + 1;
      } else {
        for (const name in value) size += name.length + 4 + sizeOf(value[name]);
      }
      return size;
    }
    default:
      return 5;
  }
}

/**
 * The JSON body of `POST /v1/push` (`PushRequest` in protocol/src) for the
 * stored events `rows` with their payloads `payloads`, in one
 * `JSON.stringify`: the wire form of each event is its stored fields.
 */
export function pushBody(rows, payloads) {
  const events = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    events[i] = {
      event_id: row.event_id,
      collection: row.collection,
      record_id: row.record_id,
      op: row.op,
      base_version: row.base_version ?? null,
      payload: payloads[i] ?? null,
    };
  }
  return JSON.stringify({ events });
}

/**
 * The `200` answer `text` of a push parsed, with the `data` of every
 * applied result's record (a duplicate's original too) set to null: the
 * client reads an applied change's version, never the fields the server
 * echoes back, and decoding them into wasm cost as much as the payloads
 * sent (src/net/push.rs). Returns `[answer, depth]`, the depth as
 * `nesting_depth` in protocol/src/depth.rs counts it, and no answer when
 * the text nests deeper than `maxDepth`; throws when it is not JSON.
 */
export function pushAnswer(text, maxDepth) {
  const depth = nestingDepth(text);
  if (depth > maxDepth) return [undefined, depth];
  const answer = JSON.parse(text);
  const results = answer !== null && typeof answer === "object" ? answer.results : undefined;
  if (Array.isArray(results)) {
    for (const result of results) dropAppliedData(result);
  }
  return [answer, depth];
}

function dropAppliedData(outcome) {
  if (outcome === null || typeof outcome !== "object") return;
  if (outcome.status === "applied") {
    const record = outcome.record;
    if (record !== null && typeof record === "object" && "data" in record) record.data = null;
  } else if (outcome.status === "duplicate") {
    dropAppliedData(outcome.original);
  }
}

function nestingDepth(text) {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // A string: on to its closing quote (one not escaped), found natively.
      let end = i + 1;
      for (;;) {
        end = text.indexOf('"', end);
        if (end < 0) return deepest; // unterminated: JSON.parse refuses it
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 92) slashes++;
        if (slashes % 2 === 0) break;
        end++;
      }
      i = end;
    } else if (c === 91 || c === 123) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if ((c === 93 || c === 125) && depth > 0) {
      depth--;
    }
  }
  return deepest;
}
