//! `GET /v1/changes?since=TOKEN&limit=N`: changes in server order.
//!
//! A token is `<database epoch>.<position>`: opaque to clients, but it lets
//! the server tell a token of another (or a reset) database.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use outbox_sync_protocol::ChangesResponse;

use super::{blocking, AppState};
use crate::auth::User;
use crate::error::ApiError;
use crate::store::Changes;

/// Changes per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// Handles `GET /v1/changes`.
pub async fn changes(
    State(state): State<AppState>,
    User(user): User,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ChangesResponse>, ApiError> {
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
    let epoch = state.store.epoch().to_owned();
    let since = match query.get("since").map(String::as_str) {
        None | Some("") => None,
        Some(token) => Some(parse_token(token, &epoch)?),
    };
    let page = blocking(&state, move |store| store.changes(&user, since, limit)).await?;
    match page {
        Changes::Gone => Err(gone(
            "This sync token is older than the server keeps deletions for",
        )),
        Changes::Page {
            records,
            position,
            has_more,
        } => Ok(Json(ChangesResponse {
            changes: records,
            next_token: format!("{epoch}.{position}"),
            has_more,
        })),
    }
}

fn parse_token(token: &str, epoch: &str) -> Result<u64, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "invalid_token",
            "since is not a sync token from this server; pass the next_token of an earlier pull, or leave since out to start over.",
        )
    };
    let (token_epoch, position) = token.rsplit_once('.').ok_or_else(malformed)?;
    let position: u64 = position.parse().map_err(|_| malformed())?;
    if token_epoch != epoch {
        return Err(gone("This sync token comes from another server database"));
    }
    Ok(position)
}

fn gone(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "resync_required",
        format!("{why}; pull again without since (a full resync), keeping changes not yet pushed."),
    )
}
