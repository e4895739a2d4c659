//! Reads a range of the records store or one of its indexes: the one read
//! a query plan needs from IndexedDB.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbRequest, IdbTransaction};

use super::schema::{BY_PENDING, BY_STATE, BY_UPDATED, LEASES, OUTBOX, RECORDS};

use crate::core::index::{IndexRef, Shown};
use crate::core::lease::{BatchLease, Leases};
use crate::core::outbox::shown_state;
use crate::core::query_key::{Key, KeyRange};
use crate::core::{EventState, RecordKey, StoreError};

// Queries talk to IndexedDB directly (web-sys), not through
// indexed_db_futures: its transaction sets up three closures and a channel,
// and ending it early means an explicit commit or abort, which cost a query
// of 100 records a tenth of its time or more in Chromium. Here the
// read-only transaction commits by itself once its requests are answered,
// as in plain JavaScript.

#[wasm_bindgen]
extern "C" {
    /// A plain data object: a stored record, or one a query makes.
    type Plain;
    #[wasm_bindgen(method, structural, indexing_getter)]
    fn get(this: &Plain, name: &JsValue) -> JsValue;
    #[wasm_bindgen(method, structural, indexing_setter)]
    fn set(this: &Plain, name: &JsValue, value: &JsValue);
}

/// `object[name]`, a property of plain data. Such reads cannot throw, so
/// this skips the `Reflect.get` import's catching wrapper (a closure and an
/// `arguments` object per call, several calls per record).
fn prop(object: &JsValue, name: &JsValue) -> JsValue {
    object.unchecked_ref::<Plain>().get(name)
}

/// `object[name] = value` on a plain object, as [`prop`] reads.
fn set_prop(object: &JsValue, name: &JsValue, value: &JsValue) {
    object.unchecked_ref::<Plain>().set(name, value)
}

fn failed(what: &str) -> impl Fn(JsValue) -> StoreError + '_ {
    move |e: JsValue| StoreError::Backend {
        name: what.into(),
        message: format!("{e:?}"),
    }
}

