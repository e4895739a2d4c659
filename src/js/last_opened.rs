//! Records which outbox database a page opened last, so a service worker given
//! no database name (`installOutboxSync(self)`) syncs that one.
//!
//! The record lives in a tiny database of its own; `sw/last-opened.js` reads it
//! (and names the same database, store and key).

use indexed_db_futures::database::Database;
use indexed_db_futures::error::OpenDbError;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use serde::{Deserialize, Serialize};

const LAST_OPENED_DB: &str = "outbox-sync-last-opened";
const LAST_OPENED_STORE: &str = "last";
const LAST_OPENED_KEY: &str = "database";

#[derive(Serialize)]
struct LastOpened<'a> {
    name: &'a str,
    at: f64,
}

/// The stored record as read back.
#[derive(Deserialize)]
struct Stored {
    name: String,
}

/// Records `name` as the outbox opened last. Never fails: without the record,
/// a worker given no database name keeps syncing the previous one.
pub async fn remember(name: &str) {
    if let Err(error) = write(name).await {
        web_sys::console::warn_1(
            &format!("outbox-sync: could not record the outbox opened last: {error}").into(),
        );
    }
}

/// Forgets `name` if it is the outbox opened last (its database was deleted:
/// a worker given no name must not bring it back empty).
pub async fn forget(name: &str) {
    if let Err(error) = remove(name).await {
        web_sys::console::warn_1(
            &format!("outbox-sync: could not update the outbox opened last: {error}").into(),
        );
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
        .get::<Stored, _, _>(LAST_OPENED_KEY.to_owned())
        .serde()?
        .await?;
    if current.is_some_and(|c| c.name == name) {
        store.delete(LAST_OPENED_KEY.to_owned()).await?;
    }
    tx.commit().await?;
    db.close();
    Ok(())
}

async fn write(name: &str) -> Result<(), OpenDbError> {
    let db = open().await?;
    let tx = db
        .transaction(LAST_OPENED_STORE)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    let store = tx.object_store(LAST_OPENED_STORE)?;
    let value = LastOpened {
        name,
        at: js_sys::Date::now(),
    };
    store
        .put(&value)
        .with_key(LAST_OPENED_KEY.to_owned())
        .serde()?
        .await?;
    tx.commit().await?;
    db.close();
    Ok(())
}
