// The demo page on the real server in headless Chromium: notes are saved on the
// device, survive a reload, and bad input is refused with a clear error.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, screenshot, startServer } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a saved note is pending on the device and survives a reload", async () => {
  const page = await browser.context.newPage();
  await page.goto(server.url);
  await page.getByText("Nothing waiting to be sent").waitFor();
  await page.getByLabel("Note id").fill("pump-3");
  await page.getByLabel("Title").fill("Pump 3 leaks");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("1 change pending — saved on this device").waitFor();
  assert.match(await page.locator("#pending").innerText(), /queued\s*put notes\/pump-3/);
  await screenshot(page, "demo-pending");

  await page.reload();
  await page.getByText("1 change pending — saved on this device").waitFor();
  await page.getByLabel("Note id").fill("pump-3");
  await page.getByRole("button", { name: "Load" }).click();
  assert.equal(await page.getByLabel("Title").inputValue(), "Pump 3 leaks");
  await page.close();
});

test("bad input is refused with an OutboxError and stores nothing", async () => {
  const page = await browser.context.newPage();
  await page.goto(server.url);
  await page.getByText(/pending|Nothing waiting/).first().waitFor();
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
  ]);
  for (const error of outcome.errors) {
    assert.equal(error.isError, true);
    assert.equal(error.name, "OutboxError");
    assert.ok(error.message.length > 20, `a sentence, not a code: ${error.message}`);
  }
  assert.match(outcome.errors[0].message, /collection name is empty/);
  assert.match(outcome.errors[1].message, /needs an object of fields/);
  assert.match(outcome.errors[2].message, /recordId must be a string/);
  await page.close();
});
