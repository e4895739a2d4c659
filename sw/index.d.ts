import type { Outbox } from "../pkg/outbox_sync.js";

/** Options of installOutboxSync(). */
export interface InstallOptions {
  /** The outbox database the pages open (one per user), or a function that finds it. */
  database: string | (() => string | Promise<string>);
}

/**
 * Syncs the outbox from this service worker on Background Sync, on a page's
 * request and on activation. Call it at the top level of the worker script.
 *
 * ```ts
 * import { installOutboxSync } from "outbox-sync/sw";
 * installOutboxSync(self, { database: "my-app" });
 * ```
 */
export function installOutboxSync(
  scope: { addEventListener(type: string, listener: (event: any) => void): void },
  options: InstallOptions,
): () => Promise<Outbox>;
