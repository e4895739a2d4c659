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

/// mimalloc rather than glibc's malloc: under the load test glibc spent a
/// fifth of the SQLite writer thread's time in `free` (docs/server.md,
/// "Build profile"). The library leaves the choice to its users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
