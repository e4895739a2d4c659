//! The JSON shapes the contract promises, checked against literal text.

use outbox_sync_protocol::api::{etag, is_uuid, parse_etag};
use outbox_sync_protocol::{
    ChangesResponse, ErrorResponse, Event, Op, Outcome, PushRequest, PushResponse, PushResult,
    Record, Value,
};
use serde_json::json;

fn record(version: u64) -> Record {
    Record {
        collection: "notes".into(),
        record_id: "n1".into(),
        version,
        deleted: false,
        data: serde_json::from_value(json!({"title": "hi"})).unwrap(),
    }
}

#[test]
fn events_read_with_defaults_for_base_version_and_payload() {
    let text = r#"{"events":[{"event_id":"0190a1b2-0000-7000-8000-000000000001",
        "collection":"notes","record_id":"n1","op":"delete"}]}"#;
    let request: PushRequest = serde_json::from_str(text).unwrap();
    let event = &request.events[0];
    assert_eq!(event.op, Op::Delete);
    assert_eq!(event.base_version, None);
    assert_eq!(event.payload, Value::Null);
}

#[test]
fn events_write_snake_case_ops() {
    let event = Event {
        event_id: "e".into(),
        collection: "c".into(),
        record_id: "r".into(),
        op: Op::Patch,
        base_version: Some(3),
        payload: Value::Null,
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(value["op"], "patch");
    assert_eq!(value["base_version"], 3);
}

#[test]
fn results_put_status_beside_event_id() {
    let response = PushResponse {
        results: vec![
            PushResult {
                event_id: "a".into(),
                outcome: Outcome::Applied {
                    version: 7,
                    record: record(7),
                },
            },
            PushResult {
                event_id: "b".into(),
                outcome: Outcome::Duplicate {
                    original: Box::new(Outcome::Rejected {
                        code: "x".into(),
                        message: "y".into(),
                    }),
                },
            },
        ],
    };
    let value = serde_json::to_value(&response).unwrap();
    assert_eq!(
        value,
        json!({"results": [
            {"event_id": "a", "status": "applied", "version": 7, "record":
                {"collection": "notes", "record_id": "n1", "version": 7, "deleted": false,
                 "data": {"title": "hi"}}},
            {"event_id": "b", "status": "duplicate", "original":
                {"status": "rejected", "code": "x", "message": "y"}},
        ]})
    );
    let back: PushResponse = serde_json::from_value(value).unwrap();
    assert_eq!(back, response);
    assert_eq!(back.results[1].outcome.status(), "duplicate");
    assert_eq!(back.results[1].outcome.effective().status(), "rejected");
}

#[test]
fn conflicts_read_without_fields() {
    let text = r#"{"event_id":"a","status":"conflict","message":"m",
        "current":{"collection":"notes","record_id":"n1","version":2,"deleted":true,"data":null}}"#;
    let result: PushResult = serde_json::from_str(text).unwrap();
    match result.outcome {
        Outcome::Conflict {
            current, fields, ..
        } => {
            assert!(current.deleted);
            assert!(fields.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn changes_and_errors_have_the_documented_shape() {
    let page: ChangesResponse = serde_json::from_value(json!({
        "changes": [], "next_token": "t", "has_more": false
    }))
    .unwrap();
    assert!(!page.has_more);
    let error: ErrorResponse = serde_json::from_value(json!({
        "error": {"code": "resync_required", "message": "m"}
    }))
    .unwrap();
    assert_eq!(error.error.code, "resync_required");
    assert!(error.current.is_none());
    assert!(!serde_json::to_string(&error).unwrap().contains("current"));
}

#[test]
fn etags_round_trip() {
    assert_eq!(etag(12), "\"12\"");
    assert_eq!(parse_etag("\"12\""), Some(12));
    assert_eq!(parse_etag("W/\"12\""), Some(12));
    assert_eq!(parse_etag(" 12 "), Some(12));
    assert_eq!(parse_etag("*"), None);
    assert_eq!(parse_etag("\"\""), None);
}

#[test]
fn uuids_are_recognised() {
    assert!(is_uuid("0190a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"));
    assert!(!is_uuid("0190a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5"));
    assert!(!is_uuid("not-a-uuid"));
}

#[test]
fn results_missing_a_field_their_status_needs_are_refused() {
    for (text, missing) in [
        (
            r#"{"event_id":"a","status":"applied","record":null}"#,
            "version",
        ),
        (
            r#"{"event_id":"a","status":"rejected","code":"x"}"#,
            "message",
        ),
        (r#"{"event_id":"a","status":"duplicate"}"#, "original"),
        (
            r#"{"status":"applied","version":1,"record":{"collection":"c","record_id":"r","version":1,"deleted":true,"data":null}}"#,
            "event_id",
        ),
    ] {
        let error = serde_json::from_str::<PushResult>(text)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&format!("`{missing}`")), "{text}: {error}");
    }
    let unknown = serde_json::from_str::<PushResult>(r#"{"event_id":"a","status":"lost"}"#);
    assert!(unknown.unwrap_err().to_string().contains("unknown variant"));
}

#[test]
fn results_ignore_fields_they_do_not_know() {
    let text = r#"{"event_id":"a","status":"rejected","code":"x","message":"y","hint":1}"#;
    let result: PushResult = serde_json::from_str(text).unwrap();
    assert_eq!(result.outcome.status(), "rejected");
}
