//! The sync worker: drains the outbox to the server and pulls changes back.
//!
//! Generic over the store ([`SyncStore`]) and the [`Transport`], so the loops
//! run natively against `MemoryOutbox` and a scripted transport in tests, and
//! in the browser against IndexedDB and `fetch`. Time and randomness come from
//! an [`Environment`]: the engine never reads a clock itself.

#[cfg(target_family = "wasm")]
pub mod broadcast;
#[cfg(target_family = "wasm")]
pub mod browser;
mod drain;
mod pull;
#[cfg(target_family = "wasm")]
pub mod upload;

use crate::core::drain::PushReply;
use crate::core::pull::PullReply;
use crate::core::{OutboxEvent, RetryPolicy, SyncStore};

pub use crate::core::drain_machine::Halt;
pub use drain::DrainReport;
pub use pull::PullReport;

/// Moves batches and pages to and from the server.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Pushes `events` (their ids are the idempotency keys) and reports the answer.
    async fn push(&self, events: &[OutboxEvent]) -> PushReply;
    /// Pulls the changes after `since` (all of them when `None`), at most `limit`.
    async fn pull(&self, since: Option<&str>, limit: u32) -> PullReply;
}

/// The clock and the dice.
pub trait Environment {
    /// Milliseconds since the Unix epoch, as the device believes.
    fn now_ms(&self) -> u64;
    /// A random number in `[0, 1)`, for the backoff's jitter.
    fn random(&self) -> f64;
    /// Writes a debug line (only called when [`EngineConfig::debug`] is on).
    fn log(&self, _line: &str) {}
}

/// How the engine batches, retries and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Most events in one push.
    pub batch_size: usize,
    /// An event whose payload is larger than this (bytes, roughly) is pushed alone.
    pub large_payload_bytes: usize,
    /// Most changes asked for in one pull.
    pub pull_limit: u32,
    /// The ceiling of the first retry's delay. Delays double from there up
    /// to the store's `clock.max_backoff_ms`: the one bound that the store
    /// (seeing through clock jumps) and the engine (backing off) share.
    pub retry_base_ms: u64,
    /// Log the `event_id` of every event synced, retried, failed or in conflict.
    pub debug: bool,
    /// Every drainer of this outbox runs under one lock (Web Locks), so a
    /// drain may take back every lease at once: whoever held them is gone.
    /// Without it, leases are recovered when they run out.
    pub exclusive: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch_size: 100,
            large_payload_bytes: 256 * 1024,
            pull_limit: 500,
            retry_base_ms: RetryPolicy::default().base_ms,
            debug: false,
            exclusive: false,
        }
    }
}

/// Drains and pulls with one store, one transport and one environment.
pub struct Engine<'a, S, T, E> {
    store: &'a S,
    transport: T,
    env: E,
    config: EngineConfig,
}

impl<'a, S: SyncStore, T: Transport, E: Environment> Engine<'a, S, T, E> {
    /// An engine over `store` and `transport`.
    pub fn new(store: &'a S, transport: T, env: E, config: EngineConfig) -> Self {
        Engine {
            store,
            transport,
            env,
            config,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        self.store
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.env
    }

    /// The backoff: from the engine's base delay up to the store's ceiling.
    fn retry(&self) -> RetryPolicy {
        self.store
            .config()
            .clock
            .retry_policy(self.config.retry_base_ms)
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests;
