// The files "done when" of issue 13, end to end in headless Chromium: a 50 MB
// video and ten 5 MB photos saved offline; the upload starts in the page, the
// page goes into airplane mode (DevTools network emulation) mid-file, the
// service worker carries on and is stopped mid-file, then the page resumes and
// finishes. The server's log shows no chunk sent twice (apart from at most the
// one interrupted per file), every file is intact on the server by SHA-256,
// another device downloads one on demand, and wasm memory stays flat. Then:
// photos made here leave the device once synced past the cap (fileCacheBytes).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, afterEach, before, test } from "node:test";
import { TOKEN, closePagesLeftOpen, eventually, launchBrowser, serverRecord, startServer } from "./harness.mjs";

const MB = 1024 * 1024;
/** The files: one 50 MB video, then ten 5 MB photos (sizes not all chunk-aligned). */
const FILES = [
  { id: "video", name: "inspection.mp4", type: "video/mp4", size: 50 * MB + 5 },
  ...Array.from({ length: 10 }, (_, n) => ({ id: `photo-${n}`, name: `photo-${n}.jpg`, type: "image/jpeg", size: 5 * MB - n })),
];
const TOTAL = FILES.reduce((sum, f) => sum + f.size, 0);

let server;
let browser;

before(async () => {
  // JSON logs: one object a line, so the test can read every chunk the server took.
  server = await startServer(["--log-format", "json"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(() => closePagesLeftOpen(browser));

/**
 * Every chunk PUT the server answered, from its log: `blob chunk` (written),
 * `blob chunk skipped: already complete` and `blob chunk refused` (offset or
 * size mismatch), each with the user, file, offset and length.
 */
function chunkLog() {
  return server.output().split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line).fields ?? {})
    .filter((fields) => typeof fields.message === "string" && fields.message.startsWith("blob chunk"))
    .map(({ message, user, sha256, offset, length }) => ({ message, user, sha256, offset, length }));
}

/** How many chunks the server has written so far. */
const chunksWritten = () => chunkLog().filter((c) => c.message === "blob chunk").length;

/** Waits until the server has written at least `n` chunks (progress, not time). */
const untilWritten = (n, ms = 120_000) => eventually(() => chunksWritten() >= n, ms);

/** Runs `body(arg)` in `page`, where `globalThis.Outbox` and `globalThis.wasm` are the package. */
async function inPage(page, body, arg = null) {
  return page.evaluate(async ([source, arg]) => {
    if (!globalThis.Outbox) {
      const module = await import("/pkg/outbox_sync.js");
      globalThis.wasm = await module.default();
      globalThis.Outbox = module.Outbox;
    }
    return new Function("arg", `return (${source})(arg)`)(arg);
  }, [body.toString(), arg]);
}

/** The demo's service worker registration, through DevTools. */
async function workerRegistration(cdp) {
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  return eventually(() => registrations.get(`${server.url}/`));
}

/** Airplane mode for the page alone (the service worker's fetches are not cut by it). */
async function setPageOffline(cdp, offline) {
  await cdp.send("Network.emulateNetworkConditions", {
    offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
  });
}

test("a 50 MB video and ten 5 MB photos saved offline survive airplane mode and a stopped service worker mid-upload: no chunk sent twice, all intact, downloaded on another device, wasm memory flat", async () => {
  // The demo registers its service worker and connects the outbox to the server.
  const demo = await browser.context.newPage();
  await demo.goto(`${server.url}/?token=${TOKEN}`);
  await demo.getByText("All changes saved").waitFor();
  await demo.evaluate(() => navigator.serviceWorker.ready);
  await demo.close();

  // A page of the app's origin that runs none of the app: the test drives its outbox.
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/manifest.webmanifest`);
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send("Network.enable");
  const registrationId = await workerRegistration(cdp);

  // Offline: 100 MB of files saved, each hashed in the page apart from the library.
  await setPageOffline(cdp, true);
  const saved = await inPage(page, async (files) => {
    const outbox = await Outbox.open("outbox-sync-demo");
    globalThis.outbox = outbox;
    globalThis.memoryAtStart = wasm.memory.buffer.byteLength;
    const hashes = {};
    let seed = 0x9e3779b9;
    for (const file of files) {
      // Random-ish bytes (xorshift32), different for every file.
      const words = new Uint32Array(Math.ceil(file.size / 4));
      for (let i = 0; i < words.length; i++) {
        seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
        words[i] = seed >>> 0;
      }
      const bytes = new Uint8Array(words.buffer, 0, file.size);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      hashes[file.id] = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const field = file.type.startsWith("video") ? "video" : "photo";
      await outbox.put("notes", file.id, { title: file.name, [field]: new File([bytes], file.name, { type: file.type }) });
    }
    const report = await outbox.syncNow();
    const status = await outbox.status();
    return { hashes, report, status, memoryAfterSaving: wasm.memory.buffer.byteLength };
  }, FILES);
  assert.equal(saved.report.synced, 0);
  assert.equal(saved.status.pending, FILES.length);
  assert.equal(saved.status.uploadingBytes, TOTAL);
  assert.equal(saved.status.uploadedBytes, 0);
  assert.equal(chunksWritten(), 0, "nothing reached the server offline");

  // Online: the page uploads; a fifth of the video in, the page goes into airplane mode.
  await setPageOffline(cdp, false);
  await inPage(page, async () => {
    await outbox.retryNow();
    globalThis.run = outbox.syncNow();
  });
  await untilWritten(10);
  await setPageOffline(cdp, true);
  await cdp.send("ServiceWorker.stopAllWorkers");
  const cut = await inPage(page, async () => {
    const report = await globalThis.run;
    const status = await outbox.status();
    return { report, status };
  });
  const afterPage = chunksWritten();
  assert.ok(cut.status.uploadingBytes === TOTAL && cut.status.uploadedBytes < TOTAL,
    `the upload stopped part way: ${JSON.stringify(cut.status)}`);
  assert.equal(await serverRecord(server, "notes", "video"), null, "the video's note waits for the video");

  // The page stays offline; the service worker syncs (a `sync` event) and is stopped mid-upload.
  await cdp.send("ServiceWorker.dispatchSyncEvent", { origin: server.url, registrationId, tag: "outbox-sync", lastChance: false });
  await untilWritten(afterPage + 15);
  await cdp.send("ServiceWorker.stopAllWorkers");
  const afterWorker = chunksWritten();
  assert.ok(afterWorker > afterPage, "the service worker sent chunks the page had not");

  // Airplane mode off: the page resumes where the server stands and finishes.
  await setPageOffline(cdp, false);
  const done = await inPage(page, async () => {
    let report;
    let status;
    for (let run = 0; run < 5; run++) {
      await outbox.retryNow();
      report = await outbox.syncNow();
      status = await outbox.status();
      if (status.pending === 0 && status.uploadingBytes === 0) break;
    }
    return { report, status, memoryGrowth: wasm.memory.buffer.byteLength - memoryAtStart, memoryAtStart };
  });
  assert.equal(done.status.pending, 0, JSON.stringify(done));
  assert.equal(done.status.uploadingBytes, 0);
  assert.equal(done.status.uploadMessage, null);
  // 100 MB saved, hashed and uploaded through the outbox: none of it in wasm memory.
  assert.ok(done.memoryGrowth < 8 * MB, `wasm memory grew by ${done.memoryGrowth} B from ${done.memoryAtStart} B`);

  // The server's log: every chunk once, apart from at most the one interrupted per file.
  const log = chunkLog();
  assert.ok(log.every((c) => c.user === "e2e"), "every chunk logged with its user");
  for (const file of FILES) {
    const sha256 = saved.hashes[file.id];
    const chunks = log.filter((c) => c.sha256 === sha256);
    const sent = new Map();
    for (const c of chunks) sent.set(c.offset, (sent.get(c.offset) ?? 0) + 1);
    const twice = [...sent].filter(([, times]) => times > 1);
    assert.ok(twice.length <= 1 && twice.every(([, times]) => times === 2),
      `${file.id}: chunks sent more than once (offset, times): ${JSON.stringify(twice)}`);
    // The written chunks tile the file from 0 to its size, each once.
    const written = chunks.filter((c) => c.message === "blob chunk").sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const c of written) {
      assert.equal(c.offset, end, `${file.id}: chunk at ${c.offset} follows the one ending at ${end}`);
      end += c.length;
    }
    assert.equal(end, file.size, `${file.id}: the written chunks cover the file`);
  }

  // Every file intact on the server by SHA-256, and every note there with its file.
  for (const file of FILES) {
    const sha256 = saved.hashes[file.id];
    const response = await fetch(`${server.url}/v1/blobs/${sha256}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200, `the server holds ${file.id}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes.length, file.size);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), sha256, `${file.id} arrived byte for byte`);
    const field = file.type.startsWith("video") ? "video" : "photo";
    const record = await serverRecord(server, "notes", file.id);
    assert.deepEqual(record?.data[field], { $blob: { sha256, size: file.size, type: file.type } });
  }

  // Another device (fresh storage, the same user) downloads one photo on demand.
  const other = await launchBrowser({ serviceWorkers: "block" });
  try {
    const device = await other.context.newPage();
    await device.goto(`${server.url}/manifest.webmanifest`);
    const downloads = [];
    device.on("request", (r) => { if (r.url().includes("/v1/blobs/")) downloads.push(r.url()); });
    const got = await inPage(device, async ([url, token]) => {
      const outbox = await Outbox.open("e2e-blobs-other-device");
      await outbox.connect({ serverUrl: url, token });
      await outbox.syncNow();
      const photo = (await outbox.get("notes", "photo-3")).fields.photo;
      const hash = async (blob) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      const first = await photo.blob();
      const again = await (await outbox.get("notes", "photo-3")).fields.photo.blob();
      outbox.close();
      return { state: photo.state, size: first.size, type: first.type, sha256: await hash(first), againSha256: await hash(again) };
    }, [server.url, TOKEN]);
    assert.deepEqual(got, {
      state: "synced", size: FILES[4].size, type: "image/jpeg",
      sha256: saved.hashes["photo-3"], againSha256: saved.hashes["photo-3"],
    });
    assert.deepEqual(downloads, [`${server.url}/v1/blobs/${saved.hashes["photo-3"]}`],
      "downloaded once, on demand; the second read is local");
  } finally {
    await other.close();
  }
  await page.close();
});

test("photos made on this device leave it once synced past the cap: the bytes of files it stores go back to where they started", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/manifest.webmanifest`);
  /** The files the outbox's database holds: how many and their bytes (read apart from the library). */
  const storedFiles = () => page.evaluate(() => new Promise((resolve, reject) => {
    const request = indexedDB.open("e2e-blobs-cap");
    request.onsuccess = () => {
      const all = request.result.transaction("blobs").objectStore("blobs").getAll();
      all.onsuccess = () => {
        request.result.close();
        resolve({ count: all.result.length, bytes: all.result.reduce((sum, f) => sum + f.blob.size, 0) });
      };
      all.onerror = () => reject(all.error);
    };
    request.onerror = () => reject(request.error);
  }));
  const saved = await inPage(page, async ([url, token]) => {
    // A cap of 1 MiB: no synced 10 MB photo may stay.
    const outbox = await Outbox.open("e2e-blobs-cap", { fileCacheBytes: 1024 * 1024 });
    await outbox.connect({ serverUrl: url, token });
    globalThis.capped = outbox;
    let seed = 0x2545f491;
    const hashes = [];
    for (const n of [0, 1]) {
      const words = new Uint32Array(10 * 1024 * 1024 / 4);
      for (let i = 0; i < words.length; i++) {
        seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
        words[i] = seed >>> 0;
      }
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", words));
      hashes.push([...digest].map((b) => b.toString(16).padStart(2, "0")).join(""));
      await outbox.put("notes", `capped-${n}`, { title: `Photo ${n}`, photo: new File([words], `p${n}.jpg`, { type: "image/jpeg" }) });
    }
    return { hashes };
  }, [server.url, TOKEN]);
  assert.deepEqual(await storedFiles(), { count: 2, bytes: 20 * MB }, "both photos stored, unsent");
  const synced = await inPage(page, async () => {
    const report = await capped.syncNow();
    const photo = (await capped.get("notes", "capped-0")).fields.photo;
    return { report, state: photo.state };
  });
  assert.equal(synced.report.filesSent, 2);
  assert.equal(synced.report.synced, 2);
  assert.equal(synced.state, "synced");
  assert.deepEqual(await storedFiles(), { count: 0, bytes: 0 }, "synced, past the cap: removed");
  // Still readable: downloaded again from the server, byte for byte.
  const back = await inPage(page, async () => {
    const blob = await (await capped.get("notes", "capped-1")).fields.photo.blob();
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    capped.close();
    return { size: blob.size, sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join("") };
  });
  assert.deepEqual(back, { size: 10 * MB, sha256: saved.hashes[1] });
  // Over the cap by itself, the copy read again does not stay either.
  assert.deepEqual(await storedFiles(), { count: 0, bytes: 0 });
  await page.close();
});
