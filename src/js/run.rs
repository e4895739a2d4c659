//! One sync run: drain, then pull, under the outbox's Web Lock, recording the
//! run's state and metrics and telling every page.

use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::JsValue;

use super::error::{js_error, NotConnected};
use super::settings::Settings;
use crate::core::words::Reason;
use crate::core::StoreError;
use crate::engine::broadcast::announce;
use crate::engine::browser::{has_web_locks, run_exclusive, BrowserEnv, FetchTransport};
use crate::engine::upload::upload_blobs;
use crate::engine::{DrainReport, Engine, EngineConfig, Environment, Halt, PullReport};
use crate::store::IdbOutbox;

/// Why a sync run could not run, typed until it reaches JavaScript.
#[derive(Debug)]
pub(super) enum SyncError {
    /// No `connect()` yet: there is no server to sync with.
    NotConnected,
    /// The outbox could not be read or written.
    Store(StoreError),
    /// A browser API (Web Locks) failed.
    Browser(JsValue),
}

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> Self {
        SyncError::Store(error)
    }
}

impl From<JsValue> for SyncError {
    fn from(error: JsValue) -> Self {
        SyncError::Browser(error)
    }
}

impl From<SyncError> for JsValue {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::NotConnected => js_error(&NotConnected),
            SyncError::Store(error) => js_error(&error),
            SyncError::Browser(error) => error,
        }
    }
}

/// Drains, then pulls (unless the drain had to stop), under the outbox's Web
/// Lock. Resolves to a report; `{ ran: false }` when another context holds
/// the lock, `{ ran: false, paused: true }` while syncing is paused.
pub(super) async fn sync_once(store: Rc<IdbOutbox>) -> Result<SyncReport, SyncError> {
    let settings = Settings::load(&store).await?;
    if settings.paused {
        return Ok(SyncReport {
            paused: true,
            ..SyncReport::default()
        });
    }
    let endpoint = settings.endpoint.ok_or(SyncError::NotConnected)?;
    let batch_size = settings.batch_size;
    let lock = format!("outbox-sync:drain:{}", store.name());
    let work = async move {
        let defaults = EngineConfig::default();
        let config = EngineConfig {
            debug: endpoint.debug,
            exclusive: has_web_locks(),
            batch_size: batch_size.unwrap_or(defaults.batch_size),
            ..defaults
        };
        // Files first: a change is pushed after the files it refers to
        // (one whose file could not be sent now waits, `blob_missing`).
        let uploads = upload_blobs(&store, &endpoint).await?;
        if uploads.completed > 0 {
            // Files now on the server may go if the files are over the cap.
            let _ = super::blobs::keep_within_cap(&store).await;
        }
        if endpoint.debug {
            if let Some(stop) = &uploads.stop {
                let reason = Reason::decode(crate::core::blob::stop_reason(stop));
                let detail = reason.detail.unwrap_or_default();
                BrowserEnv.log(&format!(
                    "outbox-sync: files wait: {} [{detail}]",
                    reason.text
                ));
            }
        }
        // The drain's batches keep their payloads in JavaScript for the
        // push (store::outgoing), until this hold goes with the drain.
        let holding = store.hold_payloads();
        let transport = FetchTransport {
            endpoint,
            outgoing: Some(store.outgoing()),
        };
        let engine = Engine::new(&*store, transport, BrowserEnv, config);
        let drain = engine.drain().await;
        drop(holding);
        let drain = drain?;
        let pull = match drain.halt {
            None => Some(engine.pull_after(&drain.known).await?),
            Some(_) => None,
        };
        let mut report = SyncReport::new(&drain, pull.as_ref());
        report.files_sent = uploads.completed;
        report.failed += uploads.failed_changes;
        report.uploaded_bytes = uploads.bytes_sent;
        record(&store, &report, &drain, pull.as_ref()).await?;
        announce(&store.name(), "synced");
        Ok(report)
    };
    Ok(run_exclusive::<_, SyncError, _>(&lock, work)
        .await?
        .unwrap_or_default())
}

