//! `GET/PUT /api/v1/policy`, `POST /api/v1/policy/rollback` (admin, by the
//! policy's route table): the active and previous policy builds, uploading
//! a new one through the swap pipeline, and going back to the previous one.

use super::error::detail;
use super::AppState;
use crate::policy::registry::{refusal_too_large, Accepted, PolicyStatus, Refusal, RollbackError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;

/// The header that carries the build's detached Ed25519 signature (base64
/// or hex of the 64 bytes, over the SHA-256 of the body).
pub const SIGNATURE_HEADER: &str = "x-policy-signature";
pub const UPLOADS_DISABLED: &str =
    "Policy uploads are disabled: no SECURESCAN_POLICY_PUBLIC_KEY is configured";
pub const UNREADABLE_BODY: &str = "Could not read the request body";
/// How much of a refused body is read (and dropped) before answering, so
/// the client gets the answer rather than a reset connection.
const DRAIN_LIMIT: usize = 64 << 20;

#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, body = PolicyStatus), (status = 401), (status = 403)),
    security(("api_key" = [])))]
pub async fn status(State(state): State<AppState>) -> Response {
    Json(state.registry.status()).into_response()
}

fn refused(r: Refusal) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(serde_json::json!({
            "detail": r.step.detail(),
            "step": r.step,
            "failures": r.failures,
        })),
    )
        .into_response()
}

/// Reads and drops what is left of a body (up to [`DRAIN_LIMIT`]).
async fn drain(mut stream: axum::body::BodyDataStream, mut seen: usize) {
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > DRAIN_LIMIT {
            break;
        }
    }
}

enum Read {
    Done(Vec<u8>),
    TooLarge,
    Failed,
}

async fn read_limited(headers: &HeaderMap, body: Body, max: usize) -> Read {
    let mut stream = body.into_data_stream();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        drain(stream, 0).await;
        return Read::TooLarge;
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Read::Failed;
        };
        if buf.len() + chunk.len() > max {
            drain(stream, buf.len() + chunk.len()).await;
            return Read::TooLarge;
        }
        buf.extend_from_slice(&chunk);
    }
    Read::Done(buf)
}

/// The body is the `.wasm`; `X-Policy-Signature` carries its signature.
#[utoipa::path(put, path = "/api/v1/policy", tag = "policy",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    params(("X-Policy-Signature" = String, Header,
        description = "Ed25519 signature over the SHA-256 of the body (base64 or hex)")),
    responses((status = 200, body = Accepted), (status = 400), (status = 401),
        (status = 403, description = "not admin, or uploads disabled (no public key configured)"),
        (status = 422, description = "refused: {detail, step, failures}")),
    security(("api_key" = [])))]
pub async fn upload(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let registry = &state.registry;
    if !registry.uploads_enabled() {
        drain(body.into_data_stream(), 0).await;
        return detail(StatusCode::FORBIDDEN, UPLOADS_DISABLED);
    }
    let bytes = match read_limited(&headers, body, registry.max_bytes()).await {
        Read::Done(b) => b,
        Read::TooLarge => return refused(refusal_too_large(registry.max_bytes())),
        Read::Failed => return detail(StatusCode::BAD_REQUEST, UNREADABLE_BODY),
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match registry
        .accept(bytes, signature, crate::policy::Source::Upload)
        .await
    {
        Ok(a) => Json(a).into_response(),
        Err(r) => refused(r),
    }
}

#[utoipa::path(post, path = "/api/v1/policy/rollback", tag = "policy",
    responses((status = 200, body = Accepted), (status = 401), (status = 403),
        (status = 409, description = "no previous build")),
    security(("api_key" = [])))]
pub async fn rollback(State(state): State<AppState>) -> Response {
    match state.registry.rollback().await {
        Ok(a) => Json(a).into_response(),
        Err(e @ RollbackError::NoPrevious) => detail(StatusCode::CONFLICT, &e.to_string()),
    }
}
