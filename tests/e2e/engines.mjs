// Firefox and WebKit (the Safari engine) for the end-to-end tests, behind one
// small interface: a browser opens tabs, a tab runs an async function in the
// page and returns its (JSON) result. Firefox is driven by puppeteer-core over
// WebDriver BiDi; WebKitGTK by its own WebDriver (plain W3C WebDriver over
// HTTP) under a virtual X display. Each browser starts with a fresh profile.
// See docs/engines.md for what differs between the engines.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FIREFOX = process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr";
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH ?? "/usr/bin/WebKitWebDriver";

/** The engines these tests run in, by the name the test titles use. */
export const ENGINES = { firefox: "Firefox", webkit: "WebKit" };

/**
 * Launches `engine` ("firefox" or "webkit"); resolves to
 * `{ open(url?) -> tab, close(), restart() }`. A tab has `evaluate(fn, ...args)`,
 * `goto(url)`, `back()` (the history's back), `show()` (makes it the tab the
 * user looks at) and `close()`. `restart()` closes the browser and starts it
 * again on the same profile (where the engine keeps a profile: Firefox), as a
 * person reopening the app.
 */
export async function launch(engine) {
  if (engine === "firefox") return launchFirefox();
  if (engine === "webkit") return launchWebKit();
  throw new Error(`unknown engine ${engine}`);
}

/** A loopback port free right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// --- Firefox: puppeteer-core over WebDriver BiDi -----------------------------

async function launchFirefox() {
  const { default: puppeteer } = await import("puppeteer-core");
  const profile = mkdtempSync(join(tmpdir(), "outbox-e2e-firefox-"));
  const start = () =>
    puppeteer.launch({
      browser: "firefox",
      executablePath: FIREFOX,
      headless: true,
      userDataDir: profile,
      // No updates, telemetry or first-run pages in the way.
      extraPrefsFirefox: { "app.update.enabled": false, "browser.shell.checkDefaultBrowser": false },
    });
  let browser = await start();
  const tab = (page) => ({
    evaluate: (fn, ...args) => page.evaluate(fn, ...args),
    goto: (url) => page.goto(url, { waitUntil: "load" }),
    back: () => page.goBack(),
    show: () => page.bringToFront(),
    close: () => page.close(),
    page,
  });
  return {
    name: "firefox",
    async open(url) {
      const page = await browser.newPage();
      if (url) await page.goto(url, { waitUntil: "load" });
      return tab(page);
    },
    async restart() {
      await browser.close();
      browser = await start();
    },
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// --- WebKit: WebKitWebDriver (W3C WebDriver) under xvfb-run -------------------

/** One W3C WebDriver command; resolves to its `value`, throws on an error answer. */
async function command(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || answer.value?.error) {
    const { error, message } = answer.value ?? {};
    throw new Error(`WebDriver ${method} ${path}: ${error ?? response.status}: ${message ?? ""}`);
  }
  return answer.value;
}

async function launchWebKit() {
  const port = await freePort();
  // xvfb-run gives the driver, and the MiniBrowser it starts, a display of
  // their own; a process group of their own so that all of it stops together.
  const driver = spawn("xvfb-run", ["-a", WEBKIT_DRIVER, "--host=127.0.0.1", `--port=${port}`], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  driver.stdout.on("data", (chunk) => { output += chunk; });
  driver.stderr.on("data", (chunk) => { output += chunk; });
  const base = `http://127.0.0.1:${port}`;
  const stopDriver = () => {
    try { process.kill(-driver.pid, "SIGTERM"); } catch { /* already gone */ }
  };
  for (let i = 0; ; i += 1) {
    if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${driver.exitCode}:\n${output}`);
    const ready = await command(base, "GET", "/status").then((s) => s.ready, () => false);
    if (ready) break;
    if (i > 150) { stopDriver(); throw new Error(`WebKitWebDriver did not start:\n${output}`); }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let session;
  try {
    ({ sessionId: session } = await command(base, "POST", "/session", {
      capabilities: { alwaysMatch: { "webkitgtk:browserOptions": { args: ["--automation"] } } },
    }));
    await command(base, "POST", `/session/${session}/timeouts`, { script: 60_000, pageLoad: 30_000 });
  } catch (error) {
    stopDriver();
    throw error;
  }
  const s = (path) => `/session/${session}${path}`;
  // WebDriver talks to one window at a time: every tab's call switches
  // first, and calls run one after another (tabs used at once would race).
  let current = await command(base, "GET", s("/window"));
  let queue = Promise.resolve();
  const serial = (work) => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };
  const focus = async (handle) => {
    if (current !== handle) await command(base, "POST", s("/window"), { handle });
    current = handle;
  };
  // The first window stays open (closing the last window ends the session):
  // it is the blank tab the others are opened from.
  const blank = current;
  const tab = (handle) => ({
    handle,
    evaluate: (fn, ...args) => serial(async () => {
      await focus(handle);
      const script = `const done = arguments[arguments.length - 1];
        Promise.resolve().then(() => (${fn}).apply(null, Array.from(arguments).slice(0, -1)))
          .then((value) => done({ value: value === undefined ? null : value }),
                (error) => done({ thrown: String(error) + " " + ((error && error.stack) || "") }));`;
      const result = await command(base, "POST", s("/execute/async"), { script, args });
      if (result?.thrown) throw new Error(`in the page: ${result.thrown}`);
      return result?.value;
    }),
    goto: (url) => serial(async () => {
      await focus(handle);
      await command(base, "POST", s("/url"), { url });
    }),
    back: () => serial(async () => {
      await focus(handle);
      await command(base, "POST", s("/back"), {});
    }),
    show: () => serial(() => focus(handle)),
    close: () => serial(async () => {
      await focus(handle);
      await command(base, "DELETE", s("/window"));
      current = null;
      await focus(blank);
    }),
  });
  return {
    name: "webkit",
    async open(url) {
      const { handle } = await serial(() => command(base, "POST", s("/window/new"), { type: "tab" }));
      const opened = tab(handle);
      if (url) await opened.goto(url);
      return opened;
    },
    async restart() {
      // The driver's sessions keep no profile to start again on: every tab of
      // the app closes instead, and the next one opened starts afresh.
      const handles = await serial(() => command(base, "GET", s("/window/handles")));
      for (const handle of handles.filter((h) => h !== blank)) await tab(handle).close();
    },
    async close() {
      await command(base, "DELETE", s("")).catch(() => {});
      stopDriver();
    },
  };
}
