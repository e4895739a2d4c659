//! Several connections to one database (tabs, the service worker): what
//! each saves or takes, the others see, and nothing is lost or taken twice.

use futures::future::{join, join_all};
use outbox_sync::core::{EventState, OutboxStore, StoreConfig};
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::Value;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, key, patch, put, seqs};

#[wasm_bindgen_test]
async fn two_drainers_never_take_the_same_event() {
    let (one, name) = fresh().await;
    let two = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let changes = (0..30).map(|i| put(&format!("r{i}"), "x")).collect();
    one.enqueue_batch(changes, 0).await.unwrap();
    let (a, b) = join(one.take_batch(10, 20), two.take_batch(10, 20)).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all = seqs(&a);
    all.extend(seqs(&b));
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=30).collect::<Vec<u64>>(),
        "every event taken exactly once: {a:?} {b:?}"
    );
    assert_eq!(one.count(EventState::Syncing).await.unwrap(), 30);
    assert_eq!(two.count(EventState::Queued).await.unwrap(), 0);
}

#[wasm_bindgen_test]
async fn a_batch_is_taken_with_one_lease_that_other_connections_respect() {
    let (one, name) = fresh().await;
    let two = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let changes = (0..100).map(|i| put(&format!("r{i}"), "x")).collect();
    one.enqueue_batch(changes, 0).await.unwrap();
    let before = one.requests_sent();
    let taken = one.take_batch(10, 100).await.unwrap();
    assert_eq!(taken.len(), 100);
    assert!(
        one.requests_sent() - before <= 3,
        "the leases read, the batch read, one lease written: {}",
        one.requests_sent() - before
    );
    // The other connection sees the batch held and takes nothing of it.
    assert!(two.take_batch(20, 100).await.unwrap().is_empty());
    assert_eq!(two.count(EventState::Syncing).await.unwrap(), 100);
    assert_eq!(two.recover_leases(20).await.unwrap(), 0, "not expired");
    // Another drainer finishing one (after a lost lease) leaves the rest held.
    two.complete(taken[0].event_id, Some(1), 30).await.unwrap();
    assert_eq!(one.count(EventState::Syncing).await.unwrap(), 99);
    assert!(two.take_batch(40, 100).await.unwrap().is_empty());
}

#[wasm_bindgen_test]
async fn concurrent_enqueues_from_two_connections_lose_nothing() {
    let (one, name) = fresh().await;
    let two = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let connections = [&one, &two];

    // Forty changes to separate records and forty patches to one shared record,
    // all in flight at once, alternating between the two connections.
    let separate = (0..40)
        .map(|i| connections[i % 2].enqueue(put(&format!("r{i}"), &i.to_string()), i as u64));
    let shared = (0..40).map(|i| {
        connections[i % 2].enqueue(
            patch("shared", &format!("f{i}"), Value::from(i as f64)),
            i as u64,
        )
    });
    let (separate, shared) = join(join_all(separate), join_all(shared)).await;
    let mut saved: Vec<_> = separate
        .into_iter()
        .chain(shared)
        .map(Result::unwrap)
        .collect();

    saved.sort_by_key(|e| e.seq);
    let mut unique = seqs(&saved);
    unique.dedup();
    assert_eq!(unique.len(), 80, "every event got its own seq");
    assert_eq!(one.count(EventState::Queued).await.unwrap(), 80);
    assert_eq!(two.count(EventState::Queued).await.unwrap(), 80);
    for event in &saved {
        assert_eq!(
            two.event(event.event_id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    // No read-modify-write of the shared record was lost.
    let shared = one.record(&key("shared")).await.unwrap().unwrap();
    assert_eq!(shared.pending, 40);
    let fields = shared.local.unwrap();
    assert_eq!(fields.len(), 40);
    assert!((0..40).all(|i| fields.get(&format!("f{i}")) == Some(&Value::from(i as f64))));
}

#[wasm_bindgen_test]
async fn walks_start_after_the_synced_events_and_agree_with_a_fresh_connection() {
    let (outbox, name) = fresh().await;
    let changes: Vec<_> = (0..6).map(|n| put(&format!("r{n}"), "1")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    for event in outbox.take_batch(100, 4).await.unwrap() {
        outbox.complete(event.event_id, Some(1), 200).await.unwrap();
    }
    // r1's second change comes after r4 and r5; r0 stays synced behind.
    outbox.enqueue(put("r1", "2"), 300).await.unwrap();
    assert_eq!(seqs(&outbox.take_batch(400, 1).await.unwrap()), vec![5]);
    assert_eq!(seqs(&outbox.unsent(10).await.unwrap()), vec![5, 6, 7]);
    assert_eq!(seqs(&outbox.unsent(2).await.unwrap()), vec![5, 6]);
    // Another tab's connection starts from the beginning and sees the same.
    let other = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(seqs(&other.unsent(10).await.unwrap()), vec![5, 6, 7]);
    assert_eq!(seqs(&other.take_batch(500, 10).await.unwrap()), vec![6, 7]);
    assert!(outbox.take_batch(600, 10).await.unwrap().is_empty());
    assert_eq!(outbox.next_attempt_at().await.unwrap(), None);
}
