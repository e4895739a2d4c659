//! The upload rules, one answer at a time.

use outbox_sync_protocol::blob::UploadStatus;

use super::*;
use crate::core::words::Reason;

fn status(offset: u64, complete: bool) -> Reply<UploadStatus> {
    Reply::Answer(UploadStatus {
        sha256: "ab".repeat(32),
        size: Some(10),
        offset,
        complete,
    })
}

fn error(status: u16, code: &str) -> Reply<UploadStatus> {
    Reply::Status {
        status,
        retry_after_ms: Some(2_000),
        code: Some(code.into()),
        message: Some("m".into()),
    }
}

#[test]
fn chunks_cover_the_blob_from_the_offset_and_end_at_its_size() {
    assert_eq!(chunk_range(0, 10, 4), (0, 4));
    assert_eq!(chunk_range(8, 10, 4), (8, 10));
    assert_eq!(
        chunk_range(0, 0, 4),
        (0, 0),
        "an empty blob is one empty chunk"
    );
    assert_eq!(chunk_range(12, 10, 4), (10, 10), "never past the end");
    assert_eq!(chunk_range(0, 3 * CHUNK_BYTES, CHUNK_BYTES).1, CHUNK_BYTES);
}

#[test]
fn the_servers_offset_says_where_to_continue() {
    assert_eq!(after_answer(status(6, false)), UploadStep::Send(6));
    assert_eq!(after_answer(status(10, true)), UploadStep::Complete);
    assert_eq!(
        after_answer(error(409, "blob_offset_mismatch")),
        UploadStep::AskOffset
    );
    assert_eq!(
        after_answer(error(409, "blob_size_mismatch")),
        UploadStep::AskOffset
    );
    assert_eq!(
        after_answer(error(422, "blob_hash_mismatch")),
        UploadStep::Restart
    );
}

#[test]
fn network_and_server_trouble_waits_and_refusals_fail_in_words() {
    for reply in [Reply::Network, Reply::Unreachable, Reply::Timeout] {
        assert!(matches!(
            after_answer(reply),
            UploadStep::Stop(UploadStop::Wait {
                retry_after_ms: None,
                ..
            })
        ));
    }
    assert!(matches!(
        after_answer(error(503, "injected_failure")),
        UploadStep::Stop(UploadStop::Wait {
            retry_after_ms: Some(2_000),
            ..
        })
    ));
    assert_eq!(
        after_answer(error(401, "invalid_credentials")),
        UploadStep::Stop(UploadStop::AuthRequired)
    );
    let UploadStep::Stop(UploadStop::Failed(reason)) = after_answer(error(413, "blob_too_large"))
    else {
        panic!("a file too large fails for good")
    };
    let reason = Reason::decode(&reason);
    assert!(reason.text.contains("too large"), "{}", reason.text);
    assert!(!reason.text.contains("413"), "no HTTP terms for people");
    assert!(reason.detail.unwrap().contains("blob_too_large"));
    assert!(!reason.can_retry);
}

#[test]
fn states_round_trip_and_unknown_names_are_sent_again() {
    for state in [
        BlobState::Queued,
        BlobState::Uploading,
        BlobState::Synced,
        BlobState::Failed,
    ] {
        assert_eq!(BlobState::parse(state.as_str()), state);
    }
    assert_eq!(BlobState::parse("??"), BlobState::Queued);
    assert!(BlobState::Uploading.needs_upload());
    assert!(!BlobState::Synced.needs_upload());
    assert!(!BlobState::Failed.needs_upload());
}

#[test]
fn progress_counts_only_files_on_their_way_in_words_without_bytes() {
    let mut progress = UploadProgress::default();
    assert_eq!(progress.describe(), None);
    progress.add(BlobState::Uploading, 1_000, 400);
    progress.add(BlobState::Synced, 5_000, 5_000);
    assert_eq!(progress.total, 1_000);
    assert_eq!(progress.sent, 400);
    assert_eq!(progress.describe().unwrap(), "Sending a file… 40 %");
    progress.add(BlobState::Queued, 1_000, 0);
    assert_eq!(progress.percent(), 20);
    assert_eq!(progress.describe().unwrap(), "Sending 2 files… 20 %");
}

#[test]
fn a_changes_files_are_summed_with_synced_and_remote_files_counted_as_sent() {
    use outbox_sync_protocol::blob::BlobRef;
    use outbox_sync_protocol::{Map, Value};
    let file = |n: u8, size| BlobRef {
        sha256: format!("{n:02x}").repeat(32),
        size,
        media_type: "image/jpeg".into(),
    };
    let (a, b, c) = (file(1, 100), file(2, 50), file(3, 10));
    let payload = Value::Object(Map::from([
        ("title".to_owned(), Value::from("t")),
        (
            "photos".to_owned(),
            Value::Array(vec![a.to_value(), b.to_value()]),
        ),
        ("sketch".to_owned(), c.to_value()),
    ]));
    let files = referenced_files(&payload);
    assert_eq!(files.len(), 3);
    let stored = [
        Some((BlobState::Uploading, 40)),
        Some((BlobState::Synced, 0)),
        None,
    ];
    let sum = change_files(&files, &stored);
    assert_eq!(
        sum,
        ChangeFiles {
            count: 3,
            bytes: 160,
            sent: 100
        }
    );
    assert_eq!(change_files(&[], &[]), ChangeFiles::default());
    assert!(referenced_files(&Value::from("no files")).is_empty());
}
