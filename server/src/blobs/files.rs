//! Blobs as files under the data directory (the SQLite server's store).
//!
//! Layout, per user (the directory is named by a hash of the user id, and
//! holds the id in `user`):
//!
//! - `<sha256>.part`: the bytes received so far;
//! - `<sha256>.log`: the chunk log: a header with the declared size, then
//!   one line `<offset> <length>` per chunk, appended and `fsync`'d after
//!   the chunk's bytes were `fsync`'d. Only logged chunks count: after a
//!   hard kill the part file is cut back to the logged length, so an
//!   offset the server confirmed always survives, and a torn chunk never;
//! - `<sha256>`: a complete, verified blob: the part file renamed once its
//!   hash matched (then the directory is `fsync`'d and the log removed).
//!
//! One lock per blob (striped) orders chunks, confirmations and expiry.
//! The expiry clock is the log's mtime for an upload, the blob file's for a
//! complete blob (set again by every confirmation).

use std::collections::hash_map::DefaultHasher;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use outbox_sync_protocol::blob::is_sha256_hex;
use sha2::{Digest, Sha256};

use super::{BlobState, BlobStore, Chunk, ChunkError, Referenced, Taken};
use crate::store::StoreError;

/// Locks per store: blobs whose ids fall on the same stripe wait for each
/// other, which is rare and harmless.
const STRIPES: usize = 64;

/// First line of a chunk log, before the size.
const LOG_HEADER: &str = "outbox-sync blob log v1 size=";

/// Blobs in a directory tree.
pub struct FileBlobs {
    root: PathBuf,
    stripes: Vec<Mutex<()>>,
}

/// The three files of one blob.
struct Paths {
    dir: PathBuf,
    done: PathBuf,
    part: PathBuf,
    log: PathBuf,
}

impl FileBlobs {
    /// Opens (creating) the blob directory `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(root).map_err(|e| io_error(root, e))?;
        Ok(FileBlobs {
            root: root.to_owned(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// Where a SQLite database file keeps its blobs: the directory
    /// `<stem>-blobs` beside it (`data/outbox-sync-blobs/`).
    pub fn beside(database: &Path) -> PathBuf {
        let stem = database
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "outbox-sync".to_owned());
        database.with_file_name(format!("{stem}-blobs"))
    }

    fn user_dir(&self, user: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(user.as_bytes()));
        self.root.join(format!("u-{}", &hash[..32]))
    }

    fn paths(&self, user: &str, sha256: &str) -> Option<Paths> {
        // The id names files: only ever 64 hex digits.
        if !is_sha256_hex(sha256) {
            return None;
        }
        let sha256 = sha256.to_ascii_lowercase();
        let dir = self.user_dir(user);
        Some(Paths {
            done: dir.join(&sha256),
            part: dir.join(format!("{sha256}.part")),
            log: dir.join(format!("{sha256}.log")),
            dir,
        })
    }

    fn lock(&self, user: &str, sha256: &str) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        (user, sha256).hash(&mut hasher);
        let stripe = &self.stripes[hasher.finish() as usize % STRIPES];
        stripe.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the user's directory with its `user` file, durably.
    fn ensure_user_dir(&self, user: &str, dir: &Path) -> Result<(), StoreError> {
        let id_file = dir.join("user");
        if id_file.exists() {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let mut file = File::create(&id_file).map_err(|e| io_error(&id_file, e))?;
        file.write_all(user.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&id_file, e))?;
        sync_dir(dir)?;
        sync_dir(&self.root)
    }
}

/// The blob's state, finishing an upload whose last chunk was logged but
/// not yet renamed (a kill at that moment). Call under the blob's lock.
fn state_of(paths: &Paths, sha256: &str) -> Result<BlobState, StoreError> {
    match fs::metadata(&paths.done) {
        Ok(meta) => {
            if paths.log.exists() {
                remove(&paths.log)?;
            }
            return Ok(BlobState::Complete { size: meta.len() });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&paths.done, e)),
    }
    // No log (or an unreadable one), or a log whose part file is gone (a
    // kill while an upload started or was discarded): nothing is held.
    let log = read_log(&paths.log)?.filter(|_| paths.part.exists());
    let Some((size, received)) = log else {
        discard(paths)?;
        return Ok(BlobState::Absent);
    };
    if received == size {
        return Ok(finish(paths, sha256, size)?.unwrap_or(BlobState::Absent));
    }
    Ok(BlobState::Partial { size, received })
}

