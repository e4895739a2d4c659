// The plain app's service worker: no bundler, so the package is imported by URL.
// No database is named: it syncs the outbox the page opened last.
import { installOutboxSync, precache } from "./node_modules/outbox-sync/sw/index.js";

precache(self, { version: "1", urls: ["./", "./index.html", "./main.js"] });
installOutboxSync(self);
