//! Tests of the words people read: no developer word in any of them, and
//! the detail keeps what developers need.

use super::*;

/// The server's real sentences (server/src), which carry what people must not read.
const SERVER_MESSAGES: &[&str] = &[
    "request body exceeds 16777216 bytes",
    "The record is at version 26 but this change was based on version 25; fetch the current record and decide which version to keep.",
    "changed title since version 26",
    "unknown collection \"notes\": check the name or add it with --collection notes=lww.",
];

fn every_user_sentence() -> Vec<Reason> {
    let mut all: Vec<Reason> = [
        OFFLINE,
        UNREACHABLE,
        NOT_ANSWERING,
        BUSY,
        UNAVAILABLE,
        SIGN_IN_AGAIN,
        NO_ANSWER_FOR_CHANGE,
        ANSWER_LEFT_OUT,
        ONE_AT_A_TIME,
        NOT_SENT_YET,
        INTERRUPTED,
        PULL_NOT_FETCHED,
        PULL_REFUSED,
        PULL_UNREADABLE,
    ]
    .iter()
    .map(|t| Reason::new(t))
    .collect();
    for message in SERVER_MESSAGES {
        for status in [400, 403, 404, 405, 409, 413, 422, 428] {
            for code in [None, Some("body_too_large"), Some("invalid_json")] {
                all.push(refused(status, code, Some(message)));
            }
        }
        for code in [
            "unknown_collection",
            "invalid_collection",
            "invalid_record_id",
            "invalid_payload",
            "payload_too_deep",
            "idempotency_key_reused",
            "body_too_large",
            "something_new",
        ] {
            all.push(rejected(code, message));
        }
        all.push(conflict(&["title".to_owned()], message));
        all.push(unreadable_answer(message));
        all.push(wrong_record("notes/note-cb06fbd4"));
    }
    all
}

#[test]
fn no_user_facing_sentence_holds_a_developer_word() {
    for reason in every_user_sentence() {
        assert_eq!(
            developer_words_in(&reason.text),
            Vec::<String>::new(),
            "{:?}",
            reason.text
        );
    }
}

#[test]
fn the_status_line_holds_no_developer_word_but_its_counts() {
    use crate::core::{EventState, StatusSummary};
    let mut status = StatusSummary::default();
    let mut lines = vec![status.describe()];
    for state in [
        EventState::Queued,
        EventState::Syncing,
        EventState::Failed,
        EventState::Conflict,
    ] {
        status.add(state, 1);
        lines.push(status.describe());
        status.add(state, 2);
        lines.push(status.describe());
    }
    for line in lines {
        let found = developer_words_in(&line);
        assert!(found.iter().all(|w| w == "a number"), "{line}: {found:?}");
    }
}

#[test]
fn storage_errors_people_can_meet_hold_no_developer_word() {
    use crate::core::StoreError;
    let backend = StoreError::Backend {
        name: "AbortError".into(),
        message: "Version change transaction was aborted".into(),
    };
    for error in [
        StoreError::QuotaExceeded,
        StoreError::UpgradeBlocked,
        StoreError::NewerSchema {
            found: 4,
            supported: 3,
        },
        StoreError::Unavailable("indexedDB is null".into()),
        StoreError::Corrupt("invalid type: null, expected u64".into()),
        backend,
    ] {
        let text = error.to_string();
        assert_eq!(developer_words_in(&text), Vec::<String>::new(), "{text}");
    }
    let blocked = StoreError::NewerSchema {
        found: 4,
        supported: 3,
    };
    assert!(blocked.detail().unwrap().contains("version 4"));
}

#[test]
fn the_detail_keeps_what_developers_need() {
    let too_large = refused(413, Some("body_too_large"), Some(SERVER_MESSAGES[0]));
    assert!(
        !too_large.can_retry,
        "no retry can send a change that is too large"
    );
    assert_eq!(
        too_large.detail.as_deref(),
        Some("HTTP 413 body_too_large: request body exceeds 16777216 bytes")
    );
    let unknown = rejected("unknown_collection", SERVER_MESSAGES[3]);
    assert!(unknown.can_retry, "the server may be set up later");
    assert!(unknown.detail.unwrap().contains("--collection notes=lww"));
    let clash = conflict(&["title".to_owned()], SERVER_MESSAGES[2]);
    assert!(clash.detail.unwrap().contains("since version 26"));
}

#[test]
fn a_reason_survives_the_store() {
    for reason in every_user_sentence() {
        assert_eq!(Reason::decode(&reason.encode()), reason);
        assert_eq!(text_of(&reason.encode()), reason.text);
    }
    let old = Reason::decode("Server unavailable");
    assert_eq!(old, Reason::new("Server unavailable"));
    assert_eq!(Reason::new("x").encode(), "x");
}

#[test]
fn the_checks_catch_what_the_issue_saw() {
    for seen in [
        "changed title since version 26",
        "add it with --collection notes=lww",
        "request body exceeds 16777216 bytes",
        "failed / put notes/note-cb06fbd4",
        "The server refused the change (HTTP 413)",
    ] {
        assert!(!developer_words_in(seen).is_empty(), "{seen}");
    }
}
