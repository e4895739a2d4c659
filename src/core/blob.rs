//! Files (photos, videos) attached to records, as pure rules: the state of
//! a local blob, which chunk to send next, what the server's answer to a
//! chunk means, and the upload progress shown to people.
//!
//! The bytes never pass through here (nor through wasm memory): the browser
//! adapter slices the `Blob` and hands the slice to `fetch`. This module
//! only decides offsets and steps, so it is tested natively.

use outbox_sync_protocol::blob::{blob_refs, BlobRef, UploadStatus};

use super::reply::Reply;
use super::verdict::{judge, Verdict, NOT_ANSWERING, OFFLINE, SIGN_IN_AGAIN, UNREACHABLE};
use super::words::{self, Reason};

/// Bytes sent in one chunk: small enough that a broken connection loses
/// little on a slow link, large enough that a fast one is not slowed by
/// round trips (the reference server takes up to 8 MiB).
pub const CHUNK_BYTES: u64 = 1024 * 1024;

/// How many times an upload is started again from the first byte after
/// the server found the bytes did not match their hash, before the file is
/// marked failed (the bytes on this device are then not the ones hashed).
pub const MAX_RESTARTS: u32 = 1;

/// Where a local blob is on its way to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    /// Stored on this device, not sent yet.
    Queued,
    /// Some chunks are on the server.
    Uploading,
    /// Complete on the server, its hash verified.
    Synced,
    /// The server refused it for good (too large, bytes not matching).
    Failed,
}

impl BlobState {
    /// The name stored and shown to JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobState::Queued => "queued",
            BlobState::Uploading => "uploading",
            BlobState::Synced => "synced",
            BlobState::Failed => "failed",
        }
    }

    /// The state of a stored name; an unknown name reads as queued, so a
    /// blob is sent again rather than forgotten.
    pub fn parse(name: &str) -> BlobState {
        match name {
            "uploading" => BlobState::Uploading,
            "synced" => BlobState::Synced,
            "failed" => BlobState::Failed,
            _ => BlobState::Queued,
        }
    }

    /// Whether the upload step still has work for a blob in this state.
    pub fn needs_upload(self) -> bool {
        matches!(self, BlobState::Queued | BlobState::Uploading)
    }
}

/// The byte range `[start, end)` of the chunk that starts at `offset` in a
/// blob of `size` bytes (empty for an empty blob: it still completes it).
pub fn chunk_range(offset: u64, size: u64, chunk: u64) -> (u64, u64) {
    let start = offset.min(size);
    (start, start.saturating_add(chunk.max(1)).min(size))
}

/// Why an upload stopped before the blob was complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStop {
    /// Try again later (offline, server busy or down): the encoded reason,
    /// and the server's `Retry-After` when it sent one.
    Wait {
        /// The reason, encoded as [`Reason`] does.
        reason: String,
        /// The server's `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The server wants new credentials.
    AuthRequired,
    /// Refused for good: the encoded reason.
    Failed(String),
}

/// What to do after one answer about an upload (a chunk `PUT` or the
/// offset `GET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStep {
    /// Send the chunk at this offset next.
    Send(u64),
    /// The blob is complete on the server.
    Complete,
    /// The server holds another offset than the chunk assumed: ask it.
    AskOffset,
    /// The server discarded the upload (its bytes did not match the hash):
    /// send it again from the first byte.
    Restart,
    /// Stop uploading for now.
    Stop(UploadStop),
}