/// Saves what the run found (for `status()`) and adds it to the metrics,
/// in one transaction with whatever else changed the settings meanwhile.
async fn record(
    store: &IdbOutbox,
    report: &SyncReport,
    drain: &DrainReport,
    pull: Option<&PullReport>,
) -> Result<(), StoreError> {
    let now_ms = BrowserEnv.now_ms();
    let halt = report.halt.as_ref();
    Settings::record(store, |settings| {
        settings.state.record_run(
            now_ms,
            report.halted.as_ref().map(|h| h.reason().to_owned()),
            matches!(report.halted, Some(Halt::AuthRequired)),
            halt.and_then(|h| h.until).or(report.next_attempt_at),
        );
        let metrics = &mut settings.metrics;
        metrics.record_drain(
            drain.synced,
            drain.retried,
            drain.failed,
            drain.conflicts,
            &drain.time_to_sync_ms,
        );
        if drain.halt.is_some() {
            metrics.record_failure("push");
        } else if pull.is_some_and(|p| p.halt.is_some()) {
            metrics.record_failure("pull");
        }
    })
    .await
}

/// What `syncNow()` did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SyncReport {
    /// A sync ran here (`false`: another context was syncing, or paused).
    pub(super) ran: bool,
    /// Syncing is paused (`pause()`); nothing was sent.
    pub(super) paused: bool,
    synced: u32,
    retried: u32,
    failed: u32,
    conflicts: u32,
    pulled: u32,
    resynced: bool,
    /// Files now complete on the server.
    files_sent: u32,
    /// Bytes of files sent (and confirmed) in this run.
    uploaded_bytes: u64,
    /// When changes that are backing off become due (schedule the next sync then).
    pub(super) next_attempt_at: Option<u64>,
    /// `null`, or why syncing stopped: `{ kind: "wait", until, reason }`,
    /// `{ kind: "auth", reason }` or `{ kind: "failed", reason }`.
    pub(super) halt: Option<HaltView>,
    /// The same, typed, for the Rust side.
    #[serde(skip)]
    pub(super) halted: Option<Halt>,
}

#[derive(Debug, Serialize)]
pub(super) struct HaltView {
    pub(super) kind: &'static str,
    pub(super) until: Option<u64>,
    /// Why, for people.
    pub(super) reason: String,
    /// What a developer needs (the server's answer), or `null`.
    pub(super) detail: Option<String>,
}

impl HaltView {
    fn new(kind: &'static str, until: Option<u64>, stored: &str) -> Self {
        let reason = Reason::decode(stored);
        HaltView {
            kind,
            until,
            reason: reason.text,
            detail: reason.detail,
        }
    }
}

impl SyncReport {
    /// When this context should sync again by itself, if at all: when the
    /// server or the network allows, or when waiting changes fall due.
    pub(super) fn next_sync_at(&self) -> Option<u64> {
        match &self.halted {
            Some(Halt::Wait { until_ms, .. }) => Some(*until_ms),
            Some(_) => None,
            None => self.next_attempt_at,
        }
    }
}

impl SyncReport {
    fn new(drain: &DrainReport, pull: Option<&PullReport>) -> Self {
        let halt = drain.halt.as_ref().or(pull.and_then(|p| p.halt.as_ref()));
        SyncReport {
            ran: true,
            paused: false,
            synced: drain.synced,
            retried: drain.retried,
            failed: drain.failed,
            conflicts: drain.conflicts,
            pulled: pull.map_or(0, |p| p.changed),
            files_sent: 0,
            uploaded_bytes: 0,
            resynced: pull.is_some_and(|p| p.resynced),
            next_attempt_at: drain.next_attempt_at,
            halt: halt.map(HaltView::from),
            halted: halt.cloned(),
        }
    }
}

impl From<&Halt> for HaltView {
    fn from(halt: &Halt) -> Self {
        match halt {
            Halt::Wait { until_ms, .. } => HaltView::new("wait", Some(*until_ms), halt.reason()),
            Halt::AuthRequired => HaltView::new("auth", None, halt.reason()),
            Halt::Failed(_) => HaltView::new("failed", None, halt.reason()),
        }
    }
}
