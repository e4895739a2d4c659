// Files in record fields through the JavaScript API, in a real page against the
// real server: 20 MB saved offline are uploaded once online, intact by SHA-256
// and before the notes, with wasm memory flat; a file over the storage quota saves
// nothing; a file too large for the server fails its change in words.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { TOKEN, launchBrowser, serverRecord, startServer } from "./harness.mjs";

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** Loads the package in `page`, then runs `body(Outbox, serverUrl, token, arg)` there. */
async function inPage(page, body, arg = null) {
  return page.evaluate(
    async ([source, url, token, arg]) => {
      if (!globalThis.Outbox) {
        const module = await import("/pkg/outbox_sync.js");
        globalThis.wasm = await module.default();
        globalThis.Outbox = module.Outbox;
      }
      return new Function("Outbox", "url", "token", "arg", `return (${source})(Outbox, url, token, arg)`)(
        globalThis.Outbox, url, token, arg);
    },
    [body.toString(), server.url, TOKEN, arg],
  );
}

/** The bytes the page makes for file `n` of `size` bytes (the same in Node). */
function fileBytes(n, size) {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + n * 7 + (i >> 10)) & 0xff;
  return bytes;
}

async function serverFile(sha256) {
  const response = await fetch(`${server.url}/v1/blobs/${sha256}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, `the server holds ${sha256}`);
  return Buffer.from(await response.arrayBuffer());
}

test("files saved offline are uploaded once online, before their notes, intact by SHA-256, wasm memory flat", async () => {
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/index.html?token=${TOKEN}`);
    const sizes = [5 * 1024 * 1024 + 17, 5 * 1024 * 1024, 5 * 1024 * 1024 - 3, 5 * 1024 * 1024];
    await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
    const offline = await inPage(page, async (Outbox, url, token, sizes) => {
      const outbox = await Outbox.open("e2e-blobs-offline");
      await outbox.connect({ serverUrl: url, token });
      globalThis.memoryBefore = globalThis.wasm.memory.buffer.byteLength;
      const make = (n, size) => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i++) bytes[i] = (i * 31 + n * 7 + (i >> 10)) & 0xff;
        return new File([bytes], `photo-${n}.jpg`, { type: "image/jpeg" });
      };
      for (const [n, size] of sizes.entries()) await outbox.put("notes", `blob-e2e-${n}`, { title: `Photo ${n}`, photo: make(n, size) });
      const report = await outbox.syncNow();
      const status = await outbox.status();
      const photo = (await outbox.get("notes", "blob-e2e-0")).fields.photo;
      const stored = await photo.blob();
      outbox.close();
      return { report, status, photo: { sha256: photo.sha256, size: photo.size, type: photo.type, state: photo.state }, storedSize: stored.size };
    }, sizes);
    assert.equal(offline.report.synced, 0);
    assert.equal(offline.status.pending, 4);
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.equal(offline.status.uploadingBytes, total);
    assert.equal(offline.status.uploadedBytes, 0);
    assert.equal(offline.status.uploadMessage, "Sending 4 files… 0 %");
    assert.deepEqual(offline.photo, {
      sha256: createHash("sha256").update(fileBytes(0, sizes[0])).digest("hex"),
      size: sizes[0],
      type: "image/jpeg",
      state: "queued",
    });
    assert.equal(offline.storedSize, sizes[0]);

    await page.unroute("**/v1/**");
    const online = await inPage(page, async (Outbox) => {
      const outbox = await Outbox.open("e2e-blobs-offline");
      await outbox.retryNow();
      const report = await outbox.syncNow();
      const status = await outbox.status();
      outbox.close();
      const memoryGrowth = globalThis.wasm.memory.buffer.byteLength - globalThis.memoryBefore;
      return { report, status, memoryGrowth };
    });
    // 20 MB went through the outbox; the files never entered wasm memory.
    assert.ok(online.memoryGrowth < 4 * 1024 * 1024, `wasm memory grew by ${online.memoryGrowth} B`);
    assert.equal(online.report.synced, 4);
    assert.equal(online.report.filesSent, 4);
    assert.equal(online.report.uploadedBytes, total);
    assert.equal(online.status.uploadingBytes, 0);
    assert.equal(online.status.uploadMessage, null);
    for (const [n, size] of sizes.entries()) {
      const bytes = fileBytes(n, size);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      const record = await serverRecord(server, "notes", `blob-e2e-${n}`);
      assert.deepEqual(record.data.photo, { $blob: { sha256, size, type: "image/jpeg" } });
      assert.ok((await serverFile(sha256)).equals(bytes), `file ${n} arrived byte for byte`);
    }
  } finally {
    await browser.close();
  }
});

