// What differs where Background Sync is missing (Firefox, and WebKit, the
// Safari engine), run in each of them by firefox.test.mjs and webkit.test.mjs:
// requestSync() falls back to a message to the service worker, else the page
// syncs; waiting changes go out on `online`, when the page is shown again and
// at the next foreground session; two tabs at once send each change once; the
// service worker syncs on `activate`. Neither engine can take a page offline
// for its service worker too, so "offline" here is the server failing every
// request (fault injection) or answering nothing at all.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ENGINES, launch } from "./engines.mjs";
import { ROOT, TOKEN, eventually, serverRecord, startServer } from "./harness.mjs";

/** A page under the demo's scope that does nothing by itself (no auto sync, no service worker of its own). */
const BARE_PAGE = "<!doctype html><meta charset=utf-8><title>bare</title><p>This page syncs nothing by itself.</p>\n";

/** The server down: every API request fails, and the client is told to wait five minutes (its longest wait). */
const DOWN = { fail_rate: 1, fail_status: 503, retry_after_s: 300 };

/** Sets the server's faults (`null`: none). */
async function faults(server, settings) {
  const response = await fetch(`${server.url}/v1/_faults`, settings
    ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(settings) }
    : { method: "DELETE" });
  assert.ok(response.ok, `faults: HTTP ${response.status}`);
}

/**
 * What the server's log says it did with each event: `{ applied, duplicate }`
 * counts by event id, for the events of `recordIds`.
 */
function serverOutcomes(server, recordIds) {
  const outcomes = new Map();
  for (const line of server.output().split("\n")) {
    if (!line.startsWith("{")) continue;
    const { fields } = JSON.parse(line);
    if (fields?.message !== "event" || !recordIds.includes(fields.record_id)) continue;
    const counts = outcomes.get(fields.event_id) ?? { record: fields.record_id, applied: 0, duplicate: 0 };
    if (fields.status === "applied") counts.applied += 1;
    if (fields.status === "duplicate") counts.duplicate += 1;
    outcomes.set(fields.event_id, counts);
  }
  return outcomes;
}

/** Each record of `recordIds` got exactly one event, applied exactly once; resends are returned. */
function assertAppliedOnce(server, recordIds) {
  const outcomes = [...serverOutcomes(server, recordIds).values()];
  for (const id of recordIds) {
    const events = outcomes.filter((o) => o.record === id);
    assert.equal(events.length, 1, `${id}: one event reached the server (${JSON.stringify(events)})`);
    assert.equal(events[0].applied, 1, `${id}: applied exactly once (${JSON.stringify(events)})`);
  }
  return outcomes.reduce((sum, o) => sum + o.duplicate, 0);
}

/** Nothing reaches the server for `ms`: proof that no one else would have sent it. */
async function assertNotDelivered(server, recordId, ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  assert.equal(await serverRecord(server, "notes", recordId), null, `${recordId} was not sent before its trigger`);
}

// --- run inside the page ---------------------------------------------------

/** Waits until the demo's status line matches `pattern`; resolves to it. */
function statusIs(pattern) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const poll = () => {
      const text = document.getElementById("status")?.textContent ?? "";
      if (new RegExp(pattern).test(text)) resolve(text);
      else if (Date.now() > deadline) reject(new Error(`the status still reads ${JSON.stringify(text)}, not /${pattern}/`));
      else setTimeout(poll, 100);
    };
    poll();
  });
}

/**
 * Saves a note through the demo's form. Nobody types an id in the demo: it keeps
 * the id of the note being edited in `#note-form[data-note-id]`, set once the app
 * has started (so the save is the app's, not a plain form submission); the test
 * sets it to know the note on the server.
 */
async function saveNote(id, title) {
  const form = document.getElementById("note-form");
  while (!form.dataset.noteId) await new Promise((resolve) => setTimeout(resolve, 50));
  form.dataset.noteId = id;
  form.elements.title.value = title;
  form.requestSubmit();
}

