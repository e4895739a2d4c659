//! The store contract (`tests/contract/`) against `MemoryOutbox`, natively.
#![cfg(not(target_family = "wasm"))]

mod contract;

use outbox_sync::core::memory::MemoryOutbox;
use outbox_sync::core::StoreConfig;

/// Empty in-memory outboxes.
struct Memory;

impl contract::Fresh for Memory {
    type Store = MemoryOutbox;

    async fn open(&self, config: StoreConfig) -> MemoryOutbox {
        MemoryOutbox::new(config)
    }
}

contract::contract_suite!(native: Memory);