test("a file over the storage quota: quota_exceeded, and neither the note nor the file is stored", async () => {
  const profile = mkdtempSync(join(tmpdir(), "outbox-e2e-blob-quota-"));
  const browser = await launchBrowser({ serviceWorkers: "block", profile });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/index.html?token=${TOKEN}`);
    // A small note fits; a 20 MB video does not.
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: 4 * 1024 * 1024 });
    const result = await inPage(page, async (Outbox) => {
      const outbox = await Outbox.open("e2e-blobs-quota");
      await outbox.put("notes", "fits", { title: "Small" });
      let error = null;
      try {
        await outbox.put("notes", "too-big", { title: "Video", video: new Blob([new Uint8Array(20 * 1024 * 1024)], { type: "video/mp4" }) });
      } catch (e) {
        error = { name: e.name, code: e.code, message: e.message };
      }
      const changes = await outbox.pendingChanges();
      const record = await outbox.get("notes", "too-big");
      const status = await outbox.status();
      outbox.close();
      const files = await new Promise((resolve, reject) => {
        const request = indexedDB.open("e2e-blobs-quota");
        request.onsuccess = () => {
          const count = request.result.transaction("blobs").objectStore("blobs").count();
          count.onsuccess = () => { request.result.close(); resolve(count.result); };
          count.onerror = () => reject(count.error);
        };
        request.onerror = () => reject(request.error);
      });
      return { error, changes: changes.map((c) => c.recordId), record, uploadingBytes: status.uploadingBytes, files };
    });
    assert.equal(result.error?.code, "quota_exceeded", JSON.stringify(result.error));
    assert.match(result.error.message, /storage/);
    assert.deepEqual(result.changes, ["fits"], "only the note that fitted is pending");
    assert.equal(result.record, null, "the record was not saved");
    assert.equal(result.files, 0, "no file was stored");
    assert.equal(result.uploadingBytes, 0);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test("a file too large for the server: its change fails in words, with no Retry that cannot work", async () => {
  const small = await startServer(["--max-blob-bytes", "4096"]);
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${small.url}/index.html?token=${TOKEN}`);
    const result = await inPageAt(page, small.url, async (Outbox, url, token) => {
      const outbox = await Outbox.open("e2e-blobs-too-large");
      await outbox.connect({ serverUrl: url, token });
      await outbox.put("notes", "big-file", { title: "Video", video: new Blob([new Uint8Array(10_000)], { type: "video/mp4" }) });
      await outbox.put("notes", "plain", { title: "No file" });
      const report = await outbox.syncNow();
      const changes = await outbox.pendingChanges();
      const video = (await outbox.get("notes", "big-file")).fields.video.state;
      // Retrying cannot help: the change fails again at once.
      await outbox.retryNow();
      const again = await outbox.syncNow();
      const later = await outbox.pendingChanges();
      outbox.close();
      return { report, changes, video, again, later };
    });
    assert.equal(result.report.synced, 1, "the change without a file is sent");
    assert.equal(result.report.failed, 1);
    assert.equal(result.video, "failed");
    const [change] = result.changes;
    assert.equal(change.recordId, "big-file");
    assert.equal(change.state, "failed");
    assert.equal(change.canRetry, false);
    assert.match(change.lastError, /too large for the server/);
    assert.doesNotMatch(change.lastError, /413|blob|bytes/);
    assert.match(change.lastErrorDetail, /blob_too_large/);
    assert.deepEqual(result.later.map((c) => [c.recordId, c.state]), [["big-file", "failed"]]);
    assert.equal(await serverRecord(small, "notes", "big-file"), null);
  } finally {
    await browser.close();
    await small.stop();
  }
});

/** `inPage` against another server. */
async function inPageAt(page, url, body) {
  return page.evaluate(
    async ([source, url, token]) => {
      const module = await import("/pkg/outbox_sync.js");
      await module.default();
      return new Function("Outbox", "url", "token", `return (${source})(Outbox, url, token)`)(module.Outbox, url, token);
    },
    [body.toString(), url, TOKEN],
  );
}
