//! The upload step of a sync run: every file still on its way is sent to
//! the server in chunks, from the offset the server holds, before the
//! drain pushes the changes that refer to them.
//!
//! What each answer means is the core's ([`after_answer`]); this loop
//! slices the `Blob` (the browser reads the slice into the request body:
//! the bytes never enter wasm memory) and records the confirmed offset
//! after every chunk, so a stopped worker or a closed tab resumes there.

use futures::future::join;

use crate::core::blob::{
    after_answer, chunk_range, BlobState, UploadStep, UploadStop, CHUNK_BYTES, MAX_RESTARTS,
};
use crate::core::StoreError;
use crate::net::{blob as net, Endpoint};
use crate::store::{IdbOutbox, StoredBlob};

/// Asks for the server's offset this often in a row at most (after `409`s)
/// before the upload waits for the next run.
const MAX_OFFSET_QUESTIONS: u32 = 3;

/// What the upload step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Files now complete on the server.
    pub completed: u32,
    /// Files the server refused for good.
    pub failed: u32,
    /// Changes marked failed because a file of theirs was refused.
    pub failed_changes: u32,
    /// Bytes sent and confirmed in this run.
    pub bytes_sent: u64,
    /// Why uploading stopped before every file was sent (offline, server
    /// busy, credentials): the drain that follows meets the same trouble
    /// and backs off as usual.
    pub stop: Option<UploadStop>,
}

/// Sends every queued or unfinished file, oldest first, until one cannot
/// be sent now.
pub async fn upload_blobs(
    store: &IdbOutbox,
    endpoint: &Endpoint,
) -> Result<UploadReport, StoreError> {
    let mut report = UploadReport::default();
    // Changes made to wait for a refused file (a retry asked for) fail again:
    // they can never be sent as they are.
    for blob in store.failed_blobs().await? {
        let reason = crate::core::words::file_refused(None)
            .with_detail("a file of this change was refused by the server before")
            .encode();
        report.failed_changes += store.fail_changes_with_file(&blob.sha256, &reason).await?;
    }
    for blob in store.blobs_to_upload().await? {
        match upload_one(store, endpoint, &blob, &mut report.bytes_sent).await? {
            None => report.completed += 1,
            Some(UploadStop::Failed(reason)) => {
                report.failed += 1;
                report.failed_changes +=
                    store.fail_changes_with_file(&blob.sha256, &reason).await?;
            }
            Some(stop) => {
                report.stop = Some(stop);
                break;
            }
        }
    }
    Ok(report)
}

/// Sends one file from where the server stands; `None` once it is complete.
async fn upload_one(
    store: &IdbOutbox,
    endpoint: &Endpoint,
    blob: &StoredBlob,
    bytes_sent: &mut u64,
) -> Result<Option<UploadStop>, StoreError> {
    let sha256 = &blob.sha256;
    let mut step = after_answer(net::upload_status(endpoint, sha256).await);
    let (mut restarts, mut questions) = (0, 0);
    let mut confirmed = blob.sent;
    loop {
        step = match step {
            UploadStep::Complete => {
                store
                    .set_blob_state(sha256, BlobState::Synced, blob.size)
                    .await?;
                return Ok(None);
            }
            UploadStep::Send(offset) => {
                // The confirmed offset is saved while the next chunk is on its way.
                let previous = confirmed;
                let save = async {
                    if offset == previous {
                        return Ok(());
                    }
                    store
                        .set_blob_state(sha256, BlobState::Uploading, offset)
                        .await
                };
                confirmed = offset;
                questions = 0;
                let (start, end) = chunk_range(offset, blob.size, CHUNK_BYTES);
                let chunk = blob
                    .blob
                    .slice_with_f64_and_f64(start as f64, end as f64)
                    .map_err(|e| StoreError::Backend {
                        name: "NotReadableError".into(),
                        message: crate::net::json::describe(&e),
                    })?;
                let send = net::send_chunk(endpoint, sha256, start, blob.size, &chunk);
                let (saved, answer) = join(save, send).await;
                saved?;
                // Only what this chunk added counts: bytes a lost answer
                // confirmed in an earlier run were sent then.
                let next = after_answer(answer);
                match next {
                    UploadStep::Complete => *bytes_sent += end - start,
                    UploadStep::Send(at) if at > start => *bytes_sent += at.min(end) - start,
                    _ => {}
                }
                next
            }
            UploadStep::AskOffset if questions < MAX_OFFSET_QUESTIONS => {
                questions += 1;
                after_answer(net::upload_status(endpoint, sha256).await)
            }
            UploadStep::AskOffset => {
                return Ok(Some(UploadStop::Wait {
                    reason: crate::core::words::NO_ANSWER_FOR_CHANGE.to_owned(),
                    retry_after_ms: None,
                }))
            }
            UploadStep::Restart if restarts < MAX_RESTARTS => {
                restarts += 1;
                confirmed = 0;
                UploadStep::Send(0)
            }
            UploadStep::Restart => {
                let reason = crate::core::words::file_refused(Some("blob_hash_mismatch"))
                    .with_detail("the file's bytes do not match its SHA-256 (blob_hash_mismatch)")
                    .encode();
                store.set_blob_state(sha256, BlobState::Failed, 0).await?;
                return Ok(Some(UploadStop::Failed(reason)));
            }
            UploadStep::Stop(stop) => {
                if matches!(stop, UploadStop::Failed(_)) {
                    store
                        .set_blob_state(sha256, BlobState::Failed, confirmed)
                        .await?;
                }
                return Ok(Some(stop));
            }
        };
    }
}
