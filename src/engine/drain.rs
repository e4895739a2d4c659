//! The drain loop: take a batch under a lease, push it, apply every result.

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
                let retention = self.store.config().synced_retention_ms;
                if retention > 0 {
                    self.store
                        .purge_synced(now_ms.saturating_sub(retention))
                        .await?;
                }
                return Ok(report);
            }
            let mut requests = self.split_large(batch).into_iter();
            while let Some(request) = requests.next() {
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
                let halt = match plan.next {
                    Next::Continue => None,
                    Next::SendOneByOne => {
                        batch_size = 1;
                        None
                    }
                    Next::WaitUntil(until_ms) => Some(Halt::Wait {
                        until_ms,
                        reason: plan.error.unwrap_or_default(),
                    }),
                    Next::AuthRequired => Some(Halt::AuthRequired),
                };
                let mut steps = plan.steps;
                if halt.is_some() {
                    // This batch's requests that were not sent go back to the
                    // queue, due now, in the same transaction.
                    steps.extend(requests.by_ref().flatten().map(|event| Step::Retry {
                        event_id: event.event_id,
                        at_ms: now_ms,
                        reason: NOT_SENT_YET.into(),
                    }));
                }
                self.settle(steps, now_ms, &mut report).await?;
                if halt.is_some() {
                    report.halt = halt;
                    return Ok(report);
                }
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

    /// Writes a request's outcomes in one store transaction and counts them.
    async fn settle(
        &self,
        steps: Vec<Step>,
        now_ms: u64,
        report: &mut DrainReport,
    ) -> Result<(), StoreError> {
        for step in &steps {
            if self.config.debug {
                self.env.log(&describe(step));
            }
            match step {
                Step::Synced { .. } => report.synced += 1,
                Step::Retry { .. } => report.retried += 1,
                Step::Failed { .. } => report.failed += 1,
                Step::Conflict { .. } => report.conflicts += 1,
            }
        }
        let settlement = self.store.settle(steps, now_ms).await?;
        for event in settlement.synced {
            let waited = now_ms.saturating_sub(event.created_at_ms);
            report.time_to_sync_ms.push(waited);
        }
        Ok(())
    }
}

/// Why an event of a stopped batch is back in the queue.
const NOT_SENT_YET: &str = "Not sent yet; it will be sent with the next attempt.";

/// A debug line for a step, naming the event.
fn describe(step: &Step) -> String {
    let id = step.event_id();
    match step {
        Step::Synced { version, .. } => {
            format!("outbox-sync: synced event_id={id} version={version}")
        }
        Step::Retry { at_ms, reason, .. } => {
            format!("outbox-sync: retry event_id={id} at={at_ms}: {reason}")
        }
        Step::Failed { reason, .. } => format!("outbox-sync: failed event_id={id}: {reason}"),
        Step::Conflict { reason, .. } => format!("outbox-sync: conflict event_id={id}: {reason}"),
    }
}
