// The demo's service worker: keeps the app shell for offline use and syncs the
// outbox on Background Sync, on a page's request, and when it activates.
import init, { Outbox } from "/pkg/outbox_sync.js";

const DATABASE = "outbox-sync-demo";
const SHELL_CACHE = "outbox-sync-demo-shell-v2";
const SHELL = [
  "/", "/index.html", "/app.js", "/app.css", "/manifest.webmanifest", "/icons/icon-192.png", "/icons/icon-512.png",
  "/pkg/outbox_sync.js", "/pkg/outbox_sync_bg.wasm",
];

// Service workers forbid top-level await: the module is initialised on first use.
let opened = null;
const outbox = () => (opened ??= init().then(() => Outbox.open(DATABASE)));

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim().then(outbox).then((o) => o.handleEvent(event)));
});

for (const type of ["sync", "message"]) {
  self.addEventListener(type, (event) => event.waitUntil(outbox().then((o) => o.handleEvent(event))));
}

// The app shell: the network when it answers (so updates arrive), the cache when it does not.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/v1/")) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(SHELL_CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true }).then((hit) => hit ?? Response.error())),
  );
});