/** Waits until the demo's service worker controls this page. */
async function controlled() {
  await navigator.serviceWorker.ready;
  while (!navigator.serviceWorker.controller) await new Promise((resolve) => setTimeout(resolve, 50));
  return true;
}

/** Waits until `recordId`'s change has failed an attempt; resolves to it (`lastError`, `nextAttemptAt`). */
async function waitingChange(recordId) {
  const module = await import("/pkg/outbox_sync.js");
  await module.default();
  const outbox = await module.Outbox.open("outbox-sync-demo");
  try {
    for (let i = 0; i < 200; i += 1) {
      const change = (await outbox.pendingChanges(100)).find((c) => c.recordId === recordId);
      if (change?.state === "queued" && change.lastError && change.nextAttemptAt) return change;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${recordId} never failed an attempt`);
  } finally {
    outbox.close();
  }
}

// --- the tests ---------------------------------------------------------------

/** Registers the fallback tests for `engine` ("firefox" or "webkit"). */
export function fallbackTests(engine) {
  const name = ENGINES[engine];
  let server;
  let www;
  let browser;
  let demo;
  let bare;

  before(async () => {
    // The demo as it ships, and one more page in its scope that does nothing by itself.
    www = mkdtempSync(join(tmpdir(), "outbox-e2e-www-"));
    cpSync(join(ROOT, "www"), www, { recursive: true });
    writeFileSync(join(www, "bare.html"), BARE_PAGE);
    server = await startServer(["--enable-fault-injection", "--log-format", "json"], { www });
    demo = `${server.url}/?token=${TOKEN}`;
    bare = `${server.url}/bare.html`;
  });

  after(async () => {
    await server?.stop();
    if (www) rmSync(www, { recursive: true, force: true });
  });

  describe(`${name}: where Background Sync is missing`, () => {
    before(async () => {
      browser = await launch(engine);
    });
    after(async () => {
      await browser?.close();
    });

    test(`${name} has no SyncManager: requestSync() from a page without a service worker syncs in the page`, async () => {
      const page = await browser.open(bare);
      const via = await page.evaluate(async (url, token) => {
        const module = await import("/pkg/outbox_sync.js");
        await module.default();
        const outbox = await module.Outbox.open("outbox-sync-bare");
        await outbox.connect({ serverUrl: url, token });
        await outbox.put("notes", "fallback-page-1", { title: "Sent by the page" });
        const via = await outbox.requestSync();
        outbox.close();
        return { via, syncManager: "SyncManager" in self, controller: navigator.serviceWorker.controller !== null };
      }, server.url, TOKEN);
      assert.deepEqual(via, { via: "page", syncManager: false, controller: false });
      // requestSync() resolved after the page's sync: the change is there already.
      assert.ok(await serverRecord(server, "notes", "fallback-page-1"));
      assertAppliedOnce(server, ["fallback-page-1"]);
      await page.close();
    });

    test(`${name}: requestSync() in a page the service worker controls messages it, and the worker syncs`, async () => {
      const page = await browser.open(demo);
      await page.evaluate(controlled);
      await page.evaluate(statusIs, "All changes saved");
      // A page of the same scope that only saves: nobody syncs until asked.
      // WebKit keeps the demo in its back-forward cache meanwhile, where it
      // must not hold a transaction open (docs/engines.md).
      await page.goto(bare);
      assert.equal(await page.evaluate(controlled), true);
      await page.evaluate(async () => {
        const module = await import("/pkg/outbox_sync.js");
        await module.default();
        const outbox = await module.Outbox.open("outbox-sync-demo");
        await outbox.put("notes", "fallback-message-1", { title: "Sent by the service worker" });
        outbox.close();
      });
      await assertNotDelivered(server, "fallback-message-1", 1500);
      const via = await page.evaluate(async () => {
        const module = await import("/pkg/outbox_sync.js");
        await module.default();
        const outbox = await module.Outbox.open("outbox-sync-demo");
        const via = await outbox.requestSync();
        outbox.close();
        return via;
      });
      assert.equal(via, "message", "no Background Sync: the service worker was messaged");
      const record = await eventually(() => serverRecord(server, "notes", "fallback-message-1"));
      assert.equal(record.data.title, "Sent by the service worker");
      assertAppliedOnce(server, ["fallback-message-1"]);
      await page.close();
    });

    test(`${name}: a change saved while the server was down goes out on \`online\`, not five minutes later`, async () => {
      const page = await browser.open(demo);
      await page.evaluate(statusIs, "All changes saved");
      await faults(server, DOWN);
      try {
        await page.evaluate(saveNote, "fallback-online-1", "Written with no signal");
        const change = await page.evaluate(waitingChange, "fallback-online-1");
        assert.ok(change.nextAttemptAt - Date.now() > 60_000, "the next attempt is minutes away");
      } finally {
        await faults(server, null);
      }
      await assertNotDelivered(server, "fallback-online-1", 1500);
      // The browser says the network is back (no engine here can cut a
      // service worker's network; the page's `online` event is what it fires).
      await page.evaluate(() => { window.dispatchEvent(new Event("online")); });
      await eventually(() => serverRecord(server, "notes", "fallback-online-1"));
      await page.evaluate(statusIs, "All changes saved");
      assertAppliedOnce(server, ["fallback-online-1"]);
      await page.close();
    });

    test(`${name}: a change saved while the server was down goes out when the page is shown again`, async () => {
      const page = await browser.open(demo);
      await page.evaluate(statusIs, "All changes saved");
      await faults(server, DOWN);
      try {
        await page.evaluate(saveNote, "fallback-shown-1", "Written in the lift");
        await page.evaluate(waitingChange, "fallback-shown-1");
      } finally {
        await faults(server, null);
      }
      // The person switches to another tab and back, with no `online` event
      // (iOS suspends a page in the background and may never send it one).
      await page.evaluate(() => {
        window.seen = [];
        document.addEventListener("visibilitychange", () => window.seen.push(document.visibilityState));
        window.addEventListener("focus", () => window.seen.push("focus"));
      });
      const other = await browser.open();
      await other.show();
      await assertNotDelivered(server, "fallback-shown-1", 1500);
      await page.show();
      await other.close();
      await page.show();
      await eventually(() => serverRecord(server, "notes", "fallback-shown-1"));
      // The browser itself told the page it is looked at again: Firefox
      // hides and shows it; WebKit under Xvfb calls every page hidden, and
      // focuses the window (docs/engines.md).
      const seen = await page.evaluate(() => window.seen);
      assert.ok(seen.includes(engine === "firefox" ? "visible" : "focus"), `the page saw ${seen}`);
      await page.evaluate(statusIs, "All changes saved");
      assertAppliedOnce(server, ["fallback-shown-1"]);
      await page.close();
    });

    if (engine === "webkit") {
      // Firefox reloads the demo on the way back instead (docs/engines.md):
      // a fresh load that keeps the change's wait.
      test(`${name}: a change saved while the server was down goes out when the page comes back from the back-forward cache`, async () => {
        const page = await browser.open(demo);
        await page.evaluate(statusIs, "All changes saved");
        await faults(server, DOWN);
        try {
          await page.evaluate(saveNote, "fallback-back-1", "Written before going back");
          await page.evaluate(waitingChange, "fallback-back-1");
        } finally {
          await faults(server, null);
        }
        await page.evaluate(() => {
          window.addEventListener("pageshow", (event) => { window.restoredFromCache = event.persisted; });
        });
        await page.goto("about:blank");
        await assertNotDelivered(server, "fallback-back-1", 1500);
        await page.back();
        // The same page, its script state kept: restored, not loaded again.
        assert.equal(await page.evaluate(() => window.restoredFromCache ?? false), true);
        await eventually(() => serverRecord(server, "notes", "fallback-back-1"));
        assertAppliedOnce(server, ["fallback-back-1"]);
        await page.close();
      });
    }

    test(`${name}: a change saved with the server down and the app closed goes out at the next foreground session`, async () => {
      let page = await browser.open(demo);
      await page.evaluate(statusIs, "All changes saved");
      // Down, with short waits, as after a while offline the backoff has run out.
      await faults(server, { ...DOWN, retry_after_s: 1 });
      let change;
      try {
        await page.evaluate(saveNote, "fallback-session-1", "Written on site");
        change = await page.evaluate(waitingChange, "fallback-session-1");
        await page.close();
      } finally {
        await faults(server, null);
      }
      // The app is closed: no Background Sync here, so nothing sends it,
      // though the server is back and the change is due.
      await browser.restart();
      const wait = Math.max(0, change.nextAttemptAt - Date.now());
      await assertNotDelivered(server, "fallback-session-1", wait + 2000);
      page = await browser.open(demo);
      await eventually(() => serverRecord(server, "notes", "fallback-session-1"));
      await page.evaluate(statusIs, "All changes saved");
      assertAppliedOnce(server, ["fallback-session-1"]);
      await page.close();
    });

    test(`${name}: two tabs saving at once send each change exactly once`, async () => {
      const [a, b] = [await browser.open(demo), await browser.open(demo)];
      for (const tab of [a, b]) await tab.evaluate(statusIs, "All changes saved");
      // A slow server keeps each sync in flight while the other tab wants one too.
      await faults(server, { latency_ms: 300 });
      const ids = { a: [], b: [] };
      try {
        const burst = (tab, prefix) =>
          tab.evaluate(async (prefix) => {
            const module = await import("/pkg/outbox_sync.js");
            await module.default();
            const outbox = await module.Outbox.open("outbox-sync-demo");
            const ids = [];
            for (let i = 0; i < 5; i += 1) {
              ids.push(`${prefix}-${i}`);
              await outbox.put("notes", `${prefix}-${i}`, { title: `${prefix} ${i}` });
            }
            outbox.close();
            return ids;
          }, prefix);
        // Under WebDriver one tab runs a command at a time: tab b's burst starts while tab a's syncs run.
        [ids.a, ids.b] = await Promise.all([burst(a, "fallback-tab-a"), burst(b, "fallback-tab-b")]);
        const all = [...ids.a, ...ids.b];
        for (const id of all) await eventually(() => serverRecord(server, "notes", id), 30_000);
        for (const tab of [a, b]) await tab.evaluate(statusIs, "All changes saved");
        const resent = assertAppliedOnce(server, all);
        assert.equal(resent, 0, "no change was sent twice (one drainer across tabs)");
      } finally {
        await faults(server, null);
      }
      await a.close();
      await b.close();
    });
  });

  describe(`${name}: the service worker's own sync`, () => {
    before(async () => {
      browser = await launch(engine);
    });
    after(async () => {
      await browser?.close();
    });

    test(`${name}: a service worker syncs what waits when it activates`, async () => {
      const page = await browser.open(bare);
      // Saved by a page that never syncs, before any service worker exists.
      await page.evaluate(async (url, token) => {
        const module = await import("/pkg/outbox_sync.js");
        await module.default();
        const outbox = await module.Outbox.open("outbox-sync-demo");
        await outbox.connect({ serverUrl: url, token });
        await outbox.put("notes", "fallback-activate-1", { title: "Sent on activate" });
        outbox.close();
      }, server.url, TOKEN);
      await assertNotDelivered(server, "fallback-activate-1", 1500);
      const state = await page.evaluate(async () => {
        const registration = await navigator.serviceWorker.register("/sw.js", { type: "module" });
        await navigator.serviceWorker.ready;
        return registration.active?.state;
      });
      assert.match(state, /^activat/);
      const record = await eventually(() => serverRecord(server, "notes", "fallback-activate-1"));
      assert.equal(record.data.title, "Sent on activate");
      assertAppliedOnce(server, ["fallback-activate-1"]);
      await page.close();
    });
  });
}
