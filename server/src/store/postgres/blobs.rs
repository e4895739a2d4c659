//! Blobs in PostgreSQL, where every instance sees them: one `blobs` row per
//! upload and one `blob_chunks` row per chunk (see `schema::POSTGRES_BLOBS`
//! and `docs/server.md` for why a chunk table rather than large objects).
//!
//! A chunk is written in one transaction that locks the upload's row
//! (`FOR UPDATE`), so two instances taking chunks of the same blob at once
//! are ordered, and the second learns the new offset (`409`). The chunk
//! that completes a blob hashes every chunk in order in that transaction.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use sha2::{Digest, Sha256};

use super::connect::Conn;
use super::errors::Fault;
use super::PostgresStore;
use crate::blobs::{BlobState, BlobStore, Chunk, ChunkError, Referenced, Taken};
use crate::store::StoreError;

fn state_of(row: Option<postgres::Row>) -> BlobState {
    match row {
        None => BlobState::Absent,
        Some(row) => {
            let (size, received, complete): (i64, i64, i32) = (row.get(0), row.get(1), row.get(2));
            if complete != 0 {
                BlobState::Complete { size: size as u64 }
            } else {
                BlobState::Partial {
                    size: size as u64,
                    received: received as u64,
                }
            }
        }
    }
}

/// One attempt at taking a chunk; the inner result is the answer.
fn append_once(conn: &mut Conn, chunk: &Chunk<'_>) -> Result<Result<Taken, ChunkError>, Fault> {
    let (user, sha256) = (chunk.user, chunk.sha256);
    let mut tx = conn.client.transaction()?;
    let row = tx.query_opt(
        "SELECT size, received, complete FROM blobs WHERE user_id = $1 AND sha256 = $2 FOR UPDATE",
        &[&user, &sha256],
    )?;
    let mut state = state_of(row);
    if let BlobState::Partial { size, .. } = state {
        if size != chunk.size {
            if chunk.offset != 0 {
                return Ok(Err(ChunkError::SizeMismatch(state)));
            }
            delete(&mut tx, user, sha256)?;
            state = BlobState::Absent;
        }
    }
    let len = chunk.bytes.len() as u64;
    match state {
        BlobState::Complete { .. } => {
            tx.execute(
                "UPDATE blobs SET touched_at = $3 WHERE user_id = $1 AND sha256 = $2",
                &[&user, &sha256, &chunk.now_ms],
            )?;
            tx.commit()?;
            return Ok(Ok(Taken {
                state,
                written: false,
            }));
        }
        _ if chunk.offset != state.offset() => return Ok(Err(ChunkError::WrongOffset(state))),
        _ if chunk.offset + len > chunk.size => return Ok(Err(ChunkError::SizeMismatch(state))),
        // Two instances starting the same upload: one insert fails on the
        // key, its transaction runs again and finds the row.
        BlobState::Absent => {
            tx.execute(
                "INSERT INTO blobs (user_id, sha256, size, received, complete, touched_at)
                 VALUES ($1, $2, $3, 0, 0, $4)",
                &[&user, &sha256, &(chunk.size as i64), &chunk.now_ms],
            )?;
        }
        BlobState::Partial { .. } => {}
    }
    if len > 0 {
        tx.execute(
            "INSERT INTO blob_chunks (user_id, sha256, start, data) VALUES ($1, $2, $3, $4)",
            &[&user, &sha256, &(chunk.offset as i64), &chunk.bytes],
        )?;
    }
    let received = chunk.offset + len;
    tx.execute(
        "UPDATE blobs SET received = $3, touched_at = $4 WHERE user_id = $1 AND sha256 = $2",
        &[&user, &sha256, &(received as i64), &chunk.now_ms],
    )?;
    if received < chunk.size {
        tx.commit()?;
        return Ok(Ok(Taken {
            state: BlobState::Partial {
                size: chunk.size,
                received,
            },
            written: true,
        }));
    }
    let mut hasher = Sha256::new();
    {
        let params: [&(dyn ToSql + Sync); 2] = [&user, &sha256];
        let mut rows = tx.query_raw(
            "SELECT data FROM blob_chunks WHERE user_id = $1 AND sha256 = $2 ORDER BY start",
            params,
        )?;
        while let Some(row) = rows.next()? {
            hasher.update(row.get::<_, &[u8]>(0));
        }
    }
    let actual = hex::encode(hasher.finalize());
    if actual != sha256 {
        delete(&mut tx, user, sha256)?;
        tx.commit()?;
        return Ok(Err(ChunkError::HashMismatch { actual }));
    }
    tx.execute(
        "UPDATE blobs SET complete = 1 WHERE user_id = $1 AND sha256 = $2",
        &[&user, &sha256],
    )?;
    tx.commit()?;
    Ok(Ok(Taken {
        state: BlobState::Complete { size: chunk.size },
        written: true,
    }))
}

