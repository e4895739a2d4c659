//! The reads and writes [`IdbOutbox`](super::IdbOutbox) builds its transactions from.
//!
//! Each helper issues requests on a store of a transaction the caller opened
//! and commits; none of them awaits anything but IndexedDB, so the
//! transaction stays active between them.

use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;
use indexed_db_futures::KeyRange;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbObjectStore, IdbRequest};

use super::error::{from_dom_name, from_idb};
use super::idb_query::hold_payloads;
use super::idb_write::refused;
use super::requests::{answered, decode, failed_at, from_js, result, results, sent, to_js};
use super::schema::{BY_EVENT_ID, BY_RECORD, BY_STATE};
use crate::core::lease::{BatchLease, Leases};
use crate::core::record::id_order;
use crate::core::{
    BatchSelector, Clock, EventState, LocalRecord, OutboxEvent, RecordKey, StoreError,
};

/// Commits `tx` and reports why when it did not commit.
///
/// A transaction can fail at commit time (quota exceeded, disk error) after
/// every request succeeded; the browser then names the cause on the
/// transaction, which is mapped here so the caller never reports success.
pub(super) async fn commit(tx: Transaction<'_>) -> Result<(), StoreError> {
    let raw: web_sys::IdbTransaction = tx.as_sys().clone().unchecked_into();
    tx.commit().await.map_err(|error| match raw.error() {
        Some(cause) => from_dom_name(&cause.name(), &cause.message()),
        None => from_idb(error),
    })
}

/// Every stored batch lease, read with one request.
pub(super) async fn leases(leases: &IdbObjectStore) -> Result<Leases, StoreError> {
    let found = result(leases.get_all()).await?;
    Ok(Leases::new(
        from_js::<Vec<BatchLease>>(found)?.unwrap_or_default(),
    ))
}

