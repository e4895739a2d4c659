//! The pull loop: pages of changes after the stored token, until none is left.

use crate::core::pull::PullReply;
use crate::core::verdict::{judge, Verdict, NOT_ANSWERING, OFFLINE, UNREACHABLE};
use crate::core::words::{self, Reason};
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
        let mut report = PullReport::default();
        loop {
            let token = self.store.sync_token().await?;
            let reply = self
                .transport
                .pull(token.as_deref(), self.config.pull_limit)
                .await;
            let halt = match reply {
                PullReply::Answer(page) => {
                    report.pages += 1;
                    report.changed += self
                        .store
                        .apply_pulled(&page.changes, &page.next_token)
                        .await?;
                    if page.has_more && page.next_token.as_str() != token.as_deref().unwrap_or("") {
                        continue;
                    }
                    return Ok(report);
                }
                PullReply::Status { status: 410, .. } if !report.resynced => {
                    report.resynced = true;
                    self.store.reset_sync_token().await?;
                    continue;
                }
                PullReply::Status { status: 410, .. } => Halt::Failed(
                    Reason::new(words::PULL_NOT_FETCHED)
                        .with_detail("the server asked for a full resync (410) twice in a row")
                        .encode(),
                ),
                PullReply::Status {
                    status,
                    retry_after_ms,
                    code,
                    message,
                } => match judge(status) {
                    Verdict::AuthRequired => Halt::AuthRequired,
                    Verdict::Wait(what) => {
                        let detail =
                            words::http_detail(status, code.as_deref(), message.as_deref());
                        self.wait(
                            retry_after_ms,
                            &Reason::new(what).with_detail(detail).encode(),
                        )
                    }
                    Verdict::Refused => Halt::Failed(
                        Reason::new(words::PULL_REFUSED)
                            .with_detail(words::http_detail(
                                status,
                                code.as_deref(),
                                message.as_deref(),
                            ))
                            .encode(),
                    ),
                },
                PullReply::Network => self.wait(None, OFFLINE),
                PullReply::Unreachable => self.wait(None, UNREACHABLE),
                PullReply::Timeout => self.wait(None, NOT_ANSWERING),
                PullReply::Malformed(why) => Halt::Failed(
                    Reason::new(words::PULL_UNREADABLE)
                        .with_detail(format!("malformed pull page: {why}"))
                        .encode(),
                ),
            };
            report.halt = Some(halt);
            return Ok(report);
        }
    }

    fn wait(&self, retry_after_ms: Option<u64>, what: &str) -> Halt {
        let policy = &self.config.retry;
        let delay = retry_after_ms
            .map(|ms| policy.server_delay_ms(ms))
            .unwrap_or_else(|| policy.delay_ms(1, self.env.random()));
        let until_ms = self.env.now_ms() + delay;
        Halt::Wait {
            until_ms,
            reason: what.to_owned(),
        }
    }
}
