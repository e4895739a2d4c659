//! The IndexedDB outbox suite, shared by `browser.rs` (a page) and
//! `worker.rs` (a service worker). Every test opens its own randomly named
//! database, so tests never see each other's data.

mod drain;
mod durability;
mod errors;
mod net;
mod schema;
mod settings;
mod settle;
mod sync;

use outbox_sync::core::{EventState, NewEvent, Operation, OutboxStore, RecordKey, StoreConfig};
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::{Map, Value};

/// A database name no other test uses.
pub fn db_name() -> String {
    format!("outbox-test-{}", uuid::Uuid::now_v7())
}

/// An outbox in a fresh database, with its name.
pub async fn fresh() -> (IdbOutbox, String) {
    fresh_with(StoreConfig::default()).await
}

/// An outbox with `config` in a fresh database, with its name.
pub async fn fresh_with(config: StoreConfig) -> (IdbOutbox, String) {
    let name = db_name();
    (
        IdbOutbox::open(&name, config)
            .await
            .expect("a fresh database opens"),
        name,
    )
}

/// A put of `{ title }` on `notes/<record>`.
pub fn put(record: &str, title: &str) -> NewEvent {
    let fields = Map::from([("title".to_owned(), Value::from(title))]);
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(fields),
    }
}

/// A patch setting one field on `notes/<record>`.
pub fn patch(record: &str, field: &str, value: Value) -> NewEvent {
    let fields = Map::from([(field.to_owned(), value)]);
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Patch,
        payload: Value::Object(fields),
    }
}

/// The key of `notes/<record>`.
pub fn key(record: &str) -> RecordKey {
    RecordKey {
        collection: "notes".into(),
        record_id: record.into(),
    }
}

/// The title the user sees on `notes/<record>`.
pub async fn title(outbox: &IdbOutbox, record: &str) -> Option<Value> {
    let record = outbox.record(&key(record)).await.unwrap()?;
    record.local?.get("title").cloned()
}

/// The seqs of `events`, in order.
pub fn seqs(events: &[outbox_sync::core::OutboxEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.seq.expect("stored events have a seq"))
        .collect()
}

/// How many events are in the outbox, whatever their state.
pub async fn total(outbox: &IdbOutbox) -> u32 {
    let mut total = 0;
    for state in EventState::ALL {
        total += outbox.count(state).await.unwrap();
    }
    total
}

/// The suite really runs where its harness says: `worker.rs` in a service
/// worker (no `window` there), `browser.rs` in a page.
#[wasm_bindgen_test::wasm_bindgen_test]
fn runs_in_the_environment_its_harness_names() {
    let global = js_sys::global();
    let scope = js_sys::Object::get_prototype_of(&global)
        .constructor()
        .name();
    let expected = if module_path!().starts_with("worker") {
        "ServiceWorkerGlobalScope"
    } else {
        "Window"
    };
    assert_eq!(
        String::from(scope),
        expected,
        "running in {}",
        module_path!()
    );
}
