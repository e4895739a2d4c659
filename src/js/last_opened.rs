//! Records which outbox database a page opened last, so a service worker given
//! no database name (`installOutboxSync(self)`) syncs that one.
//!
//! The record lives in a tiny database of its own; `sw/last-opened.js` reads it
//! (and names the same database, store and key).

use std::future::Future;

use futures::future::join;
use indexed_db_futures::database::Database;
use indexed_db_futures::error::OpenDbError;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use wasm_bindgen::JsValue;

const LAST_OPENED_DB: &str = "outbox-sync-last-opened";
const LAST_OPENED_STORE: &str = "last";
const LAST_OPENED_KEY: &str = "database";

/// The record's `name`, if it is a text. The record is `{ name, at }` (`at`:
/// when it was written, in milliseconds since the epoch), read and written as
/// a plain object: a serde type for two fields cost more wasm than this.
fn name_in(record: Option<JsValue>) -> Option<String> {
    js_sys::Reflect::get(&record?, &"name".into())
        .ok()?
        .as_string()
}

/// Runs `opening` (the outbox's own open) and, once it succeeds, records
/// `name` as the outbox opened last. Never fails for the record: without it,
/// a worker given no database name keeps syncing the previous one.
///
/// Start-up pays for this database too, so its open and read run beside
/// `opening` rather than after it, and the record is only written when it
/// names another database (the usual open finds its own name there and
/// writes nothing; `at` then keeps the first time it was recorded). When
/// `opening` fails, nothing is recorded, as before.
pub async fn remember_when<T, E>(
    name: &str,
    opening: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let (opened, recorded) = join(opening, read()).await;
    let recorded = match recorded {
        Ok(recorded) => recorded,
        Err(error) => {
            warn("could not record the outbox opened last", &error);
            return opened;
        }
    };
    let (db, current) = recorded;
    if opened.is_ok() && current.as_deref() != Some(name) {
        if let Err(error) = write(&db, name).await {
            warn("could not record the outbox opened last", &error);
        }
    }
    db.close();
    opened
}

fn warn(what: &str, error: &OpenDbError) {
    web_sys::console::warn_1(&format!("outbox-sync: {what}: {error}").into());
}

/// Forgets `name` if it is the outbox opened last (its database was deleted:
/// a worker given no name must not bring it back empty).
pub async fn forget(name: &str) {
    if let Err(error) = remove(name).await {
        warn("could not update the outbox opened last", &error);
    }
}

async fn open() -> Result<Database, OpenDbError> {
    Database::open(LAST_OPENED_DB)
        .with_version(1u32)
        .with_on_upgrade_needed(|_, db: Database| {
            db.create_object_store(LAST_OPENED_STORE).build()?;
            Ok(())
        })
        .await
}

async fn remove(name: &str) -> Result<(), OpenDbError> {
    let db = open().await?;
    let tx = db
        .transaction(LAST_OPENED_STORE)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    let store = tx.object_store(LAST_OPENED_STORE)?;
    let current = store
        .get::<JsValue, _, _>(LAST_OPENED_KEY.to_owned())
        .primitive()?
        .await?;
    if name_in(current).is_some_and(|current| current == name) {
        store.delete(LAST_OPENED_KEY.to_owned()).await?;
    }
    tx.commit().await?;
    db.close();
    Ok(())
}

/// The database holding the record, open, and the name it records.
async fn read() -> Result<(Database, Option<String>), OpenDbError> {
    let db = open().await?;
    let name = match stored_name(&db).await {
        Ok(name) => name,
        Err(error) => {
            db.close();
            return Err(error);
        }
    };
    Ok((db, name))
}

async fn stored_name(db: &Database) -> Result<Option<String>, OpenDbError> {
    let tx = db
        .transaction(LAST_OPENED_STORE)
        .with_mode(TransactionMode::Readonly)
        .build()?;
    let stored = tx
        .object_store(LAST_OPENED_STORE)?
        .get::<JsValue, _, _>(LAST_OPENED_KEY.to_owned())
        .primitive()?
        .await?;
    Ok(name_in(stored))
}

async fn write(db: &Database, name: &str) -> Result<(), OpenDbError> {
    let tx = db
        .transaction(LAST_OPENED_STORE)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    let store = tx.object_store(LAST_OPENED_STORE)?;
    // Setting a property of a new plain object cannot throw.
    let value = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&value, &"name".into(), &name.into());
    let _ = js_sys::Reflect::set(&value, &"at".into(), &js_sys::Date::now().into());
    store
        .put(JsValue::from(value))
        .with_key(LAST_OPENED_KEY.to_owned())
        .primitive()?
        .await?;
    tx.commit().await?;
    Ok(())
}
