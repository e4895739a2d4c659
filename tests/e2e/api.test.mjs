// The JavaScript API in a real page against the real server (no service
// worker): pause and resume, expired credentials, status and metrics,
// requestSync without a service worker, and a conflict between two devices.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TOKEN, launchBrowser, serverRecord, startServer } from "./harness.mjs";

let server;
let browser;
let page;

before(async () => {
  server = await startServer(["--collection", "tasks=strict"]);
  browser = await launchBrowser({ serviceWorkers: "block" });
  page = await browser.context.newPage();
  // Any page of the origin will do; the API is used directly.
  await page.goto(`${server.url}/index.html?token=${TOKEN}`);
  await page.evaluate(async () => {
    const module = await import("/pkg/outbox_sync.js");
    await module.default();
    globalThis.Outbox = module.Outbox;
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs `body(Outbox, serverUrl, token)` in the page. */
function inPage(body) {
  return page.evaluate(
    ([source, url, token]) => new Function("Outbox", "url", "token", `return (${source})(Outbox, url, token)`)(globalThis.Outbox, url, token),
    [body.toString(), server.url, TOKEN],
  );
}

test("pause holds changes on the device; resume sends them and the metrics count them", async () => {
  const result = await inPage(async (Outbox, url, token) => {
    const outbox = await Outbox.open("api-pause");
    await outbox.connect({ serverUrl: url, token });
    await outbox.pause();
    await outbox.put("notes", "paused-1", { title: "held" });
    const whilePaused = await outbox.syncNow();
    const statusPaused = await outbox.status();
    await outbox.resume();
    const resumed = await outbox.syncNow();
    return { whilePaused, statusPaused, resumed, status: await outbox.status(), metrics: await outbox.metrics() };
  });
  assert.deepEqual([result.whilePaused.ran, result.whilePaused.paused], [false, true]);
  assert.equal(result.statusPaused.paused, true);
  assert.equal(result.statusPaused.pending, 1);
  assert.equal(result.resumed.synced, 1);
  assert.equal(result.status.paused, false);
  assert.equal(result.status.pending, 0);
  assert.equal(typeof result.status.lastSyncedAt, "number");
  assert.equal(result.metrics.synced, 1);
  assert.equal(result.metrics.queueLength, 0);
  assert.equal(typeof result.metrics.timeToSyncP50Ms, "number");
  assert.equal((await serverRecord(server, "notes", "paused-1")).data.title, "held");
});

test("expired credentials pause sync with a clear message until a new token comes", async () => {
  const result = await inPage(async (Outbox, url, token) => {
    const outbox = await Outbox.open("api-auth");
    await outbox.connect({ serverUrl: url, token: "expired" });
    await outbox.put("notes", "auth-1", { title: "after sign-in" });
    const refused = await outbox.syncNow();
    const asked = await outbox.status();
    await outbox.setCredentials(token);
    const cleared = await outbox.status();
    const delivered = await outbox.syncNow();
    return { refused, asked, cleared, delivered, metrics: await outbox.metrics() };
  });
  assert.equal(result.refused.halt.kind, "auth");
  assert.equal(result.asked.authRequired, true);
  assert.match(result.asked.lastError, /Sign in again/);
  assert.equal(result.asked.pending, 1, "nothing lost");
  assert.equal(result.cleared.authRequired, false);
  assert.equal(result.delivered.synced, 1);
  assert.equal(result.metrics.failuresByEndpoint.push, 1);
  assert.equal((await serverRecord(server, "notes", "auth-1")).data.title, "after sign-in");
});

test("requestSync without a service worker syncs in the page", async () => {
  const via = await inPage(async (Outbox, url, token) => {
    const outbox = await Outbox.open("api-request");
    await outbox.connect({ serverUrl: url, token });
    await outbox.put("notes", "request-1", { title: "via the page" });
    return outbox.requestSync();
  });
  assert.equal(via, "page");
  assert.equal((await serverRecord(server, "notes", "request-1")).data.title, "via the page");
});

test("two devices edit one strict record: the conflict shows both versions and a field-by-field merge resolves it", async () => {
  const result = await inPage(async (Outbox, url, token) => {
    const a = await Outbox.open("api-device-a");
    const b = await Outbox.open("api-device-b");
    for (const device of [a, b]) await device.connect({ serverUrl: url, token });
    await a.put("tasks", "t1", { title: "Inspect pump", owner: "ana" });
    await a.syncNow();
    await b.syncNow(); // b pulls t1 at its first version
    await a.patch("tasks", "t1", { title: "Inspect pump 3" });
    await a.syncNow();
    await b.patch("tasks", "t1", { owner: "bo" }); // made against the older version
    const clash = await b.syncNow();
    const [conflict] = await b.conflicts();
    const status = await b.status();
    const merged = { ...conflict.theirs, owner: "bo" };
    await b.resolveConflict(conflict.eventId, "merge", merged);
    const resolved = await b.syncNow();
    await a.syncNow();
    return { clash, conflict, status, resolved, left: await b.conflicts(), seenByA: await a.get("tasks", "t1") };
  });
  assert.equal(result.clash.conflicts, 1);
  assert.equal(result.status.conflicts, 1);
  assert.deepEqual(result.conflict.mine, { title: "Inspect pump", owner: "bo" });
  assert.deepEqual(result.conflict.theirs, { title: "Inspect pump 3", owner: "ana" });
  assert.equal(result.resolved.synced, 1);
  assert.deepEqual(result.left, []);
  assert.deepEqual(result.seenByA.fields, { title: "Inspect pump 3", owner: "bo" });
  assert.deepEqual((await serverRecord(server, "tasks", "t1")).data, { title: "Inspect pump 3", owner: "bo" });
});

test("signing out with unsent changes warns and keeps them; asked to discard, the user's data is gone", async () => {
  const result = await inPage(async (Outbox, url, token) => {
    const outbox = await Outbox.open("api-user-ana");
    await outbox.connect({ serverUrl: url, token });
    await outbox.pause();
    await outbox.put("notes", "signout-1", { title: "unsent" });
    let refusal = null;
    try {
      await outbox.signOut();
    } catch (error) {
      refusal = { name: error.name, code: error.code, message: error.message };
    }
    const kept = (await outbox.pendingChanges()).length;
    await outbox.signOut({ discardPending: true });
    const names = (await indexedDB.databases()).map((d) => d.name);
    const reopened = await Outbox.open("api-user-ana");
    const after = { pending: (await reopened.pendingChanges()).length, record: await reopened.get("notes", "signout-1") };
    let connected = true;
    try {
      await reopened.syncNow();
    } catch (error) {
      connected = error.code !== "not_connected";
    }
    return { refusal, kept, deleted: !names.includes("api-user-ana"), after, connected };
  });
  assert.equal(result.refusal.code, "pending_changes");
  assert.equal(result.refusal.name, "OutboxError");
  assert.match(result.refusal.message, /1 change has not reached the server yet, so nothing was deleted/);
  assert.equal(result.kept, 1);
  assert.equal(result.deleted, true);
  assert.deepEqual(result.after, { pending: 0, record: null });
  assert.equal(result.connected, false, "the token went with the database");
  assert.equal(await serverRecord(server, "notes", "signout-1"), null);
});

test("Outbox.open takes a durability and a retention, and refuses bad ones with a sentence", async () => {
  const result = await inPage(async (Outbox, url, token) => {
    const errors = [];
    for (const options of [{ durability: "fast" }, { syncedRetentionMs: -1 }, { syncedRetentionMs: 1.5 }, "relaxed"]) {
      try {
        (await Outbox.open("api-open-bad", options)).close();
        errors.push(null);
      } catch (error) {
        errors.push({ name: error.name, code: error.code, message: error.message });
      }
    }
    const relaxed = await Outbox.open("api-open-relaxed", { durability: "relaxed", syncedRetentionMs: 0 });
    await relaxed.connect({ serverUrl: url, token });
    await relaxed.put("notes", "relaxed-1", { title: "quick" });
    const report = await relaxed.syncNow();
    const status = await relaxed.status();
    relaxed.close();
    return { errors, report, status };
  });
  assert.deepEqual(result.errors.map((e) => e?.code), ["invalid_argument", "invalid_argument", "invalid_argument", "invalid_argument"]);
  assert.match(result.errors[0].message, /durability must be "strict" or "relaxed", not "fast"/);
  assert.match(result.errors[1].message, /syncedRetentionMs must be a whole number of milliseconds/);
  assert.match(result.errors[3].message, /takes its options as an object/);
  assert.equal(result.report.synced, 1);
  assert.equal(result.status.pending, 0);
  assert.equal((await serverRecord(server, "notes", "relaxed-1")).data.title, "quick");
});
