//! The database layout and its migrations.
//!
//! Each schema level adds to the one before; `migrate` runs every step
//! between the level on the device and [`SCHEMA_LEVEL`], and the changes of
//! the app's declared indexes, inside the browser's upgrade transaction, so
//! an upgrade happens whole or not at all. docs/queries.md tells how
//! versions count levels and index changes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::future::{select, Either};
use indexed_db_futures::database::{Database, VersionChangeEvent};
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyPath;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::IdbOpenDbRequest;

use super::error::from_open;
use crate::core::index::{index_changes, IndexSpec};
use crate::core::StoreError;
use crate::timer::sleep_ms;

/// The newest schema level this library writes: the object stores and
/// built-in indexes it expects.
pub const SCHEMA_LEVEL: u32 = 5;

/// From level 3 on, a database's IndexedDB version is `level * LEVEL_STEP +
/// n`, where `n` counts the changes of the app's declared indexes (each one
/// an upgrade of its own). Levels 1 and 2 were versions 1 and 2.
pub const LEVEL_STEP: u32 = 1_000_000;

/// The first IndexedDB version of [`SCHEMA_LEVEL`].
pub const SCHEMA_VERSION: u32 = first_version(SCHEMA_LEVEL);

/// The first IndexedDB version of schema `level`.
pub const fn first_version(level: u32) -> u32 {
    if level < 3 {
        level
    } else {
        level * LEVEL_STEP
    }
}

/// The schema level of a database at IndexedDB `version`.
pub const fn level_of(version: u32) -> u32 {
    if version < LEVEL_STEP {
        version
    } else {
        version / LEVEL_STEP
    }
}

/// Outbox events, keyed by an auto-incremented `seq` (the send order).
pub const OUTBOX: &str = "outbox";
/// Local records, keyed by `[collection, record_id]`.
pub const RECORDS: &str = "records";
/// Records index on `[collection, updated_at_ms, record_id]` (since level 3).
pub const BY_UPDATED: &str = "by_updated";
/// Records index on `[collection, pending, record_id]` (since level 3).
pub const BY_PENDING: &str = "by_pending";
/// Conflicts waiting for the user's choice, keyed by `event_id` (since version 2).
pub const CONFLICTS: &str = "conflicts";
/// Files attached to records, keyed by `sha256` (since level 4): the
/// `Blob` itself (stored by structured clone), written once.
pub const BLOBS: &str = "blobs";
/// Each file's upload state and confirmed bytes, keyed by `sha256` (since
/// level 4): apart from the `Blob`, so a progress write never clones it.
pub const BLOB_STATES: &str = "blob_states";
/// Batch leases, keyed by `batch_id` (since level 5): one record per batch
/// a drainer holds (see [`crate::core::lease`]); the events it holds stay
/// stored as queued.
pub const LEASES: &str = "leases";
/// Small settings and markers (sync token, client id), keyed by name.
pub const META: &str = "meta";

/// Outbox index on `event_id`, unique: the idempotency key.
pub const BY_EVENT_ID: &str = "by_event_id";
/// Outbox index on `state`.
pub const BY_STATE: &str = "by_state";
/// Outbox index on `[collection, record_id]` (since version 2).
pub const BY_RECORD: &str = "by_record";

/// How long another tab may block an upgrade before opening fails.
const BLOCKED_GRACE_MS: u32 = 1_500;

/// Opens (creating or upgrading) the outbox database at [`SCHEMA_LEVEL`],
/// with the `declared` indexes on its records (`None`: keep the indexes it
/// has, as a service worker does, which knows no declaration).
///
/// A declaration that differs from the database's indexes is one more
/// upgrade: the version goes up by one, and the indexes are created and
/// deleted inside it; no event, record or setting is touched.
///
/// Fails with [`StoreError::UpgradeBlocked`] when another connection keeps an
/// older version open, and [`StoreError::NewerSchema`] when a newer library
/// wrote the database.
pub async fn open(name: &str, declared: Option<&[IndexSpec]>) -> Result<Database, StoreError> {
    let mut version = SCHEMA_VERSION;
    // Each turn either returns or raises the version; two tabs that declare
    // different indexes could take turns for ever, so the turns are few.
    for _ in 0..4 {
        let db = match open_version(name, version, true, declared).await {
            // At a higher version already: a later level, or more index changes.
            Err(StoreError::NewerSchema { .. }) => open_current(name).await?,
            other => other?,
        };
        let current = db.version() as u32;
        let level = level_of(current);
        if level > SCHEMA_LEVEL {
            db.close();
            return Err(StoreError::NewerSchema {
                found: level,
                supported: SCHEMA_LEVEL,
            });
        }
        if level < SCHEMA_LEVEL {
            // Deleted and created again by another tab in the meantime.
            db.close();
            version = SCHEMA_VERSION;
            continue;
        }
        if let Some(declared) = declared {
            let existing = record_index_names(&db)?;
            let (create, delete) = index_changes(&existing, declared);
            if !create.is_empty() || !delete.is_empty() {
                db.close();
                version = current + 1;
                continue;
            }
        }
        return Ok(db);
    }
    Err(StoreError::UpgradeBlocked)
}

