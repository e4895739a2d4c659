// The bench service worker: runs drains (ours, raw, Workbox) when the page asks.
import * as lib from "./lib.mjs";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => {
  const { name, params } = event.data;
  const port = event.ports[0];
  event.waitUntil(
    Promise.resolve()
      .then(() => lib[name](params))
      .then(
        (value) => port.postMessage({ value }),
        (error) => port.postMessage({ error: String(error?.stack ?? error) }),
      ),
  );
});
