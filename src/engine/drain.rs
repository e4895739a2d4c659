//! The drain loop: take a batch under a lease, push it, apply every result.

use uuid::Uuid;

use crate::core::drain::{plan, Next, Step};
use crate::core::{OutboxEvent, StoreError, SyncStore};

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
}

impl<S: SyncStore, T: Transport, E: Environment> Engine<'_, S, T, E> {
    /// Sends every sendable event, batch after batch, until none is left or
    /// the server says to stop. Events of one record go in order, one per
    /// batch; a stuck event holds back only its own record.
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
        let mut batch_size = self.config.batch_size.max(1);
        loop {
            let now_ms = self.env.now_ms();
            let batch = self.store.take_batch(now_ms, batch_size).await?;
            if batch.is_empty() {
                // A deadline set before the clock moved back is never waited for in full.
                let latest = now_ms.saturating_add(self.config.retry.max_ms);
                report.next_attempt_at =
                    self.store.next_attempt_at().await?.map(|at| at.min(latest));
                return Ok(report);
            }
            let mut requests = self.split_large(batch).into_iter();
            for request in requests.by_ref() {
                report.requests += 1;
                let reply = self.transport.push(&request).await;
                let now_ms = self.env.now_ms();
                let plan = plan(
                    &request,
                    reply,
                    &self.config.retry,
                    now_ms,
                    self.env.random(),
                );
                self.apply_all(plan.steps, now_ms, &mut report).await?;
                match plan.next {
                    Next::Continue => continue,
                    Next::SendOneByOne => {
                        batch_size = 1;
                        continue;
                    }
                    Next::WaitUntil(until_ms) => {
                        let reason = plan.error.unwrap_or_default();
                        report.halt = Some(Halt::Wait { until_ms, reason });
                    }
                    Next::AuthRequired => report.halt = Some(Halt::AuthRequired),
                }
                break;
            }
            if report.halt.is_some() {
                // This batch's requests that were not sent go back to the queue, due now.
                let now_ms = self.env.now_ms();
                for event in requests.flatten() {
                    let reason = crate::core::words::NOT_SENT_YET;
                    self.apply(
                        Step::Retry {
                            event_id: event.event_id,
                            at_ms: now_ms,
                            reason: reason.into(),
                        },
                        now_ms,
                        &mut report,
                    )
                    .await?;
                }
                return Ok(report);
            }
        }
    }

    /// Splits a batch so that every large event is pushed in a request of its own.
    fn split_large(&self, batch: Vec<OutboxEvent>) -> Vec<Vec<OutboxEvent>> {
        let limit = self.config.large_payload_bytes;
        let (large, small): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|e| e.payload.approximate_size() > limit);
        let mut requests: Vec<Vec<OutboxEvent>> = large.into_iter().map(|e| vec![e]).collect();
        if !small.is_empty() {
            requests.insert(0, small);
        }
        requests
    }

    /// Applies a request's steps: the confirmed events together (one commit
    /// for the lot), then the rest one by one.
    async fn apply_all(
        &self,
        steps: Vec<Step>,
        now_ms: u64,
        report: &mut DrainReport,
    ) -> Result<(), StoreError> {
        let mut confirmed = Vec::new();
        let mut others = Vec::new();
        for step in steps {
            match step {
                Step::Synced {
                    event_id, version, ..
                } => {
                    if self.config.debug {
                        self.env.log(&describe(&step));
                    }
                    confirmed.push((event_id, Some(version)));
                }
                other => others.push(other),
            }
        }
        self.confirm(&confirmed, now_ms, report).await?;
        for step in others {
            self.apply(step, now_ms, report).await?;
        }
        Ok(())
    }

    /// Completes confirmed events in one store call and counts them.
    async fn confirm(
        &self,
        confirmed: &[(Uuid, Option<u64>)],
        now_ms: u64,
        report: &mut DrainReport,
    ) -> Result<(), StoreError> {
        report.synced += confirmed.len() as u32;
        for event in self.store.complete_all(confirmed, now_ms).await? {
            let waited = now_ms.saturating_sub(event.created_at_ms);
            report.time_to_sync_ms.push(waited);
        }
        Ok(())
    }

    async fn apply(
        &self,
        step: Step,
        now_ms: u64,
        report: &mut DrainReport,
    ) -> Result<(), StoreError> {
        if self.config.debug {
            self.env.log(&describe(&step));
        }
        let result = match step {
            Step::Synced {
                event_id, version, ..
            } => {
                self.confirm(&[(event_id, Some(version))], now_ms, report)
                    .await
            }
            Step::Retry {
                event_id,
                at_ms,
                reason,
            } => {
                report.retried += 1;
                self.store.requeue(event_id, at_ms, &reason).await.map(drop)
            }
            Step::Failed { event_id, reason } => {
                report.failed += 1;
                self.store.fail(event_id, &reason).await.map(drop)
            }
            Step::Conflict {
                event_id,
                current,
                fields,
                reason,
            } => {
                report.conflicts += 1;
                self.store
                    .record_conflict(event_id, current, fields, &reason, now_ms)
                    .await
                    .map(drop)
            }
        };
        match result {
            // Another drainer took over after this one's lease ran out and got
            // there first; the event is in good hands.
            Err(StoreError::Transition(_)) => Ok(()),
            other => other,
        }
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