/// Calls `target.method(a, b)`, an IndexedDB method.
fn call(target: &JsValue, method: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, StoreError> {
    let function: js_sys::Function = js_sys::Reflect::get(target, &method.into())
        .map_err(failed(method))?
        .dyn_into()
        .map_err(failed(method))?;
    function.call2(target, a, b).map_err(|e| thrown(method, e))
}

/// Calls `source.method(a, b)`: an IndexedDB call that makes a request.
fn request(
    source: &JsValue,
    method: &str,
    a: &JsValue,
    b: &JsValue,
) -> Result<IdbRequest, StoreError> {
    Ok(call(source, method, a, b)?.unchecked_into())
}

/// The error an IndexedDB call threw (a `DOMException`), as a store error.
pub(super) fn thrown(method: &str, e: JsValue) -> StoreError {
    match e.dyn_ref::<web_sys::DomException>() {
        Some(cause) => super::error::from_dom_name(&cause.name(), &cause.message()),
        None => failed(method)(e),
    }
}

/// Waits for `request`'s answer. IndexedDB answers a transaction's requests
/// in the order they were made: once the last is answered, all are.
async fn answered(request: &IdbRequest) -> Result<JsValue, StoreError> {
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    JsFuture::from(done)
        .await
        .map_err(|_| match request.error() {
            Ok(Some(cause)) => super::error::from_dom_name(&cause.name(), &cause.message()),
            _ => failed("request")(JsValue::from_str("the request failed")),
        })?;
    request.result().map_err(failed("result"))
}

/// An object store of `tx`, or one of its indexes (`index`).
fn source_of(tx: &IdbTransaction, store: &str, index: Option<&str>) -> Result<JsValue, StoreError> {
    let store = tx
        .object_store(store)
        .map_err(|e| thrown("objectStore", e))?;
    match index {
        None => Ok(store.into()),
        Some(name) => Ok(store.index(name).map_err(|e| thrown("index", e))?.into()),
    }
}

/// Reads `range` of `source` (an object store or an index): in key order
/// with one `getAll`, backwards with one `getAll({ query, direction, count })`
/// where the browser has it (IndexedDB 3: Chromium 141 and later, found as
/// Dexie finds it, by `getAllRecords`), else with a cursor one record a step.
async fn read(
    source: &JsValue,
    range: &KeyRange,
    backwards: bool,
    limit: Option<u32>,
) -> Result<Vec<JsRecord>, StoreError> {
    let names = names();
    let query: JsValue = web_sys::IdbKeyRange::bound_with_lower_open_and_upper_open(
        &array_of(&range.lower.key),
        &array_of(&range.upper.key),
        range.lower.open,
        range.upper.open,
    )
    .map_err(|e| thrown("IDBKeyRange.bound", e))?
    .into();
    let all: js_sys::Array = if !backwards {
        // IndexedDB reads a count of 0 as "all".
        let count = JsValue::from(limit.unwrap_or(0));
        answered(&request(source, "getAll", &query, &count)?)
            .await?
            .unchecked_into()
    } else if has_get_all_options(source) {
        // The values alone: `getAllRecords` would wrap each in an object
        // with its two keys, made and read for nothing.
        let options = js_sys::Object::new();
        set_prop(&options, &names.0[QUERY], &query);
        set_prop(&options, &names.0[DIRECTION], &names.0[PREV]);
        if let Some(limit) = limit {
            set_prop(&options, &names.0[COUNT], &limit.into());
        }
        answered(&request(source, "getAll", &options, &JsValue::UNDEFINED)?)
            .await?
            .unchecked_into()
    } else {
        let found = js_sys::Array::new();
        let cursor = request(source, "openCursor", &query, &names.0[PREV])?;
        let wanted = limit.unwrap_or(u32::MAX);
        while found.length() < wanted {
            let step = answered(&cursor).await?;
            if step.is_null() || step.is_undefined() {
                break;
            }
            found.push(&js_sys::Reflect::get(&step, &names.0[VALUE]).map_err(failed("value"))?);
            call(&step, "continue", &JsValue::UNDEFINED, &JsValue::UNDEFINED)?;
        }
        found
    };
    Ok(JsRecord::read_all(&all))
}

thread_local! {
    /// Whether this browser's `getAll` takes an options object (with a
    /// direction), asked once.
    static GET_ALL_OPTIONS: OnceCell<bool> = const { OnceCell::new() };
    /// The names a query uses, made once per page or worker.
    static NAMES: Rc<Names> = Rc::new(Names::new());
}

fn has_get_all_options(source: &JsValue) -> bool {
    GET_ALL_OPTIONS.with(|known| {
        *known
            .get_or_init(|| js_sys::Reflect::has(source, &"getAllRecords".into()).unwrap_or(false))
    })
}

/// The JavaScript property names a query reads and writes, and the names
/// of the states, made once per page or worker ([`names`]): a string passed
/// from Rust is decoded again on every call, and naming them afresh for
/// each record cost more than a tenth of a query's time (Chromium, 100
/// records).
pub struct Names(Vec<JsValue>, js_sys::Array);

/// The names [`Names`] holds: the stored record's, getAll's options'. The
/// states' are in its array, in the order of [`EventState::ALL`].
const NAME_TEXTS: [&str; 10] = [
    "collection",
    "record_id",
    "updated_at_ms",
    "local",
    "value",
    "state",
    // getAll's options.
    "query",
    "direction",
    "count",
    "prev",
];
const COLLECTION: usize = 0;
const RECORD_ID: usize = 1;
const UPDATED_AT_MS: usize = 2;
const LOCAL: usize = 3;
const VALUE: usize = 4;
const STATE: usize = 5;
const QUERY: usize = 6;
const DIRECTION: usize = 7;
const COUNT: usize = 8;
const PREV: usize = 9;

impl Names {
    fn new() -> Names {
        Names(
            NAME_TEXTS
                .iter()
                .map(|name| JsValue::from_str(name))
                .collect(),
            EventState::ALL
                .iter()
                .map(|state| JsValue::from_str(state.as_str()))
                .collect(),
        )
    }
}

/// The names a query uses ([`Names`]), shared by every query of this page
/// or worker.
pub fn names() -> Rc<Names> {
    NAMES.with(Rc::clone)
}

#[wasm_bindgen(module = "/src/store/idb_rows.js")]
extern "C" {
    /// `[pending, deleted]` of each stored record of `rows`, in one call.
    #[wasm_bindgen(js_name = countsOf)]
    fn counts_of(rows: &js_sys::Array) -> Vec<f64>;
    /// The views of the stored records `rows` in the states `states`
    /// (indexes into `state_names`), and whether a field of one of them
    /// is an object or an array: `[views, mayHoldRefs]`.
    #[wasm_bindgen(js_name = viewsOf)]
    fn views_of(rows: &js_sys::Array, states: &[u8], state_names: &js_sys::Array) -> js_sys::Array;
    /// The stored record `row` with its base made its local view at
    /// `version` and nothing pending, as [`LocalRecord`](crate::core::LocalRecord)'s
    /// stored form has it (`base_is_local`), patched in place, in one call
    /// (for a settlement's `RecordWrite::Confirm`, see [`super::idb_write`];
    /// declared here with the file's other functions: a second block
    /// importing the same file makes the glue name it twice; `catch` makes
    /// it a named import as the others, not a second import of the file).
    #[wasm_bindgen(catch, js_name = confirmedRow)]
    pub(super) fn confirmed_row(row: &JsValue, version: f64) -> Result<JsValue, JsValue>;
    /// The payloads of the stored events `rows`, in order, each taken out
    /// of its event (left `payload: null`), in one call: a settlement
    /// decodes a payload only when it needs it (see
    /// [`needs_payload`](crate::core::settle::needs_payload)).
    #[wasm_bindgen(js_name = takePayloads)]
    pub(super) fn take_payloads(rows: Vec<JsValue>) -> Vec<JsValue>;
    /// `[payloads, sizes]` of the stored events `rows`, each payload taken
    /// out of its event (left `payload: null`) and its approximate size
    /// (a `Float64Array`), in one call: a take holds them for the push
    /// (see [`super::outgoing`]).
    #[wasm_bindgen(js_name = holdPayloads)]
    pub(super) fn hold_payloads(rows: &js_sys::Array) -> js_sys::Array;
    /// `[answer, depth]`: a push's `200` answer `text` parsed in
    /// JavaScript, applied records without their `data`, and how deep it
    /// nests (no answer when deeper than `max_depth`); throws when it is
    /// not JSON (see `net::push`).
    #[wasm_bindgen(catch, js_name = pushAnswer)]
    pub(crate) fn push_answer(text: &JsValue, max_depth: u32) -> Result<JsValue, JsValue>;
    /// The JSON text of a push of the stored events `rows` with their
    /// `payloads`, built and stringified in JavaScript (see
    /// [`super::outgoing`]).
    #[wasm_bindgen(catch, js_name = pushBody)]
    pub(crate) fn push_body(
        rows: &js_sys::Array,
        payloads: &js_sys::Array,
    ) -> Result<JsValue, JsValue>;
}

/// A stored record as a query reads it: the JavaScript object IndexedDB
/// gave, with its counters read out of it for the whole read in one call
/// ([`counts_of`]). Its fields are never converted: the page of results
/// hands them to JavaScript as they are ([`views`]). Anything else (its
/// collection and id, a field, its time) is read from it only when asked
/// for: for a filter, a record with unsent changes, the last of a page.
#[derive(Debug, Clone)]
pub struct JsRecord {
    /// The stored object (`{ collection, record_id, base, local, ... }`).
    pub raw: js_sys::Object,
    /// Its collection and id, copied when first asked for.
    collection: OnceCell<String>,
    record_id: OnceCell<String>,
    /// The stored count of unsent changes.
    pending: u32,
    /// Whether it shows no fields (`local` is missing: deleted, or never seen).
    deleted: bool,
    /// Its sync state, when read with it.
    state: Option<EventState>,
}

impl JsRecord {
    /// The stored objects of `rows` (a `getAll` answer), as records.
    fn read_all(rows: &js_sys::Array) -> Vec<JsRecord> {
        let counts = counts_of(rows);
        rows.iter()
            .zip(counts.chunks_exact(2))
            .map(|(raw, counts)| JsRecord {
                raw: raw.unchecked_into(),
                collection: OnceCell::new(),
                record_id: OnceCell::new(),
                pending: counts[0] as u32,
                deleted: counts[1] != 0.0,
                state: None,
            })
            .collect()
    }

    fn text(&self, name: usize) -> String {
        prop(&self.raw, &names().0[name])
            .as_string()
            .unwrap_or_default()
    }
}

/// The records of a page, each in its state, as `get()` shows them
/// (`RecordView` in src/js/views.rs; the values are the stored ones
/// themselves), made in one call to JavaScript; and whether a field of
/// one of them is an object or an array (only those can hold a file
/// reference).
pub fn views(records: &[(JsRecord, EventState)]) -> (js_sys::Array, bool) {
    let rows = js_sys::Array::new_with_length(records.len() as u32);
    let mut states = Vec::with_capacity(records.len());
    for (i, (record, state)) in records.iter().enumerate() {
        rows.set(i as u32, record.raw.clone().into());
        let at = EventState::ALL.iter().position(|s| s == state).unwrap_or(0);
        states.push(at as u8);
    }
    let made = views_of(&rows, &states, &names().1);
    (made.get(0).unchecked_into(), made.get(1).is_truthy())
}

impl Shown for JsRecord {
    fn collection(&self) -> &str {
        // A record's key is its collection and id, so both are strings.
        self.collection.get_or_init(|| self.text(COLLECTION))
    }

    fn record_id(&self) -> &str {
        self.record_id.get_or_init(|| self.text(RECORD_ID))
    }

    fn pending(&self) -> u32 {
        self.pending
    }

    fn updated_at_ms(&self) -> u64 {
        prop(&self.raw, &names().0[UPDATED_AT_MS])
            .as_f64()
            .unwrap_or(0.0) as u64
    }

    fn is_deleted(&self) -> bool {
        self.deleted
    }

    fn field(&self, name: &str) -> Option<Key> {
        if self.deleted {
            return None;
        }
        let local = prop(&self.raw, &names().0[LOCAL]);
        key_from_js(&prop(&local, &name.into()))
    }

    fn known_state(&self) -> Option<EventState> {
        self.state
    }
}

/// A key as a JavaScript array (every index key here is one).
pub fn array_of(key: &Key) -> js_sys::Array {
    match key {
        Key::Array(items) => items.iter().map(js_of_key).collect(),
        single => js_sys::Array::of1(&js_of_key(single)),
    }
}

fn js_of_key(key: &Key) -> JsValue {
    match key {
        Key::Num(n) => JsValue::from_f64(*n),
        Key::Str(s) => JsValue::from_str(s),
        Key::Array(_) => array_of(key).into(),
    }
}

/// The key a JavaScript value makes, as [`Key::from_value`] for JSON.
pub fn key_from_js(value: &JsValue) -> Option<Key> {
    if let Some(n) = value.as_f64() {
        return n.is_finite().then_some(Key::Num(n));
    }
    if let Some(s) = value.as_string() {
        return Some(Key::Str(s));
    }
    let items = value.dyn_ref::<js_sys::Array>()?;
    items
        .iter()
        .map(|item| key_from_js(&item))
        .collect::<Option<Vec<_>>>()
        .map(Key::Array)
}

/// The records of `index` of the records store whose keys lie in `range`,
/// in key order or backwards, at most `limit`, read in `tx` (on the records
/// and the outbox), with the sync states of those with unsent changes read
/// in the same transaction where [`states_from`] can.
///
/// The states are read with [`send_state_reads`]: after the records, when
/// some have unsent changes (a second round trip to IndexedDB), or before
/// them, together with them, when the last read in this page or worker
/// found some (a live query of unsent changes asks again and again).
pub(super) async fn scan(
    tx: &IdbTransaction,
    index: &IndexRef,
    range: &KeyRange,
    backwards: bool,
    limit: Option<u32>,
) -> Result<Vec<JsRecord>, StoreError> {
    let name = match index {
        IndexRef::Primary => None,
        IndexRef::UpdatedAt => Some(BY_UPDATED.to_owned()),
        IndexRef::Pending => Some(BY_PENDING.to_owned()),
        IndexRef::Declared(spec) => Some(spec.name()),
    };
    let sent_before = if SAW_UNSENT.get() {
        Some(send_state_reads(tx)?)
    } else {
        None
    };
    let mut found = read(
        &source_of(tx, RECORDS, name.as_deref())?,
        range,
        backwards,
        limit,
    )
    .await?;
    let unsent = found.iter().any(|r| r.pending > 0);
    SAW_UNSENT.set(unsent);
    if !unsent {
        return Ok(found);
    }
    // Sent before the records' read, they were answered before it.
    let reads = match sent_before {
        Some(reads) => reads,
        None => {
            let reads = send_state_reads(tx)?;
            answered(&reads[2]).await?;
            reads
        }
    };
    if none_found(&reads)? {
        // No change is being sent, refused or in conflict: every unsent
        // one is queued. (The usual case, decided without the records' keys.)
        for record in found.iter_mut().filter(|r| r.pending > 0) {
            record.state = Some(EventState::Queued);
        }
        return Ok(found);
    }
    let keys: Vec<RecordKey> = found
        .iter()
        .filter(|r| r.pending > 0)
        .map(|r| RecordKey {
            collection: r.collection().to_owned(),
            record_id: r.record_id().to_owned(),
        })
        .collect();
    if let Some(states) = states_from(&reads, &keys)? {
        let mut states = states.into_iter();
        for record in found.iter_mut().filter(|r| r.pending > 0) {
            record.state = states.next();
        }
    }
    Ok(found)
}

/// Whether the answered [`send_state_reads`] found nothing: no lease, no
/// change refused, in conflict or stored as being sent.
fn none_found(reads: &[IdbRequest; 3]) -> Result<bool, StoreError> {
    for read in reads {
        let found: js_sys::Array = read.result().map_err(failed("result"))?.unchecked_into();
        if found.length() > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

thread_local! {
    /// Whether the last read of records in this page or worker found some
    /// with unsent changes: the next one then reads the states with them.
    static SAW_UNSENT: Cell<bool> = const { Cell::new(false) };
}

/// Changes read at most per group of states in [`states_from`]; past it the
/// caller reads each record's changes instead.
const NOT_QUEUED_READ: u32 = 256;

/// Asks, in `tx`, for the unsent changes in the states other than queued
/// (being sent, refused, in conflict: few, as a rule), for [`states_from`]:
/// two requests from the outbox's index by state, and the batch leases
/// (changes being sent are held by a lease and stored as queued; the
/// "syncing" state read is for changes a level-4 library stored so).
fn send_state_reads(tx: &IdbTransaction) -> Result<[IdbRequest; 3], StoreError> {
    let by_state = source_of(tx, OUTBOX, Some(BY_STATE))?;
    let range = |lower: EventState, upper: EventState| {
        web_sys::IdbKeyRange::bound(&lower.as_str().into(), &upper.as_str().into())
            .map(JsValue::from)
            .map_err(|e| thrown("IDBKeyRange.bound", e))
    };
    // The index sorts states as text: conflict, failed, queued, synced, syncing.
    let count = JsValue::from(NOT_QUEUED_READ);
    let refused = request(
        &by_state,
        "getAll",
        &range(EventState::Conflict, EventState::Failed)?,
        &count,
    )?;
    let sending = request(
        &by_state,
        "getAll",
        &range(EventState::Syncing, EventState::Syncing)?,
        &count,
    )?;
    let undefined = JsValue::UNDEFINED;
    let held = request(
        &source_of(tx, LEASES, None)?,
        "getAll",
        &undefined,
        &undefined,
    )?;
    Ok([refused, sending, held])
}

/// The state each record of `keys` (records with unsent changes) shows, in
/// order, from the answered [`send_state_reads`], without reading each
/// record's changes: a record whose unsent changes are all queued shows
/// "queued". `None` when there are too many others: read each record's.
fn states_from(
    reads: &[IdbRequest; 3],
    keys: &[RecordKey],
) -> Result<Option<Vec<EventState>>, StoreError> {
    let [refused, sending, held] = reads;
    let mut shown = vec![EventState::Queued; keys.len()];
    let held = held.result().map_err(failed("result"))?;
    let held = super::requests::from_js::<Vec<BatchLease>>(held)?.unwrap_or_default();
    for key in Leases::new(held).records() {
        for (mine, shown) in keys.iter().zip(shown.iter_mut()) {
            if *mine == key {
                *shown = shown_state(&[*shown, EventState::Syncing]);
            }
        }
    }
    let names = names();
    let field = &names.0[STATE];
    for request in [refused, sending] {
        let events: js_sys::Array = request.result().map_err(failed("result"))?.unchecked_into();
        if events.length() >= NOT_QUEUED_READ {
            return Ok(None);
        }
        for event in events.iter() {
            let text = |name: &JsValue| js_sys::Reflect::get(&event, name).ok()?.as_string();
            let state = text(field).and_then(|name| EventState::parse(&name));
            let (Some(collection), Some(record_id), Some(state)) =
                (text(&names.0[COLLECTION]), text(&names.0[RECORD_ID]), state)
            else {
                return Err(StoreError::Corrupt(
                    "a stored change has no record or state".into(),
                ));
            };
            for (key, shown) in keys.iter().zip(shown.iter_mut()) {
                if key.collection == collection && key.record_id == record_id {
                    *shown = shown_state(&[*shown, state]);
                }
            }
        }
    }
    Ok(Some(shown))
}
