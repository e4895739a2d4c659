//! `POST /v1/push`: validates each event, applies the valid ones in order in
//! ONE store transaction (each with its own outcome), and answers one
//! result per event.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use outbox_sync_protocol::{Outcome, PushRequest, PushResponse, PushResult};

use super::blobs::check_references;
use super::{apply_batch, log, now_ms, read_json, request_hash, AppState, Written};
use crate::auth::User;
use crate::error::ApiError;
use crate::store::{Batch, Write};
use crate::validate;

/// Handles `POST /v1/push`.
pub async fn push(
    State(state): State<AppState>,
    User(user): User,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PushResponse>, ApiError> {
    let request: PushRequest = read_json(body, &state.limits)?;
    if request.events.len() > state.limits.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "This push has {} events; the limit is {}. Send smaller batches.",
                request.events.len(),
                state.limits.max_batch
            ),
        ));
    }
    // Rejected events get their outcome now; the rest go to the store
    // together, in order, as one batch.
    let mut checked = Vec::with_capacity(request.events.len());
    for event in request.events {
        let valid = validate::key(&event.event_id, &state.limits, true)
            .and_then(|()| validate::event(&event, &state.limits, &state.collections));
        checked.push((event, valid));
    }
    // A change naming a blob the user does not hold complete waits (the
    // rejection is retryable and, like every rejection, not stored).
    let payloads: Vec<_> = checked
        .iter()
        .filter(|(_, valid)| valid.is_ok())
        .map(|(event, _)| &event.payload)
        .collect();
    let mut blobs_ready = check_references(&state, &user, &payloads)
        .await?
        .into_iter();
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(checked.len());
    let mut event_ids = Vec::with_capacity(checked.len());
    let mut writes = Vec::with_capacity(checked.len());
    for (event, valid) in checked {
        let event_id = event.event_id.clone();
        let checked = valid.and_then(|policy| match blobs_ready.next().flatten() {
            Some(rejection) => Err(rejection),
            None => Ok(policy),
        });
        match checked {
            Err(rejection) => {
                tracing::info!(event_id = %event_id, user, code = rejection.code, "event rejected");
                outcomes.push(Some(Outcome::Rejected {
                    code: rejection.code.to_owned(),
                    message: rejection.message,
                }));
            }
            Ok(policy) => {
                outcomes.push(None);
                writes.push(Write {
                    key: Some(validate::key_of(&event_id)),
                    request_hash: request_hash(&event),
                    event,
                    policy,
                });
            }
        }
        event_ids.push(event_id);
    }
    let mut written = Vec::new().into_iter();
    let mut batch = None;
    if !writes.is_empty() {
        let (applied, answers) = apply_batch(
            &state,
            Batch {
                user: user.clone(),
                writes,
                now_ms: now_ms(),
            },
        )
        .await?;
        written = answers.into_iter();
        batch = Some(applied);
    }
    let mut logged = batch.iter().flat_map(|batch| batch.writes.iter());
    let results = event_ids
        .into_iter()
        .zip(outcomes)
        .map(|(event_id, outcome)| {
            let outcome = outcome.unwrap_or_else(|| {
                let answer = written.next().unwrap_or(Written::Busy);
                if let Some(write) = logged.next() {
                    log(&user, &write.event, &answer);
                }
                match answer {
                    Written::Fresh(outcome) => outcome,
                    Written::Replayed(original) => Outcome::Duplicate {
                        original: Box::new(original),
                    },
                    Written::KeyReused => Outcome::Rejected {
                        code: "idempotency_key_reused".to_owned(),
                        message: format!(
                            "event_id {event_id} was already used for a different change; \
                             give every new change its own event_id."
                        ),
                    },
                    Written::Busy => unreachable!("the store answers every event"),
                }
            });
            PushResult { event_id, outcome }
        })
        .collect();
    Ok(Json(PushResponse { results }))
}
