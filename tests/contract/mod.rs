//! The store contract: one suite of generic tests for every implementation
//! of [`OutboxStore`] and [`SyncStore`].
//!
//! Each test is an `async fn` over a [`Fresh`] (a way to open empty stores)
//! and uses only the traits and the core types, so this module compiles
//! natively and for wasm. Two harnesses run it: `tests/memory.rs` against
//! `MemoryOutbox` natively (plain `cargo test`), and `tests/suite/` (through
//! `#[path]`) against `IdbOutbox` in a page and in a service worker. What
//! only IndexedDB has (reopening, several connections, closing, schema
//! versions, corrupt stored data) stays in `tests/suite/`.
//!
//! A new test is written once in a file here and named once in
//! [`contract_suite!`]; both harnesses then run it.

mod confirm;
mod conflicts;
mod drain;
mod enqueue;
mod pull;
mod queries;
mod reads;
mod settle;

pub use confirm::*;
pub use conflicts::*;
pub use drain::*;
pub use enqueue::*;
pub use pull::*;
pub use queries::*;
pub use reads::*;
pub use settle::*;

use outbox_sync::core::index::IndexSpec;
use outbox_sync::core::{
    EventState, NewEvent, Operation, OutboxEvent, OutboxStore, RecordKey, StoreConfig, SyncStore,
};
use outbox_sync_protocol::{Map, Record, Value};

/// Opens empty stores for the contract tests: a `MemoryOutbox` natively, an
/// `IdbOutbox` in a randomly named database in the browser.
#[allow(async_fn_in_trait)]
pub trait Fresh {
    /// The store under test.
    type Store: SyncStore;

    /// An empty store with `config` that no other test sees.
    async fn open(&self, config: StoreConfig) -> Self::Store;

    /// An empty store with `config` and the declared `indexes` on its records.
    async fn open_indexed(&self, config: StoreConfig, indexes: Vec<IndexSpec>) -> Self::Store;

    /// An empty store with the default configuration.
    async fn store(&self) -> Self::Store {
        self.open(StoreConfig::default()).await
    }
}

