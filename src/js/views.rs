//! The shapes JavaScript sees: camelCase copies of the core's types.

use outbox_sync_protocol::Map;
use serde::Serialize;

use super::storage::StorageView;
use crate::core::blob::{ChangeFiles, UploadProgress};
use crate::core::words::Reason;
use crate::core::{EventState, LocalRecord, OutboxEvent, StatusSummary, SyncState};

/// One change in the outbox, as listed by `pendingChanges()`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView<'a> {
    event_id: String,
    collection: &'a str,
    record_id: &'a str,
    op: &'static str,
    state: &'static str,
    attempts: u32,
    created_at: u64,
    next_attempt_at: Option<u64>,
    /// The last failure, for people.
    last_error: Option<String>,
    /// What a developer needs about it (the server's answer), or `null`.
    last_error_detail: Option<String>,
    /// Whether retrying it unchanged can succeed (a change too large cannot).
    can_retry: bool,
    /// The files it refers to and how much of them the server has (only
    /// listed by `pendingChanges()`, for changes with files).
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<FilesView>,
}

/// A change's files, as `pendingChanges()` lists them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilesView {
    count: u32,
    bytes: u64,
    sent_bytes: u64,
}

impl ChangeView<'_> {
    /// The same, with the progress of the change's files.
    pub fn with_files(mut self, files: ChangeFiles) -> Self {
        self.files = (files.count > 0).then_some(FilesView {
            count: files.count,
            bytes: files.bytes,
            sent_bytes: files.sent,
        });
        self
    }
}

impl<'a> From<&'a OutboxEvent> for ChangeView<'a> {
    fn from(e: &'a OutboxEvent) -> Self {
        let reason = e.last_error.as_deref().map(Reason::decode);
        ChangeView {
            event_id: e.event_id.to_string(),
            collection: &e.collection,
            record_id: &e.record_id,
            op: e.op.as_str(),
            state: e.state.as_str(),
            attempts: e.attempts,
            created_at: e.created_at_ms,
            next_attempt_at: e.next_attempt_at_ms,
            last_error: reason.as_ref().map(|r| r.text.clone()),
            last_error_detail: reason.as_ref().and_then(|r| r.detail.clone()),
            can_retry: reason.is_none_or(|r| r.can_retry),
            files: None,
        }
    }
}

/// A record as the device sees it, returned by `get()`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordView<'a> {
    collection: &'a str,
    record_id: &'a str,
    /// The fields with pending changes applied; `null` once deleted.
    fields: Option<&'a Map>,
    /// The server version these changes were made against.
    version: Option<u64>,
    /// Changes not yet confirmed by the server.
    pending: u32,
    /// `"synced"` when the server has everything, else the most pressing
    /// pending change's state: conflict, failed, syncing, queued.
    state: &'static str,
    updated_at: u64,
}

impl<'a> RecordView<'a> {
    /// The record and the state of its unconfirmed changes.
    pub fn new(r: &'a LocalRecord, state: EventState) -> Self {
        RecordView {
            state: state.as_str(),
            collection: &r.collection,
            record_id: &r.record_id,
            fields: r.local.as_ref(),
            version: r.base_version,
            pending: r.pending,
            updated_at: r.updated_at_ms,
        }
    }
}

/// The outbox at a glance, returned by `status()`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    queued: u32,
    syncing: u32,
    failed: u32,
    conflicts: u32,
    pending: u32,
    /// A sentence for a status line, such as "3 changes pending".
    message: String,
    /// Whether the browser believes it is online (`navigator.onLine`).
    online: bool,
    /// Syncing is paused (`pause()`).
    paused: bool,
    /// When a sync last finished with nothing stopping it.
    last_synced_at: Option<u64>,
    /// Why the last sync stopped, as a sentence for the user ("No internet
    /// connection"); `nextAttemptAt` says when the next try is, for a live
    /// countdown.
    last_error: Option<String>,
    /// What a developer needs about the last error (the server's answer), or `null`.
    last_error_detail: Option<String>,
    /// The server wants new credentials: call `setCredentials()`.
    auth_required: bool,
    /// When waiting changes will be tried again.
    next_attempt_at: Option<u64>,
    /// Total bytes of the files still on their way to the server.
    uploading_bytes: u64,
    /// Bytes of those files the server has confirmed.
    uploaded_bytes: u64,
    /// The files on their way, for people ("Sending a file… 40 %"), or `null`.
    upload_message: Option<String>,
    /// Whether storage is persisted and how much of the quota is used.
    storage: StorageView,
}

impl StatusView {
    /// The counts, the last run's state and whether the browser is online.
    pub fn new(s: StatusSummary, state: SyncState, online: bool, paused: bool) -> Self {
        let state = state.as_shown(online);
        let reason = state.last_error.as_deref().map(Reason::decode);
        StatusView {
            online,
            paused,
            last_synced_at: state.last_synced_at,
            last_error: reason.as_ref().map(|r| r.text.clone()),
            last_error_detail: reason.and_then(|r| r.detail),
            auth_required: state.auth_required,
            next_attempt_at: state.next_attempt_at,
            queued: s.queued,
            syncing: s.syncing,
            failed: s.failed,
            conflicts: s.conflicts,
            pending: s.pending(),
            message: s.describe(),
            uploading_bytes: 0,
            uploaded_bytes: 0,
            upload_message: None,
            storage: StorageView::default(),
        }
    }

    /// The same, with the device's storage figures.
    pub fn with_storage(mut self, storage: StorageView) -> Self {
        self.storage = storage;
        self
    }

    /// The same, with the progress of the files on their way.
    pub fn with_uploads(mut self, progress: UploadProgress) -> Self {
        self.uploading_bytes = progress.total;
        self.uploaded_bytes = progress.sent;
        self.upload_message = progress.describe();
        self
    }
}
