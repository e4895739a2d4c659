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

/** The form's labels for the note's fields, as people read them in the conflict dialog. */
const FIELD_LABELS = { title: "Title", body: "Details", photo: "Photo" };

/** What a change did, in words. */
const OPERATIONS = { put: "Saved", patch: "Edited", delete: "Deleted" };

/** How each state reads in the pending list. */
const CHANGE_STATES = {
  queued: "Waiting to send",
  syncing: "Sending…",
  failed: "Not sent — needs you",
  conflict: "Changed elsewhere — choose a version",
  synced: "Sent",
};

// The developer switch: ?dev=1 shows the sync test harness (remembered on this
// device), ?dev=0 hides it again. Field workers never see it.
if (params.has("dev")) localStorage.setItem("outbox-sync-demo-dev", params.get("dev") === "1" ? "1" : "0");
const developer = localStorage.getItem("outbox-sync-demo-dev") === "1";

/** A fresh id for a new note: nobody types one, and two devices never pick the same. */
function newNoteId() {
  return `note-${crypto.randomUUID()}`;
}

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

// Photo thumbnails: a note's photo is read (from this device, or downloaded
// once on another one) only when its thumbnail comes into view, and each
// photo's picture is made once, by its hash, for every redraw of the list.
const pictures = new Map(); // sha256 -> Promise<object URL | null>
function pictureOf(photo) {
  if (!pictures.has(photo.sha256)) {
    // Offline on a device that has not got the photo yet: no thumbnail for now.
    const made = photo.blob().then((blob) => URL.createObjectURL(blob), () => null);
    made.then((url) => { if (!url) pictures.delete(photo.sha256); });
    pictures.set(photo.sha256, made);
  }
  return pictures.get(photo.sha256);
}
const onScreen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    onScreen.unobserve(entry.target);
    pictureOf(entry.target.photo).then((url) => { if (url) entry.target.src = url; });
  }
}, { rootMargin: "200px" }); // a little ahead of scrolling
/** A thumbnail of `photo` (a file reference), filled in once it is on screen. */
function thumbnail(photo) {
  const img = element("img", "thumb", "", { alt: "Photo", width: "48", height: "48" });
  img.photo = photo;
  onScreen.observe(img);
  return img;
}
const isPhoto = (value) => typeof value?.blob === "function" && typeof value?.sha256 === "string";

function showError(error) {
  $("error").hidden = !error;
  // People read the sentence; the code is for developers, on the console.
  $("error").textContent = error ? error.message : "";
  if (error) console.warn("outbox-sync demo:", error.code ?? error.name, error);
}

/** A field's value as people read it in the conflict dialog. */
function fieldWords(name, value) {
  if (value === undefined || value === null || value === "") return "(empty)";
  if (name === "photo") return "A photo";
  return String(value);
}

