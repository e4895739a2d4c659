// The demo page (without its service worker) on the real server in headless Chromium: notes are saved on the
// device first, survive a reload while the server is out of reach, reach the
// server exactly once when it is back, and bad input is refused clearly.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TOKEN, assertAppliedOnce, launchBrowser, screenshot, serverRecord, startServer } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  // The page alone: its service worker would sync behind the routes these tests set.
  browser = await launchBrowser({ serviceWorkers: "block" });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openDemo() {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/?token=${TOKEN}`);
  await page.getByText("All changes saved").waitFor();
  return page;
}

async function saveNote(page, id, title) {
  await page.getByLabel("Note id").fill(id);
  await page.getByLabel("Title").fill(title);
  await page.getByRole("button", { name: "Save" }).click();
}

test("a note saved while the server is unreachable stays on the device, then reaches the server once", async () => {
  const page = await openDemo();
  // The sync API fails at the network level; the app itself still loads.
  await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
  await saveNote(page, "pump-3", "Pump 3 leaks");
  await page.getByText(/1 change pending — saved on this device\. No internet connection/).waitFor();
  // The list follows the status line; the change is queued, or being retried at this very moment.
  await page.locator("#pending").getByText("put notes/pump-3").waitFor();
  assert.match(await page.locator("#pending").innerText(), /(queued|syncing)\s*put notes\/pump-3/);
  await screenshot(page, "demo-offline-pending");

  await page.reload();
  await page.getByText(/1 change pending — saved on this device/).waitFor();
  await page.getByLabel("Note id").fill("pump-3");
  await page.getByRole("button", { name: "Load" }).click();
  // Loading is asynchronous: wait for the field to be filled.
  await page.waitForFunction((title) => document.querySelector("[name=title]").value === title, "Pump 3 leaks");
  assert.equal(await serverRecord(server, "notes", "pump-3"), null, "nothing reached the server yet");

  await page.unroute("**/v1/**");
  await page.getByRole("button", { name: "Retry now" }).click();
  await page.getByText("All changes saved").waitFor();
  await screenshot(page, "demo-all-saved");
  const record = await serverRecord(server, "notes", "pump-3");
  assert.equal(record.data.title, "Pump 3 leaks");
  await assertAppliedOnce(server, "notes", { "pump-3": 1 });
  await page.close();
});

test("airplane mode: saved offline, delivered by the online event", async () => {
  const page = await openDemo();
  await browser.context.setOffline(true);
  await saveNote(page, "valve-7", "Valve 7 stuck");
  await page.getByText(/1 change pending — saved on this device/).waitFor();
  await browser.context.setOffline(false);
  await page.getByText("All changes saved").waitFor();
  assert.equal((await serverRecord(server, "notes", "valve-7")).data.title, "Valve 7 stuck");
  await assertAppliedOnce(server, "notes", { "valve-7": 1 });
  await page.close();
});

test("bad input is refused with an OutboxError and stores nothing", async () => {
  const page = await openDemo();
  const outcome = await page.evaluate(async () => {
    const { Outbox } = await import("/pkg/outbox_sync.js");
    const outbox = await Outbox.open("outbox-sync-demo");
    const before = (await outbox.pendingChanges()).length;
    const errors = [];
    for (const attempt of [
      () => outbox.put("", "n1", { title: "x" }),
      () => outbox.put("notes", "n1", ["not", "an", "object"]),
      () => outbox.put("notes", 42, { title: "x" }),
      () => outbox.patch("notes", "n1", {}),
      () => outbox.retryChange("not-a-uuid"),
      () => outbox.connect({ serverUrl: "ftp://nope" }),
      () => outbox.resolveConflict("0190a5b2-7c4e-7d3a-9f00-000000000000", "maybe"),
      () => outbox.connect({ serverUrl: "/", batchSize: 0 }),
    ]) {
      try {
        await attempt();
        errors.push(null);
      } catch (error) {
        errors.push({ isError: error instanceof Error, name: error.name, code: error.code, message: error.message });
      }
    }
    const afterCount = (await outbox.pendingChanges()).length;
    outbox.close();
    return { before, after: afterCount, errors };
  });
  assert.equal(outcome.after, outcome.before, "nothing was stored");
  assert.deepEqual(outcome.errors.map((e) => e?.code), [
    "invalid_change", "invalid_change", "invalid_argument", "invalid_change", "invalid_argument",
    "invalid_argument", "invalid_argument", "invalid_argument",
  ]);
  for (const error of outcome.errors) {
    assert.equal(error.isError, true);
    assert.equal(error.name, "OutboxError");
    assert.ok(error.message.length > 20, `a sentence, not a code: ${error.message}`);
  }
  assert.match(outcome.errors[0].message, /collection name is empty/);
  assert.match(outcome.errors[1].message, /needs an object of fields/);
  assert.match(outcome.errors[2].message, /recordId must be a string/);
  assert.match(outcome.errors[5].message, /serverUrl "ftp:\/\/nope" is not an address/);
  assert.match(outcome.errors[7].message, /batchSize must be a whole number from 1 to 1000, not 0/);
  await page.close();
});