/// Expands to one test per contract test, for one harness:
/// `contract_suite!(native: fresh)` gives `#[test]` functions run with
/// `futures::executor::block_on`, `contract_suite!(wasm: fresh)` gives
/// `#[wasm_bindgen_test]` async functions. `fresh` is an expression of a
/// type implementing [`Fresh`]; the module `contract` must be in scope
/// where it is invoked.
macro_rules! contract_suite {
    ($harness:ident: $fresh:expr) => {
        contract::contract_suite!(@tests $harness $fresh;
            // enqueue.rs
            enqueue_saves_event_and_local_record,
            a_change_to_a_confirmed_record_is_stored_with_its_base_version,
            each_record_shows_the_fields_of_its_last_change,
            insert_events_keeps_the_ids_of_events_built_elsewhere,
            event_and_record_are_written_together_or_not_at_all,
            bad_input_is_refused_with_a_clear_error_and_nothing_stored,
            a_reused_event_id_is_refused_as_a_duplicate,
            concurrent_enqueues_lose_nothing,
            // drain.rs
            take_batch_gives_one_event_per_record_in_seq_order,
            an_expired_lease_returns_events_to_the_queue,
            a_batch_under_one_lease_shows_as_syncing_until_each_event_settles,
            a_failed_event_holds_back_only_its_own_record_until_discarded,
            requeue_waits_for_backoff_and_retry_now_clears_it,
            retry_all_now_clears_backoff_and_optionally_failures,
            refused_transitions_and_unknown_ids_change_nothing,
            status_counts_every_unfinished_state,
            the_store_keeps_to_its_configured_limits_and_clock,
            // confirm.rs
            complete_confirms_the_record_and_moves_its_base,
            complete_all_confirms_a_batch_in_one_step_and_skips_what_was_finished,
            complete_all_confirms_two_changes_of_one_record_in_order,
            discard_rebuilds_the_local_view_from_what_remains,
            discarding_after_a_confirmation_keeps_what_the_server_has,
            purge_removes_only_old_synced_events,
            // reads.rs
            records_lists_one_collection_in_id_order,
            records_are_in_the_order_indexeddb_keeps_keys,
            unsent_lists_every_unconfirmed_state_once_in_send_order,
            events_in_state_lists_in_send_order_up_to_the_limit,
            a_record_shows_its_most_pressing_change,
            // pull.rs
            pulled_pages_write_records_and_the_token_together,
            a_pulled_change_is_a_change_on_this_device_when_it_arrives,
            a_record_named_twice_in_a_page_ends_as_its_last_change,
            a_page_sees_what_is_stored_among_few_or_many_records,
            settings_are_kept_replaced_and_removed_apart_from_the_token,
            // conflicts.rs
            a_conflict_keeps_both_versions_and_holds_back_only_its_record,
            conflicts_are_listed_oldest_first,
            keep_mine_sends_my_version_against_theirs,
            use_theirs_sends_nothing_and_a_conflict_resolves_once,
            merged_fields_are_sent_and_a_missing_record_is_created_fresh,
            an_invalid_merge_changes_nothing,
            // settle.rs
            settle_writes_every_outcome_of_a_push_at_once,
            settle_finds_its_events_among_few_or_many_others,
            settle_reads_its_records_among_few_or_many_others,
            settle_leaves_alone_what_another_drainer_finished,
            with_a_retention_settle_keeps_synced_events,
            discarding_a_change_in_conflict_drops_its_conflict,
            settings_are_updated_together_in_one_step,
            // queries.rs
            queries_select_by_equality_range_prefix_and_in,
            queries_order_and_page_without_gaps_or_repeats,
            queries_by_sync_state_find_unsent_and_needing_attention,
            query_states_match_each_records_changes,
            queries_show_what_the_device_shows,
            a_query_no_index_serves_is_refused_unless_it_scans,
        );
    };
    (@tests native $fresh:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                ::futures::executor::block_on(contract::$name($fresh));
            }
        )*
    };
    (@tests wasm $fresh:expr; $($name:ident,)*) => {
        $(
            #[::wasm_bindgen_test::wasm_bindgen_test]
            async fn $name() {
                contract::$name($fresh).await;
            }
        )*
    };
}
pub(crate) use contract_suite;

/// A put of `{ title }` on `notes/<record>`.
pub fn put(record: &str, title: &str) -> NewEvent {
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(fields(&[("title", title)])),
    }
}

/// A patch setting one field on `notes/<record>`.
pub fn patch(record: &str, field: &str, value: Value) -> NewEvent {
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Patch,
        payload: Value::Object(Map::from([(field.to_owned(), value)])),
    }
}

/// An object of string fields.
pub fn fields(pairs: &[(&str, &str)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect()
}

/// The server's version `version` of `notes/<record>`; `None` is a tombstone.
pub fn remote(record: &str, version: u64, data: Option<Map>) -> Record {
    Record {
        collection: "notes".into(),
        record_id: record.into(),
        version,
        deleted: data.is_none(),
        data: data.map_or(Value::Null, Value::Object),
    }
}

/// The key of `notes/<record>`.
pub fn key(record: &str) -> RecordKey {
    RecordKey {
        collection: "notes".into(),
        record_id: record.into(),
    }
}

/// The fields the user sees on `notes/<record>`.
pub async fn local(store: &impl OutboxStore, record: &str) -> Option<Map> {
    store.record(&key(record)).await.unwrap()?.local
}

/// The title the user sees on `notes/<record>`.
pub async fn title(store: &impl OutboxStore, record: &str) -> Option<Value> {
    local(store, record).await?.get("title").cloned()
}

/// The seqs of `events`, in order.
pub fn seqs(events: &[OutboxEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.seq.expect("stored events have a seq"))
        .collect()
}

/// How many events are in the outbox, whatever their state.
pub async fn total(store: &impl OutboxStore) -> u32 {
    let mut total = 0;
    for state in EventState::ALL {
        total += store.count(state).await.unwrap();
    }
    total
}
