// The store's JavaScript helpers (src/store/idb_rows.js) that the drain's
// push goes through, in Node: the push body built from stored rows, the
// payloads held out of them, and the answer's depth check, which stands in
// for protocol/src/depth.rs's `nesting_depth` before an answer is decoded
// into wasm (a deeper one would run off the wasm stack).
import { test } from "node:test";
import assert from "node:assert/strict";

import { holdPayloads, pushAnswer, pushBody } from "../../src/store/idb_rows.js";

const depthOf = (text) => pushAnswer(text, Infinity)[1];

test("the depth counts brackets outside strings, as nesting_depth does", () => {
  // The cases of protocol/src/depth.rs's counts_brackets_outside_strings.
  assert.equal(depthOf("1"), 0);
  assert.equal(depthOf("[]"), 1);
  assert.equal(depthOf('{"a": [[1], {"b": "[[[["}]}'), 3);
  assert.equal(depthOf('["\\"[[", "\\\\", [1]]'), 2);
  assert.equal(depthOf("[".repeat(100_000) + "]".repeat(100_000)), 100_000);
});

test("the depth of any JSON text is the depth of its value", () => {
  // Strings full of brackets, quotes and backslashes, which JSON.stringify
  // escapes; a seeded generator, so a failure repeats.
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const tricky = () => Array.from({ length: Math.floor(random() * 8) }, () => '[]{}"\\a'[Math.floor(random() * 7)]).join("");
  const value = (budget) => {
    const pick = random();
    if (budget === 0 || pick < 0.3) return pick < 0.1 ? null : pick < 0.2 ? Math.floor(random() * 100) : tricky();
    const items = Array.from({ length: Math.floor(random() * 4) }, () => value(budget - 1));
    return pick < 0.65 ? items : Object.fromEntries(items.map((item) => [tricky(), item]));
  };
  const depth = (v) =>
    v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
  for (let i = 0; i < 500; i++) {
    const v = value(8);
    assert.equal(depthOf(JSON.stringify(v)), depth(v), JSON.stringify(v));
  }
});

test("an answer nested deeper than the limit is not parsed, and its depth is told", () => {
  const deep = "[".repeat(40) + "]".repeat(40);
  assert.deepEqual(pushAnswer(deep, 32), [undefined, 40]);
  assert.deepEqual(pushAnswer(deep, 40), [JSON.parse(deep), 40]);
  assert.throws(() => pushAnswer("{not json", 32), SyntaxError);
});

test("an applied record's data is dropped from the answer, a duplicate's original's too", () => {
  const text = JSON.stringify({
    results: [
      { status: "applied", record: { id: "a", version: 3, data: { title: "x" } } },
      { status: "duplicate", original: { status: "applied", record: { id: "b", version: 4, data: [1] } } },
      { status: "conflict", current: { id: "c", version: 5, data: { title: "kept" } } },
    ],
  });
  const [answer] = pushAnswer(text, 32);
  assert.equal(answer.results[0].record.data, null);
  assert.equal(answer.results[0].record.version, 3);
  assert.equal(answer.results[1].original.record.data, null);
  assert.deepEqual(answer.results[2].current.data, { title: "kept" });
});

test("held payloads leave their rows, and the push body puts them back in wire form", () => {
  const rows = [
    { seq: 1, event_id: "e1", collection: "notes", record_id: "n1", op: "put", base_version: 2, payload: { title: "[\"]" }, state: "queued" },
    { seq: 2, event_id: "e2", collection: "notes", record_id: "n2", op: "delete", payload: null, state: "queued" },
  ];
  const [payloads, sizes] = holdPayloads(rows);
  assert.deepEqual(payloads, [{ title: '["]' }, null]);
  assert.equal(rows[0].payload, null);
  assert.ok(sizes[0] > sizes[1], "a payload with fields is larger than null");
  assert.deepEqual(JSON.parse(pushBody(rows, payloads)), {
    events: [
      { event_id: "e1", collection: "notes", record_id: "n1", op: "put", base_version: 2, payload: { title: '["]' } },
      { event_id: "e2", collection: "notes", record_id: "n2", op: "delete", base_version: null, payload: null },
    ],
  });
});
