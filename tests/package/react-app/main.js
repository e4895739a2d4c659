// A small React app on the installed package, as a web developer would write
// it (createElement instead of JSX, so the build needs no React plugin): the
// north site's notes through useQuery, one note through useRecord, the status
// line through useStatus. The test drives it through globalThis.app.
import init, { Outbox } from "outbox-sync";
import { useQuery, useRecord, useStatus } from "outbox-sync/react";
import { createElement as h, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(location.search);
/** How many live queries the app started: the hooks must not start one per render. */
globalThis.watchCalls = 0;
let renders = 0;

function Notes({ outbox }) {
  renders++;
  // An inline options literal, a new object every render.
  const { records, loading, error } = useQuery(outbox, "notes", { where: { site: "north" }, orderBy: "$id" });
  if (error) return h("p", { id: "notes-error", role: "alert" }, error.message);
  if (loading) return h("p", { id: "notes-loading" }, "Loading…");
  return h(
    "ul",
    { id: "notes", "data-renders": renders },
    records.map((r) => h("li", { key: r.recordId, "data-id": r.recordId, "data-state": r.state }, r.fields.title)),
  );
}

function Chosen({ outbox }) {
  const note = useRecord(outbox, "notes", "n1");
  return h("p", { id: "chosen" }, note === undefined ? "…" : note === null ? "No note chosen" : note.fields.title);
}

function StatusLine({ outbox }) {
  const status = useStatus(outbox);
  return h("p", { id: "status", "data-pending": status?.pending ?? "" }, status ? status.message : "Opening the outbox…");
}

function App() {
  const [outbox, setOutbox] = useState(null);
  useEffect(() => {
    (async () => {
      await init();
      const opened = await Outbox.open(params.get("db") ?? "react-app", { collections: { notes: { indexes: ["site"] } } });
      await opened.connect({ serverUrl: location.origin, token: params.get("token") });
      const watch = opened.watch.bind(opened);
      opened.watch = (...args) => {
        globalThis.watchCalls++;
        return watch(...args);
      };
      globalThis.app = { outbox: opened };
      setOutbox(opened);
      document.body.dataset.ready = "true";
    })().catch((error) => {
      document.body.dataset.failed = error.message;
    });
  }, []);
  return h("main", null, h(StatusLine, { outbox }), h(Chosen, { outbox }), h(Notes, { outbox }));
}

createRoot(document.getElementById("root")).render(h(App));