/// `(declared size, bytes logged)`, or `None` without a readable log.
fn read_log(log: &Path) -> Result<Option<(u64, u64)>, StoreError> {
    let text = match fs::read(log) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(log, e)),
    };
    // Only whole lines count: a line torn by a kill has no newline yet.
    let mut lines = text.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    let Some(size) = lines
        .next()
        .and_then(|header| header.trim_end().strip_prefix(LOG_HEADER))
        .and_then(|size| size.parse::<u64>().ok())
    else {
        return Ok(None);
    };
    let mut received = 0u64;
    for line in lines {
        let mut parts = line.split_whitespace().map(str::parse::<u64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(offset)), Some(Ok(len))) if offset == received => received += len,
            _ => break,
        }
    }
    Ok(Some((size, received.min(size))))
}

/// Hashes the part file; renames it into place when the hash matches
/// (`Some(Complete)`), discards the upload when not (`None` after the
/// caller learns the hash through [`finish_or_mismatch`]).
fn finish(paths: &Paths, sha256: &str, size: u64) -> Result<Option<BlobState>, StoreError> {
    match finish_or_mismatch(paths, sha256, size)? {
        Ok(state) => Ok(Some(state)),
        Err(_) => Ok(None),
    }
}

fn finish_or_mismatch(
    paths: &Paths,
    sha256: &str,
    size: u64,
) -> Result<Result<BlobState, String>, StoreError> {
    let actual = hash_file(&paths.part, size)?;
    if actual != sha256.to_ascii_lowercase() {
        discard(paths)?;
        return Ok(Err(actual));
    }
    fs::rename(&paths.part, &paths.done).map_err(|e| io_error(&paths.part, e))?;
    sync_dir(&paths.dir)?;
    remove(&paths.log)?;
    Ok(Ok(BlobState::Complete { size }))
}

fn hash_file(path: &Path, len: u64) -> Result<String, StoreError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = file.take(len);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Removes an upload's part file and log.
fn discard(paths: &Paths) -> Result<(), StoreError> {
    remove(&paths.part)?;
    remove(&paths.log)?;
    if paths.dir.exists() {
        sync_dir(&paths.dir)?;
    }
    Ok(())
}

/// Starts an upload: a fresh log with the declared size, an empty part.
fn start(paths: &Paths, size: u64) -> Result<(), StoreError> {
    let mut log = File::create(&paths.log).map_err(|e| io_error(&paths.log, e))?;
    log.write_all(format!("{LOG_HEADER}{size}\n").as_bytes())
        .and_then(|()| log.sync_all())
        .map_err(|e| io_error(&paths.log, e))?;
    File::create(&paths.part)
        .and_then(|part| part.sync_all())
        .map_err(|e| io_error(&paths.part, e))?;
    sync_dir(&paths.dir)
}

/// Writes a chunk at `offset` (cutting off anything unlogged after it),
/// flushes it, then logs and flushes the log line.
fn write_chunk(paths: &Paths, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
    let fail = |e| io_error(&paths.part, e);
    let mut part = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&paths.part)
        .map_err(fail)?;
    part.set_len(offset).map_err(fail)?;
    part.seek(SeekFrom::Start(offset)).map_err(fail)?;
    part.write_all(bytes).map_err(fail)?;
    part.sync_data().map_err(fail)?;
    let mut log = OpenOptions::new()
        .append(true)
        .open(&paths.log)
        .map_err(|e| io_error(&paths.log, e))?;
    log.write_all(format!("{offset} {}\n", bytes.len()).as_bytes())
        .and_then(|()| log.sync_data())
        .map_err(|e| io_error(&paths.log, e))
}

fn touch(path: &Path, now_ms: i64) -> Result<(), StoreError> {
    let when = UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64);
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(when))
        .map_err(|e| io_error(path, e))
}

fn modified_ms(path: &Path) -> Option<i64> {
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    Some(since.as_millis() as i64)
}

fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(path, e)),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

fn io_error(path: &Path, error: io::Error) -> StoreError {
    StoreError::Other(format!("blob file {}: {error}", path.display()))
}

impl BlobStore for FileBlobs {
    fn state(&self, user: &str, sha256: &str) -> Result<BlobState, StoreError> {
        let Some(paths) = self.paths(user, sha256) else {
            return Ok(BlobState::Absent);
        };
        let _held = self.lock(user, sha256);
        state_of(&paths, sha256)
    }

