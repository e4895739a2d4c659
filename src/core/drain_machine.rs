//! The drain as a state machine with no I/O: the caller polls it for the
//! next round of work, runs the round (a push, a store write, a store take)
//! and hands the results back.
//!
//! The machine keeps every policy of a drain: requests of one batch (a large
//! event travels alone), one event per request after a refused batch, what a
//! stopped drain puts back, and when the drain is over. It also overlaps the
//! local work with the network: while a request is on its way, the round
//! writes the outcomes of the request before it and takes the next batch, so
//! the store's commits wait on the server's answer instead of adding to it.
//!
//! The events of a request that is on its way are still syncing, so the
//! batch taken meanwhile never holds a later change of their records: the
//! server still sees a record's changes one after another.
//!
//! A take holds up to [`MAX_AHEAD`] requests' worth of events once the
//! server has answered (one request's worth at first, doubling with each
//! answer that lets the drain go on), and a round sends all of a batch's
//! requests one after another ([`DrainMachine::poll_send`]) while the store
//! writes the outcomes of the batch before it and takes the next: one
//! transaction for several pushes, so a round lasts as long as the longer of
//! the two, not their sum, and the store's cost per transaction (its reads,
//! its commit) is shared by more events. An offline first attempt still
//! takes one request's worth only.

use std::collections::VecDeque;

use super::drain::{plan, Next, PushReply, Step};
use super::event::OutboxEvent;
use super::retry::RetryPolicy;

/// Why a drain or pull stopped before it was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// Wait until `until_ms` before trying again (offline, server busy or failing).
    Wait {
        /// When to try again.
        until_ms: u64,
        /// What went wrong, as a sentence for the user.
        reason: String,
    },
    /// The server wants new credentials: nothing is sent until the app supplies them.
    AuthRequired,
    /// The server's answer was unusable; the events are kept.
    Failed(String),
}

impl Halt {
    /// Why, as stored for the status line: the sentence for people with its
    /// detail ([`Reason`](super::words::Reason) encoded).
    pub fn reason(&self) -> &str {
        match self {
            Halt::Wait { reason, .. } | Halt::Failed(reason) => reason,
            Halt::AuthRequired => super::words::SIGN_IN_AGAIN,
        }
    }
}

/// How a drain batches and backs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainConfig {
    /// Most events in one push.
    pub batch_size: usize,
    /// An event whose payload is larger than this (bytes, roughly) is pushed alone.
    pub large_payload_bytes: usize,
    /// Backoff between attempts.
    pub retry: RetryPolicy,
}

/// Most requests' worth of events one take holds (see the module's text).
pub const MAX_AHEAD: usize = 4;

/// One round of work: `send` goes to the server while `settle` is written
/// and then `take` is taken, in that order, by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// The request to push, if any; hand its answer to
    /// [`DrainMachine::handle_reply`], then send what
    /// [`DrainMachine::poll_send`] gives, one after another, until it gives
    /// nothing, beside the round's store work.
    pub send: Option<Vec<OutboxEvent>>,
    /// Outcomes to write in one transaction
    /// ([`settle`](super::OutboxStore::settle)), if any.
    pub settle: Option<Vec<Step>>,
    /// Take the next batch of at most this many events
    /// ([`take_batch`](super::OutboxStore::take_batch)) after `settle`, and
    /// hand it to [`DrainMachine::handle_taken`].
    pub take: Option<usize>,
}

/// What a drain counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainCounts {
    /// Requests answered (or that failed on the way).
    pub requests: u32,
    /// Events the server confirmed.
    pub synced: u32,
    /// Events put back to wait (backoff, interrupted, not sent).
    pub retried: u32,
    /// Events the server refused for good.
    pub failed: u32,
    /// Events in conflict.
    pub conflicts: u32,
}

/// A drain in progress.
#[derive(Debug)]
pub struct DrainMachine {
    config: DrainConfig,
    batch_size: usize,
    /// The current batch's requests not sent yet.
    requests: VecDeque<Vec<OutboxEvent>>,
    /// The request the server is answering.
    in_flight: Option<Vec<OutboxEvent>>,
    /// Outcomes not written yet.
    to_settle: Vec<Step>,
    /// The round's take ran while nothing was on its way, after every
    /// outcome was written: if it finds nothing, nothing is left to send.
    take_is_final: bool,
    /// A take came back empty with nothing on its way: the drain is over.
    exhausted: bool,
    /// The last take found fewer events than it asked for: the queue held
    /// no more that could go, so its push goes out with no take beside it.
    last_take_short: bool,
    /// The requests in `requests` came from a take no round has started
    /// sending: the round that starts them takes the next batch beside them.
    fresh: bool,
    /// How many requests' worth the next take holds (1 to [`MAX_AHEAD`]).
    ahead: usize,
    /// The limit of the last take asked for.
    take_limit: usize,
    /// When the last answer came, for what a stopped drain puts back.
    now_ms: u64,
    halt: Option<Halt>,
    counts: DrainCounts,
}

impl DrainMachine {
    /// A drain that has not started: its first round takes a batch.
    pub fn new(config: DrainConfig) -> Self {
        DrainMachine {
            batch_size: config.batch_size.max(1),
            config,
            requests: VecDeque::new(),
            in_flight: None,
            to_settle: Vec::new(),
            take_is_final: false,
            exhausted: false,
            last_take_short: false,
            fresh: false,
            ahead: 1,
            take_limit: 0,
            now_ms: 0,
            halt: None,
            counts: DrainCounts::default(),
        }
    }

