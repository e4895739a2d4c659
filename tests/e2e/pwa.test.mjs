// The demo as a user meets it: installable, a conflict between two devices in
// plain words, a 10 MB photo taken offline, an expired session, a full disk.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  TOKEN, developerWordsShown, eventually, launchBrowser, openDemo, saveNote, screenshot, serverChanges, serverRecord,
  startServer, useNoteId,
} from "./harness.mjs";

let server;

before(async () => {
  server = await startServer(["--collection", "notes=strict"]);
});

after(async () => {
  await server?.stop();
});

test("the app is installable: the browser reports no installability errors", async () => {
  const browser = await launchBrowser();
  try {
    const page = await openDemo(browser, server);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const cdp = await browser.context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
    assert.deepEqual(installabilityErrors, []);
    const manifest = await (await fetch(`${server.url}/manifest.webmanifest`)).json();
    assert.equal(manifest.display, "standalone");
    assert.deepEqual(manifest.icons.map((i) => i.sizes).sort(), ["192x192", "512x512", "512x512"]);
    await screenshot(page, "pwa-installable");
    // A phone-sized screen: nothing wider than the screen, every control reachable.
    await page.setViewportSize({ width: 360, height: 780 });
    await page.getByRole("heading", { name: "Field notes" }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), "no sideways scrolling");
    const save = await page.getByRole("button", { name: "Save" }).boundingBox();
    assert.ok(save.height >= 44, "touch targets at least 44 px high");
    await screenshot(page, "pwa-phone");
  } finally {
    await browser.close();
  }
});

/**
 * Pauses (`false`) or resumes (`true`) syncing in the demo on `page`. Paused, it
 * also waits until a sync the demo was running has ended (its drainer lock is free).
 */
function tabletSyncing(page, on) {
  return page.evaluate(async (resume) => {
    const { Outbox } = await import("/pkg/outbox_sync.js");
    const outbox = await Outbox.open("outbox-sync-demo");
    await (resume ? outbox.resume() : outbox.pause());
    outbox.close();
    if (!resume) await navigator.locks.request("outbox-sync:drain:outbox-sync-demo", async () => {});
  }, on);
}

/** Waits until the server holds `title` for note `id`. */
function onServer(id, title) {
  return eventually(async () => (await serverRecord(server, "notes", id))?.data.title === title);
}

test("two devices edit one note: the conflict dialog offers each choice, and each resolves", async () => {
  const phone = await launchBrowser({ serviceWorkers: "block" });
  const tablet = await launchBrowser({ serviceWorkers: "block" });
  try {
    const a = await openDemo(phone, server);
    const b = await openDemo(tablet, server);
    for (const [id, choice] of [["c-mine", "Keep your version"], ["c-theirs", "Use the other device's version"], ["c-merge", "Keep what you picked"]]) {
      await saveNote(a, id, "Pump inspected", "ok");
      await onServer(id, "Pump inspected");
      // The tablet syncs (and so pulls the note).
      await eventually(async () => {
        await b.getByRole("button", { name: "Retry now" }).click();
        return (await b.getByRole("button", { name: "Pump inspected" }).count()) > 0;
      });
      // The tablet stops syncing, and a sync it was still running ends, before the
      // phone's second change: so the tablet's change is surely made against the
      // first version (a pull in between would make it a plain update).
      await tabletSyncing(b, false);
      // Both change it; the phone is first.
      await saveNote(a, id, "Pump replaced", "ok");
      await onServer(id, "Pump replaced");
      await useNoteId(b, id);
      await b.getByLabel("Title").fill("Pump inspected");
      // For "use theirs", the tablet's details match the phone's: only the title differs.
      const sameDetails = choice === "Use the other device's version";
      await b.getByLabel("Details").fill(sameDetails ? "ok" : "leaking at the seal");
      await b.getByRole("button", { name: "Save" }).click();
      await b.getByText(/1 change pending/).waitFor();
      await tabletSyncing(b, true);
      await b.getByText(/1 conflict to resolve/).waitFor();
      await b.getByRole("button", { name: "Choose a version" }).click();
      const dialog = b.getByRole("dialog", { name: "This note was changed on another device" });
      await dialog.waitFor();
      await dialog.getByRole("columnheader", { name: "Your version" }).waitFor();
      await dialog.getByRole("columnheader", { name: "Other device's version" }).waitFor();
      assert.deepEqual(await developerWordsShown(dialog), [], "the dialog speaks to people");
      // The form's labels, and only what differs.
      assert.deepEqual(await dialog.locator("tbody th").allInnerTexts(), sameDetails ? ["Title"] : ["Title", "Details"]);
      if (choice === "Keep what you picked") {
        // Their title, my details.
        await dialog.getByRole("row", { name: /^Title/ }).getByRole("radio").nth(1).check();
        await dialog.getByRole("row", { name: /^Details/ }).getByRole("radio").nth(0).check();
        await screenshot(b, "pwa-conflict-dialog");
      }
      await dialog.getByRole("button", { name: choice }).click();
      await b.getByText("All changes saved").waitFor();
      const expected = {
        "Keep your version": { title: "Pump inspected", body: "leaking at the seal" },
        "Use the other device's version": { title: "Pump replaced", body: "ok" },
        "Keep what you picked": { title: "Pump replaced", body: "leaking at the seal" },
      }[choice];
      const record = await eventually(async () => {
        const r = await serverRecord(server, "notes", id);
        return r?.data.title === expected.title && r.data.body === expected.body && r;
      });
      assert.deepEqual(record.data, expected, choice);
      // The tablet shows the chosen version too.
      const local = await b.evaluate(async (noteId) => {
        const { Outbox } = await import("/pkg/outbox_sync.js");
        const outbox = await Outbox.open("outbox-sync-demo");
        const record = await outbox.get("notes", noteId);
        outbox.close();
        return record.fields;
      }, id);
      assert.deepEqual(local, expected, `the tablet's copy after "${choice}"`);
    }
  } finally {
    await phone.close();
    await tablet.close();
  }
});

