// The demo app: saves notes to the durable outbox, syncs them with the server
// it was loaded from, and shows what is pending and why.
import init, { Outbox } from "/pkg/outbox_sync.js";

const $ = (id) => document.getElementById(id);
const form = $("note-form");
const params = new URLSearchParams(location.search);
// The demo server's token (`npm start` uses demo-token); ?token=... overrides it.
const token = params.get("token") ?? localStorage.getItem("outbox-sync-demo-token") ?? "demo-token";
localStorage.setItem("outbox-sync-demo-token", token);

let lastProblem = null;

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? `${error.message} (${error.code ?? error.name})` : "";
}

async function refresh(outbox) {
  const status = await outbox.status();
  const settled = status.pending === 0 && status.failed === 0 && status.conflicts === 0;
  $("status").textContent = settled
    ? "All changes saved"
    : `${status.message} — saved on this device${lastProblem ? `. ${lastProblem}` : ""}`;
  const list = $("pending");
  list.replaceChildren(...(await outbox.pendingChanges(50)).map((change) => {
    const item = document.createElement("li");
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = change.state;
    item.append(state, `${change.op} ${change.collection}/${change.recordId}`);
    if (change.lastError) item.append(` — ${change.lastError}`);
    return item;
  }));
}

async function main() {
  await init();
  const outbox = await Outbox.open("outbox-sync-demo");
  outbox.connect({ serverUrl: location.origin, token });

  let syncing = null;
  let retryTimer = null;
  const sync = () => {
    // One sync at a time from this page; Web Locks keep other tabs out.
    clearTimeout(retryTimer);
    syncing ??= outbox.syncNow()
      .then((report) => {
        if (!report.ran) return;
        if (report.halt) lastProblem = report.halt.reason;
        else if (report.synced > 0 || report.nextAttemptAt == null) lastProblem = null;
        // Offline, a busy server, or changes backing off: try again when the engine says.
        const next = report.halt?.until ?? report.nextAttemptAt;
        if (next != null) retryTimer = setTimeout(sync, Math.max(0, next - Date.now()));
      })
      .catch((error) => { lastProblem = error.message; })
      .finally(() => { syncing = null; return refresh(outbox); });
    return syncing;
  };
  const run = async (work) => {
    try { showError(null); await work(); } catch (error) { showError(error); }
    await refresh(outbox);
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    run(() => outbox.put("notes", data.get("id"), { title: data.get("title"), body: data.get("body") }))
      .then(sync);
  });
  $("delete").addEventListener("click", () => run(() => outbox.delete("notes", form.elements.id.value)).then(sync));
  $("load").addEventListener("click", () => run(async () => {
    const record = await outbox.get("notes", form.elements.id.value);
    form.elements.title.value = record?.fields?.title ?? "";
    form.elements.body.value = record?.fields?.body ?? "";
  }));
  $("sync").addEventListener("click", sync);
  // Back online: what waited for the network is due now.
  addEventListener("online", () => outbox.retryNow(false).then(sync));
  document.addEventListener("visibilitychange", () => { if (!document.hidden) sync(); });
  await refresh(outbox);
  await sync();
}

main().catch((error) => {
  showError(error);
  $("status").textContent = "The outbox could not be opened.";
});
