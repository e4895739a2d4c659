// The demo app: saves notes to the durable outbox and shows what is pending.
import init, { Outbox } from "/pkg/outbox_sync.js";

const $ = (id) => document.getElementById(id);
const form = $("note-form");

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? `${error.message} (${error.code ?? error.name})` : "";
}

async function refresh(outbox) {
  const status = await outbox.status();
  $("status").textContent = status.pending === 0 && status.failed === 0 && status.conflicts === 0
    ? "Nothing waiting to be sent"
    : `${status.message} — saved on this device`;
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
  await refresh(outbox);
}

main().catch((error) => {
  showError(error);
  $("status").textContent = "The outbox could not be opened.";
});