test("a 10 MB photo taken offline is kept on the device and delivered intact", async () => {
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await openDemo(browser, server);
    await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
    const photo = Buffer.alloc(10 * 1024 * 1024, 7);
    await page.getByLabel("Photo").setInputFiles({ name: "pump.jpg", mimeType: "image/jpeg", buffer: photo });
    await saveNote(page, "photo-1", "Pump 3 seal", "see photo");
    await page.getByText(/1 change pending — saved on this device\. The server cannot be reached/).waitFor();
    await page.getByRole("button", { name: /Pump 3 seal/ }).waitFor();
    await page.unroute("**/v1/**");
    await page.getByRole("button", { name: "Retry now" }).click();
    await page.getByText("All changes saved").waitFor({ timeout: 60_000 });
    // The note holds a reference to the photo, uploaded as a file before the note.
    const record = await serverRecord(server, "notes", "photo-1");
    const sha256 = createHash("sha256").update(photo).digest("hex");
    assert.deepEqual(record.data.photo, { $blob: { sha256, size: photo.length, type: "image/jpeg" } });
    const file = await fetch(`${server.url}/v1/blobs/${sha256}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(file.status, 200);
    assert.ok(Buffer.from(await file.arrayBuffer()).equals(photo), "the photo arrived byte for byte");
    await page.close();
  } finally {
    await browser.close();
  }
});

test("an expired session: the app asks to sign in, keeps the change, then sends it", async () => {
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/?token=expired-token`);
    await saveNote(page, "auth-2", "Written before signing in");
    const signIn = page.getByRole("button", { name: "Sign in" });
    await signIn.waitFor();
    await page.getByText(/1 change pending — saved on this device\. Sign in again/).waitFor();
    await screenshot(page, "pwa-session-expired");
    await page.getByLabel("Access token").fill(TOKEN);
    await signIn.click();
    await page.getByText("All changes saved").waitFor();
    assert.equal(await signIn.isVisible(), false);
    assert.equal((await serverRecord(server, "notes", "auth-2")).data.title, "Written before signing in");
  } finally {
    await browser.close();
  }
});

test("a full disk: a clear message, and nothing is shown or reported as saved", async () => {
  const profile = mkdtempSync(join(tmpdir(), "outbox-e2e-full-disk-"));
  // First the app is used normally on this device.
  const first = await launchBrowser({ serviceWorkers: "block", profile });
  await openDemo(first, server);
  await first.close();
  // Then the device has no storage left for the app (a quota of one byte).
  const browser = await launchBrowser({ serviceWorkers: "block", profile });
  try {
    const page = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: 1 });
    await page.goto(`${server.url}/?token=${TOKEN}`);
    await page.getByRole("heading", { name: "Field notes" }).waitFor();
    const before = (await serverChanges(server)).length;
    await saveNote(page, "quota-1", "Will not fit", "x".repeat(100_000));
    await page.getByText(/out of storage space/).waitFor();
    await screenshot(page, "pwa-storage-full");
    assert.match(await page.getByRole("alert").innerText(), /so the change was not saved\. Free some space and try again\.$/);
    assert.equal(await page.getByRole("button", { name: "Will not fit" }).count(), 0, "not listed as a note");
    assert.doesNotMatch(await page.locator("#status").innerText(), /pending/, "nothing new is pending");
    assert.equal((await serverChanges(server)).length, before, "nothing reached the server");
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
