// outbox-sync/react: React hooks over the live stores of outbox-sync/live,
// on React's useSyncExternalStore (concurrent rendering safe, no tearing).
import { useMemo, useSyncExternalStore } from "react";
import { liveQuery, liveRecord, liveStatus, queryKey } from "../live/index.js";

/** Subscribes the component to a store; the server render sees its first value. */
function useStore(store) {
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}

/**
 * The records of a query, kept current: `{ records, next, loading, error }`.
 * Options are compared by value, so an inline object literal is fine. While
 * `outbox` is null or undefined (still opening) it is loading.
 *
 * @param {import("../live/index.js").Watchable | null | undefined} outbox
 * @param {string} collection
 * @param {import("../live/index.js").QueryOptions} [options]
 */
export function useQuery(outbox, collection, options) {
  const key = queryKey(options);
  // The options object is read only when the key (its value) changes.
  const store = useMemo(() => liveQuery(outbox, collection, options ?? {}), [outbox, collection, key]);
  return useStore(store);
}

/**
 * One record as this device shows it, kept current: undefined while loading,
 * null when there is none (or `id` is null). A failure is thrown to the
 * nearest error boundary.
 *
 * @param {import("../live/index.js").Watchable | null | undefined} outbox
 * @param {string} collection
 * @param {string | null | undefined} id
 */
export function useRecord(outbox, collection, id) {
  const store = useMemo(() => liveRecord(outbox, collection, id), [outbox, collection, id]);
  const state = useStore(store);
  if (state.error) throw state.error;
  return state.loading ? undefined : state.record;
}

/**
 * `outbox.status()`, kept current (saves, syncs here, in other tabs and the
 * service worker, online and offline): undefined until the first answer. A
 * failed read keeps the last status.
 *
 * @param {import("../live/index.js").StatusSource | null | undefined} outbox
 */
export function useStatus(outbox) {
  const store = useMemo(() => liveStatus(outbox), [outbox]);
  return useStore(store).status;
}