async function main() {
  await init();
  // Notes are listed by last change and searched by title: the title is indexed.
  const outbox = await Outbox.open("outbox-sync-demo", { collections: { notes: { indexes: ["title"] } } });
  await outbox.connect({ serverUrl: location.origin, token, debug: developer });
  $("harness").hidden = !developer;
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
    const settled = status.pending === 0 && status.failed === 0 && status.conflicts === 0 && !status.uploadMessage;
    // Offline, status() says "No internet connection" with no countdown: nothing is tried until then.
    const problem = problemWords(status.lastError, status.nextAttemptAt);
    const paused = status.paused ? " Sync is paused." : "";
    $("status").textContent = settled
      ? `All changes saved${paused}`
      : `${status.message} — saved on this device${problem ? `. ${problem}` : ""}${paused}` +
        (status.uploadMessage ? ` ${status.uploadMessage}` : "");
  }
  setInterval(renderStatus, 1000);

  async function refresh() {
    const status = await outbox.status();
    shownStatus = status;
    renderStatus();
    $("auth").hidden = !status.authRequired;
    $("pause").textContent = status.paused ? "Resume sync" : "Pause sync";
    await Promise.all([renderPending(), renderMetrics()]);
  }

  // Titles of the notes by id, for the pending list (a deleted note keeps the title it had).
  const titles = new Map();

  // The notes list is a live query: it redraws itself whenever a change
  // (here, in another tab, or synced by the service worker) alters it.
  const UNSENT = ["queued", "syncing", "failed", "conflict"];
  const EMPTY_WORDS = {
    all: "No notes yet.",
    unsent: "Every note is sent.",
    attention: "Nothing needs you.",
  };
  let stopWatching = null;
  function watchNotes() {
    const shown = document.querySelector('input[name="show"]:checked')?.value ?? "all";
    const search = $("note-search").value.trim();
    const where = {};
    if (shown === "unsent") where.$state = { in: UNSENT };
    if (shown === "attention") where.$state = { in: ["failed", "conflict"] };
    if (search) where.title = { startsWith: search };
    // Newest change first; a title search lists by title.
    const order = search && shown === "all" ? {} : { orderBy: "$updatedAt", direction: "desc" };
    stopWatching?.();
    stopWatching = outbox.watch("notes", { where, ...order, limit: 200 }, ({ records }) => renderNotes(records, shown, search), showError);
  }

  function renderNotes(notes, shown, search) {
    for (const note of notes) if (note.fields?.title) titles.set(note.recordId, note.fields.title);
    $("notes").replaceChildren(...notes.map((note) => {
      const item = element("li");
      const photo = note.fields.photo;
      if (isPhoto(photo)) item.append(thumbnail(photo));
      const open = button(note.fields.title ?? "Untitled note", () => load(note.recordId));
      open.className = "open";
      item.append(open, badge(note.state));
      return item;
    }));
    const empty = $("notes-empty");
    empty.hidden = notes.length > 0;
    empty.textContent = search ? `No note title starts with “${search}”.` : EMPTY_WORDS[shown];
  }
  $("note-filter").addEventListener("change", watchNotes);
  $("note-search").addEventListener("input", watchNotes);
  watchNotes();

  async function renderPending() {
    const changes = await outbox.pendingChanges(100);
    // The titles of the notes these changes belong to, even when the list is filtered.
    const unsent = await outbox.query("notes", { where: { $state: { in: UNSENT } }, limit: 500 });
    for (const note of unsent.records) if (note.fields?.title) titles.set(note.recordId, note.fields.title);
    $("pending").replaceChildren(...changes.map((change) => {
      const item = element("li");
      const title = titles.get(change.recordId) ?? "Untitled note";
      item.append(
        element("span", "state", CHANGE_STATES[change.state] ?? change.state),
        `${OPERATIONS[change.op] ?? "Changed"}: “${title}”`,
      );
      if (change.state === "failed") {
        // A retry is offered only where it can work (a change too large never can).
        if (change.canRetry) item.append(button("Retry", () => run(() => outbox.retryChange(change.eventId))));
        item.append(button("Discard", () => run(() => outbox.discardChange(change.eventId))));
      }
      if (developer && change.lastErrorDetail) console.info("outbox-sync demo:", change.eventId, change.lastErrorDetail);
      if (change.state === "conflict") item.append(button("Choose a version", () => resolve(change.eventId)));
      const files = change.files;
      if (files && files.sentBytes < files.bytes) {
        const percent = Math.floor((files.sentBytes * 100) / files.bytes);
        item.append(element("span", "reason", `Sending ${files.count === 1 ? "its photo" : `its ${files.count} files`}… ${percent} %`));
      }
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

  // The note being edited: its id (never typed by anyone) and its saved fields.
  let editing = { fields: null };
  // The photo shown with the form (each showing is counted, so a slow read
  // never shows an earlier note's photo), and the URL of the one just chosen.
  let photoShown = 0;
  let chosenPicture = null;

  /** Edits note `id` (a new one when it has no record yet). */
  function edit(id, fields = null) {
    form.reset(); // also clears the photo input: a photo belongs to one note only
    editing = { fields };
    form.dataset.noteId = id;
    form.elements.title.value = fields?.title ?? "";
    form.elements.body.value = fields?.body ?? "";
    $("editing").textContent = fields ? `Editing “${fields.title ?? "Untitled note"}”` : "A new note";
    $("delete").hidden = !fields;
    showPhoto(isPhoto(fields?.photo) ? pictureOf(fields.photo) : null);
  }

  /** Shows `picture` (a promise of an image URL, or null) as the note's photo. */
  function showPhoto(picture) {
    const preview = $("photo-preview");
    const token = ++photoShown;
    preview.hidden = true;
    preview.removeAttribute("src");
    picture?.then((url) => {
      if (!url || token !== photoShown) return; // another note or photo is shown by now
      preview.src = url;
      preview.hidden = false;
    });
  }
  form.elements.photo.addEventListener("change", () => {
    if (chosenPicture) URL.revokeObjectURL(chosenPicture);
    const file = form.elements.photo.files[0];
    chosenPicture = file ? URL.createObjectURL(file) : null;
    showPhoto(chosenPicture ? Promise.resolve(chosenPicture) : null);
  });

  async function load(id) {
    const record = await outbox.get("notes", id);
    edit(id, record?.fields ?? null);
  }

  async function resolve(eventId) {
    const conflict = (await outbox.conflicts()).find((c) => c.eventId === eventId);
    if (!conflict) return;
    const mine = conflict.mine ?? {};
    const theirs = conflict.theirs ?? {};
    $("conflict-reason").textContent =
      "Someone changed this note on another device while you were editing it. Keep your version, " +
      "use the other device's version, or pick one for each part below.";
    if (developer && conflict.reasonDetail) console.info("outbox-sync demo:", conflict.reasonDetail);
    // Only what differs between the two versions is offered as a choice.
    const same = (name) => JSON.stringify(mine[name] ?? null) === JSON.stringify(theirs[name] ?? null);
    const names = [...new Set([...Object.keys(FIELD_LABELS), ...Object.keys(theirs), ...Object.keys(mine)])]
      .filter((name) => (name in mine || name in theirs) && !same(name));
    $("conflict-fields").replaceChildren(...names.map((name) => {
      const row = element("tr");
      row.append(element("th", "", FIELD_LABELS[name] ?? name, { scope: "row" }));
      for (const [side, fields] of [["mine", mine], ["theirs", theirs]]) {
        const cell = element("td");
        const label = element("label");
        const radio = element("input", "", "", { type: "radio", name: `field-${name}`, value: side });
        radio.checked = side === "mine";
        label.append(radio, fieldWords(name, fields[name]));
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
        // The whole note: what both sides agree on, and the side picked where they differ.
        const merged = { ...theirs };
        for (const name of names) {
          const side = dialog.querySelector(`input[name="field-${name}"]:checked`)?.value;
          const source = side === "theirs" ? theirs : mine;
          if (name in source) merged[name] = source[name];
          else delete merged[name];
        }
        await outbox.resolveConflict(eventId, "merge", merged);
      }
    });
  }

  // Syncs after each save, when back online, when shown, and when waiting changes fall due.
  outbox.startAutoSync();
  // This page, another tab or the service worker saved or synced: show the new state.
  outbox.subscribe(() => refresh());
  addEventListener("online", () => refresh());
  addEventListener("offline", () => refresh());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    run(async () => {
      const fields = { title: data.get("title"), body: data.get("body") };
      const photo = data.get("photo");
      // The File itself: the outbox stores it as a file and uploads it before the note.
      if (photo && photo.size > 0) fields.photo = photo;
      else if (editing.fields?.photo) fields.photo = editing.fields.photo; // the photo it already has
      const id = form.dataset.noteId;
      await outbox.put("notes", id, fields);
      // Keep editing this note; its photo is saved, so the file input starts empty again.
      // Unless the person moved on to another note while it was being saved: their
      // new note stays as they left it.
      if (form.dataset.noteId === id) edit(id, fields);
    });
  });
  $("delete").addEventListener("click", () => run(async () => {
    await outbox.delete("notes", form.dataset.noteId);
    edit(newNoteId());
  }));
  $("new").addEventListener("click", () => edit(newNoteId()));
  edit(newNoteId());
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
