// outbox-sync/react against an in-memory outbox with the query contract,
// rendered by react-dom into a jsdom document: results and live updates,
// options compared by value, unsubscribing on unmount, an outbox not open yet,
// errors to the error boundary, Strict Mode and the server render.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { JSDOM } from "jsdom";
import { FakeOutbox, tick } from "./fake-outbox.mjs";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.navigator ??= dom.window.navigator;
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
after(() => dom.window.close());

const React = await import("react");
const { createRoot } = await import("react-dom/client");
const { renderToString } = await import("react-dom/server");
const { useQuery, useRecord, useStatus } = await import("../../react/index.js");
const { act, createElement: h, StrictMode, Component, useState } = React;

/** Renders `element` into a fresh container; returns { container, render, unmount }. */
async function mount(element) {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  await act(async () => root.render(element));
  return {
    container,
    render: (next) => act(async () => root.render(next)),
    unmount: async () => {
      await act(async () => root.unmount());
      container.remove();
    },
  };
}

/** Lets the fake outbox and React settle until `check()` holds (at most 2 s). */
async function until(check) {
  const deadline = Date.now() + 2_000;
  for (;;) {
    await act(async () => {
      await tick();
    });
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`not within 2 s: ${check}`);
  }
}

/** A list of note titles, the way an app shows a query. */
function Notes({ outbox, site, onRender = () => {} }) {
  onRender();
  const { records, loading, error, next } = useQuery(outbox, "notes", { where: { site }, orderBy: "title" });
  if (error) return h("p", { role: "alert" }, error.message);
  if (loading) return h("p", null, "Loading…");
  return h("ul", { "data-next": String(next) }, records.map((r) => h("li", { key: r.recordId }, `${r.fields.title} (${r.state})`)));
}

const items = (container) => [...container.querySelectorAll("li")].map((li) => li.textContent);

test("useQuery shows loading, then the records, and follows every committed change", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump", site: "north" });
  await outbox.put("notes", "b", { title: "Valve", site: "south" });
  const view = await mount(h(Notes, { outbox, site: "north" }));
  await until(() => items(view.container).length === 1);
  assert.deepEqual(items(view.container), ["Pump (queued)"]);
  assert.equal(view.container.querySelector("ul").dataset.next, "null");
  await act(() => outbox.put("notes", "c", { title: "Hose", site: "north" }));
  await until(() => items(view.container).length === 2);
  assert.deepEqual(items(view.container), ["Hose (queued)", "Pump (queued)"]);
  await act(() => outbox.put("notes", "a", { title: "Pump", site: "north" }, { state: "synced" }));
  await until(() => items(view.container).includes("Pump (synced)"));
  await view.unmount();
});

test("an inline options literal does not start a new query on re-render; options changed by value do, and the old one stops", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump", site: "north" });
  await outbox.put("notes", "b", { title: "Valve", site: "south" });
  let renders = 0;
  const onRender = () => renders++;
  const view = await mount(h(Notes, { outbox, site: "north", onRender }));
  await until(() => items(view.container).length === 1);
  for (let i = 0; i < 5; i++) await view.render(h(Notes, { outbox, site: "north", onRender }));
  assert.ok(renders >= 6, `rendered ${renders} times`);
  assert.equal(outbox.watchCalls.length, 1, "one live query for all those renders");
  await view.render(h(Notes, { outbox, site: "south", onRender }));
  await until(() => items(view.container)[0] === "Valve (queued)");
  assert.equal(outbox.watchCalls.length, 2);
  assert.equal(outbox.activeWatches, 1, "the first query was stopped");
  await view.unmount();
  assert.equal(outbox.activeWatches, 0, "unmounting stops the live query");
});

test("an outbox still opening (null) shows loading, then the records once it is there", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump", site: "north" });
  const view = await mount(h(Notes, { outbox: null, site: "north" }));
  assert.equal(view.container.textContent, "Loading…");
  await view.render(h(Notes, { outbox: undefined, site: "north" }));
  assert.equal(view.container.textContent, "Loading…");
  await view.render(h(Notes, { outbox, site: "north" }));
  await until(() => items(view.container).length === 1);
  await view.unmount();
});