    /// What the drain counted so far.
    pub fn counts(&self) -> DrainCounts {
        self.counts
    }

    /// Why the drain stopped, if it did.
    pub fn halt(&self) -> Option<&Halt> {
        self.halt.as_ref()
    }

    /// The next round of work, or `None` when the drain is over (every
    /// outcome written; see [`halt`](Self::halt) for why it stopped, if it
    /// did).
    pub fn poll_round(&mut self) -> Option<Round> {
        let settle = (!self.to_settle.is_empty()).then(|| std::mem::take(&mut self.to_settle));
        if self.halt.is_some() || self.exhausted {
            // Only what is left to write, then stop.
            return settle.map(|steps| Round {
                send: None,
                settle: Some(steps),
                take: None,
            });
        }
        let fresh = std::mem::take(&mut self.fresh);
        let send = self.requests.pop_front();
        // The next batch is taken while this one's requests are on their
        // way (or at once when nothing is), unless the batch was short:
        // then the queue held nothing more that could go, and a take beside
        // the push would only hold the outbox while a save may need it (an
        // app with startAutoSync() saving as the push goes out). The take
        // after the answer, in the settlement's transaction, finds whatever
        // was saved since.
        let beside = send.is_none() || !self.last_take_short;
        let starts_batch = send.is_none() || fresh;
        let take = (starts_batch && beside).then_some(self.batch_size * self.ahead);
        if let Some(limit) = take {
            self.take_limit = limit;
        }
        self.take_is_final = send.is_none();
        self.in_flight.clone_from(&send);
        Some(Round { send, settle, take })
    }

    /// The next request of the round, to send once the one before it was
    /// answered ([`handle_reply`](Self::handle_reply)), or `None` when the
    /// round has no more (its batch is all sent, or the drain stopped).
    pub fn poll_send(&mut self) -> Option<Vec<OutboxEvent>> {
        if self.halt.is_some() || self.in_flight.is_some() {
            return None;
        }
        let send = self.requests.pop_front();
        self.in_flight.clone_from(&send);
        send
    }

    /// Takes the server's answer to the request that was sent.
    pub fn handle_reply(&mut self, now_ms: u64, reply: PushReply, random: f64) {
        let request = self
            .in_flight
            .take()
            .expect("an answer comes for a request that was sent");
        self.now_ms = now_ms;
        self.counts.requests += 1;
        let plan = plan(&request, reply, &self.config.retry, now_ms, random);
        match plan.next {
            Next::Continue => self.ahead = (self.ahead * 2).min(MAX_AHEAD),
            Next::SendOneByOne => {
                self.batch_size = 1;
                self.ahead = 1;
            }
            Next::WaitUntil(until_ms) => {
                self.halt = Some(Halt::Wait {
                    until_ms,
                    reason: plan.error.unwrap_or_default(),
                })
            }
            Next::AuthRequired => self.halt = Some(Halt::AuthRequired),
        }
        self.add_steps(plan.steps);
        if self.halt.is_some() {
            // This batch's requests that were not sent go back, due now.
            let unsent: Vec<OutboxEvent> = self.requests.drain(..).flatten().collect();
            self.put_back(unsent);
        }
    }

    /// Takes the batch the round's `take` found.
    pub fn handle_taken(&mut self, batch: Vec<OutboxEvent>) {
        if self.halt.is_some() {
            // Taken while the answer that stopped the drain was on its way.
            self.put_back(batch);
        } else if batch.is_empty() {
            self.exhausted = self.take_is_final;
        } else {
            self.last_take_short = batch.len() < self.take_limit;
            self.requests.extend(self.split_large(batch));
            self.fresh = true;
        }
    }

    /// Events that were taken but will not be sent in this drain: back to
    /// the queue, due now.
    fn put_back(&mut self, events: Vec<OutboxEvent>) {
        let at_ms = self.now_ms;
        let steps = events
            .into_iter()
            .map(|event| Step::Retry {
                event_id: event.event_id,
                at_ms,
                reason: NOT_SENT_YET.into(),
            })
            .collect();
        self.add_steps(steps);
    }

    fn add_steps(&mut self, steps: Vec<Step>) {
        for step in &steps {
            let count = match step {
                Step::Synced { .. } => &mut self.counts.synced,
                Step::Retry { .. } => &mut self.counts.retried,
                Step::Failed { .. } => &mut self.counts.failed,
                Step::Conflict { .. } => &mut self.counts.conflicts,
            };
            *count += 1;
        }
        self.to_settle.extend(steps);
    }

    /// A batch as requests: the small events first, at most a batch's size
    /// a request, in send order, then every large event alone.
    fn split_large(&self, batch: Vec<OutboxEvent>) -> Vec<Vec<OutboxEvent>> {
        let limit = self.config.large_payload_bytes;
        let (large, small): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|e| e.payload_size() > limit);
        let mut requests: Vec<Vec<OutboxEvent>> = Vec::new();
        let mut small = small.into_iter().peekable();
        while small.peek().is_some() {
            requests.push(small.by_ref().take(self.batch_size).collect());
        }
        requests.extend(large.into_iter().map(|e| vec![e]));
        requests
    }
}

/// Why an event of a stopped batch is back in the queue.
pub use super::words::NOT_SENT_YET;

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "drain_machine_tests.rs"]
mod tests;
