// outbox-sync/sw: wires the outbox into an app's service worker.
//
// This file imports the package's glue and wasm by relative path only, so it
// works as it is in a module service worker without a bundler (import maps do
// not reach workers): `import { installOutboxSync } from "./node_modules/outbox-sync/sw/index.js"`.
import init, { Outbox } from "../pkg/outbox_sync.js";
import { lastOpenedDatabase } from "./last-opened.js";

export { lastOpenedDatabase };

/** The Background Sync tag the package registers and handles. */
export const SYNC_TAG = "outbox-sync";

/** The package's own files a worker needs offline: the JS glue and the wasm (absolute URLs). */
export const outboxSyncFiles = [
  new URL("../pkg/outbox_sync.js", import.meta.url).href,
  new URL("../pkg/outbox_sync_bg.wasm", import.meta.url).href,
];

/**
 * Syncs the outbox from this service worker: on Background Sync (`sync`, tag
 * `outbox-sync`), when a page asks (`message`), and on `activate` (the fallback
 * where Background Sync is missing). Service workers forbid top-level await,
 * so the module is initialised on the first event, inside `waitUntil`.
 *
 * Without `database`, it syncs the outbox a page of this origin opened last
 * (and follows when a page opens another one, e.g. after a user switch).
 *
 * @param {{ addEventListener(type: string, listener: (event: any) => void): void }} scope `self`
 * @param {{ database?: string | (() => string | null | Promise<string | null>), wasmUrl?: string | URL }} [options]
 * @returns {() => Promise<Outbox | null>} opens (once per database) and returns the outbox, or null when no page opened one yet
 */
export function installOutboxSync(scope, options = {}) {
  const database = options.database ?? lastOpenedDatabase;
  if (typeof database !== "string" && typeof database !== "function") {
    throw new TypeError(
      'installOutboxSync(self, { database }) takes the outbox database name the pages open (e.g. { database: "my-app" }), a function that finds it, or nothing (the outbox a page opened last).',
    );
  }
  let ready = null; // init(), once; a failed one is tried again on the next event
  let current = null; // { name, outbox: Promise<Outbox> }
  const outbox = async () => {
    ready ??= init(options.wasmUrl ? { module_or_path: options.wasmUrl } : undefined).catch((error) => {
      ready = null;
      throw error;
    });
    await ready;
    const name = typeof database === "function" ? await database() : database;
    if (typeof name !== "string" || name === "") return null;
    if (current?.name !== name) {
      // The previous outbox is not closed here: a sync of it may still be
      // running. Its connection closes itself if that database is deleted
      // (sign-out) or upgraded.
      const opening = { name, outbox: Outbox.open(name) };
      // A failed open (another tab blocking an upgrade) is tried again on the next event.
      opening.outbox.catch(() => {
        if (current === opening) current = null;
      });
      current = opening;
    }
    return current.outbox;
  };
  for (const type of ["sync", "message", "activate"]) {
    scope.addEventListener(type, (event) =>
      event.waitUntil(outbox().then((o) => (o ? o.handleEvent(event) : null))),
    );
  }
  return outbox;
}

/**
 * Precaches the app shell and the package's own glue and wasm, so the app and
 * `init()` work offline; serves them cache-first and falls back to the cached
 * page for navigations. One cache per `version`: on `activate`, the caches of
 * other versions (with the same `cacheName` prefix) are deleted.
 *
 * @param {{ addEventListener(type: string, listener: (event: any) => void): void, skipWaiting?: () => Promise<void>, clients?: { claim(): Promise<void> }, location?: { href: string } }} scope `self`
 * @param {{ urls: string[], version: string, cacheName?: string, navigateFallback?: string | null, includePackage?: boolean, skipWaiting?: boolean }} options
 * @returns {{ cacheName: string, urls: string[] }} the cache's name and the absolute URLs it holds
 */
export function precache(scope, options) {
  const { urls, version } = options ?? {};
  if (!Array.isArray(urls) || typeof version !== "string" || version === "") {
    throw new TypeError(
      'precache(self, { urls, version }) takes the app shell\'s URLs (e.g. ["/", "/app.js"]) and a version string that changes whenever one of those files changes.',
    );
  }
  const base = scope.location?.href ?? globalThis.location?.href;
  const prefix = options.cacheName ?? "outbox-sync-precache";
  const cacheName = `${prefix}-${version}`;
  const list = [...new Set([...urls, ...(options.includePackage === false ? [] : outboxSyncFiles)].map((u) => new URL(u, base).href))];
  const held = new Set(list.map(withoutSearch));
  const fallback = options.navigateFallback === null ? null : new URL(options.navigateFallback ?? "./", base).href;

  scope.addEventListener("install", (event) => {
    event.waitUntil(
      caches
        .open(cacheName)
        .then((cache) => cache.addAll(list))
        .then(() => (options.skipWaiting === false ? undefined : scope.skipWaiting?.())),
    );
  });
  scope.addEventListener("activate", (event) => {
    event.waitUntil(
      caches
        .keys()
        .then((names) =>
          Promise.all(names.filter((n) => n.startsWith(`${prefix}-`) && n !== cacheName).map((n) => caches.delete(n))),
        )
        .then(() => scope.clients?.claim()),
    );
  });
  scope.addEventListener("fetch", (event) => {
    const request = event.request;
    if (request.method !== "GET") return;
    const url = withoutSearch(request.url);
    const navigation = request.mode === "navigate";
    if (!held.has(url) && !(navigation && fallback)) return;
    event.respondWith(
      (async () => {
        const cache = await caches.open(cacheName);
        const hit = held.has(url) ? await cache.match(url) : undefined;
        if (hit) return hit;
        try {
          return await fetch(request);
        } catch (error) {
          const page = navigation && fallback ? await cache.match(fallback) : undefined;
          if (page) return page;
          throw error;
        }
      })(),
    );
  });
  return { cacheName, urls: list };
}

function withoutSearch(url) {
  const parsed = new URL(url);
  parsed.search = "";
  parsed.hash = "";
  return parsed.href;
}
