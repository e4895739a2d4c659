//! Which files to remove from the device when the files kept there weigh
//! more than the cap (`Outbox.open`'s `fileCacheBytes`).
//!
//! Only synced copies go: a copy downloaded from the server, or a file
//! made on this device once the server holds it complete. A file still on
//! its way to the server (queued, uploading) or refused by it (failed) is
//! the only copy there is and is never removed. Of the synced copies, the
//! least recently used goes first; `blob()` downloads it again on demand.
//! The store reads the entries and removes what this picks.

use super::blob::BlobState;

/// The cap when the app sets none: 256 MiB of files kept on the device
/// (pending files count towards it but are never removed).
pub const DEFAULT_FILE_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// One stored file, as eviction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFile {
    /// SHA-256 of the file: its key.
    pub sha256: String,
    /// Its length in bytes.
    pub size: u64,
    /// Where it is on its way to the server.
    pub state: BlobState,
    /// When it was last read or stored (milliseconds since the epoch).
    pub used_at_ms: u64,
}

impl CachedFile {
    /// Whether removing this copy loses nothing (the server holds it).
    pub fn evictable(&self) -> bool {
        self.state == BlobState::Synced
    }
}

/// The keys of the files to remove so that the files kept weigh at most
/// `cap_bytes`: synced copies only, least recently used first (ties by
/// key, so the choice does not depend on the order given). Empty when the
/// files fit. When the pending files alone exceed the cap, every synced
/// copy goes and the pending ones stay.
pub fn files_to_evict(files: &[CachedFile], cap_bytes: u64) -> Vec<String> {
    let mut total: u64 = files.iter().map(|f| f.size).sum();
    if total <= cap_bytes {
        return Vec::new();
    }
    // The least recently used of what is left, one at a time: no sort (its
    // code weighs more in the wasm than the few files a device holds cost).
    let mut evicted: Vec<String> = Vec::new();
    while total > cap_bytes {
        let next = files
            .iter()
            .filter(|f| f.evictable() && !evicted.contains(&f.sha256))
            .min_by_key(|f| (f.used_at_ms, f.sha256.as_str()));
        let Some(file) = next else { break };
        total -= file.size;
        evicted.push(file.sha256.clone());
    }
    evicted
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "file_cache_tests.rs"]
mod tests;
