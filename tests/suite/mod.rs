//! The IndexedDB outbox suite, shared by `browser.rs` (a page) and
//! `worker.rs` (a service worker). Every test opens its own randomly named
//! database, so tests never see each other's data.
//!
//! The store contract (`tests/contract/`, also run natively against
//! `MemoryOutbox`) runs here against `IdbOutbox` in [`store_contract`]; the
//! other modules test what only IndexedDB has: reopening, several
//! connections, closing, corrupt data, schema versions, and the network.

mod connections;
#[path = "../contract/mod.rs"]
mod contract;
mod decode;
mod durability;
mod errors;
mod net;
mod schema;
mod settings;
mod settle;

pub use contract::{key, patch, put, seqs, title, total};

use outbox_sync::core::StoreConfig;
use outbox_sync::store::IdbOutbox;

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

/// Empty IndexedDB outboxes, each in a database of its own.
struct Idb;

impl contract::Fresh for Idb {
    type Store = IdbOutbox;

    async fn open(&self, config: StoreConfig) -> IdbOutbox {
        fresh_with(config).await.0
    }

    async fn open_indexed(
        &self,
        config: StoreConfig,
        indexes: Vec<outbox_sync::core::index::IndexSpec>,
    ) -> IdbOutbox {
        IdbOutbox::open_with_indexes(&db_name(), config, Some(indexes))
            .await
            .expect("a fresh database opens with declared indexes")
    }
}

/// The store contract (`tests/contract/`) against IndexedDB.
mod store_contract {
    use super::{contract, Idb};

    contract::contract_suite!(wasm: Idb);
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
