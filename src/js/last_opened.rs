//! Records which outbox database a page opened last, so a service worker given
//! no database name (`installOutboxSync(self)`) syncs that one.
//!
//! The record lives in a tiny database of its own; `sw/last-opened.js` reads it
//! (and names the same database, store and key).

use indexed_db_futures::database::Database;
use indexed_db_futures::error::OpenDbError;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use serde::Serialize;

const LAST_OPENED_DB: &str = "outbox-sync-last-opened";
const LAST_OPENED_STORE: &str = "last";
const LAST_OPENED_KEY: &str = "database";

#[derive(Serialize)]
struct LastOpened<'a> {
    name: &'a str,
    at: f64,
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

async fn write(name: &str) -> Result<(), OpenDbError> {
    let db = Database::open(LAST_OPENED_DB)
        .with_version(1u32)
        .with_on_upgrade_needed(|_, db: Database| {
            db.create_object_store(LAST_OPENED_STORE).build()?;
            Ok(())
        })
        .await?;
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
