//! Fault injection for tests, off unless the server starts with
//! `--enable-fault-injection`: latency, failures, throttling and responses
//! dropped or held after the change was committed. Controlled at runtime
//! through `GET/POST/DELETE /v1/_faults`; `GET /v1/_faults/held` and
//! `POST /v1/_faults/release` let a test wait, on the server side, until a
//! write is in flight, act (go offline, close the page), then let it go.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// How a dropped response fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropMode {
    /// The connection breaks before the body arrives (a network error).
    #[default]
    Close,
    /// A `502` answer, as from a proxy that lost the upstream response.
    BadGateway,
}

/// The runtime settings; every field is optional in `POST` bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Delay added before every API request, in milliseconds.
    pub latency_ms: u64,
    /// Fraction (0..=1) of API requests answered `fail_status` untouched.
    pub fail_rate: f64,
    /// The next N API requests fail, on top of `fail_rate`.
    pub fail_next: u32,
    /// The status of failures: 500 to 599 (`Retry-After` on 503).
    pub fail_status: u16,
    /// Fraction (0..=1) of API requests answered `429`.
    pub throttle_rate: f64,
    /// The next N API requests are answered `429`.
    pub throttle_next: u32,
    /// Seconds sent in `Retry-After` with `429` and `503`.
    pub retry_after_s: u64,
    /// Fraction (0..=1) of successful writes whose response is dropped
    /// after the change was committed.
    pub drop_rate: f64,
    /// The next N successful writes have their response dropped.
    pub drop_next: u32,
    /// How a dropped response fails.
    pub drop_mode: DropMode,
    /// The next N successful writes are held after the change was
    /// committed: their response waits until `POST /v1/_faults/release`,
    /// `DELETE /v1/_faults` or a minute has passed.
    pub hold_next: u32,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            latency_ms: 0,
            fail_rate: 0.0,
            fail_next: 0,
            fail_status: 503,
            throttle_rate: 0.0,
            throttle_next: 0,
            retry_after_s: 1,
            drop_rate: 0.0,
            drop_next: 0,
            drop_mode: DropMode::Close,
            hold_next: 0,
        }
    }
}

impl FaultSettings {
    fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("fail_rate", self.fail_rate),
            ("throttle_rate", self.throttle_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, not {rate}."));
            }
        }
        if !(500..=599).contains(&self.fail_status) {
            return Err(format!(
                "fail_status must be from 500 to 599, not {}.",
                self.fail_status
            ));
        }
        Ok(())
    }
}

/// The longest a held response waits for a release.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

/// The live settings, a small random source and the held responses.
#[derive(Debug)]
pub struct Faults {
    settings: Mutex<FaultSettings>,
    seed: AtomicU64,
    /// Responses waiting now.
    held: AtomicU32,
    /// Responses held since the server started.
    held_total: AtomicU64,
    /// Bumped by every release; held responses wait for a change.
    releases: tokio::sync::watch::Sender<u64>,
}

/// What `GET /v1/_faults/held` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Responses held right now (their changes are committed).
    pub held: u32,
    /// Responses held since the server started.
    pub total: u64,
}

