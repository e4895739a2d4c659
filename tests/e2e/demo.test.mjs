// The demo page (without its service worker) on the real server in headless Chromium: notes are saved on the
// device first, survive a reload while the server is out of reach, reach the
// server exactly once when it is back, and bad input is refused clearly.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import {
  TOKEN, assertAppliedOnce, closePagesLeftOpen, developerWordsShown, editedNoteId, eventually, launchBrowser, openNote, saveNote,
  screenshot, serverChanges, serverRecord, startServer,
} from "./harness.mjs";

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

afterEach(() => closePagesLeftOpen(browser));

async function openDemo() {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/?token=${TOKEN}`);
  await page.getByText("All changes saved").waitFor();
  return page;
}

test("a note saved while the server is unreachable stays on the device, then reaches the server once", async () => {
  const page = await openDemo();
  // The sync API fails at the network level; the app itself still loads.
  await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
  await saveNote(page, "pump-3", "Pump 3 leaks");
  // Online but the server is down: not "No internet connection".
  await page.getByText(/1 change pending — saved on this device\. The server cannot be reached/).waitFor();
  // The list follows the status line, with the note's title in plain words.
  await page.locator("#pending").getByText("Saved: “Pump 3 leaks”").waitFor();
  assert.match(await page.locator("#pending").innerText(), /(Waiting to send|Sending…)\s*Saved: “Pump 3 leaks”/);
  assert.deepEqual(await developerWordsShown(page), []);
  await screenshot(page, "demo-offline-pending");

  await page.reload();
  await page.getByText(/1 change pending — saved on this device/).waitFor();
  await openNote(page, "Pump 3 leaks");
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
  await page.getByText(/1 change pending — saved on this device\. No internet connection$/).waitFor();
  // While the browser says it is offline, auto-sync makes no attempt: it waits for `online`.
  await page.waitForTimeout(3_000);
  const waiting = await page.evaluate(async () => {
    const { Outbox } = await import("/pkg/outbox_sync.js");
    const outbox = await Outbox.open("outbox-sync-demo");
    const [change] = await outbox.pendingChanges();
    const metrics = await outbox.metrics();
    outbox.close();
    return { state: change.state, attempts: change.attempts, runs: metrics.attempts };
  });
  assert.deepEqual([waiting.state, waiting.attempts], ["queued", 0], "no attempt while offline");
  assert.doesNotMatch(await page.locator("#status").innerText(), /retrying/);
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

test("two devices each write a note with no id typed: two notes, neither overwrites the other", async () => {
  const phone = await launchBrowser({ serviceWorkers: "block" });
  const tablet = await launchBrowser({ serviceWorkers: "block" });
  try {
    const a = await openDemoOn(phone);
    const b = await openDemoOn(tablet);
    assert.equal(await a.getByLabel("Note id").count(), 0, "nobody types an id");
    const first = await editedNoteId(a);
    const second = await editedNoteId(b);
    assert.notEqual(first, second, "each device starts a fresh note");
    await saveNote(a, null, "Pump 9 hums", "at the seal");
    await saveNote(b, null, "Valve 8 drips", "will not turn");
    await eventually(async () => (await serverRecord(server, "notes", first)) && (await serverRecord(server, "notes", second)));
    assert.equal((await serverRecord(server, "notes", first)).data.title, "Pump 9 hums");
    assert.equal((await serverRecord(server, "notes", second)).data.title, "Valve 8 drips");
    // Each device gets the other's note, and keeps its own.
    await eventually(async () => {
      await a.getByRole("button", { name: "Retry now" }).click();
      return (await a.locator("#notes").getByRole("button", { name: "Valve 8 drips", exact: true }).count()) === 1;
    });
    await a.locator("#notes").getByRole("button", { name: "Pump 9 hums", exact: true }).waitFor();
    // "New note" starts another fresh one; saving it leaves the first alone.
    await a.getByRole("button", { name: "New note" }).click();
    const third = await editedNoteId(a);
    assert.ok(![first, second].includes(third));
    await saveNote(a, null, "Hatch 2 rusty");
    await eventually(async () => (await serverRecord(server, "notes", third))?.data.title === "Hatch 2 rusty");
    assert.equal((await serverRecord(server, "notes", first)).data.title, "Pump 9 hums");
  } finally {
    await phone.close();
    await tablet.close();
  }
});

test("opening another note clears the photo input: a photo goes with its own note only", async () => {
  const page = await openDemo();
  await saveNote(page, null, "Gauge 4 cracked");
  await page.getByText("All changes saved").waitFor();
  const plain = await editedNoteId(page);
  await page.getByRole("button", { name: "New note" }).click();
  await page.getByLabel("Photo").setInputFiles({ name: "gauge.jpg", mimeType: "image/jpeg", buffer: Buffer.alloc(64, 1) });
  await openNote(page, "Gauge 4 cracked");
  assert.equal(await page.getByLabel("Photo").evaluate((input) => input.files.length), 0);
  await page.getByLabel("Details").fill("glass cracked");
  await page.getByRole("button", { name: "Save" }).click();
  await eventually(async () => (await serverRecord(server, "notes", plain))?.data.body === "glass cracked");
  assert.equal((await serverRecord(server, "notes", plain)).data.photo, undefined, "no photo from elsewhere");
  await page.close();
});

test("a note's photo shows as a thumbnail in the list and with the note when it is opened", async () => {
  const page = await openDemo();
  // A 1×1 PNG: a picture the browser can draw.
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
  await page.getByRole("button", { name: "New note" }).click();
  await page.getByLabel("Photo").setInputFiles({ name: "valve.png", mimeType: "image/png", buffer: png });
  // The chosen photo shows before it is saved.
  await page.waitForFunction(() => { const p = document.querySelector("#photo-preview"); return !p.hidden && p.naturalWidth === 1; });
  await saveNote(page, null, "Valve 9 photo");
  await page.getByRole("button", { name: "New note" }).click();
  await saveNote(page, null, "Valve 9 no photo");
  await page.getByText("All changes saved").waitFor();
  const drawn = (title) => page.locator("#notes li", { hasText: title }).locator("img.thumb")
    .evaluateAll((images) => images.map((img) => ({ drawn: img.complete && img.naturalWidth === 1, src: img.src.slice(0, 5) })));
  // Thumbnails are read as they come into view. The live list may still be
  // redrawn (the notes' states settle), so scroll to the row as it is now.
  await eventually(async () => {
    await page.locator("#notes li", { hasText: "Valve 9 photo" }).scrollIntoViewIfNeeded({ timeout: 1000 }).catch(() => {});
    return (await drawn("Valve 9 photo"))[0]?.drawn === true;
  });
  assert.deepEqual(await drawn("Valve 9 photo"), [{ drawn: true, src: "blob:" }]);
  assert.deepEqual(await drawn("Valve 9 no photo"), [], "no thumbnail without a photo");
  await openNote(page, "Valve 9 no photo");
  assert.equal(await page.locator("#photo-preview").isHidden(), true);
  await openNote(page, "Valve 9 photo");
  await page.waitForFunction(() => { const p = document.querySelector("#photo-preview"); return !p.hidden && p.naturalWidth === 1; });
  await page.close();
});

test("a change too large for the server: words for people, no Retry that cannot work, the detail for developers", async () => {
  const small = await startServer(["--max-body-bytes", "4096"]);
  const browser2 = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await browser2.context.newPage();
    await page.goto(`${small.url}/?token=${TOKEN}`);
    await page.getByText("All changes saved").waitFor();
    assert.equal(await page.locator("#harness").isVisible(), false, "the test harness is for developers only");
    await saveNote(page, "big-1", "Long report", "x".repeat(20_000));
    await page.getByText(/1 change failed/).waitFor();
    const pending = page.locator("#pending");
    await pending.getByText(/too large to send/).waitFor();
    assert.equal(await pending.getByRole("button", { name: "Retry" }).count(), 0, "no Retry that can never work");
    await pending.getByRole("button", { name: "Discard" }).waitFor();
    assert.deepEqual(await developerWordsShown(page), []);
    const [change] = await page.evaluate(async () => {
      const { Outbox } = await import("/pkg/outbox_sync.js");
      const outbox = await Outbox.open("outbox-sync-demo");
      const changes = await outbox.pendingChanges();
      outbox.close();
      return changes;
    });
    assert.equal(change.canRetry, false);
    assert.match(change.lastErrorDetail, /HTTP 413/, "the detail keeps the technical cause");
    await screenshot(page, "demo-too-large");
    // The developer switch shows the harness.
    await page.goto(`${small.url}/?token=${TOKEN}&dev=1`);
    await page.locator("#harness").waitFor();
  } finally {
    await browser2.close();
    await small.stop();
  }
});

async function openDemoOn(b) {
  const page = await b.context.newPage();
  await page.goto(`${server.url}/?token=${TOKEN}`);
  await page.getByText("All changes saved").waitFor();
  return page;
}

test("the notes list shows the newest change first, filters what is not sent or needs the person, and searches titles", async () => {
  const page = await openDemo();
  // Other tests' notes are in this database too: these titles start with a mark of their own.
  const mark = `Lot ${Date.now() % 100000}`;
  const titles = async () => (await page.locator("#notes .open").allInnerTexts()).map((t) => t.trim());
  const shows = (expected) => eventually(async () => JSON.stringify(await titles()) === JSON.stringify(expected));
  const search = (text) => page.getByLabel("Find a note").fill(text);
  await saveNote(page, "list-1", `${mark} boiler room`);
  await page.getByRole("button", { name: "New note" }).click();
  await saveNote(page, "list-2", `${mark} pump 4 noisy`);
  await eventually(async () => (await serverRecord(server, "notes", "list-2")) !== null);
  // The server goes out of reach: the next note is not sent.
  await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
  await page.getByRole("button", { name: "New note" }).click();
  await saveNote(page, "list-3", `${mark} pump 5 leaks`);
  await page.locator("#pending").getByText(`Saved: “${mark} pump 5 leaks”`).waitFor();
  await eventually(async () => JSON.stringify((await titles()).slice(0, 3))
    === JSON.stringify([`${mark} pump 5 leaks`, `${mark} pump 4 noisy`, `${mark} boiler room`]));

  await search(mark);
  await page.getByLabel("Not sent").check();
  await shows([`${mark} pump 5 leaks`]);
  await page.getByLabel("Needs you").check();
  await page.getByText(`No note title starts with “${mark}”.`).waitFor();
  assert.deepEqual(await titles(), []);

  await page.getByLabel("All").check();
  await search(`${mark} pump`);
  await shows([`${mark} pump 4 noisy`, `${mark} pump 5 leaks`]);
  await search(`${mark} valve`);
  await page.getByText(`No note title starts with “${mark} valve”.`).waitFor();

  // Back online, the list follows by itself: the unsent note leaves "Not sent".
  await search(mark);
  await page.getByLabel("Not sent").check();
  await shows([`${mark} pump 5 leaks`]);
  await page.unroute("**/v1/**");
  await page.getByRole("button", { name: "Retry now" }).click();
  await page.getByText(`No note title starts with “${mark}”.`).waitFor();
  assert.deepEqual(await developerWordsShown(page), []);
  await screenshot(page, "demo-notes-filter");
  await page.close();
});
