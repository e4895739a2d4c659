//! TypeScript declarations of the shapes the `Outbox` methods take and return.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A JSON value: what record fields are made of. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A record's fields. */
export type Fields = { [field: string]: JsonValue };
/** Fields as `put()` takes them: JSON, and `Blob`s/`File`s (stored as files) or `BlobRef`s from `get()`. */
export type FieldsIn = { [field: string]: FieldValueIn };
/** Fields as `get()`, `list()` and queries give them: JSON, with a `BlobRef` for each file. */
export type FieldsOut = { [field: string]: FieldValueOut };
/** A field value as read back. */
export type FieldValueOut = JsonValue | BlobRef | FieldValueOut[] | { [key: string]: FieldValueOut };
/** A field value `put()` takes. */
export type FieldValueIn = JsonValue | Blob | BlobRef | FieldValueIn[] | { [key: string]: FieldValueIn };

/** Where a change is in its life. */
export type ChangeState = "queued" | "syncing" | "synced" | "failed" | "conflict";

/** One change in the outbox. */
export interface Change {
  /** The change's id: its idempotency key on the server. */
  eventId: string;
  collection: string;
  recordId: string;
  op: "put" | "patch" | "delete";
  state: ChangeState;
  /** How many times it was handed to a drainer. */
  attempts: number;
  /** When it was saved (ms since the epoch). */
  createdAt: number;
  /** Not sent before this time (backoff), or null. */
  nextAttemptAt: number | null;
  /** The last failure, as a sentence for the user (no versions, sizes, HTTP terms or ids), or null. */
  lastError: string | null;
  /** The technical cause for developers (the server's answer, its status), or null. Never show it to users. */
  lastErrorDetail: string | null;
  /** False when retrying it unchanged can never work (a change too large for the server): offer Discard only. */
  canRetry: boolean;
  /** In `pendingChanges()`, for a change with files: how many, their bytes, and the bytes the server has. */
  files?: { count: number; bytes: number; sentBytes: number };
}

/** A record as this device sees it: the server's version with pending changes applied. */
export interface LocalRecord {
  collection: string;
  recordId: string;
  /** The fields, or null once deleted; a file field is a `BlobRef`. */
  fields: FieldsOut | null;
  /** The server version the pending changes are based on, or null. */
  version: number | null;
  /** Changes not yet confirmed by the server. */
  pending: number;
  /** "synced" when the server has everything, else the most pressing pending change's state. */
  state: ChangeState;
  /** When the record last changed on this device (ms since the epoch): a change made here, or a newer version pulled. */
  updatedAt: number;
}

/** The outbox at a glance, for a status line. */
export interface Status {
  queued: number;
  syncing: number;
  failed: number;
  conflicts: number;
  /** queued + syncing */
  pending: number;
  /** A sentence such as "3 changes pending" or "All changes saved". */
  message: string;
  online: boolean;
  paused: boolean;
  /** The server wants new credentials: call setCredentials(). */
  authRequired: boolean;
  lastSyncedAt: number | null;
  /**
   * Why the last sync stopped, as a sentence for the user; `nextAttemptAt` says when the next try is.
   * While the browser is offline: "No internet connection", with no next attempt (nothing is tried until `online`).
   */
  lastError: string | null;
  /** The technical cause of lastError for developers (the server's answer), or null. */
  lastErrorDetail: string | null;
  nextAttemptAt: number | null;
  /** Total bytes of the files still on their way to the server (0 when none). */
  uploadingBytes: number;
  /** Bytes of those files the server has confirmed. */
  uploadedBytes: number;
  /** The files on their way, for people ("Sending a file… 40 %"), or null. */
  uploadMessage: string | null;
  /**
   * The device's storage for this app: whether the browser keeps it under storage pressure
   * (requested once a file is stored), and the bytes used of the quota; null where the browser does not say.
   */
  storage: { persisted: boolean | null; usage: number | null; quota: number | null };
}

/** Why a sync stopped before it was done. */
export interface SyncHalt {
  kind: "wait" | "auth" | "failed";
  /** For "wait": when to try again. */
  until: number | null;
  /** Why, as a sentence for the user. */
  reason: string;
  /** The technical cause for developers, or null. */
  detail: string | null;
}

/** What one sync did. */
export interface SyncReport {
  /** False when another tab or the service worker was syncing, or sync is paused. */
  ran: boolean;
  paused: boolean;
  synced: number;
  retried: number;
  failed: number;
  conflicts: number;
  /** Local records changed by pulled changes. */
  pulled: number;
  /** The server asked for a full resync, and got one. */
  resynced: boolean;
  /** When waiting changes fall due. */
  nextAttemptAt: number | null;
  /** Files now complete on the server. */
  filesSent: number;
  /** Bytes of files sent (and confirmed by the server) in this run. */
  uploadedBytes: number;
  halt: SyncHalt | null;
}

