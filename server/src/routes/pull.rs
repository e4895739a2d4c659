//! `GET /v1/changes?since=TOKEN&limit=N`: changes in server order.
//!
//! A token is `<database epoch>.<position>`: opaque to clients, but it lets
//! the server tell a token of another (or a reset) database. A page of a
//! full resync that has more to come hands out `<epoch>.<position>h<horizon>`:
//! the rest of the resync, valid as long as no tombstone is purged beyond
//! the horizon the resync began with (its records may lie below it); the
//! resync's last page hands out a plain token at or above the horizon.

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
    match since.valid_above {
        Some(valid) if valid != since.position => format!("{epoch}.{}h{valid}", since.position),
        _ => format!("{epoch}.{}", since.position),
    }
}

fn invalid_token() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "since is not a sync token from this server; pass the next_token of an earlier pull, or leave since out to start over.",
    )
}

fn number(digits: &str) -> Result<u64, ApiError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_token());
    }
    // All digits but too large for u64: never issued either.
    digits.parse().map_err(|_| invalid_token())
}

fn parse_token(token: &str, epoch: &str) -> Result<Since, ApiError> {
    let (token_epoch, rest) = token.rsplit_once('.').ok_or_else(invalid_token)?;
    let since = match rest.split_once('h') {
        None => Since::after(number(rest)?),
        Some((position, valid)) => Since {
            position: number(position)?,
            valid_above: Some(number(valid)?),
        },
    };
    if token_epoch != epoch {
        return Err(gone("This sync token comes from another server database"));
    }
    Ok(since)
}

fn gone(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "resync_required",
        format!("{why}; pull again without since (a full resync), keeping changes not yet pushed."),
    )
}
