// outbox-sync/sw: wires the outbox into an app's service worker.
import init, { Outbox } from "../pkg/outbox_sync.js";

/**
 * Syncs the outbox `database` from this service worker: on Background Sync
 * (`sync`), when a page asks (`message`), and on `activate` (the fallback
 * where Background Sync is missing). Service workers forbid top-level await,
 * so the module is initialised on the first event, inside `waitUntil`.
 *
 * @param {{ addEventListener(type: string, listener: (event: any) => void): void }} scope `self`
 * @param {{ database: string | (() => string | Promise<string>) }} options
 * @returns {() => Promise<Outbox>} opens (once) and returns the outbox
 */
export function installOutboxSync(scope, options) {
  const database = options?.database;
  if (typeof database !== "string" && typeof database !== "function") {
    throw new TypeError(
      'installOutboxSync(self, { database }) needs the outbox database name the pages open, e.g. { database: "my-app" }.',
    );
  }
  let opened = null;
  const outbox = () =>
    (opened ??= init().then(async () => Outbox.open(typeof database === "function" ? await database() : database)));
  for (const type of ["sync", "message", "activate"]) {
    scope.addEventListener(type, (event) => event.waitUntil(outbox().then((o) => o.handleEvent(event))));
  }
  return outbox;
}
