// The npm package as users get it: `npm pack`, installed into fresh apps (plain
// ES modules with an import map, and a Vite build), loaded in headless
// Chromium from the reference server; a change saved offline reaches the server.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, TOKEN, launchBrowser, serverRecord, startServer } from "../e2e/harness.mjs";

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
    "pkg/outbox_sync.d.ts", "pkg/outbox_sync.js", "pkg/outbox_sync_bg.wasm", "pkg/outbox_sync_bg.wasm.d.ts",
    "sw/index.d.ts", "sw/index.js",
  ].filter((f) => !f.startsWith("LICENSE") || readdirSync(ROOT).includes(f)).sort());
});

after(() => rmSync(work, { recursive: true, force: true }));

/** A fresh app folder with the tarball installed. */
function freshApp(name, importMap) {
  const dir = join(work, name);
  cpSync(APP, dir, { recursive: true });
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
