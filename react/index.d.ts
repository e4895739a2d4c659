// outbox-sync/react: React hooks (React 18 or later) for live queries, records and the status.
import type { LocalRecord, QueryOptions, Status } from "../pkg/outbox_sync.js";
import type { QueryState, StatusSource, Watchable } from "../live/index.js";

export type { Condition, QueryKey, QueryOptions, QueryResult, QueryState, StatusSource, Watchable } from "../live/index.js";

/**
 * The records of a query, kept current by `outbox.watch`. Options are compared
 * by value (an inline literal does not start a new query each render). While
 * `outbox` is null or undefined (still opening), `loading` is true.
 *
 * ```tsx
 * const { records, next, loading, error } = useQuery(outbox, "notes", { orderBy: "$updatedAt", direction: "desc", limit: 50 });
 * ```
 */
export function useQuery(
  outbox: Watchable | null | undefined,
  collection: string,
  options?: QueryOptions,
): QueryState;

/**
 * One record, kept current: undefined while loading, null when there is none
 * (or `id` is null). A failure is thrown to the nearest error boundary.
 */
export function useRecord(
  outbox: Watchable | null | undefined,
  collection: string,
  id: string | null | undefined,
): LocalRecord | null | undefined;

/** `outbox.status()`, kept current; undefined until the first answer (and while `outbox` is null). */
export function useStatus(outbox: StatusSource | null | undefined): Status | undefined;