    fn append(&self, chunk: Chunk<'_>) -> Result<Taken, ChunkError> {
        let Some(paths) = self.paths(chunk.user, chunk.sha256) else {
            return Err(ChunkError::WrongOffset(BlobState::Absent));
        };
        let _held = self.lock(chunk.user, chunk.sha256);
        let mut state = state_of(&paths, chunk.sha256)?;
        if let BlobState::Partial { size, .. } = state {
            if size != chunk.size {
                if chunk.offset != 0 {
                    return Err(ChunkError::SizeMismatch(state));
                }
                discard(&paths)?;
                state = BlobState::Absent;
            }
        }
        let received = match state {
            BlobState::Complete { .. } => {
                touch(&paths.done, chunk.now_ms)?;
                return Ok(Taken {
                    state,
                    written: false,
                });
            }
            _ if chunk.offset != state.offset() => return Err(ChunkError::WrongOffset(state)),
            _ if chunk.offset + chunk.bytes.len() as u64 > chunk.size => {
                return Err(ChunkError::SizeMismatch(state))
            }
            BlobState::Absent => {
                self.ensure_user_dir(chunk.user, &paths.dir)?;
                start(&paths, chunk.size)?;
                0
            }
            BlobState::Partial { received, .. } => received,
        };
        if !chunk.bytes.is_empty() {
            write_chunk(&paths, received, chunk.bytes)?;
        }
        // The expiry clock runs from the request's time, as with PostgreSQL.
        touch(&paths.log, chunk.now_ms)?;
        let received = received + chunk.bytes.len() as u64;
        if received < chunk.size {
            return Ok(Taken {
                state: BlobState::Partial {
                    size: chunk.size,
                    received,
                },
                written: true,
            });
        }
        match finish_or_mismatch(&paths, chunk.sha256, chunk.size)? {
            Ok(state) => {
                touch(&paths.done, chunk.now_ms)?;
                Ok(Taken {
                    state,
                    written: true,
                })
            }
            Err(actual) => Err(ChunkError::HashMismatch { actual }),
        }
    }

    fn read(
        &self,
        user: &str,
        sha256: &str,
        start: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(paths) = self.paths(user, sha256) else {
            return Ok(None);
        };
        // A complete blob never changes; expiry may remove it, which only
        // makes it absent.
        let mut file = match File::open(&paths.done) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&paths.done, e)),
        };
        let fail = |e| io_error(&paths.done, e);
        file.seek(SeekFrom::Start(start)).map_err(fail)?;
        let mut bytes = Vec::with_capacity(len.min(1 << 24) as usize);
        file.take(len).read_to_end(&mut bytes).map_err(fail)?;
        Ok(Some(bytes))
    }

    fn confirm(
        &self,
        user: &str,
        sha256s: &[String],
        now_ms: i64,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        sha256s
            .iter()
            .map(|sha256| {
                let Some(paths) = self.paths(user, sha256) else {
                    return Ok(None);
                };
                let _held = self.lock(user, sha256);
                match state_of(&paths, sha256)? {
                    BlobState::Complete { size } => {
                        touch(&paths.done, now_ms)?;
                        Ok(Some(size))
                    }
                    _ => Ok(None),
                }
            })
            .collect()
    }

    fn expire(&self, before_ms: i64, referenced: Referenced<'_>) -> Result<u64, StoreError> {
        let mut removed = 0;
        let users = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) => return Err(io_error(&self.root, e)),
        };
        for dir in users.flatten() {
            let dir = dir.path();
            let Ok(user) = fs::read_to_string(dir.join("user")) else {
                continue;
            };
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            for name in names {
                let (sha256, upload) = match name.strip_suffix(".log") {
                    Some(sha256) => (sha256, true),
                    None => (name.as_str(), false),
                };
                let Some(paths) = self.paths(&user, sha256) else {
                    continue;
                };
                let clock = if upload { &paths.log } else { &paths.done };
                let old = |clock: &Path| modified_ms(clock).is_some_and(|ms| ms < before_ms);
                if !old(clock) || (!upload && referenced(&user, sha256)?) {
                    continue;
                }
                let _held = self.lock(&user, sha256);
                // Confirmed or written to since it was looked at: keep it.
                if !old(clock) {
                    continue;
                }
                if upload {
                    discard(&paths)?;
                } else {
                    remove(&paths.done)?;
                }
                removed += 1;
            }
        }
        Ok(removed)
    }
}
