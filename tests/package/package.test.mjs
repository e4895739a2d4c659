// The npm package as users get it: `npm pack`, installed into fresh apps (plain
// ES modules with an import map, and a Vite build), loaded in headless
// Chromium from the reference server; a change saved offline reaches the server,
// from the page and from the app's service worker, and the app starts offline.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, TOKEN, eventually, launchBrowser, serverChanges, serverRecord, startServer } from "../e2e/harness.mjs";

const APP = join(import.meta.dirname, "app");
let work;
let tarball;

before(() => {
  work = mkdtempSync(join(tmpdir(), "outbox-package-"));
  // pkg/ is built by the test command; --ignore-scripts keeps npm pack from building again.
  const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const [info] = JSON.parse(packed);
  tarball = join(work, info.filename);
  const shipped = info.files.map((f) => f.path).sort();
  assert.deepEqual(shipped, [
    "LICENSE-APACHE", "LICENSE-MIT", "README.md", "package.json",
    "live/index.d.ts", "live/index.js",
    "pkg/outbox_sync.d.ts", "pkg/outbox_sync.js", "pkg/outbox_sync_bg.wasm", "pkg/outbox_sync_bg.wasm.d.ts",
    "react/index.d.ts", "react/index.js",
    "sw/index.d.ts", "sw/index.js", "sw/last-opened.d.ts", "sw/last-opened.js",
    "vite/index.d.ts", "vite/index.js",
  ].filter((f) => !f.startsWith("LICENSE") || readdirSync(ROOT).includes(f)).sort());
});

after(() => rmSync(work, { recursive: true, force: true }));

/** A fresh app folder with the tarball installed (`extra`: a folder copied over it). */
function freshApp(name, importMap, extra = null) {
  const dir = join(work, name);
  cpSync(APP, dir, { recursive: true });
  if (extra) cpSync(extra, dir, { recursive: true });
  const html = readFileSync(join(dir, "index.html"), "utf8").replace("IMPORTMAP", importMap);
  writeFileSync(join(dir, "index.html"), html);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name, private: true, type: "module", dependencies: { "outbox-sync": `file:${tarball}` } }),
  );
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir });
  return dir;
}

