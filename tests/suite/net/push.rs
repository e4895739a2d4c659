//! Pushes the server applies, replays and refuses.

use outbox_sync::core::drain::PushReply;
use outbox_sync::core::Operation;
use outbox_sync::net::{push, Endpoint};
use outbox_sync_protocol::{Outcome, Value};
use uuid::Uuid;
use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

#[wasm_bindgen_test]
async fn a_new_batch_is_applied_in_order() {
    let collection = fresh_collection();
    let batch = [
        put(&collection, "a", "first"),
        put(&collection, "b", "second"),
    ];
    let response = results(push(&endpoint(), &batch).await);
    assert_eq!(response.results.len(), 2);
    for (result, event) in response.results.iter().zip(&batch) {
        assert_eq!(result.event_id, event.event_id.to_string());
    }
    let (first, record) = applied(&response.results[0].outcome);
    let (second, _) = applied(&response.results[1].outcome);
    assert!(second > first, "versions follow the batch order");
    assert_eq!(record.collection, collection);
    assert_eq!(record.record_id, "a");
    // The fields the server echoes back are left out (null): the client
    // reads an applied change's version, and decoding them cost as much as
    // the payloads sent.
    assert_eq!(record.data, Value::Null);
}

#[wasm_bindgen_test]
async fn the_same_events_pushed_twice_are_duplicates_with_the_original_outcome() {
    let collection = fresh_collection();
    let batch = [put(&collection, "a", "once"), put(&collection, "b", "once")];
    let first = results(push(&endpoint(), &batch).await);
    let again = results(push(&endpoint(), &batch).await);
    for (original, retry) in first.results.iter().zip(&again.results) {
        assert_eq!(retry.event_id, original.event_id);
        match &retry.outcome {
            Outcome::Duplicate { original: stored } => assert_eq!(**stored, original.outcome),
            other => panic!("expected duplicate, got {other:?}"),
        }
    }
}

#[wasm_bindgen_test]
async fn a_stale_base_version_in_a_strict_collection_is_a_conflict() {
    let record = Uuid::now_v7().to_string();
    let created = results(push(&endpoint(), &[put("net_strict", &record, "mine")]).await);
    let (version, _) = applied(&created.results[0].outcome);
    // Another device that never saw the record writes it as new.
    let stale = put("net_strict", &record, "theirs");
    let reply = results(push(&endpoint(), &[stale]).await);
    match &reply.results[0].outcome {
        Outcome::Conflict { current, .. } => {
            assert_eq!(current.version, version);
            assert_eq!(
                current.data.as_object().unwrap()["title"],
                Value::from("mine")
            );
        }
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn overlapping_patches_in_a_merge_collection_conflict_on_their_fields() {
    let record = Uuid::now_v7().to_string();
    let create = event(
        "net_merge",
        &record,
        Operation::Put,
        fields(&[("a", 1.0), ("b", 1.0)]),
    );
    let (base, _) = applied(&results(push(&endpoint(), &[create]).await).results[0].outcome);
    let theirs = with_base(
        event(
            "net_merge",
            &record,
            Operation::Patch,
            fields(&[("a", 2.0)]),
        ),
        base,
    );
    applied(&results(push(&endpoint(), &[theirs]).await).results[0].outcome);
    let mine = with_base(
        event(
            "net_merge",
            &record,
            Operation::Patch,
            fields(&[("a", 3.0)]),
        ),
        base,
    );
    match &results(push(&endpoint(), &[mine]).await).results[0].outcome {
        Outcome::Conflict { fields, .. } => assert_eq!(fields, &["a".to_owned()]),
        other => panic!("expected conflict, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_wrong_or_missing_token_is_401() {
    let batch = [put(&fresh_collection(), "a", "x")];
    let wrong = Endpoint::new(server()).with_token("not-a-token");
    match push(&wrong, &batch).await {
        PushReply::Status {
            status: 401, code, ..
        } => assert_eq!(code.as_deref(), Some("invalid_credentials")),
        other => panic!("expected 401, got {other:?}"),
    }
    match push(&Endpoint::new(server()), &batch).await {
        PushReply::Status {
            status: 401,
            code,
            message,
            ..
        } => {
            assert_eq!(code.as_deref(), Some("missing_credentials"));
            assert!(message.is_some());
        }
        other => panic!("expected 401, got {other:?}"),
    }
}
