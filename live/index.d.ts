// outbox-sync/live: live values of an outbox as framework-free stores (the Svelte store contract).
import type { LocalRecord, OutboxMessage, QueryOptions, QueryResult, Status } from "../pkg/outbox_sync.js";

export type { Condition, QueryKey, QueryOptions, QueryResult, RecordState } from "../pkg/outbox_sync.js";

/** What liveQuery() and liveRecord() need of an outbox (an `Outbox` has it). */
export interface Watchable {
  watch(
    collection: string,
    options: QueryOptions,
    callback: (result: QueryResult) => void,
    onError?: (error: Error) => void,
  ): () => void;
}

/** What liveStatus() needs of an outbox (an `Outbox` has it). */
export interface StatusSource {
  status(): Promise<Status>;
  subscribe(listener: (message: OutboxMessage) => void): () => void;
}

/**
 * A store: `subscribe(run)` calls `run(value)` at once and after every change,
 * and returns a function that stops it (the Svelte store contract); `get()`
 * reads the current value.
 */
export interface Readable<T> {
  subscribe(run: (value: T) => void): () => void;
  get(): T;
}

/** What a query store holds. */
export interface QueryState {
  records: readonly LocalRecord[];
  /** The cursor of the next page, or null on the last page. */
  next: string | null;
  /** True until the first result (and while `outbox` is null). */
  loading: boolean;
  /** The last failure (the records before it stay), or null. */
  error: Error | null;
}

/** What a record store holds. */
export interface LiveRecordState {
  /** The record as this device shows it, or null when there is none. */
  record: LocalRecord | null;
  loading: boolean;
  error: Error | null;
}

/** What a status store holds. */
export interface StatusState {
  /** Undefined until the first answer. */
  status: Status | undefined;
  error: Error | null;
}

/**
 * The records a query returns, kept current by `outbox.watch`. `outbox` may be
 * null or undefined while it is being opened (the store stays loading).
 *
 * ```ts
 * const unsent = liveQuery(outbox, "notes", { where: { $state: { in: ["queued", "failed"] } } });
 * const stop = unsent.subscribe(({ records }) => render(records));
 * ```
 */
export function liveQuery(
  outbox: Watchable | null | undefined,
  collection: string,
  options?: QueryOptions,
): Readable<QueryState>;

/** One record, kept current (`id` null: nothing chosen, the record is null). */
export function liveRecord(
  outbox: Watchable | null | undefined,
  collection: string,
  id: string | null | undefined,
): Readable<LiveRecordState>;

/** `outbox.status()`, read again after every change, sync and online/offline switch. */
export function liveStatus(outbox: StatusSource | null | undefined): Readable<StatusState>;

/** A key equal for query options equal by value (object keys in any order). */
export function queryKey(options: QueryOptions | null | undefined): string;
