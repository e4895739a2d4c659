import type { Outbox } from "../pkg/outbox_sync.js";

/** What installOutboxSync() and precache() need of the worker's global scope (`self`). */
export interface WorkerScope {
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** Options of installOutboxSync(). */
export interface InstallOptions {
  /**
   * The outbox database the pages open (one per user), or a function that finds it
   * (null: nothing to sync yet). Leave it out to sync the outbox a page of this origin
   * opened last (`Outbox.open` records it): the usual choice, since a service worker
   * does not know who is signed in.
   */
  database?: string | (() => string | null | Promise<string | null>);
  /** Where the wasm is, when it is not beside the package's glue (the Vite plugin sets it). */
  wasmUrl?: string | URL;
}

/** The Background Sync tag the package registers and handles: `"outbox-sync"`. */
export const SYNC_TAG: "outbox-sync";

/** The package's own files a worker needs offline (the JS glue and the wasm), as absolute URLs: add them to your own precache (Workbox) if you do not use precache(). */
export const outboxSyncFiles: string[];

/** The outbox database a page of this origin opened last, or null when none has. */
export function lastOpenedDatabase(): Promise<string | null>;

/**
 * Syncs the outbox from this service worker on Background Sync, on a page's
 * request and on activation. Call it at the top level of the worker script.
 * Returns a function that opens (once per database) and returns the outbox,
 * or null when no page has opened one yet.
 *
 * ```ts
 * import { installOutboxSync } from "outbox-sync/sw";
 * installOutboxSync(self);                           // the outbox a page opened last
 * installOutboxSync(self, { database: "my-app" });   // or always this one
 * ```
 */
export function installOutboxSync(scope: WorkerScope, options?: InstallOptions): () => Promise<Outbox | null>;

/** Options of precache(). */
export interface PrecacheOptions {
  /** The app shell: every URL the app needs to start offline (relative to the worker), such as ["./", "./app.js"]. */
  urls: string[];
  /** Changes whenever one of those files changes (a build hash): each version gets its own cache. */
  version: string;
  /** The caches' name prefix (default "outbox-sync-precache"); caches of other versions with it are deleted on activate. */
  cacheName?: string;
  /** The cached page served for navigations offline (default "./"); null for none. */
  navigateFallback?: string | null;
  /** Also precache the package's glue and wasm (outboxSyncFiles); default true. */
  includePackage?: boolean;
  /** Activate a new version at once instead of after every tab closes (default true). */
  skipWaiting?: boolean;
}

/**
 * Precaches the app shell and the package's own glue and wasm (so the app and
 * `init()` work offline), serves them cache-first, and serves the cached page
 * to navigations when the network is gone.
 *
 * ```ts
 * import { installOutboxSync, precache } from "outbox-sync/sw";
 * precache(self, { version: "2026-12-01", urls: ["./", "./index.html", "./app.js", "./app.css"] });
 * installOutboxSync(self);
 * ```
 */
export function precache(scope: WorkerScope, options: PrecacheOptions): { cacheName: string; urls: string[] };