/** A change the server would not apply because the record changed there. */
export interface ConflictInfo {
  eventId: string;
  collection: string;
  recordId: string;
  /** "Your version": what this device showed; null if deleted here. */
  mine: Fields | null;
  /** The version both sides started from. */
  base: Fields | null;
  /** "Latest version": the server's; null if deleted there. */
  theirs: Fields | null;
  theirsVersion: number;
  /** For merge collections: the fields both sides changed. */
  fields: string[];
  /** Why, as a sentence for the user (no versions or field keys). */
  reason: string;
  /** The server's own account for developers (versions, the fields both changed), or null. */
  reasonDetail: string | null;
}

/** Sync metrics kept with the outbox. */
export interface SyncMetrics {
  queueLength: number;
  runs: number;
  attempts: number;
  retries: number;
  retryRate: number;
  synced: number;
  failed: number;
  conflicts: number;
  conflictRate: number;
  timeToSyncP50Ms: number | null;
  timeToSyncP95Ms: number | null;
  failuresByEndpoint: { [endpoint: string]: number };
}

/** Options of connect(). */
export interface ConnectOptions {
  /**
   * The sync server: https://host (the server must allow this page's origin:
   * `outbox-sync-server --cors-origin https://app.example`), or a path on this
   * origin such as "/" (no CORS at all, e.g. behind the same reverse proxy).
   */
  serverUrl: string;
  /** The bearer token. */
  token?: string;
  /** How long a request may take (1 to 600000 ms, default 30000). */
  timeoutMs?: number;
  /** Most changes per push (1 to 1000, default 100). */
  batchSize?: number;
  /** Log every event id sent, synced, retried or failed to the console, with the technical detail of each failure. */
  debug?: boolean;
}

/** Options of Outbox.open(). */
export interface OpenOptions {
  /** "strict" (default): a change is on disk before put() resolves. "relaxed": faster; it survives a closed tab or a crashed browser, not always a power cut. */
  durability?: "strict" | "relaxed";
  /** How long a synced change stays in the outbox (ms, default 0: removed once the server confirmed it). */
  syncedRetentionMs?: number;
  /**
   * The most bytes of files (Blob fields) kept on this device, default 256 MiB (268435456).
   * Past it, copies the server holds (downloaded, or sent from here) are removed, least
   * recently used first; blob() downloads them again. A file not yet sent is never removed.
   * Saved, so the service worker keeps the same cap.
   */
  fileCacheBytes?: number;
  /**
   * The indexes query() and watch() use, per collection: a field name, or an
   * array of them for a compound index ("$updatedAt" is the last change).
   * A changed declaration rebuilds the indexes when opening; pending changes stay.
   * @example { notes: { indexes: ["site", ["site", "updatedAt"], "title"] } }
   */
  collections?: Record<string, { indexes: (string | string[])[] }>;
}

/** A value an index holds: a string or a finite number. */
export type QueryKey = string | number;

/** What one field must be: a value (equal to it), or an object of operators. */
export type Condition =
  | QueryKey
  | { gt?: QueryKey; gte?: QueryKey; lt?: QueryKey; lte?: QueryKey }
  | { between: [QueryKey, QueryKey] }
  | { startsWith: string }
  | { in: QueryKey[] };

/** A record's sync state, as `$state` queries it. */
export type RecordState = "synced" | "queued" | "syncing" | "failed" | "conflict";

/** What query() and watch() ask for. */
export interface QueryOptions {
  /**
   * Field → condition, on declared indexes. `$id` (the record id) and
   * `$state` (a RecordState, or { in: [...] }) are always available.
   */
  where?: Record<string, Condition> & { $state?: RecordState | { in: RecordState[] } };
  /** An indexed field, "$id" or "$updatedAt". Default: the index's order (by $id with no condition). */
  orderBy?: string;
  direction?: "asc" | "desc";
  /** At most this many records (default 100, at most 10000). */
  limit?: number;
  /** The `next` of the page before. */
  after?: string | null;
  /** Allow conditions no index serves: reads every record of the collection. */
  scan?: boolean;
}

/** One page of query results. */
export interface QueryResult {
  records: LocalRecord[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/** Options of signOut(). */
export interface SignOutOptions {
  /** Delete changes that have not reached the server too. */
  discardPending?: boolean;
}

/** What subscribe() listeners receive. */
export interface OutboxMessage {
  type: "changed" | "synced";
  /** On a save or retry: the collections changed, and the records as [collection, recordId]. */
  collections?: string[];
  keys?: [string, string][];
}

/** The stable codes of OutboxError. */
export type OutboxErrorCode =
  | "invalid_change" | "invalid_argument" | "invalid_state" | "not_connected" | "pending_changes"
  | "retry_later" | "cannot_discard" | "duplicate_event" | "event_not_found" | "quota_exceeded"
  | "upgrade_blocked" | "newer_schema" | "storage_unavailable" | "corrupt_data" | "storage_error"
  | "invalid_query" | "index_needed";

/** Every rejected promise of this package is an OutboxError. */
export interface OutboxError extends Error {
  name: "OutboxError";
  code: OutboxErrorCode;
  /** The technical cause for developers (the browser's storage error, the schema versions), when there is one; the message is for people. */
  detail?: string;
}
"#;
