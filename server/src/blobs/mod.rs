//! Blob storage behind a trait: content-addressed files per user, uploaded
//! in chunks at known offsets, verified by SHA-256 when complete.
//!
//! With SQLite the bytes are files under the data directory (`files.rs`);
//! with PostgreSQL they are rows of a chunk table every instance shares
//! (`store/postgres/blobs.rs`). Both meet the contract tested in
//! `server/tests/api/blob_store.rs`. Calls block: run them on tokio's
//! blocking pool. The HTTP side is `routes/blobs.rs`; `range.rs` reads
//! `Range` headers.

pub mod files;
pub mod range;

use std::fmt;

use crate::store::StoreError;

/// How much of a blob a user's store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    /// Nothing was received (or it expired, or was discarded).
    Absent,
    /// An upload in progress: `received` of `size` bytes are durable.
    Partial {
        /// The declared total size.
        size: u64,
        /// Bytes confirmed: the next chunk must start here.
        received: u64,
    },
    /// Stored whole and verified.
    Complete {
        /// Its size.
        size: u64,
    },
}

impl BlobState {
    /// The offset the next chunk must start at (the size when complete).
    pub fn offset(&self) -> u64 {
        match *self {
            BlobState::Absent => 0,
            BlobState::Partial { received, .. } => received,
            BlobState::Complete { size } => size,
        }
    }

    /// The declared or stored size, when known.
    pub fn size(&self) -> Option<u64> {
        match *self {
            BlobState::Absent => None,
            BlobState::Partial { size, .. } | BlobState::Complete { size } => Some(size),
        }
    }
}

/// One chunk of an upload.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    /// Whose blob it is.
    pub user: &'a str,
    /// The blob's id, lower-case hex.
    pub sha256: &'a str,
    /// The blob's total size, as the client declares it.
    pub size: u64,
    /// Where the chunk starts in the blob.
    pub offset: u64,
    /// The chunk's bytes (may be empty).
    pub bytes: &'a [u8],
    /// Wall-clock time, for expiry.
    pub now_ms: i64,
}

/// What became of a chunk that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The blob's state after it.
    pub state: BlobState,
    /// Whether its bytes were stored (`false`: the blob was complete
    /// already, nothing was written).
    pub written: bool,
}

/// Why a chunk was not taken.
#[derive(Debug, Clone)]
pub enum ChunkError {
    /// The chunk does not start where the stored upload ends.
    WrongOffset(BlobState),
    /// The declared size differs from the upload in progress (a chunk at
    /// offset 0 restarts the upload instead).
    SizeMismatch(BlobState),
    /// The whole blob arrived but its SHA-256 is another: the upload was
    /// discarded.
    HashMismatch {
        /// The hash of the bytes received.
        actual: String,
    },
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for ChunkError {
    fn from(error: StoreError) -> Self {
        ChunkError::Store(error)
    }
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::WrongOffset(state) => {
                write!(f, "wrong offset, expected {}", state.offset())
            }
            ChunkError::SizeMismatch(state) => write!(f, "size differs from {:?}", state.size()),
            ChunkError::HashMismatch { actual } => {
                write!(f, "hash mismatch: the bytes hash to {actual}")
            }
            ChunkError::Store(error) => write!(f, "{error}"),
        }
    }
}

/// Whether a user still references a blob (`(user, sha256)`), asked by
/// [`BlobStore::expire`] before removing an old blob.
pub type Referenced<'a> = &'a dyn Fn(&str, &str) -> Result<bool, StoreError>;

/// Durable blob storage, scoped per user.
pub trait BlobStore: Send + Sync + 'static {
    /// How much of the blob the user's store holds.
    fn state(&self, user: &str, sha256: &str) -> Result<BlobState, StoreError>;

    /// Stores a chunk that starts where the upload stands (or anywhere, for
    /// a blob already complete: nothing is written). Returns once the
    /// chunk is durable. When it completes the blob, verifies the hash: on
    /// a mismatch the upload is discarded. Refreshes the expiry clock.
    fn append(&self, chunk: Chunk<'_>) -> Result<Taken, ChunkError>;

    /// Up to `len` bytes of a complete blob from `start`, or `None` when
    /// the blob is not complete for this user.
    fn read(
        &self,
        user: &str,
        sha256: &str,
        start: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// For each id, the size of the blob when the user holds it complete
    /// (refreshing its expiry clock, so it outlives the change being
    /// written now), or `None`.
    fn confirm(
        &self,
        user: &str,
        sha256s: &[String],
        now_ms: i64,
    ) -> Result<Vec<Option<u64>>, StoreError>;

    /// Removes uploads untouched since `before_ms`, and complete blobs
    /// untouched since then that `referenced` says no record refers to.
    /// A blob confirmed while this runs is kept. Returns how many went.
    fn expire(&self, before_ms: i64, referenced: Referenced<'_>) -> Result<u64, StoreError>;
}
