//! `GET /v1/records/{collection}/{record_id}/history?after=ID&limit=N`:
//! the signed-in user's audit entries for one record, oldest first, paged
//! by entry id.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::records::check_names;
use super::{blocking, AppState};
use crate::auth::User;
use crate::error::ApiError;

/// Entries per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// Handles `GET /v1/records/{collection}/{record_id}/history`.
pub async fn history(
    State(state): State<AppState>,
    User(user): User,
    Path((collection, record_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    check_names(&state, &collection, &record_id)?;
    let max = state.limits.max_pull_limit;
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT.min(max),
        Some(Ok(n)) if n >= 1 => n.min(max),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be a whole number from 1 to {max}."),
            ))
        }
    };
    let after = match query.get("after").map(|a| a.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Err(ApiError::bad_request(
                "invalid_after",
                "after must be the next_after of an earlier history page (a whole number), or left out to start from the oldest entry.",
            ))
        }
    };
    let (c, r) = (collection.clone(), record_id.clone());
    let page = blocking(&state, move |store| {
        store.history(&user, &c, &r, after, limit)
    })
    .await?;
    let next_after = page.entries.last().map_or(after, |entry| entry.id);
    let entries: Vec<Value> = page
        .entries
        .into_iter()
        .map(|entry| {
            json!({
                "id": entry.id,
                "event_id": entry.event_id,
                "op": entry.op,
                "outcome": entry.outcome,
                "version": entry.version,
                "at_ms": entry.at_ms,
            })
        })
        .collect();
    Ok(Json(json!({
        "collection": collection,
        "record_id": record_id,
        "entries": entries,
        "next_after": next_after,
        "has_more": page.has_more,
    })))
}
