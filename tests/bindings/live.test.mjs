// outbox-sync/live against an in-memory outbox with the query contract: the
// stores follow the Svelte store contract, start and stop their live query
// with their subscribers, and carry results, errors and the status.
import assert from "node:assert/strict";
import { test } from "node:test";
import { liveQuery, liveRecord, liveStatus, queryKey } from "../../live/index.js";
import { FakeOutbox, tick } from "./fake-outbox.mjs";

/** Resolves with the first value of `store` for which `check` holds. */
function until(store, check, ms = 2_000) {
  return new Promise((resolve, reject) => {
    let stop = null;
    const timer = setTimeout(() => {
      stop?.();
      reject(new Error(`no such value within ${ms} ms; last: ${JSON.stringify(store.get())}`));
    }, ms);
    let done = false;
    stop = store.subscribe((value) => {
      if (done || !check(value)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => stop?.());
      resolve(value);
    });
  });
}

test("subscribe calls back at once (the Svelte store contract), then with the first result and after every change", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump", site: "north" });
  await outbox.put("notes", "b", { title: "Valve", site: "south" });
  const north = liveQuery(outbox, "notes", { where: { site: "north" } });
  const seen = [];
  const stop = north.subscribe((value) => seen.push(value));
  assert.equal(seen.length, 1, "called synchronously");
  assert.deepEqual(seen[0], { records: [], next: null, loading: true, error: null });
  const first = await until(north, (v) => !v.loading);
  assert.deepEqual(first.records.map((r) => r.recordId), ["a"]);
  await outbox.put("notes", "c", { title: "Hose", site: "north" });
  const second = await until(north, (v) => v.records.length === 2);
  assert.deepEqual(second.records.map((r) => r.recordId), ["a", "c"]);
  assert.equal(north.get(), second, "get() reads the current value");
  stop();
});

test("one live query for all subscribers, stopped when the last one leaves; the last value is kept", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump" });
  const all = liveQuery(outbox, "notes");
  const stopA = all.subscribe(() => {});
  const stopB = all.subscribe(() => {});
  assert.equal(outbox.watchCalls.length, 1);
  await until(all, (v) => !v.loading);
  stopA();
  assert.equal(outbox.activeWatches, 1);
  stopB();
  stopB(); // twice is harmless
  assert.equal(outbox.activeWatches, 0);
  // Nothing arrives after the last unsubscribe.
  const before = all.get();
  await outbox.put("notes", "b", { title: "Late" });
  await tick();
  await tick();
  assert.equal(all.get(), before);
  const again = [];
  const stopC = all.subscribe((v) => again.push(v));
  assert.equal(again[0], before, "a new subscriber starts from the last value");
  const fresh = await until(all, (v) => v.records.length === 2);
  assert.equal(fresh.loading, false);
  stopC();
});

test("the options are copied: changing the object afterwards changes nothing", async () => {
  const outbox = new FakeOutbox();
  const options = { where: { site: "north" }, limit: 5 };
  const stop = liveQuery(outbox, "notes", options).subscribe(() => {});
  options.where.site = "south";
  options.limit = 1;
  assert.deepEqual(outbox.watchCalls[0].options, { limit: 5, where: { site: "north" } });
  stop();
});

test("queryKey is equal for options equal by value, whatever the key order, and differs otherwise", () => {
  const a = queryKey({ where: { site: "north", $state: { in: ["queued", "failed"] } }, limit: 10, direction: undefined });
  const b = queryKey({ limit: 10, where: { $state: { in: ["queued", "failed"] }, site: "north" } });
  assert.equal(a, b);
  assert.notEqual(a, queryKey({ limit: 10, where: { $state: { in: ["failed", "queued"] }, site: "north" } }));
  assert.notEqual(a, queryKey({ limit: 11, where: { $state: { in: ["queued", "failed"] }, site: "north" } }));
  assert.equal(queryKey(undefined), queryKey({}));
});

test("a refused query becomes the store's error, with the message that says what to do", async () => {
  const outbox = new FakeOutbox();
  const store = liveQuery(outbox, "notes", { where: { priority: "high" } });
  const stop = store.subscribe(() => {});
  const value = store.get();
  assert.equal(value.loading, false);
  assert.match(value.error.message, /declare it in Outbox.open/);
  stop();
});

test("a failing live query keeps the records it had and reports the error; a later result clears it", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump" });
  const store = liveQuery(outbox, "notes");
  const stop = store.subscribe(() => {});
  await until(store, (v) => !v.loading);
  outbox.failWatches(new Error("The device's storage is not available."));
  const failed = await until(store, (v) => v.error !== null);
  assert.equal(failed.error.message, "The device's storage is not available.");
  assert.deepEqual(failed.records.map((r) => r.recordId), ["a"]);
  await outbox.put("notes", "b", { title: "Valve" });
  const back = await until(store, (v) => v.records.length === 2);
  assert.equal(back.error, null);
  stop();
});