/// Decides the next step from the server's answer about an upload.
pub fn after_answer(reply: Reply<UploadStatus>) -> UploadStep {
    match reply {
        Reply::Answer(status) if status.complete => UploadStep::Complete,
        Reply::Answer(status) => UploadStep::Send(status.offset),
        Reply::Network => wait(OFFLINE.to_owned(), None),
        Reply::Unreachable => wait(UNREACHABLE.to_owned(), None),
        Reply::Timeout => wait(NOT_ANSWERING.to_owned(), None),
        Reply::Malformed(why) => wait(words::unreadable_answer(&why).encode(), None),
        Reply::Status {
            status,
            retry_after_ms,
            code,
            message,
        } => {
            let detail = words::http_detail(status, code.as_deref(), message.as_deref());
            match (judge(status), code.as_deref()) {
                (Verdict::AuthRequired, _) => UploadStep::Stop(UploadStop::AuthRequired),
                (Verdict::Wait(what), _) => wait(
                    Reason::new(what).with_detail(detail).encode(),
                    retry_after_ms,
                ),
                (Verdict::Refused, Some("blob_offset_mismatch" | "blob_size_mismatch")) => {
                    UploadStep::AskOffset
                }
                (Verdict::Refused, Some("blob_hash_mismatch")) => UploadStep::Restart,
                (Verdict::Refused, _) => UploadStep::Stop(UploadStop::Failed(
                    words::file_refused(code.as_deref())
                        .with_detail(detail)
                        .encode(),
                )),
            }
        }
    }
}

fn wait(reason: String, retry_after_ms: Option<u64>) -> UploadStep {
    UploadStep::Stop(UploadStop::Wait {
        reason,
        retry_after_ms,
    })
}

/// Bytes of files still on their way: `total` of the blobs not yet
/// complete on the server, of which `sent` are confirmed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadProgress {
    /// Total size of the blobs queued or uploading.
    pub total: u64,
    /// Bytes of them the server confirmed.
    pub sent: u64,
    /// How many blobs are queued or uploading.
    pub files: u32,
}

impl UploadProgress {
    /// Counts one local blob.
    pub fn add(&mut self, state: BlobState, size: u64, sent: u64) {
        if state.needs_upload() {
            self.total += size;
            self.sent += sent.min(size);
            self.files += 1;
        }
    }

    /// Whole percent sent (0 when nothing is waiting).
    pub fn percent(&self) -> u32 {
        if self.total == 0 {
            return 0;
        }
        ((self.sent as u128 * 100) / self.total as u128) as u32
    }

    /// A sentence for people ("Sending 2 files… 40 %"), or `None` when no
    /// file is waiting.
    pub fn describe(&self) -> Option<String> {
        match self.files {
            0 => None,
            1 => Some(format!("Sending a file… {} %", self.percent())),
            n => Some(format!("Sending {n} files… {} %", self.percent())),
        }
    }
}

/// The files one change refers to, and how much of them the server has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeFiles {
    /// How many files.
    pub count: u32,
    /// Their total size.
    pub bytes: u64,
    /// Bytes of them confirmed by the server (the whole size of a synced file).
    pub sent: u64,
}

/// The files referenced in a change's `payload` (malformed references are
/// the server's to refuse: none is counted).
pub fn referenced_files(payload: &outbox_sync_protocol::Value) -> Vec<BlobRef> {
    blob_refs(payload).unwrap_or_default()
}

/// Sums a change's files: `stored[i]` is the state and confirmed bytes of
/// `files[i]` on this device (`None`: not here, so already on the server).
pub fn change_files(files: &[BlobRef], stored: &[Option<(BlobState, u64)>]) -> ChangeFiles {
    let mut sum = ChangeFiles::default();
    for (file, stored) in files.iter().zip(stored) {
        sum.count += 1;
        sum.bytes += file.size;
        sum.sent += match stored {
            Some((BlobState::Synced, _)) | None => file.size,
            Some((_, sent)) => (*sent).min(file.size),
        };
    }
    sum
}

/// The encoded reason an upload stopped, for the status line.
pub fn stop_reason(stop: &UploadStop) -> &str {
    match stop {
        UploadStop::Wait { reason, .. } | UploadStop::Failed(reason) => reason,
        UploadStop::AuthRequired => SIGN_IN_AGAIN,
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "blob_tests.rs"]
mod tests;
