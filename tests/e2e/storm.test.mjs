// Rough handling: the network toggled again and again during uploads, double
// taps and a retry storm, the page closed and the service worker stopped in the
// middle of a sync. At the end: no change lost, none applied twice, as the
// server's audit trail shows. "During an upload" is made sure of on the server
// side: the fault `hold_next` holds a committed write's answer, the test waits
// until the server holds one (the request is in flight), then strikes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  TOKEN, assertAppliedOnce, eventually, heldAnswers, launchBrowser, openDemo, releaseHeld, saveNote,
  serverChanges, serverRecord, setFaults, startServer, useNoteId, waitForHeld,
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
    const { total: heldBefore } = await heldAnswers(server);
    for (let round = 0; round < ids.length / 2; round += 1) {
      // Online: an upload starts; the server commits it and holds the answer.
      await setFaults(server, { hold_next: 1, drop_next: 1, drop_mode: "close" });
      await saveNote(page, ids[2 * round], `Reading ${2 * round}`);
      const held = await waitForHeld(server, heldBefore + round + 1);
      assert.equal(held.held, 1, "the upload is in flight when the network goes");
      // Airplane mode while it is in flight: its answer never arrives (the
      // connection breaks), so the device must send it again, and the server
      // must not apply it again.
      await browser.context.setOffline(true);
      await releaseHeld(server);
      await saveNote(page, ids[2 * round + 1], `Reading ${2 * round + 1}`);
      await page.getByText(/change(s)? pending — saved on this device/).waitFor();
      await browser.context.setOffline(false);
    }
    assert.equal((await heldAnswers(server)).total, heldBefore + ids.length / 2, "every cut landed mid-upload");
    await page.getByText("All changes saved").waitFor({ timeout: 30_000 });
    await assertConfirmedOnce(page, ids);
    await assertAppliedOnce(server, "notes", Object.fromEntries(ids.map((id) => [id, 1])));
    const titles = Object.fromEntries((await serverChanges(server)).map((c) => [c.record_id, c.data?.title]));
    ids.forEach((id, i) => assert.equal(titles[id], `Reading ${i}`));
  } finally {
    await setFaults(server, {});
    await releaseHeld(server);
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
    // And the server applied three events, none of them twice.
    await assertAppliedOnce(server, "notes", { "storm-1": 3 });
  } finally {
    await browser.close();
  }
});

test("the page closed and the service worker stopped in the middle of a sync, then reopened", async () => {
  const browser = await launchBrowser();
  try {
    let page = await openDemo(browser, server);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    // The server commits the upload and holds its answer: the app goes away
    // while the request is surely in flight.
    const { total: heldBefore } = await heldAnswers(server);
    await setFaults(server, { hold_next: 1 });
    await saveNote(page, "killed-1", "Sent while closing");
    await page.getByText(/1 change pending/).waitFor();
    const held = await waitForHeld(server, heldBefore + 1);
    assert.equal(held.held, 1, "the upload is in flight when the page closes");
    await page.close();
    const blank = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(blank);
    await cdp.send("ServiceWorker.enable");
    await cdp.send("ServiceWorker.stopAllWorkers");
    // Resets the faults and lets the held answer go, to nobody.
    await fetch(`${server.url}/v1/_faults`, { method: "DELETE" });
    page = await openDemo(browser, server);
    await eventually(() => serverRecord(server, "notes", "killed-1"));
    await page.getByText("All changes saved").waitFor();
    await assertConfirmedOnce(page, ["killed-1"]);
    await assertAppliedOnce(server, "notes", { "killed-1": 1 });
    await blank.close();
  } finally {
    await fetch(`${server.url}/v1/_faults`, { method: "DELETE" });
    await browser.close();
  }
});