test("a refused query is the hook's error, with the message that says what to do", async () => {
  const outbox = new FakeOutbox();
  function Unindexed() {
    const { error, loading } = useQuery(outbox, "notes", { where: { priority: "high" } });
    return h("p", null, loading ? "Loading…" : error ? error.message : "no error");
  }
  const view = await mount(h(Unindexed));
  await until(() => view.container.textContent !== "Loading…");
  assert.match(view.container.textContent, /has no index: declare it in Outbox.open/);
  await view.unmount();
});

/** The record's title, with undefined (loading) and null (none) told apart. */
function Title({ outbox, id }) {
  const note = useRecord(outbox, "notes", id);
  return h("p", null, note === undefined ? "Loading…" : note === null ? "No such note" : note.fields.title);
}

class Boundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  render() {
    return this.state.error ? h("p", { role: "alert" }, `Failed: ${this.state.error.message}`) : this.props.children;
  }
}

test("useRecord: undefined while loading, the record and its changes, null once deleted or with no id; a failure reaches the error boundary", async (t) => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump" });
  const view = await mount(h(Title, { outbox, id: "a" }));
  assert.equal(view.container.textContent, "Loading…");
  await until(() => view.container.textContent === "Pump");
  await act(() => outbox.put("notes", "a", { title: "Pump 3" }));
  await until(() => view.container.textContent === "Pump 3");
  await act(() => outbox.delete("notes", "a"));
  await until(() => view.container.textContent === "No such note");
  await view.render(h(Title, { outbox, id: null }));
  assert.equal(view.container.textContent, "No such note");
  await view.unmount();
  assert.equal(outbox.activeWatches, 0);

  // React logs errors caught by a boundary; keep the test output clean.
  t.mock.method(console, "error", () => {});
  await outbox.put("notes", "b", { title: "Valve" });
  const failing = await mount(h(Boundary, null, h(Title, { outbox, id: "b" })));
  await until(() => failing.container.textContent === "Valve");
  await act(async () => outbox.failWatches(new Error("The device's storage is not available.")));
  await until(() => failing.container.textContent.startsWith("Failed"));
  assert.equal(failing.container.textContent, "Failed: The device's storage is not available.");
  await failing.unmount();
});

test("useStatus: undefined first, then the status, kept current after saves; unsubscribed on unmount", async () => {
  const outbox = new FakeOutbox();
  const seen = [];
  function Line() {
    const status = useStatus(outbox);
    seen.push(status?.message);
    return h("p", null, status ? status.message : "…");
  }
  const view = await mount(h(Line));
  await until(() => view.container.textContent === "All changes saved");
  assert.equal(seen[0], undefined, "undefined until the first answer");
  await act(() => outbox.put("notes", "a", { title: "Pump" }));
  await until(() => view.container.textContent === "1 change pending");
  assert.equal(outbox.listeners.size, 1);
  await view.unmount();
  assert.equal(outbox.listeners.size, 0);
  const none = await mount(h(function NoOutbox() {
    return h("p", null, String(useStatus(null)));
  }));
  assert.equal(none.container.textContent, "undefined");
  await none.unmount();
});

test("Strict Mode's double effects leave one live query, which follows changes", async () => {
  const outbox = new FakeOutbox();
  await outbox.put("notes", "a", { title: "Pump", site: "north" });
  function App() {
    const [site] = useState("north");
    return h(Notes, { outbox, site });
  }
  const view = await mount(h(StrictMode, null, h(App)));
  await until(() => items(view.container).length === 1);
  assert.equal(outbox.activeWatches, 1);
  await act(() => outbox.put("notes", "b", { title: "Anchor", site: "north" }));
  await until(() => items(view.container).length === 2);
  await view.unmount();
  assert.equal(outbox.activeWatches, 0);
});

test("the server render shows the loading state and never queries", () => {
  const outbox = new FakeOutbox();
  const html = renderToString(h("div", null, h(Notes, { outbox, site: "north" }), h(Title, { outbox, id: "a" })));
  assert.equal(html, "<div><p>Loading…</p><p>Loading…</p></div>");
  assert.equal(outbox.watchCalls.length, 0);
});
