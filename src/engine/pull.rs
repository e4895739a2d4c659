//! The pull loop: pages of changes after the stored token, until none is left.

use crate::core::known::KnownVersions;
use crate::core::pull::{next_pull_step, PullStep};
use crate::core::{StoreError, SyncStore};

use super::{Engine, Environment, Halt, Transport};

/// What one pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// Pages received.
    pub pages: u32,
    /// Local records that changed.
    pub changed: u32,
    /// Whether the server asked for a full resync (`410`) and got one.
    pub resynced: bool,
    /// Why the pull stopped before it was done, if it did.
    pub halt: Option<Halt>,
}

impl<S: SyncStore, T: Transport, E: Environment> Engine<'_, S, T, E> {
    /// Pulls every change after the stored sync token, page by page; each
    /// page and its token are saved together. A `410` starts again from the
    /// beginning, keeping pending local changes.
    pub async fn pull(&self) -> Result<PullReport, StoreError> {
        self.pull_after(&KnownVersions::default()).await
    }

    /// [`pull`](Self::pull), right after a drain that stored `known`
    /// ([`DrainReport::known`](super::DrainReport::known)): the pulled
    /// changes it knows (this device's own, just confirmed) are not handed
    /// to the store, which would read their records only to skip them; a
    /// page made only of them saves its token alone.
    pub async fn pull_after(&self, known: &KnownVersions) -> Result<PullReport, StoreError> {
        let mut report = PullReport::default();
        loop {
            let token = self.store.sync_token().await?;
            let reply = self
                .transport
                .pull(token.as_deref(), self.config.pull_limit)
                .await;
            let step = next_pull_step(
                reply,
                token.as_deref(),
                report.resynced,
                &self.retry(),
                self.env.now_ms(),
                self.env.random(),
            );
            match step {
                PullStep::Apply { page, more } => {
                    report.pages += 1;
                    let changes = known.unknown(&page.changes);
                    report.changed += self
                        .store
                        .apply_pulled(&changes, &page.next_token, self.env.now_ms())
                        .await?;
                    if !more {
                        return Ok(report);
                    }
                }
                PullStep::Resync => {
                    report.resynced = true;
                    self.store.reset_sync_token().await?;
                }
                PullStep::Halt(halt) => {
                    report.halt = Some(halt);
                    return Ok(report);
                }
            }
        }
    }
}
