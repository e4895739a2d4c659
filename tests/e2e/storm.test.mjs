// Rough handling: the network toggled again and again during uploads, double
// taps and a retry storm, the page closed and the service worker stopped in the
// middle of a sync. At the end: no change lost, none applied twice.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  TOKEN, eventually, launchBrowser, openDemo, saveNote, serverChanges, serverRecord, startServer, useNoteId,
} from "./harness.mjs";

let server;

before(async () => {
  server = await startServer(["--enable-fault-injection"]);
});

after(async () => {
  await server?.stop();
});

/** The demo's outbox state, read through the package in the page. */
function outboxState(page) {
  return page.evaluate(async () => {
    const { Outbox } = await import("/pkg/outbox_sync.js");
    const outbox = await Outbox.open("outbox-sync-demo");
    const state = { status: await outbox.status(), metrics: await outbox.metrics(), notes: await outbox.list("notes") };
    outbox.close();
    return state;
  });
}

/** Each note's version on the server equals the version this device confirmed: nothing was applied behind its back. */
async function assertConfirmedOnce(page, ids) {
  // Everything confirmed (the status line can read "All changes saved" a moment
  // before the last confirmation of a burst is written).
  const notes = await eventually(async () => {
    const { notes: all } = await outboxState(page);
    return ids.every((id) => all.find((n) => n.recordId === id)?.state === "synced") && all;
  }, 30_000);
  for (const id of ids) {
    const local = notes.find((n) => n.recordId === id);
    const remote = await serverRecord(server, "notes", id);
    assert.ok(remote, `${id} reached the server`);
    assert.equal(local.state, "synced", id);
    assert.equal(local.version, remote.version, `${id}: confirmed at the server's version`);
  }
}

test("airplane mode toggled again and again during uploads loses nothing", async () => {
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await openDemo(browser, server);
    const ids = Array.from({ length: 12 }, (_, i) => `plane-${i}`);
    for (const [i, id] of ids.entries()) {
      await browser.context.setOffline(i % 2 === 0);
      await saveNote(page, id, `Reading ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    for (let i = 0; i < 6; i += 1) {
      await browser.context.setOffline(i % 2 === 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await browser.context.setOffline(false);
    await page.getByText("All changes saved").waitFor({ timeout: 30_000 });
    await assertConfirmedOnce(page, ids);
    const titles = Object.fromEntries((await serverChanges(server)).map((c) => [c.record_id, c.data?.title]));
    ids.forEach((id, i) => assert.equal(titles[id], `Reading ${i}`));
  } finally {
    await browser.close();
  }
});

test("double taps and a retry storm on the same change send each change once", async () => {
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await openDemo(browser, server);
    await useNoteId(page, "storm-1");
    await page.getByLabel("Title").fill("Tapped twice");
    const save = page.getByRole("button", { name: "Save" });
    await Promise.all([save.click(), save.click(), save.click()]);
    const retry = page.getByRole("button", { name: "Retry now" });
    await Promise.all(Array.from({ length: 10 }, () => retry.click()));
    await assertConfirmedOnce(page, ["storm-1"]);
    // The run saves its metrics after the changes are confirmed: wait for them.
    const metrics = await eventually(async () => {
      const { metrics } = await outboxState(page);
      return metrics.synced >= 3 ? metrics : null;
    });
    assert.equal(metrics.synced, 3, "three taps are three changes, each confirmed once");
  } finally {
    await browser.close();
  }
});

test("the page closed and the service worker stopped in the middle of a sync, then reopened", async () => {
  const browser = await launchBrowser();
  try {
    let page = await openDemo(browser, server);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    // A slow server keeps the upload in flight while the app goes away.
    await fetch(`${server.url}/v1/_faults`, { method: "POST", body: JSON.stringify({ latency_ms: 1500 }) });
    await saveNote(page, "killed-1", "Sent while closing");
    await page.getByText(/1 change pending/).waitFor();
    await page.close();
    const blank = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(blank);
    await cdp.send("ServiceWorker.enable");
    await cdp.send("ServiceWorker.stopAllWorkers");
    await fetch(`${server.url}/v1/_faults`, { method: "DELETE" });
    page = await openDemo(browser, server);
    await eventually(() => serverRecord(server, "notes", "killed-1"));
    await page.getByText("All changes saved").waitFor();
    await assertConfirmedOnce(page, ["killed-1"]);
    await blank.close();
  } finally {
    await fetch(`${server.url}/v1/_faults`, { method: "DELETE" });
    await browser.close();
  }
});