/// The names of the records store's indexes.
pub fn record_index_names(db: &Database) -> Result<Vec<String>, StoreError> {
    let tx = db
        .transaction(RECORDS)
        .with_mode(indexed_db_futures::transaction::TransactionMode::Readonly)
        .build()?;
    let names = tx.object_store(RECORDS)?.index_names().collect();
    Ok(names)
}

/// The declared indexes a database has.
pub fn declared_indexes(db: &Database) -> Result<Vec<IndexSpec>, StoreError> {
    Ok(record_index_names(db)?
        .iter()
        .filter_map(|name| IndexSpec::from_name(name))
        .collect())
}

/// Opens the database at the version it has. A database that does not
/// exist yet is created at level 1 (and upgraded by the caller).
async fn open_current(name: &str) -> Result<Database, StoreError> {
    let open_request: Rc<RefCell<Option<IdbOpenDbRequest>>> = Rc::default();
    let for_upgrade = open_request.clone();
    let request = Database::open(name)
        .with_on_upgrade_needed(move |event: VersionChangeEvent, db: Database| {
            let request = for_upgrade.borrow().clone();
            migrate(&event, &db, request.as_ref(), 1, None)
        })
        .build()
        .map_err(from_open)?;
    *open_request.borrow_mut() = Some(request.as_sys().clone());
    let db = request.await.map_err(from_open)?;
    close_when_upgraded_elsewhere(&db);
    Ok(db)
}

/// Opens the database at `version` (for migration tests). With
/// `close_on_version_change`, the connection closes itself when another one
/// needs to upgrade, so this library never blocks its own upgrades.
#[doc(hidden)]
pub async fn open_at_version(
    name: &str,
    version: u32,
    close_on_version_change: bool,
) -> Result<Database, StoreError> {
    open_version(name, version, close_on_version_change, None).await
}

async fn open_version(
    name: &str,
    version: u32,
    close_on_version_change: bool,
    declared: Option<&[IndexSpec]>,
) -> Result<Database, StoreError> {
    let blocked = Rc::new(Cell::new(false));
    let on_blocked = blocked.clone();
    // The upgrade step needs the open request: its transaction is the upgrade transaction.
    let open_request: Rc<RefCell<Option<IdbOpenDbRequest>>> = Rc::default();
    let for_upgrade = open_request.clone();
    let declared = declared.map(<[IndexSpec]>::to_vec);
    let request = Database::open(name)
        .with_version(version)
        .with_on_blocked(move |_| {
            on_blocked.set(true);
            Ok(())
        })
        .with_on_upgrade_needed(move |event: VersionChangeEvent, db: Database| {
            let request = for_upgrade.borrow().clone();
            migrate(&event, &db, request.as_ref(), version, declared.as_deref())
        })
        .build()
        .map_err(|e| newer_schema_or(e, name, version))?;
    // Set before any event can fire: IndexedDB events are dispatched later.
    *open_request.borrow_mut() = Some(request.as_sys().clone());
    let watchdog = Box::pin(async {
        while !blocked.get() {
            sleep_ms(20).await;
        }
        sleep_ms(BLOCKED_GRACE_MS).await;
    });
    let db = match select(request, watchdog).await {
        Either::Left((result, _)) => result.map_err(|e| newer_schema_or(e, name, version))?,
        Either::Right((_, request)) => {
            // IndexedDB cannot cancel an open request: it upgrades once the old
            // connection goes. Keep the request (and its migration) alive until
            // then, and close what it opens, rather than let it upgrade with no
            // migration and leave a connection open.
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(db) = request.await {
                    db.close();
                }
            });
            return Err(StoreError::UpgradeBlocked);
        }
    };
    if close_on_version_change {
        close_when_upgraded_elsewhere(&db);
    }
    Ok(db)
}

fn newer_schema_or(
    error: indexed_db_futures::error::OpenDbError,
    _name: &str,
    version: u32,
) -> StoreError {
    match from_open(error) {
        StoreError::Backend { name, message } if name == "VersionError" => {
            let found = found_version(&message).unwrap_or(version + 1);
            StoreError::NewerSchema {
                found,
                supported: version,
            }
        }
        other => other,
    }
}

