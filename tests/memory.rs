//! The store contract (`tests/contract/`) against `MemoryOutbox`, natively.
#![cfg(not(target_family = "wasm"))]

mod contract;

use outbox_sync::core::memory::MemoryOutbox;
use outbox_sync::core::index::IndexSpec;
use outbox_sync::core::StoreConfig;

/// Empty in-memory outboxes.
struct Memory;

impl contract::Fresh for Memory {
    type Store = MemoryOutbox;

    async fn open(&self, config: StoreConfig) -> MemoryOutbox {
        MemoryOutbox::new(config)
    }

    async fn open_indexed(&self, config: StoreConfig, indexes: Vec<IndexSpec>) -> MemoryOutbox {
        MemoryOutbox::with_indexes(config, indexes)
    }
}

contract::contract_suite!(native: Memory);
