//! Runs a core [`WriteSet`] inside an open IndexedDB transaction.
//!
//! `indexed_db_futures` sends a request when it is built, so every put and
//! delete of the set is issued first and the answers are awaited after:
//! the whole set is in flight at once, and IndexedDB runs it in order.

use indexed_db_futures::future::VoidRequest;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;

use super::schema::{CONFLICTS, OUTBOX, RECORDS};
use crate::core::write_set::{ConflictWrite, EventWrite, RecordWrite, WriteSet};
use crate::core::StoreError;

/// Issues every write of `writes` on `tx`, then waits for all of them.
/// The caller commits.
pub(super) async fn execute(tx: &Transaction<'_>, writes: &WriteSet) -> Result<(), StoreError> {
    let mut sent: Vec<VoidRequest> = Vec::with_capacity(writes.len());
    if !writes.events.is_empty() {
        let outbox = tx.object_store(OUTBOX)?;
        for write in &writes.events {
            sent.push(match write {
                EventWrite::Put(event) => {
                    if event.seq.is_none() {
                        return Err(StoreError::Corrupt(format!(
                            "event {} would be stored without a seq",
                            event.event_id
                        )));
                    }
                    outbox.put(event).serde()?
                }
                // Keys are JavaScript numbers: a `u64` would become a BigInt, which is no key.
                EventWrite::Delete(seq) => outbox.delete(*seq as f64).primitive()?,
            });
        }
    }
    if !writes.records.is_empty() {
        let records = tx.object_store(RECORDS)?;
        for write in &writes.records {
            sent.push(match write {
                RecordWrite::Put(record) => records.put(record).serde()?,
                RecordWrite::Delete(key) => records
                    .delete([key.collection.as_str(), key.record_id.as_str()])
                    .primitive()?,
            });
        }
    }
    if !writes.conflicts.is_empty() {
        let conflicts = tx.object_store(CONFLICTS)?;
        for write in &writes.conflicts {
            sent.push(match write {
                ConflictWrite::Put(conflict) => conflicts.put(conflict).serde()?,
                ConflictWrite::Delete(event_id) => {
                    conflicts.delete(event_id.to_string()).primitive()?
                }
            });
        }
    }
    for request in sent {
        request.await?;
    }
    Ok(())
}