/// The events stored under `seqs` that are still there, as stored, read
/// together.
pub(super) async fn events_at(
    outbox: &IdbObjectStore,
    seqs: &[u64],
) -> Result<Vec<OutboxEvent>, StoreError> {
    let requests = seqs
        .iter()
        .map(|seq| outbox.get(&JsValue::from_f64(*seq as f64)));
    let found = results(&sent(requests.collect())?).await?;
    Ok(found
        .into_iter()
        .map(from_js::<OutboxEvent>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// Which of `seqs` are stored (sorted), with keys only (no event read): one
/// `getAllKeys` over the range they span when it holds few others (a
/// batch's seqs lie close together), otherwise one `getKey` each, all
/// together.
pub(super) async fn stored_seqs(
    outbox: &IdbObjectStore,
    seqs: &[u64],
) -> Result<Vec<u64>, StoreError> {
    let key = |seq: u64| JsValue::from_f64(seq as f64);
    let as_seqs = |keys: Vec<JsValue>| -> Vec<u64> {
        let mut seqs: Vec<u64> = keys
            .iter()
            .filter_map(JsValue::as_f64)
            .map(|k| k as u64)
            .collect();
        seqs.sort_unstable();
        seqs
    };
    let (Some(&lowest), Some(&highest)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(Vec::new());
    };
    let limit = (seqs.len() * 4) as u32;
    let range = web_sys::IdbKeyRange::bound(&key(lowest), &key(highest)).map_err(refused)?;
    let found = result(outbox.get_all_keys_with_key_and_limit(&range, limit)).await?;
    let found: Vec<JsValue> = js_sys::Array::from(&found).iter().collect();
    if (found.len() as u32) < limit {
        return Ok(as_seqs(found));
    }
    let requests = seqs.iter().map(|seq| outbox.get_key(&key(*seq)));
    Ok(as_seqs(results(&sent(requests.collect())?).await?))
}

/// Adds a new event; the store assigns its `seq` (the send order).
pub(super) async fn add_event(
    outbox: &ObjectStore<'_>,
    event: OutboxEvent,
) -> Result<OutboxEvent, StoreError> {
    let mut events = vec![event];
    let sent = send_adds(outbox.as_sys(), &mut events)?;
    let mut added = added(&sent, events).await?;
    Ok(added.remove(0))
}

/// Sends the adding of `events`, which are left without a `seq` for the
/// store's key generator to fill; [`added`] waits for the answers.
pub(super) fn send_adds(
    outbox: &IdbObjectStore,
    events: &mut [OutboxEvent],
) -> Result<Vec<IdbRequest>, StoreError> {
    events
        .iter_mut()
        .map(|event| {
            event.seq = None;
            outbox.add(&to_js(event)?).map_err(refused)
        })
        .collect()
}

/// The events of [`send_adds`] with the `seq` each was given, once every
/// add is answered.
pub(super) async fn added(
    requests: &[IdbRequest],
    events: Vec<OutboxEvent>,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let seqs = results(requests).await;
    with_seqs(requests, events, seqs)
}

/// [`added`] once a request sent after the adds in the same transaction
/// has been answered (or has failed): IndexedDB answers in order, so the
/// adds have been answered too and nothing is awaited.
pub(super) fn added_already(
    requests: &[IdbRequest],
    events: Vec<OutboxEvent>,
) -> Result<Vec<OutboxEvent>, StoreError> {
    with_seqs(requests, events, answered(requests))
}

/// `events` with the `seq`s their adds, `requests`, were answered with.
fn with_seqs(
    requests: &[IdbRequest],
    mut events: Vec<OutboxEvent>,
    seqs: Result<Vec<JsValue>, StoreError>,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let seqs = seqs.map_err(|error| {
        // The only constraint on the outbox is the unique `by_event_id`
        // index, so a constraint error is a reused id.
        match (&error, failed_at(requests)) {
            (StoreError::Backend { name, .. }, Some(index)) if name == "ConstraintError" => {
                StoreError::DuplicateEvent(events[index].event_id.to_string())
            }
            _ => error,
        }
    })?;
    for (event, seq) in events.iter_mut().zip(seqs) {
        let seq = seq
            .as_f64()
            .ok_or_else(|| StoreError::Corrupt("an event was stored without a seq".into()))?;
        event.seq = Some(seq as u64);
    }
    Ok(events)
}

/// Replaces a stored event (found by its `seq`). Sent, not awaited: the
/// commit reports a failure (see [`requests`](super::requests)).
pub(super) fn put_event(outbox: &ObjectStore<'_>, event: &OutboxEvent) -> Result<(), StoreError> {
    seq_of(event)?;
    outbox.as_sys().put(&to_js(event)?).map_err(refused)?;
    Ok(())
}

/// Deletes the event stored under `seq`. Sent, not awaited, as
/// [`put_event`].
pub(super) fn delete_event(outbox: &ObjectStore<'_>, seq: u64) -> Result<(), StoreError> {
    // Keys are JavaScript numbers: a `u64` would become a BigInt, which is no key.
    outbox
        .as_sys()
        .delete(&JsValue::from_f64(seq as f64))
        .map_err(refused)?;
    Ok(())
}

/// The `seq` of a stored event.
pub(super) fn seq_of(event: &OutboxEvent) -> Result<u64, StoreError> {
    event.seq.ok_or_else(|| {
        StoreError::Corrupt(format!("event {} is stored without a seq", event.event_id))
    })
}

/// The event with this id, through the unique `by_event_id` index.
pub(super) async fn find_event(
    outbox: &ObjectStore<'_>,
    event_id: uuid::Uuid,
) -> Result<Option<OutboxEvent>, StoreError> {
    let mut found = find_events(outbox.as_sys(), &[event_id]).await?;
    Ok(found.pop().flatten())
}

/// Every event in `state`, in send order.
pub(super) async fn in_state(
    outbox: &ObjectStore<'_>,
    state: EventState,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let by_state = outbox.index(BY_STATE)?;
    let found = by_state
        .get_all::<JsValue>()
        .with_query(state.as_str())
        .await?;
    decode_all(found)
}

/// How many events are in `state`.
pub(super) async fn count_state(
    outbox: &ObjectStore<'_>,
    state: EventState,
) -> Result<u32, StoreError> {
    Ok(outbox
        .index(BY_STATE)?
        .count()
        .with_query(state.as_str())
        .await?)
}

/// The `seq` of every synced event confirmed before `before_ms`.
pub(super) async fn synced_before(
    outbox: &ObjectStore<'_>,
    before_ms: u64,
) -> Result<Vec<u64>, StoreError> {
    let by_state = outbox.index(BY_STATE)?;
    let mut old = Vec::new();
    // A cursor holds one event at a time: synced events may carry large payloads.
    if let Some(mut cursor) = by_state
        .open_cursor()
        .with_query(EventState::Synced.as_str())
        .await?
    {
        while let Some(event) = next_event(&mut cursor).await? {
            if event.synced_at_ms.is_some_and(|at| at < before_ms) {
                old.push(seq_of(&event)?);
            }
        }
    }
    Ok(old)
}

/// A record's unconfirmed events, in send order.
pub(super) async fn unsent_of(
    outbox: &ObjectStore<'_>,
    key: &RecordKey,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let mut found = unsent_of_each(outbox.as_sys(), std::slice::from_ref(key)).await?;
    Ok(found.pop().unwrap_or_default())
}

/// Walks the outbox in send order from `from_seq` and picks the next batch,
/// one event per record (events `leases` hold show as syncing and are
/// skipped, holding back their records). Also returns the `seq` of the first unsent event
/// it met (or one past the last event when every event it met was synced),
/// the new lowest point to start from.
///
/// The walk reads a batch's worth of events per request (`getAll` with a
/// count, [`walk_chunk`]) rather than one per cursor step: a batch is in
/// memory anyway. `first` is where the walk starts and the first chunk read
/// from there ([`read_chunk`]), which the caller reads beside the leases.
/// With `hold`, also the [`Held`] row and payload of each event taken, in
/// the batch's order.
#[allow(clippy::too_many_arguments)]
pub(super) async fn select_batch(
    outbox: &ObjectStore<'_>,
    leases: &Leases,
    clock: Clock,
    now_ms: u64,
    limit: usize,
    hold: bool,
    first: (u64, Chunk),
    skipped: Option<u64>,
) -> Result<(Vec<OutboxEvent>, Vec<Held>, u64), StoreError> {
    let mut selector = BatchSelector::new(clock, now_ms, limit);
    if skipped.is_some() {
        // The walk starts past events held for this drainer: their records wait.
        leases.records().for_each(|key| selector.hold_back(key));
    }
    let mut kept = Vec::new();
    let mut first_unsent = skipped;
    let (mut next, first) = first;
    let mut first = Some(first);
    let chunk = walk_chunk(limit);
    'walk: loop {
        let found = match first.take() {
            Some(found) => found,
            None => read_chunk(outbox, next, chunk, hold).await?,
        };
        let exhausted = found.events.len() < chunk as usize;
        let mut held = found.held.into_iter();
        for mut event in found.events {
            let row = held.next();
            leases.show(&mut event);
            let seq = seq_of(&event)?;
            next = seq + 1;
            if event.state.is_unsent() && first_unsent.is_none() {
                first_unsent = Some(seq);
            }
            let before = selector.len();
            let more = selector.offer(event);
            // Only the payloads of the events the batch took are kept.
            if let (true, Some(row)) = (selector.len() > before, row) {
                kept.push(row);
            }
            if !more {
                break 'walk;
            }
        }
        if exhausted {
            break;
        }
    }
    Ok((selector.finish(), kept, first_unsent.unwrap_or(next)))
}

/// Where a take's walk from `from_seq` starts when `leases` are known
/// before it: past the events this drainer's own leases (`holder`) hold,
/// found with one keys-only read, so that their rows (the batch on its way,
/// payloads and all) are not read and decoded only to be skipped. Returns
/// the start and the first key skipped (for [`select_batch`]).
pub(super) async fn walk_start(
    outbox: &ObjectStore<'_>,
    leases: &Leases,
    holder: &str,
    from_seq: u64,
) -> Result<(u64, Option<u64>), StoreError> {
    let own = leases.seqs_of(holder);
    if own.is_empty() {
        return Ok((from_seq, None));
    }
    let from =
        web_sys::IdbKeyRange::lower_bound(&JsValue::from_f64(from_seq as f64)).map_err(refused)?;
    let count = (own.len() + 1) as u32;
    let keys = result(
        outbox
            .as_sys()
            .get_all_keys_with_key_and_limit(&from, count),
    )
    .await?;
    let keys: Vec<u64> = js_sys::Array::from(&keys)
        .iter()
        .filter_map(|key| key.as_f64())
        .map(|key| key as u64)
        .collect();
    let (start, skipped) = crate::core::schedule::walk_start(&keys, &own);
    Ok((start.unwrap_or(from_seq), skipped))
}

/// How many events [`select_batch`]'s walk reads per request for a batch
/// of `limit`.
pub(super) fn walk_chunk(limit: usize) -> u32 {
    limit.clamp(1, 500) as u32
}

/// A stored event's row as IndexedDB gave it (its payload left null) and
/// its payload, held for the push (see [`super::outgoing`]).
pub(super) type Held = (JsValue, JsValue);

/// Events read in send order and, when their payloads are held, each one's
/// [`Held`] (in the same order; empty otherwise).
pub(super) struct Chunk {
    pub(super) events: Vec<OutboxEvent>,
    pub(super) held: Vec<Held>,
}

/// At most `chunk` stored events from `from_seq` on, in send order, read
/// with one request. With `hold`, their payloads stay JavaScript values
/// beside them ([`Chunk::held`]): each event comes without it, its
/// [`held_payload_size`](OutboxEvent::held_payload_size) set.
pub(super) async fn read_chunk(
    outbox: &ObjectStore<'_>,
    from_seq: u64,
    chunk: u32,
    hold: bool,
) -> Result<Chunk, StoreError> {
    let from =
        web_sys::IdbKeyRange::lower_bound(&JsValue::from_f64(from_seq as f64)).map_err(refused)?;
    let found = result(outbox.as_sys().get_all_with_key_and_limit(&from, chunk)).await?;
    if !hold {
        let events = from_js::<Vec<OutboxEvent>>(found)?.unwrap_or_default();
        return Ok(Chunk {
            events,
            held: Vec::new(),
        });
    }
    let rows: js_sys::Array = found.unchecked_into();
    let out = hold_payloads(&rows);
    let payloads: js_sys::Array = out.get(0).unchecked_into();
    let sizes = js_sys::Float64Array::from(out.get(1)).to_vec();
    let mut events = Vec::with_capacity(sizes.len());
    let mut held = Vec::with_capacity(sizes.len());
    for ((row, payload), size) in rows.iter().zip(payloads.iter()).zip(sizes) {
        let mut event: OutboxEvent = decode(row.clone())?;
        event.held_payload_size = Some(size as usize);
        events.push(event);
        held.push((row, payload));
    }
    Ok(Chunk { events, held })
}

/// At most `limit` unsent events from `from_seq` on, in send order, read
/// one at a time (synced events with large payloads are never all in memory).
pub(super) async fn unsent_from(
    outbox: &ObjectStore<'_>,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    if let Some(mut cursor) = outbox
        .open_cursor()
        .with_query::<f64, _>(KeyRange::LowerBound(from_seq as f64, false))
        .await?
    {
        while let Some(event) = next_event(&mut cursor).await? {
            if event.state.is_unsent() {
                found.push(event);
                if found.len() == limit {
                    break;
                }
            }
        }
    }
    Ok(found)
}

/// The `seq` of every event in `state` that `keep` selects, in send order,
/// read one event at a time.
pub(super) async fn seqs_in_state(
    outbox: &ObjectStore<'_>,
    state: EventState,
    keep: impl Fn(&OutboxEvent) -> bool,
) -> Result<Vec<u64>, StoreError> {
    let mut seqs = Vec::new();
    if let Some(mut cursor) = outbox
        .index(BY_STATE)?
        .open_cursor()
        .with_query(state.as_str())
        .await?
    {
        while let Some(event) = next_event(&mut cursor).await? {
            if keep(&event) {
                seqs.push(seq_of(&event)?);
            }
        }
    }
    Ok(seqs)
}

/// The payload bytes of every stored event, roughly, read one at a time.
pub(super) async fn payload_bytes(outbox: &ObjectStore<'_>) -> Result<u64, StoreError> {
    let mut bytes = 0;
    if let Some(mut cursor) = outbox.open_cursor().await? {
        while let Some(event) = next_event(&mut cursor).await? {
            bytes += event.payload.approximate_size() as u64;
        }
    }
    Ok(bytes)
}

/// The event stored under `seq`.
pub(super) async fn event_at(
    outbox: &ObjectStore<'_>,
    seq: u64,
) -> Result<Option<OutboxEvent>, StoreError> {
    from_js(result(outbox.as_sys().get(&JsValue::from_f64(seq as f64))).await?)
}

/// The earliest backoff deadline among queued events no lease holds, read
/// one at a time.
pub(super) async fn earliest_queued_deadline(
    outbox: &ObjectStore<'_>,
    leases: &Leases,
) -> Result<Option<u64>, StoreError> {
    let mut earliest: Option<u64> = None;
    if let Some(mut cursor) = outbox
        .index(BY_STATE)?
        .open_cursor()
        .with_query(EventState::Queued.as_str())
        .await?
    {
        while let Some(mut event) = next_event(&mut cursor).await? {
            leases.show(&mut event);
            if event.state != EventState::Queued {
                continue;
            }
            if let Some(at) = event.next_attempt_at_ms {
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
    }
    Ok(earliest)
}

/// The record stored under `key`.
pub(super) async fn get_record(
    records: &ObjectStore<'_>,
    key: &RecordKey,
) -> Result<Option<LocalRecord>, StoreError> {
    let mut found = get_records(records.as_sys(), std::slice::from_ref(key)).await?;
    Ok(found.pop().flatten())
}

/// The records of `collection`, by record id, at most `limit`.
pub(super) async fn records_of(
    records: &ObjectStore<'_>,
    collection: &str,
    limit: u32,
) -> Result<Vec<LocalRecord>, StoreError> {
    // Keys are `[collection, record_id]`: `[collection]` sorts before all of
    // the collection's keys and `[collection, []]` after them (arrays sort
    // after strings).
    let name = JsValue::from_str(collection);
    let lower = js_sys::Array::of1(&name);
    let upper = js_sys::Array::of2(&name, &js_sys::Array::new());
    let range = web_sys::IdbKeyRange::bound(&lower, &upper).map_err(refused)?;
    let found = result(records.as_sys().get_all_with_key_and_limit(&range, limit)).await?;
    decode(found)
}

/// Saves a record under its `[collection, record_id]`. Sent, not
/// awaited, as [`put_event`].
pub(super) fn put_record(
    records: &ObjectStore<'_>,
    record: &LocalRecord,
) -> Result<(), StoreError> {
    records.as_sys().put(&to_js(record)?).map_err(refused)?;
    Ok(())
}

/// The records stored under `keys`, read together (see
/// [`requests`](super::requests): one listener for the lot).
pub(super) async fn get_records(
    records: &IdbObjectStore,
    keys: &[RecordKey],
) -> Result<Vec<Option<LocalRecord>>, StoreError> {
    let requests = keys.iter().map(|key| records.get(&record_key_js(key)));
    results(&sent(requests.collect())?)
        .await?
        .into_iter()
        .map(from_js::<LocalRecord>)
        .collect()
}

/// Each key's unconfirmed events, in send order, read together through
/// the `by_record` index.
pub(super) async fn unsent_of_each(
    outbox: &IdbObjectStore,
    keys: &[RecordKey],
) -> Result<Vec<Vec<OutboxEvent>>, StoreError> {
    let by_record = outbox.index(BY_RECORD).map_err(refused)?;
    let requests = keys
        .iter()
        .map(|key| by_record.get_all_with_key(&record_key_js(key)));
    results(&sent(requests.collect())?)
        .await?
        .into_iter()
        .map(|found| {
            let mut events = from_js::<Vec<OutboxEvent>>(found)?.unwrap_or_default();
            events.retain(|e| e.state.is_unsent());
            Ok(events)
        })
        .collect()
}

/// The events with these ids (`None` for one that is gone), read through
/// the unique `by_event_id` index: with one `getAll` over the range the ids
/// span when it holds few others (ids made here are time-ordered, so a
/// batch's are close together), otherwise one read per id, all together.
pub(super) async fn find_events(
    outbox: &IdbObjectStore,
    event_ids: &[uuid::Uuid],
) -> Result<Vec<Option<OutboxEvent>>, StoreError> {
    find_event_objects(outbox, event_ids)
        .await?
        .into_iter()
        .map(from_js::<OutboxEvent>)
        .collect()
}

/// The events with `event_ids`, in that order, as IndexedDB gave them
/// (`undefined` for each that is gone), not decoded: a settlement decodes
/// a confirmed event without its payload (`takePayloads` in `idb_rows.js`).
pub(super) async fn find_event_objects(
    outbox: &IdbObjectStore,
    event_ids: &[uuid::Uuid],
) -> Result<Vec<JsValue>, StoreError> {
    let by_event_id = outbox.index(BY_EVENT_ID).map_err(refused)?;
    // Hyphenated lowercase hex sorts as the index does (ASCII).
    let ids: Vec<String> = event_ids.iter().map(|id| id.to_string()).collect();
    if let (Some(lowest), Some(highest)) = (ids.iter().min(), ids.iter().max()) {
        let range =
            web_sys::IdbKeyRange::bound(&lowest.into(), &highest.into()).map_err(refused)?;
        let limit = (ids.len() * 2) as u32;
        let found = result(by_event_id.get_all_with_key_and_limit(&range, limit)).await?;
        let found: js_sys::Array = found.unchecked_into();
        if found.length() < limit {
            // The index answers in id order: each id is looked up by halves.
            let found: Vec<(String, JsValue)> = found
                .iter()
                .map(|event| {
                    let id = js_sys::Reflect::get(&event, &"event_id".into()).unwrap_or_default();
                    (id.as_string().unwrap_or_default(), event)
                })
                .collect();
            return Ok(ids
                .iter()
                .map(
                    |id| match found.binary_search_by(|(probe, _)| probe.cmp(id)) {
                        Ok(at) => found[at].1.clone(),
                        Err(_) => JsValue::UNDEFINED,
                    },
                )
                .collect());
        }
    }
    let requests = ids.iter().map(|id| by_event_id.get(&id.into()));
    results(&sent(requests.collect())?).await
}

/// The records stored under `keys` as IndexedDB gave them (`undefined`
/// for each the device lacks), with one `getAll` over the range the keys
/// span when it holds few others (a drained batch's records often lie together: ids
/// made in order), otherwise one read per key, all together. A settlement
/// reads each record it confirms: a request per record was half of what a
/// drained event cost. A settlement decodes only the ones it needs whole.
pub(super) async fn record_objects_by_range(
    records: &IdbObjectStore,
    keys: &[RecordKey],
) -> Result<Vec<JsValue>, StoreError> {
    let one_each = |keys: &[RecordKey]| {
        let requests = keys.iter().map(|key| records.get(&record_key_js(key)));
        sent(requests.collect())
    };
    if keys.len() < 8 {
        return results(&one_each(keys)?).await;
    }
    let order = |a: &RecordKey, b: &RecordKey| {
        id_order(&a.collection, &b.collection).then_with(|| id_order(&a.record_id, &b.record_id))
    };
    let (Some(lowest), Some(highest)) = (
        keys.iter().min_by(|a, b| order(a, b)),
        keys.iter().max_by(|a, b| order(a, b)),
    ) else {
        return Ok(Vec::new());
    };
    let range = web_sys::IdbKeyRange::bound(&record_key_js(lowest), &record_key_js(highest))
        .map_err(refused)?;
    let limit = (keys.len() * 2) as u32;
    let found = result(records.get_all_with_key_and_limit(&range, limit)).await?;
    let found: js_sys::Array = found.unchecked_into();
    if found.length() >= limit {
        return results(&one_each(keys)?).await;
    }
    // The records come in the store's key order: each is looked up by halves.
    let text = |value: &JsValue, name: &str| {
        js_sys::Reflect::get(value, &name.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let stored: Vec<(RecordKey, JsValue)> = found
        .iter()
        .map(|record| {
            let key = RecordKey {
                collection: text(&record, "collection"),
                record_id: text(&record, "record_id"),
            };
            (key, record)
        })
        .collect();
    Ok(keys
        .iter()
        .map(
            |key| match stored.binary_search_by(|(probe, _)| order(probe, key)) {
                Ok(at) => stored[at].1.clone(),
                Err(_) => JsValue::UNDEFINED,
            },
        )
        .collect())
}

/// A record's key as IndexedDB takes it: `[collection, record_id]`.
fn record_key_js(key: &RecordKey) -> js_sys::Array {
    js_sys::Array::of2(
        &key.collection.as_str().into(),
        &key.record_id.as_str().into(),
    )
}

/// The records stored under `keys` (`None` for each the device lacks), as
/// [`get_records`], reading only the ones that exist when that is cheaper:
/// one `getAllKeys` over the range the keys span says which are stored,
/// unless the range holds many others (then every key is read). A pulled
/// page of records new to the device (a first sync) costs one request
/// instead of one per record. A few keys are read directly: the range read
/// would only add a round trip.
pub(super) async fn get_stored_records(
    records: &IdbObjectStore,
    keys: &[RecordKey],
) -> Result<Vec<Option<LocalRecord>>, StoreError> {
    if keys.len() < 8 {
        return get_records(records, keys).await;
    }
    let order = |a: &&RecordKey, b: &&RecordKey| {
        id_order(&a.collection, &b.collection).then_with(|| id_order(&a.record_id, &b.record_id))
    };
    let (Some(lowest), Some(highest)) = (keys.iter().min_by(order), keys.iter().max_by(order))
    else {
        return Ok(Vec::new());
    };
    let range = web_sys::IdbKeyRange::bound(&record_key_js(lowest), &record_key_js(highest))
        .map_err(refused)?;
    let limit = (keys.len() * 2) as u32;
    let found = result(records.get_all_keys_with_key_and_limit(&range, limit)).await?;
    let found: js_sys::Array = found.unchecked_into();
    if found.length() >= limit {
        return get_records(records, keys).await;
    }
    // The keys come in the store's order: each is looked up by halves.
    let stored: Vec<RecordKey> = found
        .iter()
        .filter_map(|key| {
            let key: js_sys::Array = key.dyn_into().ok()?;
            Some(RecordKey {
                collection: key.get(0).as_string()?,
                record_id: key.get(1).as_string()?,
            })
        })
        .collect();
    let is_stored = |key: &RecordKey| stored.binary_search_by(|probe| order(&probe, &key)).is_ok();
    let present: Vec<RecordKey> = keys.iter().filter(|k| is_stored(k)).cloned().collect();
    let mut read = get_records(records, &present).await?.into_iter();
    Ok(keys
        .iter()
        .map(|key| match is_stored(key) {
            true => read.next().flatten(),
            false => None,
        })
        .collect())
}

/// The values of a `getAll` read back, each as a `T`.
pub(super) fn decode_all<T: serde::de::DeserializeOwned>(
    found: impl Iterator<Item = indexed_db_futures::Result<JsValue>>,
) -> Result<Vec<T>, StoreError> {
    found.map(|value| decode(value?)).collect()
}

/// The event under a cursor, moving it on; `None` past the last.
async fn next_event<Qs>(
    cursor: &mut indexed_db_futures::cursor::Cursor<'_, Qs>,
) -> Result<Option<OutboxEvent>, StoreError> {
    match cursor.next_record::<JsValue>().await? {
        Some(value) => decode(value).map(Some),
        None => Ok(None),
    }
}
