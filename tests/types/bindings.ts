// The declarations of outbox-sync/live and outbox-sync/react, used as an app
// would (checked by tsc, never run).
import type { LocalRecord, Outbox, OutboxMessage, Status } from "outbox-sync";
import { liveQuery, liveRecord, liveStatus, queryKey, type QueryOptions, type QueryResult, type Readable, type QueryState } from "outbox-sync/live";
import { useQuery, useRecord, useStatus } from "outbox-sync/react";

/** Any object with the query contract. */
declare const outbox: {
  watch(collection: string, options: QueryOptions, callback: (result: QueryResult) => void, onError?: (error: Error) => void): () => void;
  status(): Promise<Status>;
  subscribe(listener: (message: OutboxMessage) => void): () => void;
};

const options: QueryOptions = {
  where: { site: "north", updatedAt: { between: [0, 10] }, title: { startsWith: "Pump" }, count: { gte: 3, lt: 9 }, $state: { in: ["queued", "failed"] } },
  orderBy: "$updatedAt",
  direction: "desc",
  limit: 50,
  after: "cursor",
};
const unsent: Readable<QueryState> = liveQuery(outbox, "notes", options);
const stop: () => void = unsent.subscribe(({ records, next, loading, error }) => {
  const first: LocalRecord | undefined = records[0];
  const more: string | null = next;
  const busy: boolean = loading;
  const failed: Error | null = error;
  void [first, more, busy, failed];
});
stop();
liveQuery(null, "notes");
const note = liveRecord(outbox, "notes", "n1").get().record;
const status: Status | undefined = liveStatus(outbox).get().status;
const key: string = queryKey(options);
void [note, status, key];

// The real Outbox has everything the stores and hooks need.
declare const real: Outbox;
liveQuery(real, "notes", options);
liveRecord(real, "notes", "n1");
liveStatus(real);
useRecord(real, "notes", "n1");
useStatus(real);

const result = useQuery(outbox, "notes", { where: { site: "north" } });
const list: readonly LocalRecord[] = result.records;
const one: LocalRecord | null | undefined = useRecord(undefined, "notes", null);
const line: Status | undefined = useStatus(outbox);
void [list, one, line];

// @ts-expect-error: where values are strings, numbers or conditions
liveQuery(outbox, "notes", { where: { site: true } });
// @ts-expect-error: direction is "asc" or "desc"
useQuery(outbox, "notes", { direction: "up" });
