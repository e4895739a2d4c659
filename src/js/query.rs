//! `query()`, `watch()` and the declared indexes of `Outbox.open()`: the
//! JavaScript side of [`crate::core::query`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::error::{js_error, ErrorCode, InvalidArgument};
use super::outbox::{value_arg, Outbox};
use super::promise::promise;
use crate::core::index::IndexSpec;
use crate::core::query::{plan, Direction, QueryError, QueryOptions, QueryPlan};
use crate::core::query_run::run_query;
use crate::engine::broadcast::{listen_locally, listen_to_others, LocalListener};
use crate::store::idb_query::{array_of, key_from_js, views};
use crate::store::{IdbOutbox, WriteListener};

impl ErrorCode for QueryError {
    fn code(&self) -> &str {
        QueryError::code(self)
    }
}

#[wasm_bindgen]
impl Outbox {
    /// The records of `collection` that match `options.where`, as this
    /// device shows them (pending changes applied, each with its `state`),
    /// ordered by `options.orderBy`, at most `options.limit` (100), after
    /// `options.after` (the `next` of the page before). `next` is `null` on
    /// the last page. A condition on a field with no declared index is
    /// refused with the index to declare, unless `scan: true`.
    ///
    /// ```ts
    /// const { records, next } = await outbox.query("notes", {
    ///   where: { site: "North yard" }, orderBy: "updatedAt", direction: "desc", limit: 20,
    /// });
    /// const unsent = await outbox.query("notes", { where: { $state: { in: ["queued", "failed"] } } });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<QueryResult>")]
    pub fn query(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "QueryOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        let planned = plan_of(&store, &collection, &options);
        promise(async move {
            let page = page_of(&store, &planned?).await?;
            if !page.may_hold_refs {
                return Ok(page.value);
            }
            super::blobs::attach_refs(&store, page.value, None).await
        })
    }

    /// Calls `callback` with the result of `query(collection, options)` at
    /// once, then again each time a committed change alters it: a save in
    /// this page, another tab or the service worker, or a pull. Bursts of
    /// changes give one call; results never arrive out of order. Returns a
    /// function that stops watching.
    ///
    /// ```ts
    /// const stop = outbox.watch("notes", { orderBy: "$updatedAt", direction: "desc" },
    ///   ({ records }) => render(records));
    /// ```
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(unchecked_param_type = "QueryOptions")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(result: QueryResult) => void")]
        callback: js_sys::Function,
        #[wasm_bindgen(
            js_name = "onError",
            unchecked_optional_param_type = "(error: Error) => void"
        )]
        on_error: Option<js_sys::Function>,
    ) -> Result<js_sys::Function, JsValue> {
        let watch = Rc::new(Watch {
            plan: plan_of(&self.store, &collection, &options)?,
            store: self.store.clone(),
            callback,
            on_error,
            last: RefCell::default(),
            last_summary: RefCell::default(),
            running: Cell::new(false),
            dirty: Cell::new(false),
            stopped: Cell::new(false),
            this: RefCell::default(),
        });
        *watch.this.borrow_mut() = Rc::downgrade(&watch);
        // This page's own changes are heard at once; the others' come over
        // the one channel of the database this page shares. Changes saved
        // through this connection are heard before their commit: the query
        // reads again in a transaction IndexedDB starts once the write has
        // finished, without waiting for the commit to be reported here.
        let local: Rc<dyn LocalListener> = watch.clone();
        let writes: Rc<dyn WriteListener> = watch.clone();
        listen_locally(&self.store, Rc::downgrade(&local));
        listen_to_others(&self.store.name(), Rc::downgrade(&local));
        self.store.listen_to_writes(Rc::downgrade(&writes));
        refresh(&watch);
        let stop = Closure::once_into_js(move || {
            watch.stopped.set(true);
            drop(local);
            drop(writes);
        });
        Ok(stop.unchecked_into())
    }
}

#[wasm_bindgen(module = "/src/store/idb_rows.js")]
extern "C" {
    /// A few values of each record of a page of results (key, time,
    /// counters, state) and its `next`, as one string: pages whose
    /// summaries differ differ.
    #[wasm_bindgen(js_name = summaryOf)]
    fn summary_of(page: &JsValue) -> js_sys::JsString;
}

/// One live query: its plan, its listener and the last result it gave.
struct Watch {
    store: Rc<IdbOutbox>,
    plan: QueryPlan,
    callback: js_sys::Function,
    on_error: Option<js_sys::Function>,
    /// The last result delivered, as JSON (a JavaScript string, compared
    /// there, never copied into wasm), to call back only on a change.
    last: RefCell<Option<js_sys::JsString>>,
    /// The last result's summary ([`summary_of`]), compared first.
    last_summary: RefCell<Option<js_sys::JsString>>,
    /// A run is under way.
    running: Cell<bool>,
    /// A change came after the running query started: run again.
    dirty: Cell<bool>,
    stopped: Cell<bool>,
    /// The watch itself, for a run started by this page's own change.
    this: RefCell<std::rc::Weak<Watch>>,
}

