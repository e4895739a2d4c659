import type { Plugin } from "vite";

/** Options of the outbox-sync Vite plugin. */
export interface OutboxSyncViteOptions {
  /** Where the service worker goes in the build (default "sw.js"). */
  fileName?: string;
  /** The outbox database the pages open; leave it out to sync the one a page opened last. */
  database?: string;
  /** A file of your own service-worker code (relative to the Vite root), appended to the emitted worker. */
  extraSource?: string;
  /** Build files not to precache (source maps never are). */
  exclude?: (fileName: string) => boolean;
}

/**
 * Emits the app's service worker (`/sw.js`): the whole build precached under a
 * version computed from its content (old caches removed on activate), and the
 * outbox synced on Background Sync, on a page's request and on activation.
 *
 * ```ts
 * // vite.config.js
 * import { outboxSync } from "outbox-sync/vite";
 * export default { plugins: [outboxSync()] };
 * ```
 */
export function outboxSync(options?: OutboxSyncViteOptions): Plugin;
export default outboxSync;
