//! The drain loop: runs the rounds of the core's [`DrainMachine`]: pushes,
//! outcomes written and batches taken under a lease.

use futures::future::join;

use crate::core::drain::Step;
use crate::core::drain_machine::{DrainConfig, DrainMachine};
use crate::core::known::KnownVersions;
use crate::core::settle::Settlement;
use crate::core::{StoreError, SyncStore};

use super::{Engine, Environment, Halt, Transport};

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Requests sent.
    pub requests: u32,
    /// Events the server confirmed.
    pub synced: u32,
    /// Events put back to wait (backoff, interrupted, left out).
    pub retried: u32,
    /// Events the server refused for good.
    pub failed: u32,
    /// Events in conflict.
    pub conflicts: u32,
    /// Events whose lease had run out and that were queued again first.
    pub recovered: u32,
    /// Why the drain stopped before the queue was empty, if it did.
    pub halt: Option<Halt>,
    /// When the earliest event that is still backing off becomes due (set
    /// when the drain ran out of sendable events but some are waiting).
    pub next_attempt_at: Option<u64>,
    /// For each confirmed event, how long it took from saved to confirmed.
    pub time_to_sync_ms: Vec<u64>,
    /// The records this drain stored at a server version (for the pull
    /// after it: [`Engine::pull_after`]).
    pub known: KnownVersions,
}

impl<S: SyncStore, T: Transport, E: Environment> Engine<'_, S, T, E> {
    /// Sends every sendable event, batch after batch, until none is left or
    /// the server says to stop. Events of one record go in order, one per
    /// batch; a stuck event holds back only its own record. What to do is
    /// decided by the core's [`DrainMachine`]; this loop only moves the
    /// requests and runs the store's work, beside the network when it can.
    pub async fn drain(&self) -> Result<DrainReport, StoreError> {
        // Under the one drainer lock, no other drainer is alive: its leases
        // are ours to take back, however long they had to run.
        let recover_at = if self.config.exclusive {
            u64::MAX
        } else {
            self.env.now_ms()
        };
        let mut report = DrainReport {
            recovered: self.store.recover_leases(recover_at).await?,
            ..DrainReport::default()
        };
        let mut machine = DrainMachine::new(DrainConfig {
            batch_size: self.config.batch_size,
            large_payload_bytes: self.config.large_payload_bytes,
            retry: self.retry(),
        });
        while let Some(round) = machine.poll_round() {
            // The round's requests go one after another, each once the one
            // before it is answered, beside the store's work.
            let beside_push = round.send.is_some();
            let machine_ref = &mut machine;
            let sending = async move {
                let mut next = round.send;
                while let Some(request) = next {
                    let reply = self.transport.push(&request).await;
                    machine_ref.handle_reply(self.env.now_ms(), reply, self.env.random());
                    next = machine_ref.poll_send();
                }
            };
            let mut waits = Vec::new();
            let known = &mut report.known;
            let storing = async {
                let now_ms = self.env.now_ms();
                match (round.settle, round.take) {
                    // Outcomes and the next batch in one store step.
                    (Some(steps), Some(limit)) => {
                        self.log_steps(&steps);
                        let (settlement, batch) = self
                            .store
                            .settle_then_take(steps, now_ms, limit, beside_push)
                            .await?;
                        note_waits(&settlement, now_ms, &mut waits);
                        known.note(&settlement.writes);
                        Ok(Some(batch))
                    }
                    (Some(steps), None) => {
                        self.log_steps(&steps);
                        let settlement = self.store.settle(steps, now_ms).await?;
                        note_waits(&settlement, now_ms, &mut waits);
                        known.note(&settlement.writes);
                        Ok(None)
                    }
                    (None, Some(limit)) => self.store.take_batch(now_ms, limit).await.map(Some),
                    (None, None) => Ok(None),
                }
            };
            let ((), taken) = join(sending, storing).await;
            report.time_to_sync_ms.extend(waits);
            if let Some(batch) = taken? {
                machine.handle_taken(batch);
            }
        }
        let counts = machine.counts();
        report.requests = counts.requests;
        report.synced = counts.synced;
        report.retried = counts.retried;
        report.failed = counts.failed;
        report.conflicts = counts.conflicts;
        report.halt = machine.halt().cloned();
        if report.halt.is_none() {
            let now_ms = self.env.now_ms();
            // A deadline set before the clock moved back is never waited for in full.
            let latest = now_ms.saturating_add(self.retry().max_ms);
            report.next_attempt_at = self.store.next_attempt_at().await?.map(|at| at.min(latest));
            let retention = self.store.config().synced_retention_ms;
            if retention > 0 {
                self.store
                    .purge_synced(now_ms.saturating_sub(retention))
                    .await?;
            }
        }
        Ok(report)
    }

    /// In debug mode, a console line for each outcome about to be written.
    fn log_steps(&self, steps: &[Step]) {
        if self.config.debug {
            for step in steps {
                self.env.log(&describe(step));
            }
        }
    }
}

/// Notes how long each event a settlement confirmed waited.
fn note_waits(settlement: &Settlement, now_ms: u64, waits: &mut Vec<u64>) {
    for event in &settlement.synced {
        waits.push(now_ms.saturating_sub(event.created_at_ms));
    }
}

/// A debug line for a step, naming the event.
fn describe(step: &Step) -> String {
    let id = step.event_id();
    match step {
        Step::Synced { version, .. } => {
            format!("outbox-sync: synced event_id={id} version={version}")
        }
        Step::Retry { at_ms, reason, .. } => {
            format!(
                "outbox-sync: retry event_id={id} at={at_ms}: {}",
                console_reason(reason)
            )
        }
        Step::Failed { reason, .. } => {
            format!(
                "outbox-sync: failed event_id={id}: {}",
                console_reason(reason)
            )
        }
        Step::Conflict { reason, .. } => {
            format!(
                "outbox-sync: conflict event_id={id}: {}",
                console_reason(reason)
            )
        }
    }
}

/// A stored reason for the console: the sentence, then the developer's detail.
fn console_reason(stored: &str) -> String {
    let reason = crate::core::words::Reason::decode(stored);
    match reason.detail {
        Some(detail) => format!("{} [{detail}]", reason.text),
        None => reason.text,
    }
}
