//! The database layout and its migrations.
//!
//! Each schema version adds to the one before; `migrate` runs every step
//! between the version on the device and [`SCHEMA_VERSION`], inside the
//! browser's upgrade transaction, so an upgrade happens whole or not at all.

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
use super::timer::sleep_ms;
use crate::core::StoreError;

/// The newest schema version this library writes.
pub const SCHEMA_VERSION: u32 = 2;

/// Outbox events, keyed by an auto-incremented `seq` (the send order).
pub const OUTBOX: &str = "outbox";
/// Local records, keyed by `[collection, record_id]`.
pub const RECORDS: &str = "records";
/// Conflicts waiting for the user's choice, keyed by `event_id` (since version 2).
pub const CONFLICTS: &str = "conflicts";
/// Small settings and markers (sync token, client id), keyed by name.
pub const META: &str = "meta";

/// Outbox index on `event_id`, unique: the idempotency key.
pub const BY_EVENT_ID: &str = "by_event_id";
/// Outbox index on `state`.
pub const BY_STATE: &str = "by_state";
/// Outbox index on `[collection, record_id]` (since version 2).
pub const BY_RECORD: &str = "by_record";

/// How long another tab may block an upgrade before opening fails.
const BLOCKED_GRACE_MS: i32 = 1_500;

/// Opens (creating or upgrading) the outbox database at [`SCHEMA_VERSION`].
///
/// Fails with [`StoreError::UpgradeBlocked`] when another connection keeps an
/// older version open, and [`StoreError::NewerSchema`] when a newer library
/// wrote the database.
pub async fn open(name: &str) -> Result<Database, StoreError> {
    open_at_version(name, SCHEMA_VERSION, true).await
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
    let blocked = Rc::new(Cell::new(false));
    let on_blocked = blocked.clone();
    // The upgrade step needs the open request: its transaction is the upgrade transaction.
    let open_request: Rc<RefCell<Option<IdbOpenDbRequest>>> = Rc::default();
    let for_upgrade = open_request.clone();
    let request = Database::open(name)
        .with_version(version)
        .with_on_blocked(move |_| {
            on_blocked.set(true);
            Ok(())
        })
        .with_on_upgrade_needed_fut(move |event: VersionChangeEvent, db: Database| async move {
            let request = for_upgrade.borrow().clone();
            migrate(&event, &db, request.as_ref(), version)
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
) -> indexed_db_futures::Result<()> {
    let from = event.old_version() as u32;
    if from < 1 && target >= 1 {
        create_v1(db)?;
    }
    if from < 2 && target >= 2 {
        upgrade_to_v2(request)?;
        db.create_object_store(CONFLICTS)
            .with_key_path(KeyPath::One("event_id"))
            .build()?;
    }
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
    let tx = request
        .and_then(|r| r.transaction())
        .ok_or_else(|| js_sys::Error::new("the upgrade transaction is missing"))?;
    let outbox = tx.object_store(OUTBOX)?;
    let key_path = js_sys::Array::of2(&"collection".into(), &"record_id".into());
    outbox.create_index_with_str_sequence(BY_RECORD, &key_path)?;
    Ok(())
}
