// The device clock a day ahead or a day behind: changes are still delivered,
// in order, and never wait longer than the longest backoff because of a clock.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TOKEN, launchBrowser, saveNote, serverRecord, startServer } from "./harness.mjs";

const DAY = 24 * 60 * 60 * 1000;
let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

for (const [name, offset] of [["a day ahead", DAY], ["a day behind", -DAY]]) {
  test(`the device clock ${name}, then corrected: the change is delivered at once`, async () => {
    const browser = await launchBrowser({ serviceWorkers: "block" });
    try {
      const page = await browser.context.newPage();
      // The device's wall clock is off by `offset`; timers run in real time, as
      // on a real device (Playwright's fake clock would shift timers too).
      await page.addInitScript((initial) => {
        const realNow = Date.now.bind(Date);
        globalThis.__clockOffset = initial;
        Date.now = () => realNow() + globalThis.__clockOffset;
      }, offset);
      await page.goto(`${server.url}/?token=${TOKEN}`);
      await page.getByText("All changes saved").waitFor();
      // Offline while the wrong clock sets the backoff deadline.
      await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
      const id = `clock-${offset > 0 ? "ahead" : "behind"}`;
      await saveNote(page, id, `Written ${name}`);
      await page.getByText(/1 change pending — saved on this device\. The server cannot be reached/).waitFor();
      // The user fixes the clock and the network comes back.
      await page.evaluate(() => {
        globalThis.__clockOffset = 0;
      });
      await page.unroute("**/v1/**");
      await page.getByText("All changes saved").waitFor({ timeout: 20_000 });
      assert.equal((await serverRecord(server, "notes", id)).data.title, `Written ${name}`);
    } finally {
      await browser.close();
    }
  });
}