impl LocalListener for Watch {
    fn changed(&self, message: &JsValue) {
        if touches(message, &self.plan.collection) {
            if let Some(watch) = self.this.borrow().upgrade() {
                refresh(&watch);
            }
        }
    }
}

impl WriteListener for Watch {
    fn committing(&self, collections: &[&str]) {
        if collections.contains(&self.plan.collection.as_str()) {
            if let Some(watch) = self.this.borrow().upgrade() {
                refresh(&watch);
            }
        }
    }
}

/// Runs the watch's query again, unless a run is under way: that run then
/// goes once more when it ends, so a burst of changes costs two runs at most
/// and the last result delivered is always the newest.
fn refresh(watch: &Rc<Watch>) {
    watch.dirty.set(true);
    if watch.running.replace(true) {
        return;
    }
    let watch = watch.clone();
    wasm_bindgen_futures::spawn_local(async move {
        while watch.dirty.replace(false) && !watch.stopped.get() {
            let result = page_of(&watch.store, &watch.plan).await;
            if watch.stopped.get() {
                break;
            }
            match result {
                Ok(page) => deliver(&watch, page).await,
                Err(error) => report(&watch, &error),
            }
        }
        watch.running.set(false);
    });
}

/// Calls the watch back with `page` when it differs from the last result
/// delivered. Told apart first by their summaries ([`summary_of`]), made
/// in JavaScript from a few values a record: a page whose summary differs
/// is new, and is delivered before its JSON text is made (that text,
/// which a later page with the same summary is compared with, cost as
/// much as the query's read for a page of 1 KB records). Pages with files
/// are compared by their text first, as it also says whether they need
/// handles ([`super::blobs::attach_refs`]).
async fn deliver(watch: &Watch, page: Page) {
    let summary = summary_of(&page.value);
    let same_summary = watch.last_summary.borrow().as_ref() == Some(&summary);
    let mut text = None;
    if same_summary || page.may_hold_refs {
        text = js_sys::JSON::stringify(&page.value).ok();
        if same_summary && text.is_some() && *watch.last.borrow() == text {
            return;
        }
    }
    *watch.last_summary.borrow_mut() = Some(summary);
    let value = if page.may_hold_refs {
        // Files become handles after the comparison: a handle is new each run.
        match super::blobs::attach_refs(&watch.store, page.value.clone(), text.as_ref()).await {
            Ok(value) => value,
            Err(error) => return report(watch, &error),
        }
    } else {
        page.value.clone()
    };
    if watch.stopped.get() {
        return;
    }
    let _ = watch.callback.call1(&JsValue::NULL, &value);
    if text.is_none() {
        // After the call: the next page is compared with this text only
        // when its summary is the same.
        text = js_sys::JSON::stringify(&page.value).ok();
    }
    *watch.last.borrow_mut() = text;
}

/// Hands a failed run's error to the watch's `onError`, or the console.
fn report(watch: &Watch, error: &JsValue) {
    match &watch.on_error {
        Some(on_error) => {
            let _ = on_error.call1(&JsValue::NULL, error);
        }
        None => web_sys::console::error_2(&"outbox-sync: a watched query failed".into(), error),
    }
}

/// Whether a broadcast message may change `collection`: messages that name
/// the collections they changed say so; the others may change anything.
fn touches(message: &JsValue, collection: &str) -> bool {
    let named = js_sys::Reflect::get(message, &"collections".into()).unwrap_or_default();
    match named.dyn_ref::<js_sys::Array>() {
        Some(names) => names.includes(&JsValue::from_str(collection), 0),
        None => true,
    }
}

/// One page of results as JavaScript (`value`: `{ records, next }`).
struct Page {
    value: JsValue,
    /// Whether some record has a field that is an object or an array: only
    /// those can hold a file reference, which becomes a handle
    /// ([`super::blobs::attach_refs`]). Records of plain fields need no
    /// search for them (their JSON text cost a tenth of a query).
    may_hold_refs: bool,
}

/// One page of results as JavaScript: `{ records, next }`, each record shaped
/// as `get()` returns it. The fields are the stored objects themselves (read
/// by IndexedDB for this call): nothing is converted through Rust.
async fn page_of(store: &IdbOutbox, plan: &QueryPlan) -> Result<Page, JsValue> {
    let page = run_query(store, plan).await?;
    let (records, may_hold_refs) = views(&page.records);
    let next = match &page.next {
        // The cursor is the key's JSON text, made and read by JavaScript.
        Some(key) => js_sys::JSON::stringify(&array_of(key))?.into(),
        None => JsValue::NULL,
    };
    let result = js_sys::Object::new();
    js_sys::Reflect::set(&result, &"records".into(), &records)?;
    js_sys::Reflect::set(&result, &"next".into(), &next)?;
    Ok(Page {
        value: result.into(),
        may_hold_refs,
    })
}

