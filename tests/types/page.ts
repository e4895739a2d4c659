// Uses the whole page API through the package's own exports; `tsc --noEmit`
// checks it against the generated declarations (npm test runs it).
import init, {
  Outbox,
  BlobRef,
  type Change,
  type ConflictInfo,
  type LocalRecord,
  type OutboxError,
  type OutboxMessage,
  type QueryOptions,
  type QueryResult,
  type Status,
  type SyncMetrics,
  type SyncReport,
} from "outbox-sync";

export async function usesEverything(userId: string, token: string): Promise<void> {
  await init();
  const outbox: Outbox = await Outbox.open(`my-app:${userId}`);
  const relaxed: Outbox = await Outbox.open(`my-app:${userId}:drafts`, { durability: "relaxed", syncedRetentionMs: 60_000, fileCacheBytes: 500_000_000 });
  relaxed.close();
  // @ts-expect-error: durability is "strict" or "relaxed"
  await Outbox.open("x", { durability: "fast" });
  await outbox.connect({ serverUrl: "https://sync.example.com", token, timeoutMs: 10_000, batchSize: 50, debug: false });

  const saved: Change = await outbox.put("notes", "n1", { title: "Pump 3 leaks", tags: ["pump"], priority: 2 });
  await outbox.patch("notes", "n1", { priority: null });
  // @ts-expect-error: fields are JSON values, not functions
  await outbox.put("notes", "n3", { callback: () => 1 });
  await outbox.delete("notes", "n2");
  const many: Change[] = await outbox.putMany("notes", [{ recordId: "n4", fields: { title: "Valve 2" } }]);
  const record: LocalRecord | null = await outbox.get("notes", "n1");
  const indexed: Outbox = await Outbox.open(`my-app:${userId}:q`, { collections: { notes: { indexes: ["site", ["site", "updatedAt"]] } } });
  const options: QueryOptions = { where: { site: "North", updatedAt: { gte: 0 }, $state: { in: ["queued", "failed"] } }, orderBy: "updatedAt", direction: "desc", limit: 20 };
  const page: QueryResult = await indexed.query("notes", options);
  const nextPage: QueryResult = await indexed.query("notes", { ...options, after: page.next });
  const firstRecord: LocalRecord | undefined = nextPage.records[0];
  // @ts-expect-error: $state is a record state
  await indexed.query("notes", { where: { $state: "lost" } });
  // @ts-expect-error: direction is "asc" or "desc"
  await indexed.query("notes", { direction: "up" });
  const stopWatching: () => void = indexed.watch("notes", { where: { site: "North" } }, (result: QueryResult) => result.records.length, (error: Error) => error.message);
  stopWatching();
  void firstRecord;
  const title: string | undefined = typeof record?.fields?.title === "string" ? record.fields.title : undefined;
  await outbox.put("notes", "n5", { title: "Pump 7", photo: new Blob(["jpeg bytes"], { type: "image/jpeg" }) });
  const photo = (await outbox.get("notes", "n5"))?.fields?.photo;
  if (photo instanceof BlobRef) {
    const file: Blob = await photo.blob();
    const shown: string = `${photo.type} ${photo.size} ${photo.sha256} ${photo.state}`;
    await outbox.put("notes", "n5", { title: "Pump 7 fixed", photo });
    void file, shown;
  }
  const state: "queued" | "syncing" | "synced" | "failed" | "conflict" | undefined = record?.state;

  const status: Status = await outbox.status();
  const line: string = status.authRequired ? "Sign in again" : (status.lastError ?? status.message);
  const pending: Change[] = await outbox.pendingChanges(20);
  const changed: number = await outbox.retryNow(false);
  await outbox.retryChange(saved.eventId);
  await outbox.discardChange(pending[0].eventId);

  const report: SyncReport = await outbox.syncNow();
  if (report.halt?.kind === "auth") await outbox.setCredentials("fresh-token");
  const via: "background-sync" | "message" | "page" = await outbox.requestSync();
  const stopAuto: () => void = outbox.startAutoSync();
  const stopListening: () => void = outbox.subscribe((message: OutboxMessage) => {
    if (message.type === "synced") void outbox.status();
  });
  // The README's form: an async listener.
  const render = (s: Status): string => s.message;
  outbox.subscribe(async () => render(await outbox.status()));
  const detail: string | null = status.lastErrorDetail;
  const retryable: boolean = pending[0].canRetry;
  const why: string | null = pending[0].lastErrorDetail;

  const conflicts: ConflictInfo[] = await outbox.conflicts();
  for (const c of conflicts) {
    const merged = { ...(c.theirs ?? {}), ...(c.mine ?? {}) };
    await outbox.resolveConflict(c.eventId, c.fields.length ? "merge" : "mine", merged);
    const reasons: [string, string | null] = [c.reason, c.reasonDetail];
    void reasons;
  }
  await outbox.resolveConflict(saved.eventId, "theirs");

  await outbox.pause();
  await outbox.resume();
  const metrics: SyncMetrics = await outbox.metrics();
  const p95: number | null = metrics.timeToSyncP95Ms;

  try {
    await outbox.signOut();
  } catch (error) {
    const failure = error as OutboxError;
    if (failure.code === "pending_changes") await outbox.signOut({ discardPending: true });
  }
  stopAuto();
  stopListening();
  outbox.close();
  console.log(title, state, line, changed, via, p95, detail, retryable, why);
}
