// The demo app: saves notes to the durable outbox, syncs them with the server
// it was loaded from, and shows what is pending and why.
import init, { Outbox } from "/pkg/outbox_sync.js";

const $ = (id) => document.getElementById(id);
const form = $("note-form");
const params = new URLSearchParams(location.search);
// The demo server's token (`npm start` uses demo-token); ?token=... overrides it.
const token = params.get("token") ?? localStorage.getItem("outbox-sync-demo-token") ?? "demo-token";
localStorage.setItem("outbox-sync-demo-token", token);

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? `${error.message} (${error.code ?? error.name})` : "";
}

async function refresh(outbox) {
  const status = await outbox.status();
  const settled = status.pending === 0 && status.failed === 0 && status.conflicts === 0;
  const problem = status.lastError ? `. ${status.lastError}` : "";
  $("status").textContent = settled
    ? "All changes saved"
    : `${status.message} — saved on this device${problem}`;
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
  await outbox.connect({ serverUrl: location.origin, token });
  // The service worker keeps the app usable offline and syncs with no page open.
  navigator.serviceWorker?.register("/sw.js", { type: "module" }).catch((error) => showError(error));

  // Syncs after each save, when back online, when shown, and when waiting changes fall due.
  outbox.startAutoSync();
  // This page, another tab or the service worker saved or synced: show the new state.
  outbox.subscribe(() => refresh(outbox));
  const run = async (work) => {
    try { showError(null); await work(); } catch (error) { showError(error); }
    await refresh(outbox);
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    run(() => outbox.put("notes", data.get("id"), { title: data.get("title"), body: data.get("body") }));
  });
  $("delete").addEventListener("click", () => run(() => outbox.delete("notes", form.elements.id.value)));
  $("load").addEventListener("click", () => run(async () => {
    const record = await outbox.get("notes", form.elements.id.value);
    form.elements.title.value = record?.fields?.title ?? "";
    form.elements.body.value = record?.fields?.body ?? "";
  }));
  // Everything waiting or failed is tried again now.
  $("retry").addEventListener("click", () => run(async () => {
    await outbox.retryNow();
    await outbox.syncNow();
  }));
  await refresh(outbox);
}

main().catch((error) => {
  showError(error);
  $("status").textContent = "The outbox could not be opened.";
});
