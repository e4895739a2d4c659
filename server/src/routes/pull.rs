//! `GET /v1/changes?since=TOKEN&limit=N`: changes in server order.
//!
//! A token is `<database epoch>.<position>`: opaque to clients, but it lets
//! the server tell a token of another (or a reset) database. A page of a
//! full resync that has more to come hands out `<epoch>.r<position>`: the
//! rest of the resync, which is not checked against the tombstone horizon
//! (the client is replacing its copies anyway, so purged tombstones do not
//! matter to it); the resync's last page hands out a plain token at or
//! above the horizon.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use outbox_sync_protocol::ChangesResponse;

use super::{blocking, AppState};
use crate::auth::User;
use crate::error::ApiError;
use crate::store::{Changes, Since};

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
        None | Some("") => Since::START,
        Some(token) => parse_token(token, &epoch)?,
    };
    let page = blocking(&state, move |store| store.changes(&user, since, limit)).await?;
    match page {
        Changes::Gone => Err(gone(
            "This sync token is older than the server keeps deletions for",
        )),
        Changes::NotIssued => Err(invalid_token()),
        Changes::Page {
            records,
            next,
            has_more,
        } => Ok(Json(ChangesResponse {
            changes: records,
            next_token: token(&epoch, next),
            has_more,
        })),
    }
}

/// The token that resumes at `since`.
fn token(epoch: &str, since: Since) -> String {
    let marker = if since.resync { "r" } else { "" };
    format!("{epoch}.{marker}{}", since.position)
}

fn invalid_token() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "since is not a sync token from this server; pass the next_token of an earlier pull, or leave since out to start over.",
    )
}

fn parse_token(token: &str, epoch: &str) -> Result<Since, ApiError> {
    let (token_epoch, position) = token.rsplit_once('.').ok_or_else(invalid_token)?;
    let (resync, digits) = match position.strip_prefix('r') {
        Some(digits) => (true, digits),
        None => (false, position),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_token());
    }
    // All digits but too large for u64: never issued either.
    let position: u64 = digits.parse().map_err(|_| invalid_token())?;
    if token_epoch != epoch {
        return Err(gone("This sync token comes from another server database"));
    }
    Ok(Since { position, resync })
}

fn gone(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "resync_required",
        format!("{why}; pull again without since (a full resync), keeping changes not yet pushed."),
    )
}
