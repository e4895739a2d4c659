// The demo app: inspection notes saved on the device first, synced by the
// outbox, with every state shown in words. "Saved" means the server has it;
// anything else is "saved on this device".
import init, { Outbox } from "/pkg/outbox_sync.js";

const $ = (id) => document.getElementById(id);
const form = $("note-form");
const params = new URLSearchParams(location.search);
// The demo server's token (`npm start` uses demo-token); ?token=... overrides it.
const token = params.get("token") ?? localStorage.getItem("outbox-sync-demo-token") ?? "demo-token";
localStorage.setItem("outbox-sync-demo-token", token);

/** How each state reads next to a note. */
const BADGES = {
  synced: ["✓", "Saved"],
  queued: ["○", "Saved on this device"],
  syncing: ["↻", "Sending…"],
  failed: ["!", "Not sent — needs you"],
  conflict: ["⇄", "Changed elsewhere — choose"],
};

function badge(state) {
  const [icon, label] = BADGES[state] ?? ["?", state];
  const span = element("span", `badge state-${state}`);
  span.append(element("span", "", icon, { "aria-hidden": "true" }), label);
  return span;
}

/** When `at` (ms since the epoch) comes, as people say it: "now", "in 30 s", "in 2 min". */
function whenWords(at) {
  const seconds = Math.ceil((at - Date.now()) / 1000);
  if (seconds <= 0) return "now";
  return seconds <= 90 ? `in ${seconds} s` : `in ${Math.ceil(seconds / 60)} min`;
}

/** A problem and, while changes wait for their next try, a live countdown. */
function problemWords(lastError, nextAttemptAt) {
  if (!lastError) return "";
  return nextAttemptAt ? `${lastError}, retrying ${whenWords(nextAttemptAt)}` : lastError;
}

function element(tag, className = "", text = "", attributes = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function button(label, onClick) {
  const node = element("button", "", label, { type: "button" });
  node.addEventListener("click", onClick);
  return node;
}

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? `${error.message} (${error.code ?? error.name})` : "";
}

