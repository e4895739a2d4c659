//! The pull and conflict side of [`IdbOutbox`]: pulled pages with their sync
//! token, conflicts kept for the user, and the user's choice, each in one
//! transaction built from the core's shared steps.

use futures::future::{join, ready, Either};
use indexed_db_futures::prelude::*;
use outbox_sync_protocol::Record;
use uuid::Uuid;
use wasm_bindgen::JsValue;
use web_sys::IdbObjectStore;

use super::idb::{leases_of, release};
use super::idb_ops::{self as ops, commit};
use super::idb_write::{execute, refused, store};
use super::requests::{from_js, result, results, sent, to_js};
use super::schema::{CONFLICTS, LEASES, META, OUTBOX, RECORDS};
use super::IdbOutbox;
use crate::core::conflict::{Conflict, Resolution};
use crate::core::remote::{last_change_of_each_record, plan_page, remote_key};
use crate::core::sync_store::{conflict_not_found, prepare_conflict, prepare_resolution};
use crate::core::{OutboxEvent, RecordKey, StoreError, SyncStore};

/// The meta key of the token to pull changes after.
const SYNC_TOKEN: &str = "sync_token";

impl SyncStore for IdbOutbox {
    async fn sync_token(&self) -> Result<Option<String>, StoreError> {
        let tx = self.read(&[META])?;
        let mut token = read_strings(&store(&tx, META)?, &[SYNC_TOKEN.to_owned()]).await?;
        commit(tx).await?;
        Ok(token.pop().flatten())
    }

    async fn apply_pulled(
        &self,
        changes: &[Record],
        next_token: &str,
        now_ms: u64,
    ) -> Result<u32, StoreError> {
        // Relaxed: a page lost to a power cut goes with its sync token, and
        // is pulled again.
        self.after_saves().await;
        if changes.is_empty() {
            // Nothing to read: the token alone, in a transaction a save
            // (outbox and records) never waits for.
            let tx = self.write_relaxed(&[META])?;
            write_string(&store(&tx, META)?, SYNC_TOKEN, Some(next_token))?;
            commit(tx).await?;
            return Ok(0);
        }
        let tx = self.write_relaxed(&[OUTBOX, RECORDS, META])?;
        let changed = {
            let outbox = store(&tx, OUTBOX)?;
            let records = store(&tx, RECORDS)?;
            let page = last_change_of_each_record(changes);
            let keys: Vec<RecordKey> = page.iter().map(|r| remote_key(r)).collect();
            // Two probes first: with no event in the outbox (synced ones
            // leave it) no record has unsent changes, and with no record
            // stored (a first sync) there is none to read, so a page's reads
            // per record are skipped. Each asks for at most one key, not a
            // count: Chromium counts by walking the whole store, which made
            // every page of a large pull slower than the one before.
            let probes = [&outbox, &records]
                .map(|store| store.get_all_keys_with_key_and_limit(&JsValue::NULL, 1));
            let probes = probes
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(refused)?;
            let probes = results(&probes).await?;
            let is_empty = |probe: &JsValue| js_sys::Array::from(probe).length() == 0;
            let (no_events, no_records) = (is_empty(&probes[0]), is_empty(&probes[1]));
            let n = keys.len();
            let unsent = match no_events {
                true => Either::Left(ready(Ok(vec![Vec::new(); n]))),
                false => Either::Right(ops::unsent_of_each(&outbox, &keys)),
            };
            let current = match no_records {
                true => Either::Left(ready(Ok(vec![None; n]))),
                false => Either::Right(ops::get_stored_records(&records, &keys)),
            };
            let (unsent, current) = join(unsent, current).await;
            let writes = plan_page(&page, current?, unsent?, now_ms);
            execute(&tx, &writes)?;
            store(&tx, META)?
                .put_with_key(&next_token.into(), &SYNC_TOKEN.into())
                .map_err(refused)?;
            writes.records.len() as u32
        };
        commit(tx).await?;
        Ok(changed)
    }

