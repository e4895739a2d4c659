//! Runs a core [`WriteSet`] inside an open IndexedDB transaction.
//!
//! Every put and delete of the set is sent at once and none is listened to
//! (deletes of consecutive `seq`s go as one range delete):
//! IndexedDB runs them in order, and the first that fails aborts the
//! transaction, which the caller's [`commit`](super::idb_ops::commit)
//! reports with the cause (see [`requests`](super::requests)). A value the
//! browser refuses outright (one that cannot be cloned, a bad key) fails
//! here, before anything is committed.

use std::collections::HashMap;

use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::transaction::Transaction;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbKeyRange, IdbObjectStore};

use super::error::from_dom_name;
use super::idb_query::confirmed_row;
use super::requests::{count_sent, to_js};
use super::schema::{CONFLICTS, LEASES, OUTBOX, RECORDS};
use crate::core::lease::LeaseWrite;
use crate::core::write_set::{seq_runs, ConflictWrite, EventWrite, RecordWrite, WriteSet};
use crate::core::RecordKey;
use crate::core::StoreError;

/// Sends every write of `writes` on `tx`. The caller commits, which is
/// where a write that failed is reported.
pub(super) fn execute(tx: &Transaction<'_>, writes: &WriteSet) -> Result<(), StoreError> {
    execute_with(tx, writes, &HashMap::new())
}

/// [`execute`], with the stored records a settlement read as IndexedDB
/// gave them (`read`): a [`RecordWrite::Confirm`] patches its record's
/// object and puts it back, its fields never decoded nor encoded again.
pub(super) fn execute_with(
    tx: &Transaction<'_>,
    writes: &WriteSet,
    read: &HashMap<RecordKey, JsValue>,
) -> Result<(), StoreError> {
    if !writes.events.is_empty() {
        let outbox = store(tx, OUTBOX)?;
        let mut deletes = Vec::new();
        for write in &writes.events {
            match write {
                EventWrite::Put(event) => {
                    if event.seq.is_none() {
                        return Err(StoreError::Corrupt(format!(
                            "event {} would be stored without a seq",
                            event.event_id
                        )));
                    }
                    outbox.put(&to_js(event)?).map_err(refused)?;
                    count_sent(1);
                }
                EventWrite::Delete(seq) => deletes.push(*seq),
            }
        }
        // No key appears twice in a set, so the deletes may go after the puts.
        for (first, last) in seq_runs(deletes) {
            // Keys are JavaScript numbers: a `u64` would become a BigInt, which is no key.
            let (first, last) = (
                JsValue::from_f64(first as f64),
                JsValue::from_f64(last as f64),
            );
            let key: JsValue = match first == last {
                true => first,
                false => IdbKeyRange::bound(&first, &last).map_err(refused)?.into(),
            };
            outbox.delete(&key).map_err(refused)?;
            count_sent(1);
        }
    }
    if !writes.records.is_empty() {
        let records = store(tx, RECORDS)?;
        for write in &writes.records {
            match write {
                RecordWrite::Put(record) => {
                    count_sent(1);
                    records.put(&to_js(record)?).map_err(refused)?
                }
                RecordWrite::Delete(key) => {
                    count_sent(1);
                    let key = js_sys::Array::of2(
                        &key.collection.as_str().into(),
                        &key.record_id.as_str().into(),
                    );
                    records.delete(&key).map_err(refused)?
                }
                RecordWrite::Confirm { key, version } => {
                    let stored = read.get(key).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "record {}/{} was confirmed without being read",
                            key.collection, key.record_id
                        ))
                    })?;
                    count_sent(1);
                    records
                        // Versions are JavaScript numbers, as `to_js` writes them.
                        .put(&confirmed_row(stored, *version as f64).map_err(refused)?)
                        .map_err(refused)?
                }
            };
        }
    }
    if !writes.conflicts.is_empty() {
        let conflicts = store(tx, CONFLICTS)?;
        for write in &writes.conflicts {
            count_sent(1);
            match write {
                ConflictWrite::Put(conflict) => {
                    conflicts.put(&to_js(conflict)?).map_err(refused)?
                }
                ConflictWrite::Delete(event_id) => conflicts
                    .delete(&event_id.to_string().into())
                    .map_err(refused)?,
            };
        }
    }
    if !writes.leases.is_empty() {
        let leases = store(tx, LEASES)?;
        for write in &writes.leases {
            count_sent(1);
            match write {
                LeaseWrite::Put(lease) => leases.put(&to_js(lease)?).map_err(refused)?,
                LeaseWrite::Delete(batch_id) => {
                    leases.delete(&batch_id.as_str().into()).map_err(refused)?
                }
            };
        }
    }
    Ok(())
}

/// The object store `name` of `tx`, as the browser's own object.
pub(super) fn store(tx: &Transaction<'_>, name: &str) -> Result<IdbObjectStore, StoreError> {
    Ok(tx.object_store(name)?.as_sys().clone())
}

/// A request the browser refused to send (the value cannot be stored, or
/// the transaction is over).
pub(super) fn refused(error: JsValue) -> StoreError {
    match error.dyn_into::<web_sys::DomException>() {
        Ok(e) => from_dom_name(&e.name(), &e.message()),
        Err(other) => StoreError::Backend {
            name: "Error".into(),
            message: other.as_string().unwrap_or_default(),
        },
    }
}
