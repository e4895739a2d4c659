//! Reads a range of the records store or one of its indexes: the one read
//! a query plan needs from IndexedDB.

use indexed_db_futures::cursor::CursorDirection;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange as IdbRange;

use super::schema::{BY_PENDING, BY_UPDATED};
use crate::core::index::IndexRef;
use crate::core::query_key::{Key, KeyRange};
use crate::core::{LocalRecord, StoreError};

/// Reads `range` of an object store or an index (the same calls on two
/// types the library does not unite under one trait).
macro_rules! read {
    ($source:expr, $range:expr, $backwards:expr, $limit:expr) => {{
        let range: &KeyRange = $range;
        let query = IdbRange::Bound(
            range.lower.key.clone(),
            range.lower.open,
            range.upper.key.clone(),
            range.upper.open,
        );
        let limit: Option<u32> = $limit;
        let mut found: Vec<LocalRecord> = Vec::new();
        if !$backwards {
            // IndexedDB reads a limit of 0 as "all".
            for record in $source
                .get_all::<ShownRecord>()
                .with_query::<Key, _>(query.clone())
                .with_limit(limit.unwrap_or(0))
                .serde()?
                .await?
            {
                found.push(record?.into());
            }
        } else if let Some(mut cursor) = $source
            .open_cursor()
            .with_query::<Key, _>(query)
            .with_direction(CursorDirection::Prev)
            .serde()?
            .await?
        {
            let wanted = limit.map_or(usize::MAX, |l| l as usize);
            while found.len() < wanted {
                match cursor.next_record_ser::<ShownRecord>().await? {
                    Some(record) => found.push(record.into()),
                    None => break,
                }
            }
        }
        Ok(found)
    }};
}

/// A stored record without its base: what a query shows. Reading the base
/// too would convert every field twice, for nothing.
#[derive(serde::Deserialize)]
struct ShownRecord {
    collection: String,
    record_id: String,
    base_version: Option<u64>,
    local: Option<outbox_sync_protocol::Map>,
    pending: u32,
    updated_at_ms: u64,
}

impl From<ShownRecord> for LocalRecord {
    fn from(shown: ShownRecord) -> Self {
        LocalRecord {
            collection: shown.collection,
            record_id: shown.record_id,
            base: None,
            base_version: shown.base_version,
            local: shown.local,
            pending: shown.pending,
            updated_at_ms: shown.updated_at_ms,
        }
    }
}

/// The records of `index` (on the records store `records`) whose keys lie
/// in `range`, in key order or backwards, at most `limit`.
pub(super) async fn scan(
    records: &ObjectStore<'_>,
    index: &IndexRef,
    range: &KeyRange,
    backwards: bool,
    limit: Option<u32>,
) -> Result<Vec<LocalRecord>, StoreError> {
    let name = match index {
        IndexRef::Primary => None,
        IndexRef::UpdatedAt => Some(BY_UPDATED.to_owned()),
        IndexRef::Pending => Some(BY_PENDING.to_owned()),
        IndexRef::Declared(spec) => Some(spec.name()),
    };
    match name {
        None => read!(records, range, backwards, limit),
        Some(name) => {
            let index = records.index(&name)?;
            read!(index, range, backwards, limit)
        }
    }
}
