// The demo with its service worker: Background Sync drains the outbox with no
// page open, and the app loads and keeps its data with no network.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, afterEach, before, test } from "node:test";
import {
  TOKEN, assertAppliedOnce, closePagesLeftOpen, eventually, launchBrowser, openNote, saveNote, screenshot, serverChanges,
  serverHistory, serverRecord, setFaults, startServer, waitForHeld,
} from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer(["--enable-fault-injection"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(() => closePagesLeftOpen(browser));

/** The demo, once its service worker controls it. */
async function openControlledDemo() {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/?token=${TOKEN}`);
  await page.getByText("All changes saved").waitFor();
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  return page;
}

test("a sync event fired through the DevTools protocol drains the queue with no page open", async () => {
  const page = await openControlledDemo();
  // Offline for the page and its service worker alike (a context route also
  // catches the worker's requests): nothing can reach the server yet.
  await browser.context.route("**/v1/**", (route) => route.abort("internetdisconnected"));
  await page.evaluate(async () => {
    const { default: init, Outbox } = await import("/pkg/outbox_sync.js");
    await init();
    const outbox = await Outbox.open("outbox-sync-demo");
    await outbox.put("notes", "sw-1", { title: "Sent by the service worker" });
    outbox.close();
  });
  await page.getByText(/1 change pending — saved on this device\. The server cannot be reached/).waitFor();
  await page.close();
  assert.equal(await serverRecord(server, "notes", "sw-1"), null);
  // Back online: the browser's `sync` event (fired here through DevTools)
  // sends what waited, with no page open.
  await browser.context.unroute("**/v1/**");

  const blank = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(blank);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  const registrationId = await eventually(() => registrations.get(`${server.url}/`));
  await cdp.send("ServiceWorker.dispatchSyncEvent", {
    origin: server.url,
    registrationId,
    tag: "outbox-sync",
    lastChance: false,
  });
  const record = await eventually(() => serverRecord(server, "notes", "sw-1"));
  assert.equal(record.data.title, "Sent by the service worker");
  await assertAppliedOnce(server, "notes", { "sw-1": 1 });
  await blank.close();
});

/** Fires a Background Sync `sync` event at the demo's service worker through DevTools. */
async function dispatchSync(cdp, registrationId) {
  await cdp.send("ServiceWorker.dispatchSyncEvent", {
    origin: server.url, registrationId, tag: "outbox-sync", lastChance: false,
  });
}

test("an answer lost on its way to the service worker: the change is sent again and applied once", async () => {
  const page = await openControlledDemo();
  await browser.context.route("**/v1/**", (route) => route.abort("internetdisconnected"));
  await page.evaluate(async () => {
    const { default: init, Outbox } = await import("/pkg/outbox_sync.js");
    await init();
    const outbox = await Outbox.open("outbox-sync-demo");
    await outbox.put("notes", "sw-2", { title: "Answer lost" });
    outbox.close();
  });
  await page.getByText(/1 change pending/).waitFor();
  await page.close();
  await browser.context.unroute("**/v1/**");
  // The server applies the worker's upload, then the connection breaks
  // before the answer arrives.
  await setFaults(server, { drop_next: 1, drop_mode: "close" });

  const blank = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(blank);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  const registrationId = await eventually(() => registrations.get(`${server.url}/`));
  await dispatchSync(cdp, registrationId);
  await eventually(async () => (await serverHistory(server, "notes", "sw-2")).length >= 1);
  // The worker never heard back; the browser fires `sync` again, and the
  // worker sends the change again until it is confirmed. A page of the app's
  // origin that runs none of the app reads the outbox.
  await blank.goto(`${server.url}/manifest.webmanifest`);
  const pending = () => blank.evaluate(async () => {
    const { default: init, Outbox } = await import("/pkg/outbox_sync.js");
    await init();
    const outbox = await Outbox.open("outbox-sync-demo");
    const status = await outbox.status();
    outbox.close();
    return status.pending;
  });
  await eventually(async () => {
    if ((await pending()) === 0) return true;
    await dispatchSync(cdp, registrationId).catch(() => {});
    return false;
  }, 30_000);
  await assertAppliedOnce(server, "notes", { "sw-2": 1 });
  await setFaults(server, {});
  await blank.close();
});

test("offline, the app still loads with its local data; back online, the change is delivered once", async () => {
  const page = await openControlledDemo();
  await browser.context.setOffline(true);
  await saveNote(page, "offline-1", "Written in the basement");
  await page.getByText(/change pending — saved on this device/).waitFor();

  await page.reload();
  await page.getByRole("heading", { name: "Field notes" }).waitFor();
  await openNote(page, "Written in the basement");
  await screenshot(page, "demo-offline-reload");

  await browser.context.setOffline(false);
  // The page was reloaded in the middle of its last attempt: the next drain,
  // holding the drainer lock, takes that attempt's lease back at once.
  const record = await eventually(() => serverRecord(server, "notes", "offline-1"));
  assert.equal(record.data.title, "Written in the basement");
  await page.getByText("All changes saved").waitFor();
  await assertAppliedOnce(server, "notes", { "offline-1": 1 });
  await page.close();
});

test("another device's change, pulled by the service worker, appears in the open page's live list", async () => {
  const page = await openControlledDemo();
  const cdp = await browser.context.newCDPSession(page);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  const registrationId = await eventually(() => registrations.get(`${server.url}/`));
  // Another device sends a note (its own outbox, in another page).
  const other = await browser.context.newPage();
  await other.goto(`${server.url}/manifest.webmanifest`);
  const title = `From the other device ${Date.now() % 100000}`;
  await other.evaluate(async ([url, token, title]) => {
    const { default: init, Outbox } = await import("/pkg/outbox_sync.js");
    await init();
    const device = await Outbox.open("sw-other-device");
    await device.connect({ serverUrl: url, token });
    await device.put("notes", "sw-pulled-1", { title });
    await device.syncNow();
  }, [server.url, TOKEN, title]);
  await other.close();
  assert.equal((await serverRecord(server, "notes", "sw-pulled-1")).data.title, title);
  // From here the page itself asks the server nothing: the worker pulls.
  const pagePulls = [];
  page.on("request", (request) => {
    if (request.url().includes("/v1/changes") && !request.serviceWorker()) pagePulls.push(request.url());
  });
  await dispatchSync(cdp, registrationId);
  await page.locator("#notes").getByRole("button", { name: title, exact: true }).waitFor();
  assert.deepEqual(pagePulls, [], "the page's list followed the worker's pull");
  await page.close();
});

test("a photo saved offline is uploaded by the service worker, which resumes after being stopped mid-upload", async () => {
  const page = await openControlledDemo();
  await browser.context.route("**/v1/**", (route) => route.abort("internetdisconnected"));
  const size = 3 * 1024 * 1024 + 17;
  await page.evaluate(async (size) => {
    const { default: init, Outbox } = await import("/pkg/outbox_sync.js");
    await init();
    const outbox = await Outbox.open("outbox-sync-demo");
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 13 + (i >> 12)) & 0xff;
    await outbox.put("notes", "sw-photo", { title: "Photo by the worker", photo: new File([bytes], "p.jpg", { type: "image/jpeg" }) });
    outbox.close();
  }, size);
  await page.getByText(/1 change pending/).waitFor();
  await page.close();
  await browser.context.unroute("**/v1/**");
  // The first chunk is stored; its answer is held while the worker is stopped.
  await setFaults(server, { hold_next: 1 });

  const blank = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(blank);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  const registrationId = await eventually(() => registrations.get(`${server.url}/`));
  await dispatchSync(cdp, registrationId);
  const { total } = await waitForHeld(server, 1);
  await cdp.send("ServiceWorker.stopAllWorkers");
  await setFaults(server, {});
  assert.equal(await serverRecord(server, "notes", "sw-photo"), null, "the note waits for its photo");

  await eventually(async () => {
    if (await serverRecord(server, "notes", "sw-photo")) return true;
    await dispatchSync(cdp, registrationId).catch(() => {});
    return false;
  }, 30_000);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 13 + (i >> 12)) & 0xff;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const record = await serverRecord(server, "notes", "sw-photo");
  assert.deepEqual(record.data.photo, { $blob: { sha256, size, type: "image/jpeg" } });
  const file = await fetch(`${server.url}/v1/blobs/${sha256}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.ok(Buffer.from(await file.arrayBuffer()).equals(bytes), "the photo arrived byte for byte");
  assert.ok(total >= 1);
  await assertAppliedOnce(server, "notes", { "sw-photo": 1 });
  await blank.close();
});
