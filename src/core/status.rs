//! The outbox at a glance: counts by state and a sentence for the user.

use serde::{Deserialize, Serialize};

use super::event::EventState;

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

fn plural(count: u32, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

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
