//! End-to-end tests of the reference server: each test starts the real
//! server on a free loopback port with its own temporary database and talks
//! HTTP to it.

mod common;

mod audit;
mod blob_kill;
mod blob_store;
mod blobs;
mod conflicts;
mod errors;
mod fuzz;
mod hardening;
mod idempotency;
mod instances;
mod isolation;
mod load;
mod ops;
mod postgres;
mod pull;
