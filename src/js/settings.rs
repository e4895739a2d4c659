//! Small JSON settings kept with the outbox (never inside events): the sync
//! server and token, the last run's state, the metrics.

use crate::core::{StoreError, SyncStore};
use crate::net::json::{from_json, to_json};
use crate::store::IdbOutbox;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The sync server's address and credentials, saved by `connect()`.
pub const ENDPOINT: &str = "endpoint";
/// The last sync run's [`SyncState`](crate::core::SyncState).
pub const STATE: &str = "sync_state";
/// The [`Metrics`](crate::core::metrics::Metrics).
pub const METRICS: &str = "metrics";
/// The most changes in one push, set by `connect()`.
pub const BATCH_SIZE: &str = "batch_size";
/// Whether syncing is paused (`"true"`), apart from the state a run writes.
pub const PAUSED: &str = "paused";

/// The setting `name`, or `None`; an unreadable one is an error.
pub async fn load_saved<T: DeserializeOwned>(
    store: &IdbOutbox,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match store.setting(name).await? {
        Some(text) => from_json(&text).map(Some).map_err(StoreError::Corrupt),
        None => Ok(None),
    }
}

/// The setting `name`, starting afresh when it is missing or unreadable
/// (for state and counters, which rebuild themselves).
pub async fn load<T: DeserializeOwned + Default>(
    store: &IdbOutbox,
    name: &str,
) -> Result<T, StoreError> {
    let saved = store.setting(name).await?;
    Ok(saved
        .and_then(|text| from_json(&text).ok())
        .unwrap_or_default())
}

/// Saves `value` as the setting `name`.
pub async fn save<T: Serialize>(
    store: &IdbOutbox,
    name: &str,
    value: &T,
) -> Result<(), StoreError> {
    let text = to_json(value).map_err(StoreError::Corrupt)?;
    store.set_setting(name, Some(&text)).await
}
