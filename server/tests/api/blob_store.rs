//! The `BlobStore` contract, one suite run against every implementation:
//! files under a directory (the SQLite server's) and PostgreSQL's chunk
//! table (when `OUTBOX_SYNC_TEST_DATABASE_URL` is set).

use outbox_sync_server::blobs::files::FileBlobs;
use outbox_sync_server::blobs::{BlobState, BlobStore, Chunk, ChunkError, Taken};
use outbox_sync_server::routes::now_ms;
use outbox_sync_server::store::postgres::PostgresStore;
use sha2::{Digest, Sha256};

use crate::common::postgres_only;

/// `len` bytes that differ from blob to blob (`seed`).
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// The blob id of `data`.
pub fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn chunk<'a>(
    user: &'a str,
    sha256: &'a str,
    size: usize,
    offset: usize,
    bytes: &'a [u8],
) -> Chunk<'a> {
    Chunk {
        user,
        sha256,
        size: size as u64,
        offset: offset as u64,
        bytes,
        now_ms: now_ms(),
    }
}

/// Every promise of the trait, on a store with no blobs yet.
fn contract(store: &dyn BlobStore) {
    let data = bytes(10_000, 1);
    let id = sha(&data);
    let size = data.len();
    assert_eq!(store.state("alice", &id).unwrap(), BlobState::Absent);

    // A first chunk must start at 0.
    let early = store.append(chunk("alice", &id, size, 10, &data[10..20]));
    assert!(
        matches!(early, Err(ChunkError::WrongOffset(BlobState::Absent))),
        "{early:?}"
    );

    // Chunks at the stored offset are taken; others are refused with it.
    let taken = store
        .append(chunk("alice", &id, size, 0, &data[..4000]))
        .unwrap();
    let partial = BlobState::Partial {
        size: size as u64,
        received: 4000,
    };
    assert_eq!(
        taken,
        Taken {
            state: partial,
            written: true
        }
    );
    assert_eq!(store.state("alice", &id).unwrap(), partial);
    for wrong in [0, 3999, 4001, 8000] {
        match store.append(chunk("alice", &id, size, wrong, &data[wrong..wrong + 100])) {
            Err(ChunkError::WrongOffset(held)) => assert_eq!(held, partial),
            other => panic!("offset {wrong}: {other:?}"),
        }
    }
    // Nothing of another user's upload shows, nor can be read.
    assert_eq!(store.state("bob", &id).unwrap(), BlobState::Absent);
    assert_eq!(
        store.read("alice", &id, 0, 10).unwrap(),
        None,
        "not complete yet"
    );
    assert_eq!(
        store
            .confirm("alice", std::slice::from_ref(&id), now_ms())
            .unwrap(),
        [None]
    );

    // Another size continues nothing; at offset 0 it restarts the upload.
    let resized = store.append(chunk("alice", &id, size + 1, 4000, &data[4000..4100]));
    assert!(
        matches!(resized, Err(ChunkError::SizeMismatch(held)) if held == partial),
        "{resized:?}"
    );

    // The last chunk completes the blob after checking its hash.
    let empty = store.append(chunk("alice", &id, size, 4000, &[])).unwrap();
    assert_eq!(empty.state, partial, "an empty chunk changes nothing");
    store
        .append(chunk("alice", &id, size, 4000, &data[4000..9000]))
        .unwrap();
    let done = store
        .append(chunk("alice", &id, size, 9000, &data[9000..]))
        .unwrap();
    assert_eq!(
        done,
        Taken {
            state: BlobState::Complete { size: size as u64 },
            written: true
        }
    );
    assert_eq!(
        store.read("alice", &id, 0, size as u64).unwrap().unwrap(),
        data
    );
    assert_eq!(
        store.read("alice", &id, 3990, 20).unwrap().unwrap(),
        &data[3990..4010]
    );
    assert_eq!(
        store.read("alice", &id, 9990, 100).unwrap().unwrap(),
        &data[9990..]
    );
    assert_eq!(store.read("bob", &id, 0, 10).unwrap(), None);

    // Stored once: a new upload of it writes nothing, at any offset.
    let again = store
        .append(chunk("alice", &id, size, 0, &data[..100]))
        .unwrap();
    assert_eq!(
        again,
        Taken {
            state: BlobState::Complete { size: size as u64 },
            written: false
        }
    );
    let other = bytes(100, 2);
    let unknown = sha(&other);
    assert_eq!(
        store
            .confirm("alice", &[id.clone(), unknown.clone()], now_ms())
            .unwrap(),
        [Some(size as u64), None]
    );
    assert_eq!(
        store
            .confirm("bob", std::slice::from_ref(&id), now_ms())
            .unwrap(),
        [None]
    );

    // Bytes that hash to another id are discarded whole.
    let liar = sha(b"something else");
    store
        .append(chunk("alice", &liar, 100, 0, &other[..50]))
        .unwrap();
    match store.append(chunk("alice", &liar, 100, 50, &other[50..])) {
        Err(ChunkError::HashMismatch { actual }) => assert_eq!(actual, unknown),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.state("alice", &liar).unwrap(), BlobState::Absent);

    // A restart at offset 0 with another size replaces the upload.
    store
        .append(chunk("alice", &unknown, 500, 0, &other[..10]))
        .unwrap();
    let restarted = store
        .append(chunk("alice", &unknown, 100, 0, &other[..60]))
        .unwrap();
    assert_eq!(
        restarted.state,
        BlobState::Partial {
            size: 100,
            received: 60
        }
    );

    // An empty blob completes with its one empty chunk.
    let nothing = sha(b"");
    let zero = store.append(chunk("bob", &nothing, 0, 0, &[])).unwrap();
    assert_eq!(zero.state, BlobState::Complete { size: 0 });
    assert_eq!(store.read("bob", &nothing, 0, 10).unwrap().unwrap(), b"");

    // Expiry: nothing is young enough to go while the cutoff is past.
    let never = |_: &str, _: &str| Ok(false);
    assert_eq!(store.expire(now_ms() - 60_000, &never).unwrap(), 0);
    // Later, what is referenced stays; the rest (uploads too) goes.
    let referenced = |user: &str, sha256: &str| Ok(user == "alice" && sha256 == id);
    let removed = store.expire(now_ms() + 1000, &referenced).unwrap();
    assert_eq!(removed, 2, "bob's empty blob and alice's unfinished upload");
    assert_eq!(
        store.state("alice", &id).unwrap(),
        BlobState::Complete { size: size as u64 }
    );
    assert_eq!(store.state("alice", &unknown).unwrap(), BlobState::Absent);
    assert_eq!(store.state("bob", &nothing).unwrap(), BlobState::Absent);
    // A blob confirmed (by a change being written) is young again.
    store
        .confirm("alice", std::slice::from_ref(&id), now_ms() + 5000)
        .unwrap();
    assert_eq!(store.expire(now_ms() + 1000, &never).unwrap(), 0);
    assert_eq!(store.expire(now_ms() + 10_000, &never).unwrap(), 1);
    assert_eq!(store.read("alice", &id, 0, 1).unwrap(), None);
}

