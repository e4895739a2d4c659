//! The background task that expires idempotency keys, tombstones, old
//! audit entries, and blobs no record references.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::blobs::BlobStore;
use crate::config::Retention;
use crate::routes::now_ms;
use crate::store::{Expired, Store, StoreError};

/// Runs [`run_once`] now and then every `retention.interval`.
pub fn spawn(
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    retention: Retention,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(retention.interval.max(Duration::from_millis(10)));
        loop {
            ticks.tick().await;
            let (store, blobs, retention) = (store.clone(), blobs.clone(), retention.clone());
            match tokio::task::spawn_blocking(move || {
                run_once(store.as_ref(), blobs.as_ref(), &retention, now_ms())
            })
            .await
            {
                Ok(Ok(expired)) if expired != Expired::default() => {
                    tracing::info!(
                        keys = expired.keys,
                        tombstones = expired.tombstones,
                        audit = expired.audit,
                        blobs = expired.blobs,
                        "expired old data"
                    );
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "expiry failed; will retry"),
                Err(e) => tracing::warn!(error = %e, "expiry task failed; will retry"),
            }
        }
    })
}

/// Expires keys, tombstones and audit entries older than their retention
/// at `now_ms`, and blobs untouched for the key retention that no live
/// record references (a client may still push a change naming a blob it
/// uploaded for as long as it may retry that change).
pub fn run_once(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    retention: &Retention,
    now_ms: i64,
) -> Result<Expired, StoreError> {
    let keys_before = now_ms - retention.keys.as_millis() as i64;
    let tombstones_before = now_ms - retention.tombstones.as_millis() as i64;
    let mut expired = store.expire(keys_before, tombstones_before)?;
    if let Some(keep) = retention.audit {
        expired.audit = store.expire_audit(now_ms - keep.as_millis() as i64)?;
    }
    expired.blobs = blobs.expire(keys_before, &|user, sha256| {
        store.references_blob(user, sha256)
    })?;
    Ok(expired)
}
