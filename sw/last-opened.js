// Which outbox database a page of this origin opened last, kept in a tiny
// IndexedDB database of its own, so a service worker that is given no
// database name syncs the right one. The page's `Outbox.open` writes it
// (`src/js/last_opened.rs`, which names the same database, store and key);
// `outbox-sync/sw` reads it.

/** The database, object store and key that hold `{ name, at }`. */
export const LAST_OPENED_DB = "outbox-sync-last-opened";
export const LAST_OPENED_STORE = "last";
export const LAST_OPENED_KEY = "database";

function openLastOpened() {
  return new Promise((resolve) => {
    if (typeof indexedDB === "undefined") return resolve(null);
    let request;
    try {
      request = indexedDB.open(LAST_OPENED_DB, 1);
    } catch {
      return resolve(null);
    }
    request.onupgradeneeded = () => request.result.createObjectStore(LAST_OPENED_STORE);
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
    request.onsuccess = () => resolve(request.result);
  });
}

/**
 * The outbox database a page of this origin opened last, or null when none has.
 *
 * @returns {Promise<string | null>}
 */
export async function lastOpenedDatabase() {
  const db = await openLastOpened();
  if (!db) return null;
  const name = await new Promise((resolve) => {
    try {
      const read = db.transaction(LAST_OPENED_STORE, "readonly").objectStore(LAST_OPENED_STORE).get(LAST_OPENED_KEY);
      read.onsuccess = () => resolve(typeof read.result?.name === "string" ? read.result.name : null);
      read.onerror = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
  db.close();
  return name;
}
