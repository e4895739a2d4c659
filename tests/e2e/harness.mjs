// Shared pieces of the end-to-end tests: a real reference server on 127.0.0.1
// and Debian's Chromium driven by playwright-core, each with a fresh profile.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");
export const ARTIFACTS = join(ROOT, "tests/e2e/artifacts");
export const TOKEN = "e2e-token";

const SERVER_BIN = process.env.OUTBOX_SYNC_SERVER_BIN ?? join(ROOT, "target/debug/outbox-sync-server");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Starts the reference server on a free port, serving `www`; resolves to { url, stop }. */
export async function startServer(extraArgs = [], { www = join(ROOT, "www") } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "outbox-e2e-server-"));
  const child = spawn(SERVER_BIN, [
    "--listen", "127.0.0.1:0",
    "--data", join(dir, "data.sqlite3"),
    "--token", `${TOKEN}=e2e`,
    "--any-collection",
    "--www", www,
    "--pkg", join(ROOT, "pkg"),
    ...extraArgs,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr += chunk; });
  // Everything the server printed: its log, read by tests that check what it applied.
  let stdout = "";
  const url = await new Promise((resolveUrl, reject) => {
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on (http:\/\/\S+)/);
      if (match) resolveUrl(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code} before listening:\n${stderr}`)));
  });
  return {
    url,
    /** What the server printed so far (its log, with `--log-format json` one JSON object a line). */
    output: () => stdout + stderr,
    async stop() {
      child.kill("SIGINT");
      await new Promise((done) => (child.exitCode !== null ? done() : child.on("exit", done)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Launches Chromium with a fresh persistent profile; resolves to { context, close }.
 * `serviceWorkers: "block"` keeps the app's service worker out, for tests of the page alone.
 */
export async function launchBrowser({ serviceWorkers = "allow", profile: kept = null } = {}) {
  // A profile passed in is kept on close: the same "device" can be started again.
  const profile = kept ?? mkdtempSync(join(tmpdir(), "outbox-e2e-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    serviceWorkers,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      if (!kept) rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot of `page` under tests/e2e/artifacts/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The record as the server holds it (`GET /v1/collections/...`), or null when it has none. */
export async function serverRecord(server, collection, recordId) {
  const response = await fetch(`${server.url}/v1/collections/${collection}/records/${encodeURIComponent(recordId)}`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`GET record: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/** Every change the server holds for this user, pulled page by page. */
export async function serverChanges(server) {
  const changes = [];
  let since = "";
  for (;;) {
    const response = await fetch(`${server.url}/v1/changes?since=${encodeURIComponent(since)}&limit=1000`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    if (!response.ok) throw new Error(`pull: HTTP ${response.status}`);
    const page = await response.json();
    changes.push(...page.changes);
    since = page.next_token;
    if (!page.has_more) return changes;
  }
}

/** Polls `check` until it returns a truthy value, for at most `ms`. */
export async function eventually(check, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Opens the demo with the test token and waits until it shows everything saved. */
/**
 * Closes the pages a test left open in `browser` (one launched by launchBrowser).
 * A failed test leaves its page open, and an open page keeps syncing behind the
 * next test's routes and faults: run this after each test, so one failure cannot
 * make the next test fail too.
 */
export async function closePagesLeftOpen(browser) {
  const left = (browser?.context.pages() ?? []).filter((page) => page.url() !== "about:blank");
  for (const page of left) await page.close().catch(() => {});
}

export async function openDemo(browser, server) {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/?token=${TOKEN}`);
  await page.getByText("All changes saved").waitFor();
  return page;
}

/**
 * Fills the demo's note form and saves it. Nobody types an id in the demo (each
 * new note gets a fresh one); a test that checks the server by id passes `id`,
 * which is set where the demo keeps the id of the note being edited
 * (`#note-form[data-note-id]`). `null` keeps the demo's own id.
 */
export async function saveNote(page, id, title, body = "") {
  // The app has started its first note (before that, it would reset the form).
  await page.locator("#note-form[data-note-id]").waitFor({ state: "attached" });
  if (id !== null) await useNoteId(page, id);
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Details").fill(body);
  await page.getByRole("button", { name: "Save" }).click();
}

/**
 * The server's audit trail of one record (`GET /v1/records/{collection}/{id}/history`),
 * oldest first: one entry each time the server really applied (or refused) an event.
 */
export async function serverHistory(server, collection, recordId) {
  const entries = [];
  let after = 0;
  for (;;) {
    const response = await fetch(
      `${server.url}/v1/records/${collection}/${encodeURIComponent(recordId)}/history?after=${after}&limit=1000`,
      { headers: { Authorization: `Bearer ${TOKEN}` } },
    );
    if (!response.ok) throw new Error(`history: HTTP ${response.status} ${await response.text()}`);
    const page = await response.json();
    entries.push(...page.entries);
    after = page.next_after;
    if (!page.has_more) return entries;
  }
}

/**
 * Checks the server's audit trail: `writes` maps record ids to how many changes the
 * device made to each; the server must have applied exactly that many events to
 * each record, every one with its own event id (an event applied twice shows up as
 * its id twice, a lost one as a missing entry).
 */
export async function assertAppliedOnce(server, collection, writes) {
  for (const [recordId, count] of Object.entries(writes)) {
    const applied = (await serverHistory(server, collection, recordId)).filter((e) => e.outcome === "applied");
    const ids = applied.map((e) => e.event_id);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    assert.deepEqual(twice, [], `${recordId}: events applied more than once`);
    assert.equal(applied.length, count, `${recordId}: ${count} changes made, ${applied.length} applied: ${JSON.stringify(applied)}`);
  }
}

/** Replaces the server's fault settings (the server runs with --enable-fault-injection). */
export async function setFaults(server, settings) {
  const response = await fetch(`${server.url}/v1/_faults`, { method: "POST", body: JSON.stringify(settings) });
  if (!response.ok) throw new Error(`faults: HTTP ${response.status} ${await response.text()}`);
}

/** How many write answers the server holds now and has held in all (`hold_next`). */
export async function heldAnswers(server) {
  return (await fetch(`${server.url}/v1/_faults/held`)).json();
}

/**
 * Waits until the server holds a write's answer (its change committed, the answer not
 * sent): the moment a request is surely in flight. `total` is the count of holds so far
 * to wait for.
 */
export async function waitForHeld(server, total, ms = 15_000) {
  return eventually(async () => {
    const held = await heldAnswers(server);
    return held.held >= 1 && held.total >= total && held;
  }, ms);
}

/** Lets every held answer go. */
export async function releaseHeld(server) {
  await fetch(`${server.url}/v1/_faults/release`, { method: "POST" });
}

/** Makes the demo's form edit the note `id` (a test's handle on the server's record). */
export async function useNoteId(page, id) {
  await page.evaluate((noteId) => { document.getElementById("note-form").dataset.noteId = noteId; }, id);
}

/** The id of the note the demo's form is editing. */
export function editedNoteId(page) {
  return page.evaluate(() => document.getElementById("note-form").dataset.noteId);
}

/** Opens the note titled `title` from the demo's list, as a person does, and waits for the form to show it. */
export async function openNote(page, title) {
  await page.locator("#notes").getByRole("button", { name: new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`) }).click();
  await page.waitForFunction((t) => document.querySelector("[name=title]").value === t, title);
}

/** The developer words no text for people may hold: the list in src/core/words.rs, so there is one. */
export const DEVELOPER_WORDS = (() => {
  const source = readFileSync(join(ROOT, "src/core/words.rs"), "utf8");
  const list = source.match(/DEVELOPER_WORDS: &\[&str\] = &\[([\s\S]*?)\];/)[1];
  return [...list.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
})();

/** The developer words in what `page` (or a part of it) shows people; hidden parts, like the harness, are left out. */
export async function developerWordsShown(pageOrLocator) {
  const target = typeof pageOrLocator.goto === "function" ? pageOrLocator.locator("body") : pageOrLocator;
  // The app's name is "Field notes": a name, not a data field.
  const text = (await target.innerText()).replaceAll("Field notes", "").toLowerCase();
  const found = DEVELOPER_WORDS.filter((word) => text.includes(word));
  // "Your version" is for people; "version 26" is not.
  if (/version\s*\d/.test(text)) found.push("a version number");
  return found;
}
