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
                .get_all::<LocalRecord>()
                .with_query::<Key, _>(query.clone())
                .with_limit(limit.unwrap_or(0))
                .serde()?
                .await?
            {
                found.push(record?);
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
                match cursor.next_record_ser::<LocalRecord>().await? {
                    Some(record) => found.push(record),
                    None => break,
                }
            }
        }
        Ok(found)
    }};
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
