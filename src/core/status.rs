//! The outbox at a glance: counts by state and a sentence for the user.

use serde::{Deserialize, Serialize};

use super::event::EventState;
use super::words::{Reason, OFFLINE};

/// How many events are in each unfinished state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSummary {
    /// Waiting to be sent (including those backing off).
    pub queued: u32,
    /// Being sent now.
    pub syncing: u32,
    /// Refused by the server: need the user.
    pub failed: u32,
    /// Need the user to choose a version.
    pub conflicts: u32,
}

impl StatusSummary {
    /// Adds `count` events in `state`; synced events are not counted.
    pub fn add(&mut self, state: EventState, count: u32) {
        match state {
            EventState::Queued => self.queued += count,
            EventState::Syncing => self.syncing += count,
            EventState::Failed => self.failed += count,
            EventState::Conflict => self.conflicts += count,
            EventState::Synced => {}
        }
    }

    /// Changes not yet confirmed by the server and not stuck: queued or syncing.
    pub fn pending(&self) -> u32 {
        self.queued + self.syncing
    }

    /// A short sentence for a status line, such as "3 changes pending".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.pending() > 0 {
            parts.push(plural(self.pending(), "change pending", "changes pending"));
        }
        if self.failed > 0 {
            parts.push(plural(self.failed, "change failed", "changes failed"));
        }
        if self.conflicts > 0 {
            parts.push(plural(
                self.conflicts,
                "conflict to resolve",
                "conflicts to resolve",
            ));
        }
        if parts.is_empty() {
            "All changes saved".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What the last sync run found, kept with the outbox so every page and the
/// service worker show the same status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// When a sync last ran.
    pub last_attempt_at: Option<u64>,
    /// When a sync last finished with nothing stopping it.
    pub last_synced_at: Option<u64>,
    /// Why the last sync stopped, as a sentence for the user; `None` when it did not.
    pub last_error: Option<String>,
    /// The server asked for new credentials; nothing is sent until they come.
    pub auth_required: bool,
    /// When changes that are waiting will be tried again.
    pub next_attempt_at: Option<u64>,
}

impl SyncState {
    /// Records a run at `now_ms` that stopped for `error` (or finished: `None`).
    pub fn record_run(
        &mut self,
        now_ms: u64,
        error: Option<String>,
        auth_required: bool,
        next_attempt_at: Option<u64>,
    ) {
        self.last_attempt_at = Some(now_ms);
        if error.is_none() {
            self.last_synced_at = Some(now_ms);
        }
        self.last_error = error;
        self.auth_required = auth_required;
        self.next_attempt_at = next_attempt_at;
    }

    /// The state as `status()` shows it: while the browser says it is offline
    /// nothing is tried (auto-sync waits for `online`), so the problem is
    /// "No internet connection" and there is no next attempt to count down to.
    pub fn as_shown(mut self, online: bool) -> SyncState {
        if !online {
            self.last_error = Some(
                Reason::new(OFFLINE)
                    .with_detail(
                        "navigator.onLine is false: nothing is sent until the browser is online",
                    )
                    .encode(),
            );
            self.next_attempt_at = None;
        }
        self
    }

    /// New credentials arrived: sending may resume.
    pub fn credentials_updated(&mut self) {
        if self.auth_required {
            self.auth_required = false;
            self.last_error = None;
        }
    }
}

fn plural(count: u32, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_stops_keeps_the_last_good_sync_time() {
        let mut state = SyncState::default();
        state.record_run(10, None, false, None);
        state.record_run(20, Some("No internet connection".into()), false, Some(25));
        assert_eq!(
            (state.last_synced_at, state.last_attempt_at),
            (Some(10), Some(20))
        );
        assert_eq!(state.last_error.as_deref(), Some("No internet connection"));
        state.record_run(30, Some("Sign in again".into()), true, None);
        state.credentials_updated();
        assert_eq!(
            (state.auth_required, state.last_error.clone()),
            (false, None)
        );
    }

    #[test]
    fn offline_the_status_says_so_with_no_countdown() {
        let mut state = SyncState::default();
        state.record_run(20, Some("Server unavailable".into()), false, Some(25));
        let shown = state.clone().as_shown(false);
        let reason = Reason::decode(shown.last_error.as_deref().unwrap());
        assert_eq!(reason.text, OFFLINE);
        assert!(reason.detail.unwrap().contains("navigator.onLine"));
        assert_eq!(shown.next_attempt_at, None);
        assert_eq!(state.clone().as_shown(true), state, "online: as recorded");
    }

    #[test]
    fn describes_the_queue_in_words() {
        let mut status = StatusSummary::default();
        assert_eq!(status.describe(), "All changes saved");
        status.add(EventState::Queued, 2);
        status.add(EventState::Syncing, 1);
        status.add(EventState::Synced, 9);
        assert_eq!(status.describe(), "3 changes pending");
        status.add(EventState::Failed, 1);
        status.add(EventState::Conflict, 2);
        assert_eq!(
            status.describe(),
            "3 changes pending, 1 change failed, 2 conflicts to resolve"
        );
    }
}