fn plan_of(
    store: &IdbOutbox,
    collection: &JsValue,
    options: &JsValue,
) -> Result<QueryPlan, JsValue> {
    let collection = super::outbox::collection_arg(collection)?;
    let options = options_of(options)?;
    use crate::core::OutboxStore;
    plan(&collection, &options, &store.declared_indexes()).map_err(|e| js_error(&e))
}

/// Reads `{ where, orderBy, direction, limit, after, scan }`.
fn options_of(options: &JsValue) -> Result<QueryOptions, JsValue> {
    let mut query = QueryOptions::default();
    if options.is_undefined() || options.is_null() {
        return Ok(query);
    }
    let bad = |text: &str| js_error(&QueryError::Invalid(text.to_owned()));
    if !options.is_object() {
        return Err(bad(
            "The query options must be an object such as { where: { site: \"A\" }, limit: 20 }.",
        ));
    }
    let field = |name: &str| js_sys::Reflect::get(options, &name.into()).unwrap_or_default();
    let conditions = field("where");
    if !conditions.is_undefined() {
        match value_arg(conditions)? {
            outbox_sync_protocol::Value::Object(fields) => {
                query.conditions = fields.into_iter().collect()
            }
            _ => {
                return Err(bad(
                    "where must be an object of field: condition, such as { site: \"A\" }.",
                ))
            }
        }
    }
    let order_by = field("orderBy");
    if !order_by.is_undefined() {
        query.order_by = Some(
            order_by
                .as_string()
                .ok_or_else(|| bad("orderBy must be a field name."))?,
        );
    }
    let direction = field("direction");
    if !direction.is_undefined() {
        let name = direction.as_string().unwrap_or_default();
        query.direction = Direction::parse(&name).map_err(|e| js_error(&e))?;
    }
    let limit = field("limit");
    if !limit.is_undefined() {
        match limit.as_f64() {
            Some(n) if n.fract() == 0.0 && n >= 0.0 && n <= f64::from(u32::MAX) => {
                query.limit = Some(n as u32)
            }
            _ => return Err(bad("limit must be a whole number of records, such as 50.")),
        }
    }
    let after = field("after");
    if !after.is_undefined() && !after.is_null() {
        let key = after
            .as_string()
            .and_then(|text| js_sys::JSON::parse(&text).ok())
            .and_then(|parsed| key_from_js(&parsed));
        query.after = Some(key.ok_or_else(|| {
            bad("after must be the next value of an earlier page of this query.")
        })?);
    }
    query.scan = field("scan").is_truthy();
    Ok(query)
}

/// Reads `collections: { notes: { indexes: ["site", ["site", "updatedAt"]] } }`
/// from the options of `Outbox.open()`; `None` when it is not given.
pub(super) fn declared_indexes(options: &JsValue) -> Result<Option<Vec<IndexSpec>>, JsValue> {
    if !options.is_object() {
        return Ok(None);
    }
    let collections = js_sys::Reflect::get(options, &"collections".into()).unwrap_or_default();
    if collections.is_undefined() {
        return Ok(None);
    }
    let bad = |text: String| js_error(&InvalidArgument(text));
    let example = "collections: { notes: { indexes: [\"site\", [\"site\", \"updatedAt\"]] } }";
    if !collections.is_object() {
        return Err(bad(format!(
            "collections must be an object, as in {example}."
        )));
    }
    let mut specs = Vec::new();
    for entry in js_sys::Object::entries(collections.unchecked_ref()).iter() {
        let entry: js_sys::Array = entry.unchecked_into();
        let name = entry.get(0).as_string().unwrap_or_default();
        let indexes = js_sys::Reflect::get(&entry.get(1), &"indexes".into()).unwrap_or_default();
        let Some(indexes) = indexes.dyn_ref::<js_sys::Array>() else {
            return Err(bad(format!(
                "collections.{name} needs indexes: an array of field names or arrays of them, as in {example}."
            )));
        };
        for index in indexes.iter() {
            let fields: Option<Vec<String>> = match index.dyn_ref::<js_sys::Array>() {
                Some(parts) => parts.iter().map(|p| p.as_string()).collect(),
                None => index.as_string().map(|f| vec![f]),
            };
            let fields = fields.ok_or_else(|| {
                bad(format!("An index of collections.{name} must be a field name or an array of field names."))
            })?;
            let spec = IndexSpec::declared(&name, fields).map_err(|e| js_error(&e))?;
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
    }
    Ok(Some(specs))
}
