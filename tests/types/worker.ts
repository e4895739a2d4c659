// The service-worker entry, as an app's worker uses it.
import { SYNC_TAG, installOutboxSync, lastOpenedDatabase, outboxSyncFiles, precache } from "outbox-sync/sw";
import type { Outbox } from "outbox-sync";

declare const self: { addEventListener(type: string, listener: (event: any) => void): void };

// No database: the outbox a page opened last.
const outbox: () => Promise<Outbox | null> = installOutboxSync(self);
installOutboxSync(self, { database: "my-app" });
// The function form: the page's last outbox, else a fixed one.
installOutboxSync(self, { database: async () => (await lastOpenedDatabase()) ?? "my-app:guest" });
const { cacheName, urls }: { cacheName: string; urls: string[] } = precache(self, {
  version: "2026-12-01",
  urls: ["./", "./index.html", "./app.js"],
});
// @ts-expect-error: a version is required
precache(self, { urls: ["./"] });
const tag: "outbox-sync" = SYNC_TAG;
const files: string[] = outboxSyncFiles;
void outbox;
console.log(cacheName, urls, tag, files);