/// Counts a held response until it is sent or its request is dropped.
struct Holding<'a>(&'a AtomicU32);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Default for Faults {
    fn default() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Faults {
            settings: Mutex::new(FaultSettings::default()),
            seed: AtomicU64::new(seed | 1),
            held: AtomicU32::new(0),
            held_total: AtomicU64::new(0),
            releases: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Faults {
    fn settings(&self) -> std::sync::MutexGuard<'_, FaultSettings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets every held response go.
    fn release(&self) {
        self.releases.send_modify(|n| *n += 1);
    }

    /// Holds a committed write's response until the next release.
    async fn hold(&self) {
        let mut releases = self.releases.subscribe();
        releases.mark_unchanged();
        self.held.fetch_add(1, Ordering::SeqCst);
        self.held_total.fetch_add(1, Ordering::SeqCst);
        let _holding = Holding(&self.held);
        tracing::info!("fault injection: response held after commit");
        if tokio::time::timeout(HOLD_LIMIT, releases.changed())
            .await
            .is_err()
        {
            tracing::warn!("fault injection: a held response was never released; sending it");
        }
    }

    /// A number in `0..1` (splitmix64).
    fn random(&self) -> f64 {
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether this request is hit: uses up one `next` first, then rolls.
    fn hit(&self, next: impl Fn(&mut FaultSettings) -> &mut u32, rate: f64) -> bool {
        {
            let mut settings = self.settings();
            let left = next(&mut settings);
            if *left > 0 {
                *left -= 1;
                return true;
            }
        }
        rate > 0.0 && self.random() < rate
    }
}

/// The middleware in front of the API routes.
pub async fn layer(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let now = faults.settings().clone();
    if now.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(now.latency_ms)).await;
    }
    if faults.hit(|s| &mut s.throttle_next, now.throttle_rate) {
        tracing::info!(path = %request.uri().path(), "fault injection: 429");
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests (injected fault); retry after the delay in Retry-After.",
        )
        .retry_after(now.retry_after_s)
        .into_response();
    }
    if faults.hit(|s| &mut s.fail_next, now.fail_rate) {
        tracing::info!(path = %request.uri().path(), status = now.fail_status, "fault injection: failure");
        let status =
            StatusCode::from_u16(now.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let error = ApiError::new(
            status,
            "injected_failure",
            "The server failed (injected fault); retry later.",
        );
        let error = if status == StatusCode::SERVICE_UNAVAILABLE {
            error.retry_after(now.retry_after_s)
        } else {
            error
        };
        return error.into_response();
    }
    let write = request.method() != Method::GET && request.method() != Method::HEAD;
    let response = next.run(request).await;
    if write && response.status().is_success() && faults.hit(|s| &mut s.hold_next, 0.0) {
        faults.hold().await;
    }
    if write && response.status().is_success() && faults.hit(|s| &mut s.drop_next, now.drop_rate) {
        tracing::info!(mode = ?now.drop_mode, "fault injection: response dropped after commit");
        return match now.drop_mode {
            DropMode::BadGateway => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "injected_drop",
                "The response was lost after the change was committed (injected fault); retry with the same key.",
            )
            .into_response(),
            DropMode::Close => {
                let broken = futures_util::stream::once(async {
                    Err::<Bytes, _>(std::io::Error::other("fault injection: response dropped"))
                });
                Response::new(Body::from_stream(broken))
            }
        };
    }
    response
}

/// `GET/POST/DELETE /v1/_faults`.
pub fn routes<S: Clone + Send + Sync + 'static>(faults: Arc<Faults>) -> Router<S> {
    Router::new()
        .route("/v1/_faults", get(current).post(replace).delete(reset))
        .route("/v1/_faults/held", get(held))
        .route("/v1/_faults/release", axum::routing::post(release))
        .with_state(faults)
}

async fn current(State(faults): State<Arc<Faults>>) -> Json<FaultSettings> {
    Json(faults.settings().clone())
}

async fn replace(
    State(faults): State<Arc<Faults>>,
    body: Bytes,
) -> Result<Json<FaultSettings>, ApiError> {
    let settings: FaultSettings = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_field",
            format!("The fault settings are wrong: {e}."),
        )
    })?;
    settings
        .check()
        .map_err(|message| ApiError::bad_request("invalid_field", message))?;
    tracing::warn!(?settings, "fault injection settings changed");
    *faults.settings() = settings.clone();
    Ok(Json(settings))
}

async fn reset(State(faults): State<Arc<Faults>>) -> Json<FaultSettings> {
    *faults.settings() = FaultSettings::default();
    faults.release();
    Json(FaultSettings::default())
}

async fn held(State(faults): State<Arc<Faults>>) -> Json<Held> {
    Json(Held {
        held: faults.held.load(Ordering::SeqCst),
        total: faults.held_total.load(Ordering::SeqCst),
    })
}

async fn release(State(faults): State<Arc<Faults>>) -> Json<Held> {
    faults.release();
    held(State(faults)).await
}