test("bad arguments are refused at once with a clear error", () => {
  const outbox = new FakeOutbox();
  assert.throws(() => liveQuery(outbox, ""), /collection name/);
  assert.throws(() => liveQuery(outbox, "notes", "site = north"), /Query options must be an object/);
  assert.throws(() => liveRecord(outbox, "notes", 42), /record id/);
  assert.throws(() => liveQuery(outbox, "notes").subscribe(null), /subscribe needs a function/);
});

test("an outbox that is not open yet (null or undefined) gives loading stores that never call it", () => {
  for (const outbox of [null, undefined]) {
    const seen = [];
    liveQuery(outbox, "notes", { where: { site: "north" } }).subscribe((v) => seen.push(v))();
    liveRecord(outbox, "notes", "a").subscribe((v) => seen.push(v))();
    liveStatus(outbox).subscribe((v) => seen.push(v))();
    assert.deepEqual(seen, [
      { records: [], next: null, loading: true, error: null },
      { record: null, loading: true, error: null },
      { status: undefined, error: null },
    ]);
  }
});

test("liveRecord follows one record: loading, then the record, its changes, null once deleted; a null id is no record", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump" });
  await outbox.put("notes", "b", { title: "Valve" });
  const record = liveRecord(outbox, "notes", "a");
  const stop = record.subscribe(() => {});
  assert.equal(record.get().loading, true);
  assert.equal((await until(record, (v) => !v.loading)).record.fields.title, "Pump");
  assert.deepEqual(outbox.watchCalls[0].options, { limit: 1, where: { $id: "a" } });
  await outbox.put("notes", "a", { title: "Pump 3" });
  assert.equal((await until(record, (v) => v.record?.fields.title === "Pump 3")).record.state, "queued");
  await outbox.delete("notes", "a");
  await until(record, (v) => v.record === null);
  stop();
  assert.equal(outbox.activeWatches, 0);
  assert.deepEqual(liveRecord(outbox, "notes", null).get(), { record: null, loading: false, error: null });
});

test("liveStatus reads the status at start and after changes, coalescing a burst into at most two reads", async () => {
  const outbox = new FakeOutbox();
  const status = liveStatus(outbox);
  const stop = status.subscribe(() => {});
  assert.equal(status.get().status, undefined);
  assert.equal((await until(status, (v) => v.status)).status.message, "All changes saved");
  const readsBefore = outbox.statusReads;
  await Promise.all(Array.from({ length: 20 }, (_, i) => outbox.put("notes", `n${i}`, { title: `${i}` })));
  const after = await until(status, (v) => v.status?.pending === 20);
  assert.equal(after.status.message, "20 changes pending");
  await tick();
  assert.ok(outbox.statusReads - readsBefore <= 3, `a burst of 20 changes read the status ${outbox.statusReads - readsBefore} times`);
  stop();
  assert.equal(outbox.listeners.size, 0, "unsubscribed from the outbox");
});

test("liveStatus keeps the last status and reports a failed read; the next read clears it", async () => {
  const outbox = new FakeOutbox();
  const status = liveStatus(outbox);
  const stop = status.subscribe(() => {});
  await until(status, (v) => v.status);
  outbox.statusFailure = new Error("The device's storage is not available.");
  await outbox.put("notes", "a", { title: "Pump" });
  const failed = await until(status, (v) => v.error);
  assert.equal(failed.status.message, "All changes saved");
  outbox.statusFailure = null;
  await outbox.put("notes", "b", { title: "Valve" });
  const back = await until(status, (v) => v.status.pending === 2);
  assert.equal(back.error, null);
  stop();
});

test("liveStatus reads again when the browser goes online or offline", async (t) => {
  // Node's global scope is no EventTarget; a browser's window is.
  const events = new EventTarget();
  globalThis.addEventListener = events.addEventListener.bind(events);
  globalThis.removeEventListener = events.removeEventListener.bind(events);
  globalThis.dispatchEvent = events.dispatchEvent.bind(events);
  t.after(() => {
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
    delete globalThis.dispatchEvent;
  });
  const outbox = new FakeOutbox();
  const status = liveStatus(outbox);
  const stop = status.subscribe(() => {});
  await until(status, (v) => v.status);
  const reads = outbox.statusReads;
  globalThis.dispatchEvent(new Event("offline"));
  await tick();
  assert.equal(outbox.statusReads, reads + 1);
  stop();
  globalThis.dispatchEvent(new Event("online"));
  await tick();
  assert.equal(outbox.statusReads, reads + 1, "no reads after the last unsubscribe");
});
