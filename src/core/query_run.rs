//! Walks a [`QueryPlan`] on any store: reads the plan's ranges a page at a
//! time, keeps what matches, and says where the next page starts.

use std::cmp::Ordering;

use super::error::StoreError;
use super::event::{EventState, RecordKey};
use super::index::Shown;
use super::outbox::OutboxStore;
use super::query::QueryPlan;
use super::query_key::{compare, Key};

/// Records read at least per step when some of them may not match.
const FILTERED_BATCH: u32 = 100;

/// One page of a query's results (`R`: records as the store reads them).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage<R> {
    /// The matching records, in order, each with its sync state.
    pub records: Vec<(R, EventState)>,
    /// Where the next page starts, or `None` when this is the last.
    pub next: Option<Key>,
}

/// Runs `plan` on `store`.
pub async fn run_query<S: OutboxStore + ?Sized>(
    store: &S,
    plan: &QueryPlan,
) -> Result<QueryPage<S::Row>, StoreError> {
    if plan.sort_in_memory {
        return run_sorted(store, plan).await;
    }
    // One more than the page: whether it exists says if there is a next page.
    let wanted = plan.limit as usize + 1;
    let filtered = !plan.filters.is_empty() || plan.states.is_some();
    let mut found: Vec<(S::Row, EventState)> = Vec::new();
    let mut ranges: Vec<_> = plan.ranges.iter().collect();
    if plan.backwards {
        ranges.reverse();
    }
    'ranges: for range in ranges {
        let mut range = match &plan.after {
            Some(after) => range.past(after, plan.backwards),
            None => range.clone(),
        };
        while !range.is_empty() {
            let missing = (wanted - found.len()) as u32;
            let batch = if filtered {
                missing.max(FILTERED_BATCH)
            } else {
                missing
            };
            let records = store
                .scan_records(&plan.index, &range, plan.backwards, Some(batch))
                .await?;
            let exhausted = records.len() < batch as usize;
            let last_key = records.last().and_then(|r| plan.index.key_of(r));
            let kept: Vec<S::Row> = records.into_iter().filter(|r| plan.keeps(r)).collect();
            for pair in with_states(store, kept).await? {
                if plan.states.as_ref().is_none_or(|s| s.contains(&pair.1)) {
                    found.push(pair);
                    if found.len() == wanted {
                        break 'ranges;
                    }
                }
            }
            match last_key {
                Some(key) if !exhausted => range = range.past(&key, plan.backwards),
                _ => break,
            }
        }
    }
    Ok(page(plan, found))
}

/// Reads every record in the plan's ranges, keeps the matching ones and
/// sorts them by the plan's order.
async fn run_sorted<S: OutboxStore + ?Sized>(
    store: &S,
    plan: &QueryPlan,
) -> Result<QueryPage<S::Row>, StoreError> {
    let mut all = Vec::new();
    for range in &plan.ranges {
        all.extend(
            store
                .scan_records(&plan.index, range, false, None)
                .await?
                .into_iter()
                .filter(|r| plan.keeps(r)),
        );
    }
    let mut keyed: Vec<(Key, (S::Row, EventState))> = with_states(store, all)
        .await?
        .into_iter()
        .filter(|(_, state)| plan.states.as_ref().is_none_or(|s| s.contains(state)))
        .filter_map(|pair| Some((plan.order.key_of(&pair.0)?, pair)))
        .filter(|(key, _)| match &plan.after {
            None => true,
            Some(after) if plan.backwards => compare(key, after) == Ordering::Less,
            Some(after) => compare(key, after) == Ordering::Greater,
        })
        .collect();
    keyed.sort_by(|a, b| compare(&a.0, &b.0));
    if plan.backwards {
        keyed.reverse();
    }
    keyed.truncate(plan.limit as usize + 1);
    Ok(page(
        plan,
        keyed.into_iter().map(|(_, pair)| pair).collect(),
    ))
}

/// The page of `found` (up to one more than the limit, in order).
fn page<R: Shown>(plan: &QueryPlan, mut found: Vec<(R, EventState)>) -> QueryPage<R> {
    let more = found.len() > plan.limit as usize;
    found.truncate(plan.limit as usize);
    let next = if more {
        found
            .last()
            .and_then(|(record, _)| plan.order.key_of(record))
    } else {
        None
    };
    QueryPage {
        records: found,
        next,
    }
}

/// Each record with its sync state: a record with no unsent change is
/// synced; the others' states are the ones the store read with them, or
/// come from their unsent changes, read together.
pub async fn with_states<S: OutboxStore + ?Sized>(
    store: &S,
    records: Vec<S::Row>,
) -> Result<Vec<(S::Row, EventState)>, StoreError> {
    let asks = |r: &S::Row| r.pending() > 0 && r.known_state().is_none();
    let keys: Vec<RecordKey> = records
        .iter()
        .filter(|r| asks(r))
        .map(|r| RecordKey {
            collection: r.collection().to_owned(),
            record_id: r.record_id().to_owned(),
        })
        .collect();
    let mut states = if keys.is_empty() {
        Vec::new()
    } else {
        store.states_of(&keys).await?
    }
    .into_iter();
    Ok(records
        .into_iter()
        .map(|record| {
            let state = if asks(&record) {
                states.next().unwrap_or(EventState::Synced)
            } else {
                record.known_state().unwrap_or(EventState::Synced)
            };
            (record, state)
        })
        .collect())
}