    async fn reset_sync_token(&self) -> Result<(), StoreError> {
        let tx = self.write(&[META])?;
        write_string(&store(&tx, META)?, SYNC_TOKEN, None)?;
        commit(tx).await
    }

    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let mut value = self.settings(&[name]).await?;
        Ok(value.pop().flatten())
    }

    async fn set_setting(&self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        let tx = self.write(&[META])?;
        write_string(&store(&tx, META)?, &setting_key(name), value)?;
        commit(tx).await
    }

    async fn settings(&self, names: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let tx = self.read(&[META])?;
        let values = read_settings(&store(&tx, META)?, names).await?;
        commit(tx).await?;
        Ok(values)
    }

    async fn update_settings<F>(&self, names: &[&str], change: F) -> Result<(), StoreError>
    where
        F: FnOnce(Vec<Option<String>>) -> Result<Vec<Option<String>>, StoreError>,
    {
        self.update_settings_with(names, change, false).await
    }

    async fn record_conflict(
        &self,
        event_id: Uuid,
        theirs: Record,
        fields: Vec<String>,
        reason: &str,
        now_ms: u64,
    ) -> Result<Conflict, StoreError> {
        let tx = self.write(&[OUTBOX, RECORDS, CONFLICTS, LEASES])?;
        let conflict = {
            let outbox = tx.object_store(OUTBOX)?;
            let mut leases = leases_of(&tx).await?;
            let mut event = ops::find_event(&outbox, event_id)
                .await?
                .ok_or_else(|| StoreError::EventNotFound(event_id.to_string()))?;
            leases.show(&mut event);
            let record = ops::get_record(&tx.object_store(RECORDS)?, &event.record_key()).await?;
            let conflict =
                prepare_conflict(&mut event, record.as_ref(), theirs, fields, reason, now_ms)?;
            ops::put_event(&outbox, &event)?;
            release(&tx, &mut leases, &[ops::seq_of(&event)?])?;
            store(&tx, CONFLICTS)?
                .put(&to_js(&conflict)?)
                .map_err(refused)?;
            conflict
        };
        commit(tx).await?;
        Ok(conflict)
    }

    async fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
        let tx = self.read(&[CONFLICTS])?;
        let found = tx
            .object_store(CONFLICTS)?
            .get_all::<wasm_bindgen::JsValue>()
            .await?;
        let mut all: Vec<Conflict> = super::idb_ops::decode_all(found)?;
        commit(tx).await?;
        crate::core::order::sort_by_number(&mut all, |c| c.found_at_ms);
        Ok(all)
    }

    async fn resolve_conflict(
        &self,
        event_id: Uuid,
        resolution: &Resolution,
        now_ms: u64,
    ) -> Result<Option<OutboxEvent>, StoreError> {
        let tx = self.write(&[OUTBOX, RECORDS, CONFLICTS, LEASES])?;
        let event = {
            let leases = leases_of(&tx).await?;
            let conflicts = store(&tx, CONFLICTS)?;
            let found = result(conflicts.get(&event_id.to_string().into())).await?;
            let conflict =
                from_js::<Conflict>(found)?.ok_or_else(|| conflict_not_found(event_id))?;
            let outbox = tx.object_store(OUTBOX)?;
            let key = RecordKey {
                collection: conflict.collection.clone(),
                record_id: conflict.record_id.clone(),
            };
            // A change of the record being sent holds the choice back.
            let unsent = leases.shown(ops::unsent_of(&outbox, &key).await?);
            let limits = &self.config.limits;
            let write = prepare_resolution(
                limits,
                &conflict,
                resolution,
                &unsent,
                Uuid::now_v7(),
                now_ms,
            )?;
            for seq in &write.removed {
                ops::delete_event(&outbox, *seq)?;
            }
            conflicts
                .delete(&event_id.to_string().into())
                .map_err(refused)?;
            ops::put_record(&tx.object_store(RECORDS)?, &write.record)?;
            match write.event {
                Some(event) => Some(ops::add_event(&outbox, event).await?),
                None => None,
            }
        };
        commit(tx).await?;
        Ok(event)
    }
}

impl IdbOutbox {
    /// [`update_settings`](SyncStore::update_settings), committed relaxed
    /// when `relaxed` (the run's own record: what the next run tells again;
    /// see `write_relaxed`).
    pub(crate) async fn update_settings_with<F>(
        &self,
        names: &[&str],
        change: F,
        relaxed: bool,
    ) -> Result<(), StoreError>
    where
        F: FnOnce(Vec<Option<String>>) -> Result<Vec<Option<String>>, StoreError>,
    {
        let tx = match relaxed {
            true => self.write_relaxed(&[META])?,
            false => self.write(&[META])?,
        };
        {
            let meta = store(&tx, META)?;
            let current = read_settings(&meta, names).await?;
            for (name, value) in names.iter().zip(change(current)?) {
                write_string(&meta, &setting_key(name), value.as_deref())?;
            }
        }
        commit(tx).await
    }
}

/// The settings `names` from the meta store of an open transaction, read
/// together.
async fn read_settings(
    meta: &IdbObjectStore,
    names: &[&str],
) -> Result<Vec<Option<String>>, StoreError> {
    let keys: Vec<String> = names.iter().map(|name| setting_key(name)).collect();
    read_strings(meta, &keys).await
}

/// The strings stored under `keys` in the meta store, read together.
async fn read_strings(
    meta: &IdbObjectStore,
    keys: &[String],
) -> Result<Vec<Option<String>>, StoreError> {
    let requests = keys.iter().map(|key| meta.get(&key.into()));
    results(&sent(requests.collect())?)
        .await?
        .into_iter()
        .map(|value| match (value.is_undefined(), value.as_string()) {
            (true, _) => Ok(None),
            (false, Some(text)) => Ok(Some(text)),
            (false, None) => Err(StoreError::Corrupt("a saved setting is not text".into())),
        })
        .collect()
}

/// Stores `value` under `key` in the meta store (`None` removes it); sent,
/// not awaited: the commit reports a failure.
fn write_string(meta: &IdbObjectStore, key: &str, value: Option<&str>) -> Result<(), StoreError> {
    match value {
        Some(value) => meta.put_with_key(&value.into(), &key.into()),
        None => meta.delete(&key.into()),
    }
    .map_err(refused)?;
    Ok(())
}

/// Settings live in the meta store under their own prefix, apart from the
/// library's own markers such as the sync token.
fn setting_key(name: &str) -> String {
    format!("setting:{name}")
}
