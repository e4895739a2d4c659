//! What the outbox keeps for syncing (never inside events), as one typed
//! record: the sync server and token, the push size, whether syncing is
//! paused, the last run's state and the metrics.
//!
//! It is read in one transaction and changed in one ([`Settings::update`]),
//! so a `setCredentials()` made while a sync run records its state is never
//! overwritten by the run, and the service worker sees a refreshed token on
//! its next run.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::core::metrics::Metrics;
use crate::core::{StoreError, SyncState, SyncStore};
use crate::net::json::{from_json, to_json};
use crate::net::Endpoint;
use crate::store::IdbOutbox;

/// Everything the outbox keeps for syncing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The sync server's address and credentials, saved by `connect()`.
    pub endpoint: Option<Endpoint>,
    /// The most changes in one push, set by `connect()`.
    pub batch_size: Option<usize>,
    /// Syncing is paused (`pause()`), apart from the state a run writes.
    pub paused: bool,
    /// The last sync run.
    pub state: SyncState,
    /// Counts and timings of every run.
    pub metrics: Metrics,
}

/// A value that starts afresh when it is missing or unreadable.
fn lenient<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
    text.and_then(|t| from_json(&t).ok())
}

/// The meta setting that holds the record.
const SETTINGS: &str = "sync";

/// Where each part lived before they became one record (schema 2 wrote
/// them one by one); read once and removed by the first update.
const OLD: [&str; 5] = ["endpoint", "batch_size", "paused", "sync_state", "metrics"];

/// Every setting [`Settings`] reads: the record, then the old parts.
const NAMES: [&str; 6] = [SETTINGS, OLD[0], OLD[1], OLD[2], OLD[3], OLD[4]];

impl Settings {
    /// Reads the settings, in one transaction.
    pub async fn load(store: &IdbOutbox) -> Result<Settings, StoreError> {
        Settings::from_stored(store.settings(&NAMES).await?)
    }

    /// Changes the settings with `change`, in one transaction, and returns
    /// what `change` returned.
    pub async fn update<R>(
        store: &IdbOutbox,
        change: impl FnOnce(&mut Settings) -> R,
    ) -> Result<R, StoreError> {
        Settings::update_as(store, change, false).await
    }

    /// [`update`](Self::update) for what a sync run found (its state and
    /// metrics): a sync-side write, so it goes after the saves in progress
    /// ([`IdbOutbox::after_saves`]) as the sync's other writes do, and is
    /// committed relaxed: the next run tells it again, and a flush here
    /// shared the disk with the next save's.
    pub async fn record<R>(
        store: &IdbOutbox,
        change: impl FnOnce(&mut Settings) -> R,
    ) -> Result<R, StoreError> {
        store.after_saves().await;
        Settings::update_as(store, change, true).await
    }

    async fn update_as<R>(
        store: &IdbOutbox,
        change: impl FnOnce(&mut Settings) -> R,
        relaxed: bool,
    ) -> Result<R, StoreError> {
        let mut change = Some(change);
        let mut out = None;
        let mut apply = |settings: &mut Settings| {
            if let Some(change) = change.take() {
                out = Some(change(settings));
            }
        };
        // Boxed, so the transaction is compiled once, not once per caller.
        let updating: Pin<Box<dyn Future<Output = Result<(), StoreError>> + '_>> =
            Box::pin(Settings::update_with(store, &mut apply, relaxed));
        updating.await?;
        Ok(out.expect("update_settings ran the change"))
    }

    async fn update_with(
        store: &IdbOutbox,
        change: &mut dyn FnMut(&mut Settings),
        relaxed: bool,
    ) -> Result<(), StoreError> {
        let update = |stored| {
            let mut settings = Settings::from_stored(stored)?;
            change(&mut settings);
            let text = to_json(&settings).map_err(StoreError::Corrupt)?;
            let mut values = vec![Some(text)];
            values.extend(OLD.iter().map(|_| None));
            Ok(values)
        };
        store.update_settings_with(&NAMES, update, relaxed).await
    }

    /// The record from its stored values (see [`NAMES`]). The endpoint must
    /// be readable (without it nothing syncs, and saying so beats a silent
    /// "not connected"); state and counters start afresh when they are not.
    fn from_stored(values: Vec<Option<String>>) -> Result<Settings, StoreError> {
        let mut values = values.into_iter();
        if let Some(text) = values.next().flatten() {
            return from_json(&text).map_err(StoreError::Corrupt);
        }
        let [endpoint, batch_size, paused, state, metrics] =
            std::array::from_fn(|_| values.next().flatten());
        Ok(Settings {
            endpoint: match endpoint {
                Some(text) => Some(from_json(&text).map_err(StoreError::Corrupt)?),
                None => None,
            },
            batch_size: lenient(batch_size).flatten(),
            paused: lenient(paused).unwrap_or_default(),
            state: lenient(state).unwrap_or_default(),
            metrics: lenient(metrics).unwrap_or_default(),
        })
    }
}