/** Serves `dir`, saves a change with the API unreachable, then delivers it. */
async function savedOfflineThenDelivered(dir, recordId) {
  const server = await startServer([], { www: dir });
  const browser = await launchBrowser({ serviceWorkers: "block" });
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    page.on("requestfailed", (request) => errors.push(`${request.url()}: ${request.failure()?.errorText}`));
    page.on("response", (response) => response.status() >= 400 && errors.push(`${response.url()}: HTTP ${response.status()}`));
    await page.goto(`${server.url}/index.html?token=${TOKEN}`);
    await page.waitForSelector("body[data-ready=true]", { state: "attached", timeout: 15_000 }).catch(() => {
      throw new Error(`the app did not start: ${errors.join("; ")}`);
    });
    await page.route("**/v1/**", (route) => route.abort("internetdisconnected"));
    const offline = await page.evaluate(async (id) => {
      await app.outbox.put("notes", id, { title: "from the package" });
      const report = await app.outbox.syncNow();
      return { halt: report.halt?.kind, status: await app.outbox.status() };
    }, recordId);
    assert.equal(offline.halt, "wait");
    assert.equal(offline.status.pending, 1);
    assert.equal(await serverRecord(server, "notes", recordId), null);
    await page.unroute("**/v1/**");
    const online = await page.evaluate(async () => {
      await app.outbox.retryNow();
      return app.outbox.syncNow();
    });
    assert.equal(online.synced, 1);
    assert.equal((await serverRecord(server, "notes", recordId)).data.title, "from the package");
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** Fires Background Sync's `sync` event (tag "outbox-sync") at the origin's service worker, as the browser does once online. */
async function fireSyncEvent(browser, url) {
  const blank = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(blank);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  const registrationId = await eventually(() => registrations.get(`${url}/`));
  await cdp.send("ServiceWorker.dispatchSyncEvent", { origin: url, registrationId, tag: "outbox-sync", lastChance: false });
  return blank;
}

/**
 * Serves `dir` with its service worker: the first visit precaches the app; the
 * first reload offline starts it from the cache and saves a change; with no page
 * open, the worker (given no database name) delivers it on a `sync` event.
 */
async function bootsOfflineThenSyncsFromTheWorker(dir, recordId) {
  const server = await startServer([], { www: dir });
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${server.url}/index.html?token=${TOKEN}`);
    await page.waitForSelector("body[data-ready=true]", { state: "attached", timeout: 15_000 }).catch(() => {
      throw new Error(`the app did not start: ${errors.join("; ")}`);
    });
    assert.equal(await page.evaluate(() => globalThis.swRegistered), "registered");
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const cached = await page.evaluate(async () => {
      const names = await caches.keys();
      const urls = [];
      for (const name of names) urls.push(...(await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname));
      return { names, urls };
    });
    assert.equal(cached.names.length, 1, `one precache: ${cached.names}`);
    assert.ok(cached.urls.some((u) => u.endsWith(".wasm")), `the wasm is precached: ${cached.urls}`);

    await browser.context.setOffline(true);
    await page.reload();
    await page.waitForSelector("body[data-ready=true]", { state: "attached", timeout: 15_000 }).catch(() => {
      throw new Error(`the app did not start offline: ${errors.join("; ")}`);
    });
    const saved = await page.evaluate(async (id) => {
      await app.outbox.put("notes", id, { title: "saved offline, sent by the worker" });
      return app.outbox.status();
    }, recordId);
    assert.equal(saved.pending, 1);
    await page.close();
    await browser.context.setOffline(false);
    assert.equal(await serverRecord(server, "notes", recordId), null);

    const blank = await fireSyncEvent(browser, server.url);
    const record = await eventually(() => serverRecord(server, "notes", recordId));
    assert.equal(record.data.title, "saved offline, sent by the worker");
    assert.equal((await serverChanges(server)).filter((c) => c.record_id === recordId).length, 1);
    return { server, browser, page: blank };
  } catch (error) {
    await browser.close();
    await server.stop();
    throw error;
  }
}

test("plain ES modules with an import map", async () => {
  const map = '<script type="importmap">{"imports":{"outbox-sync":"./node_modules/outbox-sync/pkg/outbox_sync.js"}}</script>';
  const dir = freshApp("plain-app", map);
  await savedOfflineThenDelivered(dir, "plain-1");
});

test("a Vite build", async () => {
  const dir = freshApp("vite-app", "");
  const vite = join(ROOT, "node_modules/.bin/vite");
  execFileSync(vite, ["build", "--logLevel", "warn", "--outDir", "dist"], { cwd: dir, stdio: "inherit" });
  const built = readdirSync(join(dir, "dist/assets"));
  assert.ok(built.some((f) => f.endsWith(".wasm")), `the wasm is an asset of the build: ${built}`);
  await savedOfflineThenDelivered(join(dir, "dist"), "vite-1");
});

test("a plain ES-module app with no bundler precaches, starts offline and syncs from its service worker, which follows the outbox a page opened last", async () => {
  const map = '<script type="importmap">{"imports":{"outbox-sync":"./node_modules/outbox-sync/pkg/outbox_sync.js"}}</script>';
  const dir = freshApp("plain-sw-app", map);
  const { server, browser, page } = await bootsOfflineThenSyncsFromTheWorker(dir, "plain-sw-1");
  try {
    // A new version of the worker: its cache replaces the old one on activate.
    const sw = join(dir, "sw.js");
    writeFileSync(sw, readFileSync(sw, "utf8").replace('version: "1"', 'version: "2"'));
    await page.goto(`${server.url}/index.html?token=${TOKEN}`);
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    const names = await eventually(async () => {
      const keys = await page.evaluate(() => caches.keys());
      return keys.length === 1 && keys[0].endsWith("-2") && keys;
    });
    assert.deepEqual(names, ["outbox-sync-precache-2"]);

    // Another user signs in: the page opens another outbox, and the worker follows.
    await browser.context.route("**/v1/**", (route) => route.abort("internetdisconnected"));
    await page.evaluate(async ({ token }) => {
      const { Outbox } = await import("outbox-sync");
      const other = await Outbox.open("packaged-app:second-user");
      await other.connect({ serverUrl: location.origin, token });
      await other.put("notes", "plain-sw-2", { title: "the second user's" });
      other.close();
    }, { token: TOKEN });
    await page.close();
    await browser.context.unroute("**/v1/**");
    await (await fireSyncEvent(browser, server.url)).close();
    const second = await eventually(() => serverRecord(server, "notes", "plain-sw-2"));
    assert.equal(second.data.title, "the second user's");
  } finally {
    await browser.close();
    await server.stop();
  }
});

test("a Vite app with the package's plugin precaches, starts offline on the first reload and syncs from its service worker", async () => {
  const dir = freshApp("vite-sw-app", "", join(import.meta.dirname, "vite"));
  rmSync(join(dir, "sw.js"));
  const vite = join(ROOT, "node_modules/.bin/vite");
  execFileSync(vite, ["build", "--logLevel", "warn", "--outDir", "dist"], { cwd: dir, stdio: "inherit" });
  const worker = readFileSync(join(dir, "dist/sw.js"), "utf8");
  assert.match(worker, /precache\(self, \{ version: "[0-9a-f]{16}"/);
  const wasm = readdirSync(join(dir, "dist/assets")).filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one wasm in the build: ${wasm}`);
  assert.ok(worker.includes(`./assets/${wasm[0]}`), "the worker loads and precaches the page's wasm, not a second copy");
  const { server, browser } = await bootsOfflineThenSyncsFromTheWorker(join(dir, "dist"), "vite-sw-1");
  await browser.close();
  await server.stop();
});
