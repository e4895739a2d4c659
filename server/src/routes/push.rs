//! `POST /v1/push`: applies a batch of events in order, each in its own
//! transaction, and answers one result per event.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use outbox_sync_protocol::{Outcome, PushRequest, PushResponse, PushResult};

use super::{read_json, write, AppState, InFlight, Written};
use crate::auth::User;
use crate::error::ApiError;
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
    let mut results = Vec::with_capacity(request.events.len());
    for event in request.events {
        let event_id = event.event_id.clone();
        let checked = validate::key(&event_id, &state.limits, true)
            .and_then(|()| validate::event(&event, &state.limits, &state.collections));
        let outcome = match checked {
            Err(rejection) => {
                tracing::info!(event_id = %event_id, user, code = rejection.code, "event rejected");
                Outcome::Rejected {
                    code: rejection.code.to_owned(),
                    message: rejection.message,
                }
            }
            Ok(policy) => {
                let key = Some(validate::key_of(&event_id));
                match write(&state, &user, event, key, policy, InFlight::Wait).await? {
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
                    Written::Busy => unreachable!("push waits for keys in flight"),
                }
            }
        };
        results.push(PushResult { event_id, outcome });
    }
    Ok(Json(PushResponse { results }))
}