/// Reads the stored version from Chromium's and Firefox's VersionError messages
/// ("... (2) is less than the existing version (3).").
fn found_version(message: &str) -> Option<u32> {
    let tail = message.rsplit('(').next()?;
    tail.split(')').next()?.trim().parse().ok()
}

fn close_when_upgraded_elsewhere(db: &Database) {
    let raw: web_sys::IdbDatabase = db.as_sys().clone().unchecked_into();
    let to_close = raw.clone();
    let handler = Closure::<dyn FnMut()>::new(move || to_close.close());
    raw.set_onversionchange(Some(handler.as_ref().unchecked_ref()));
    // The handler lives as long as the page or worker: one per open database.
    handler.forget();
}

fn migrate(
    event: &VersionChangeEvent,
    db: &Database,
    request: Option<&IdbOpenDbRequest>,
    target: u32,
    declared: Option<&[IndexSpec]>,
) -> indexed_db_futures::Result<()> {
    let from = level_of(event.old_version() as u32);
    let to = level_of(target);
    if from < 1 && to >= 1 {
        create_v1(db)?;
    }
    if from < 2 && to >= 2 {
        upgrade_to_v2(request)?;
        db.create_object_store(CONFLICTS)
            .with_key_path(KeyPath::One("event_id"))
            .build()?;
    }
    if from < 3 && to >= 3 {
        let records = upgrade_store(request, RECORDS)?;
        for (name, path) in [
            (BY_UPDATED, ["collection", "updated_at_ms", "record_id"]),
            (BY_PENDING, ["collection", "pending", "record_id"]),
        ] {
            create_index(&records, name, &path)?;
        }
    }
    if from < 4 && to >= 4 {
        for store in [BLOBS, BLOB_STATES] {
            db.create_object_store(store)
                .with_key_path(KeyPath::One("sha256"))
                .build()?;
        }
    }
    if from < 5 && to >= 5 {
        // Nothing to move: events an older version stored as syncing keep
        // their own lease until it runs out (`IdbOutbox::recover_leases`
        // takes back both kinds), so every pending change is kept.
        db.create_object_store(LEASES)
            .with_key_path(KeyPath::One("batch_id"))
            .build()?;
    }
    if let Some(declared) = declared.filter(|_| to >= 3) {
        let records = upgrade_store(request, RECORDS)?;
        let existing: Vec<String> = (0..records.index_names().length())
            .filter_map(|i| records.index_names().item(i))
            .collect();
        let (create, delete) = index_changes(&existing, declared);
        for name in delete {
            records.delete_index(&name)?;
        }
        for spec in create {
            create_index(&records, &spec.name(), &spec.key_path())?;
        }
    }
    Ok(())
}

/// An object store of the upgrade transaction.
fn upgrade_store(
    request: Option<&IdbOpenDbRequest>,
    store: &str,
) -> indexed_db_futures::Result<web_sys::IdbObjectStore> {
    let tx = request
        .and_then(|r| r.transaction())
        .ok_or_else(|| js_sys::Error::new("the upgrade transaction is missing"))?;
    Ok(tx.object_store(store)?)
}

/// Creates an index on the compound key path `path`.
fn create_index(
    store: &web_sys::IdbObjectStore,
    name: &str,
    path: &[impl AsRef<str>],
) -> indexed_db_futures::Result<()> {
    let key_path: js_sys::Array = path.iter().map(|p| JsValue::from_str(p.as_ref())).collect();
    store.create_index_with_str_sequence(name, &key_path)?;
    Ok(())
}

/// Version 1: the outbox, records and meta stores.
fn create_v1(db: &Database) -> indexed_db_futures::Result<()> {
    let outbox = db
        .create_object_store(OUTBOX)
        .with_key_path(KeyPath::One("seq"))
        .with_auto_increment(true)
        .build()?;
    outbox
        .create_index(BY_EVENT_ID, KeyPath::One("event_id"))
        .with_unique(true)
        .build()?;
    outbox
        .create_index(BY_STATE, KeyPath::One("state"))
        .build()?;
    db.create_object_store(RECORDS)
        .with_key_path(KeyPath::from(["collection", "record_id"]))
        .build()?;
    db.create_object_store(META).build()?;
    Ok(())
}

/// Version 2: an index of the outbox by record, for rebuilding local views.
fn upgrade_to_v2(request: Option<&IdbOpenDbRequest>) -> indexed_db_futures::Result<()> {
    let outbox = upgrade_store(request, OUTBOX)?;
    create_index(&outbox, BY_RECORD, &["collection", "record_id"])
}