function readPhoto(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function main() {
  await init();
  const outbox = await Outbox.open("outbox-sync-demo");
  await outbox.connect({ serverUrl: location.origin, token });
  // The service worker keeps the app usable offline and syncs with no page open.
  navigator.serviceWorker?.register("/sw.js", { type: "module" }).catch(showError);

  const run = async (work) => {
    try {
      showError(null);
      await work();
    } catch (error) {
      showError(error);
    }
    await refresh();
  };

  // The status line is redrawn every second so its countdown stays true.
  let shownStatus = null;
  function renderStatus() {
    const status = shownStatus;
    if (!status) return;
    const settled = status.pending === 0 && status.failed === 0 && status.conflicts === 0;
    const problem = problemWords(status.lastError, status.nextAttemptAt);
    const paused = status.paused ? " Sync is paused." : "";
    $("status").textContent = settled
      ? `All changes saved${paused}`
      : `${status.message} — saved on this device${problem ? `. ${problem}` : ""}${paused}`;
  }
  setInterval(renderStatus, 1000);

  async function refresh() {
    const status = await outbox.status();
    shownStatus = status;
    renderStatus();
    $("auth").hidden = !status.authRequired;
    $("pause").textContent = status.paused ? "Resume sync" : "Pause sync";
    await Promise.all([renderNotes(), renderPending(), renderMetrics()]);
  }

  async function renderNotes() {
    const notes = await outbox.list("notes", 200);
    $("notes").replaceChildren(...notes.filter((n) => n.fields).map((note) => {
      const item = element("li");
      const title = `${note.fields.title ?? note.recordId}${note.fields.photo ? " 📷" : ""}`;
      item.append(button(title, () => load(note.recordId)), badge(note.state));
      item.firstChild.className = "open";
      return item;
    }));
  }

  async function renderPending() {
    const changes = await outbox.pendingChanges(100);
    $("pending").replaceChildren(...changes.map((change) => {
      const item = element("li");
      item.append(element("span", "state", change.state), `${change.op} ${change.collection}/${change.recordId}`);
      if (change.state === "failed") {
        item.append(
          button("Retry", () => run(() => outbox.retryChange(change.eventId))),
          button("Discard", () => run(() => outbox.discardChange(change.eventId))),
        );
      }
      if (change.state === "conflict") item.append(button("Choose a version", () => resolve(change.eventId)));
      if (change.lastError) {
        const waiting = change.state === "queued" ? change.nextAttemptAt : null;
        item.append(element("span", "reason", problemWords(change.lastError, waiting)));
      }
      return item;
    }));
  }

  async function renderMetrics() {
    const harness = $("harness");
    if (!harness.open) return;
    const m = await outbox.metrics();
    const rows = [
      ["Queue length", m.queueLength],
      ["Attempts", m.attempts],
      ["Retry rate", `${(m.retryRate * 100).toFixed(0)} %`],
      ["Time to sync (p50 / p95)", m.timeToSyncP50Ms == null ? "—" : `${m.timeToSyncP50Ms} ms / ${m.timeToSyncP95Ms} ms`],
      ["Conflict rate", `${(m.conflictRate * 100).toFixed(0)} %`],
      ["Failures by endpoint", Object.entries(m.failuresByEndpoint).map(([k, v]) => `${k}: ${v}`).join(", ") || "none"],
    ];
    $("metrics").replaceChildren(...rows.flatMap(([name, value]) => [element("dt", "", name), element("dd", "", String(value))]));
  }

  async function load(id) {
    const record = await outbox.get("notes", id);
    form.elements.id.value = id;
    form.elements.title.value = record?.fields?.title ?? "";
    form.elements.body.value = record?.fields?.body ?? "";
  }

  async function resolve(eventId) {
    const conflict = (await outbox.conflicts()).find((c) => c.eventId === eventId);
    if (!conflict) return;
    const mine = conflict.mine ?? {};
    const theirs = conflict.theirs ?? {};
    $("conflict-reason").textContent =
      "Someone changed this note while you were editing it. Keep your version, use the latest one, " +
      "or pick each field and merge.";
    const names = [...new Set([...Object.keys(theirs), ...Object.keys(mine)])].sort();
    $("conflict-fields").replaceChildren(...names.map((name) => {
      const row = element("tr");
      row.append(element("th", "", name, { scope: "row" }));
      for (const [side, fields] of [["mine", mine], ["theirs", theirs]]) {
        const cell = element("td");
        const label = element("label");
        const radio = element("input", "", "", { type: "radio", name: `field-${name}`, value: side });
        radio.checked = side === "mine" ? name in mine : !(name in mine);
        label.append(radio, String(fields[name] ?? "—"));
        cell.append(label);
        row.append(cell);
      }
      return row;
    }));
    const dialog = $("conflict");
    dialog.showModal();
    dialog.onclose = () => run(async () => {
      const choice = dialog.returnValue;
      if (choice === "mine" || choice === "theirs") await outbox.resolveConflict(eventId, choice);
      if (choice === "merge") {
        const merged = {};
        for (const name of names) {
          const side = dialog.querySelector(`input[name="field-${name}"]:checked`)?.value;
          const source = side === "theirs" ? theirs : mine;
          if (name in source) merged[name] = source[name];
        }
        await outbox.resolveConflict(eventId, "merge", merged);
      }
    });
  }

  // Syncs after each save, when back online, when shown, and when waiting changes fall due.
  outbox.startAutoSync();
  // This page, another tab or the service worker saved or synced: show the new state.
  outbox.subscribe(() => refresh());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    run(async () => {
      const fields = { title: data.get("title"), body: data.get("body") };
      const photo = data.get("photo");
      if (photo && photo.size > 0) fields.photo = await readPhoto(photo);
      await outbox.put("notes", data.get("id"), fields);
    });
  });
  $("load").addEventListener("click", () => run(() => load(form.elements.id.value)));
  $("delete").addEventListener("click", () => run(() => outbox.delete("notes", form.elements.id.value)));
  $("new").addEventListener("click", () => {
    form.reset();
    form.elements.id.value = `note-${crypto.randomUUID().slice(0, 8)}`;
  });
  // Everything waiting or failed is tried again now.
  $("retry").addEventListener("click", () => run(async () => {
    await outbox.retryNow();
    await outbox.syncNow();
  }));
  $("force").addEventListener("click", () => $("retry").click());
  $("pause").addEventListener("click", () => run(async () => {
    const { paused } = await outbox.status();
    await (paused ? outbox.resume() : outbox.pause());
  }));
  $("auth").addEventListener("submit", (event) => {
    event.preventDefault();
    const fresh = new FormData($("auth")).get("token");
    localStorage.setItem("outbox-sync-demo-token", fresh);
    run(async () => {
      await outbox.setCredentials(fresh);
      await outbox.syncNow();
    });
  });
  for (const faultButton of document.querySelectorAll("[data-fault]")) {
    faultButton.addEventListener("click", () => run(async () => {
      const settings = faultButton.dataset.fault;
      const response = await fetch("/v1/_faults", settings
        ? { method: "POST", headers: { "Content-Type": "application/json" }, body: settings }
        : { method: "DELETE" });
      if (!response.ok) throw new Error(`The server refused the simulation (HTTP ${response.status}); start it with --enable-fault-injection.`);
    }));
  }
  $("harness").addEventListener("toggle", () => renderMetrics());
  await refresh();
}

main().catch((error) => {
  showError(error);
  $("status").textContent = "The outbox could not be opened.";
});