fn delete(tx: &mut postgres::Transaction<'_>, user: &str, sha256: &str) -> Result<(), Fault> {
    tx.execute(
        "DELETE FROM blob_chunks WHERE user_id = $1 AND sha256 = $2",
        &[&user, &sha256],
    )?;
    tx.execute(
        "DELETE FROM blobs WHERE user_id = $1 AND sha256 = $2",
        &[&user, &sha256],
    )?;
    Ok(())
}

fn read_once(
    conn: &mut Conn,
    user: &str,
    sha256: &str,
    start: u64,
    len: u64,
) -> Result<Option<Vec<u8>>, Fault> {
    // One snapshot: an expiry between the two reads cannot cut the bytes.
    let mut tx = conn
        .client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let size: Option<i64> = tx
        .query_opt(
            "SELECT size FROM blobs WHERE user_id = $1 AND sha256 = $2 AND complete = 1",
            &[&user, &sha256],
        )?
        .map(|row| row.get(0));
    let Some(size) = size else {
        return Ok(None);
    };
    let from = start.min(size as u64) as i64;
    let to = start.saturating_add(len).min(size as u64) as i64;
    let mut bytes = Vec::with_capacity((to - from).max(0) as usize);
    if to > from {
        // Only the slices wanted leave the database (chunks are stored
        // uncompressed, so `substring` reads just those pages).
        let rows = tx.query(
            "SELECT substring(data FROM (GREATEST($3 - start, 0) + 1)::integer
                              FOR (LEAST(start + length(data), $4) - GREATEST(start, $3))::integer)
             FROM blob_chunks
             WHERE user_id = $1 AND sha256 = $2 AND start < $4 AND start + length(data) > $3
             ORDER BY start",
            &[&user, &sha256, &from, &to],
        )?;
        for row in &rows {
            bytes.extend_from_slice(row.get::<_, &[u8]>(0));
        }
    }
    tx.commit()?;
    Ok(Some(bytes))
}

impl BlobStore for PostgresStore {
    fn state(&self, user: &str, sha256: &str) -> Result<BlobState, StoreError> {
        self.run(true, |conn| {
            let row = conn.client.query_opt(
                "SELECT size, received, complete FROM blobs WHERE user_id = $1 AND sha256 = $2",
                &[&user, &sha256],
            )?;
            Ok(state_of(row))
        })
    }

    fn append(&self, chunk: Chunk<'_>) -> Result<Taken, ChunkError> {
        // A second run after a lost connection at most answers `409` with
        // the offset the first run reached.
        self.run(true, |conn| append_once(conn, &chunk))?
    }

    fn read(
        &self,
        user: &str,
        sha256: &str,
        start: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(true, |conn| read_once(conn, user, sha256, start, len))
    }

    fn confirm(
        &self,
        user: &str,
        sha256s: &[String],
        now_ms: i64,
    ) -> Result<Vec<Option<u64>>, StoreError> {
        if sha256s.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.run(true, |conn| {
            Ok(conn.client.query(
                "UPDATE blobs SET touched_at = GREATEST(touched_at, $3)
                 WHERE user_id = $1 AND sha256 = ANY($2::text[]) AND complete = 1
                 RETURNING sha256, size",
                &[&user, &sha256s, &now_ms],
            )?)
        })?;
        let sizes: std::collections::HashMap<String, i64> =
            found.iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(sha256s
            .iter()
            .map(|sha256| sizes.get(sha256).map(|size| *size as u64))
            .collect())
    }

    fn expire(&self, before_ms: i64, referenced: Referenced<'_>) -> Result<u64, StoreError> {
        let candidates: Vec<(String, String, bool)> = self.run(true, |conn| {
            let rows = conn.client.query(
                "SELECT user_id, sha256, complete FROM blobs WHERE touched_at < $1",
                &[&before_ms],
            )?;
            Ok(rows
                .iter()
                .map(|row| (row.get(0), row.get(1), row.get::<_, i32>(2) != 0))
                .collect())
        })?;
        let mut removed = 0;
        for (user, sha256, complete) in candidates {
            // Asked outside any transaction here: the records store may
            // need a connection of its own.
            if complete && referenced(&user, &sha256)? {
                continue;
            }
            removed += self.run(true, |conn| {
                let mut tx = conn.client.transaction()?;
                // Still untouched: a blob confirmed meanwhile stays.
                let gone = tx.execute(
                    "DELETE FROM blobs WHERE user_id = $1 AND sha256 = $2 AND touched_at < $3",
                    &[&user, &sha256, &before_ms],
                )?;
                if gone > 0 {
                    tx.execute(
                        "DELETE FROM blob_chunks WHERE user_id = $1 AND sha256 = $2",
                        &[&user, &sha256],
                    )?;
                }
                tx.commit()?;
                Ok(gone)
            })?;
        }
        Ok(removed)
    }
}