#[test]
fn files_meet_the_blob_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileBlobs::open(&dir.path().join("blobs")).unwrap();
    contract(&store);
}

#[test]
fn a_file_upload_torn_by_a_kill_resumes_at_its_last_logged_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let data = bytes(3000, 7);
    let id = sha(&data);
    {
        let store = FileBlobs::open(&root).unwrap();
        store
            .append(chunk("alice", &id, 3000, 0, &data[..1000]))
            .unwrap();
    }
    // A kill while the next chunk was written: its bytes reached the part
    // file, its log line only half.
    let user_dir = std::fs::read_dir(&root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let part = user_dir.join(format!("{id}.part"));
    let mut torn = std::fs::read(&part).unwrap();
    torn.extend_from_slice(&data[1000..1500]);
    std::fs::write(&part, torn).unwrap();
    let log = user_dir.join(format!("{id}.log"));
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("1000 5");
    std::fs::write(&log, text).unwrap();

    let store = FileBlobs::open(&root).unwrap();
    assert_eq!(
        store.state("alice", &id).unwrap(),
        BlobState::Partial {
            size: 3000,
            received: 1000
        }
    );
    store
        .append(chunk("alice", &id, 3000, 1000, &data[1000..]))
        .unwrap();
    assert_eq!(store.read("alice", &id, 0, 3000).unwrap().unwrap(), data);

    // A kill as an upload started: its log is there, its part file not yet.
    let other = bytes(10, 8);
    let other_id = sha(&other);
    let log = user_dir.join(format!("{other_id}.log"));
    std::fs::write(log, "outbox-sync blob log v1 size=10\n").unwrap();
    assert_eq!(store.state("alice", &other_id).unwrap(), BlobState::Absent);
    let done = store
        .append(chunk("alice", &other_id, 10, 0, &other))
        .unwrap();
    assert_eq!(done.state, BlobState::Complete { size: 10 });
}

#[tokio::test]
async fn postgres_meets_the_blob_contract() {
    let Some(schema) = postgres_only("postgres_meets_the_blob_contract").await else {
        return;
    };
    let url = schema.url();
    tokio::task::spawn_blocking(move || {
        let store = PostgresStore::open(&url, 2, None).expect("PostgreSQL opens");
        contract(&store);
    })
    .await
    .unwrap();
    drop(schema);
}
