//! The scans API, its SSE progress stream and event tokens.

use super::error::ApiError;
use super::AppState;
use crate::clock::now_secs;
use crate::events::{Item, TERMINAL};
use crate::policy::wit::authn::{Principal, PrincipalKind};
use crate::policy::PolicyBuild;
use crate::store::{FindingRecord, ScanRecord, Transition};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const SCAN_NOT_FOUND: &str = "Scan not found";
pub use crate::ratelimit::RATE_LIMITED;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateScanRequest {
    pub target_path: Option<String>,
    pub scan_types: Option<Vec<String>>,
}

fn unprocessable(d: impl Into<String>) -> ApiError {
    ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, d)
}

fn not_found() -> ApiError {
    ApiError::status(StatusCode::NOT_FOUND, SCAN_NOT_FOUND)
}

/// The bucket a caller draws from: its key id, `env`, or its address.
fn subject(p: &Principal, addr: Option<SocketAddr>) -> String {
    match p.kind {
        PrincipalKind::DbKey => format!("key:{}", p.id),
        PrincipalKind::Env => "env".into(),
        _ => format!(
            "ip:{}",
            addr.map_or_else(|| "unknown".into(), |a| a.ip().to_string())
        ),
    }
}

#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", request_body = CreateScanRequest,
    responses((status = 200, body = ScanRecord), (status = 400), (status = 403), (status = 422), (status = 429)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(policy): Extension<Arc<PolicyBuild>>,
    Extension(principal): Extension<Principal>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let subject = subject(&principal, connect.map(|c| (c.0).0));
    let verdict = state
        .limiter
        .take_in(&state.store, &policy, &subject, crate::clock::now_ms_u64())
        .await?;
    if let Some(v) = verdict.as_ref().filter(|v| !v.allowed) {
        // The subject is a key id, `env` or an address: never a key.
        tracing::warn!(subject = %subject, retry_after = v.retry_after, "rate limited");
        let mut resp =
            ApiError::status(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED).into_response();
        crate::ratelimit::set_headers(resp.headers_mut(), v);
        return Ok(resp);
    }
    let req: CreateScanRequest = serde_json::from_slice(&body)
        .map_err(|_| unprocessable("Request body must be a JSON object with target_path"))?;
    let target = req
        .target_path
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| unprocessable("target_path is required"))?;
    let types = req.scan_types.unwrap_or_else(|| vec!["code".into()]);
    if types.is_empty() {
        return Err(unprocessable("scan_types must not be empty"));
    }
    let mut scan_types: Vec<String> = Vec::new();
    for t in types {
        if !crate::scans::KNOWN_TYPES.contains(&t.as_str()) {
            let shown: String = t.chars().take(32).collect();
            return Err(unprocessable(format!("Unknown scan type: {shown}")));
        }
        if !scan_types.contains(&t) {
            scan_types.push(t);
        }
    }
    let target = crate::scanner::validate_target(&target)
        .map_err(|e| ApiError::status(StatusCode::BAD_REQUEST, e.message()))?;
    let record = state
        .scans
        .create(target, scan_types, &principal.id, policy.clone())
        .await?;
    let mut resp = Json(record).into_response();
    if let Some(v) = &verdict {
        crate::ratelimit::set_headers(resp.headers_mut(), v);
    }
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/scans", tag = "scans",
    responses((status = 200, body = [ScanRecord])), security(("api_key" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<ScanRecord>>, ApiError> {
    Ok(Json(state.store.list_scans(200).await?))
}

#[utoipa::path(get, path = "/api/v1/scans/{id}", tag = "scans",
    params(("id" = String, Path)), responses((status = 200, body = ScanRecord), (status = 404)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScanRecord>, ApiError> {
    state
        .store
        .get_scan(&id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

#[utoipa::path(get, path = "/api/v1/scans/{id}/findings", tag = "scans",
    params(("id" = String, Path)), responses((status = 200, body = [FindingRecord]), (status = 404)),
    security(("api_key" = [])))]
pub async fn findings(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<FindingRecord>>, ApiError> {
    state.store.get_scan(&id).await?.ok_or_else(not_found)?;
    Ok(Json(state.store.list_findings(&id).await?))
}

#[utoipa::path(post, path = "/api/v1/scans/{id}/cancel", tag = "scans",
    params(("id" = String, Path)), responses((status = 200, body = ScanRecord), (status = 404), (status = 409)),
    security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScanRecord>, ApiError> {
    match state.scans.cancel(&id).await? {
        Transition::Done => state
            .store
            .get_scan(&id)
            .await?
            .map(Json)
            .ok_or_else(not_found),
        Transition::Refused(status) => Err(ApiError::status(
            StatusCode::CONFLICT,
            format!("Scan cannot be cancelled (status: {status})"),
        )),
        Transition::NotFound => Err(not_found()),
    }
}

#[utoipa::path(delete, path = "/api/v1/scans/{id}", tag = "scans",
    params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.store.delete_scan(&id, crate::scans::BUSY).await? {
        Transition::Done => {
            state.scans.bus().forget(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Transition::Refused(status) => Err(ApiError::status(
            StatusCode::CONFLICT,
            format!("Scan is {status}; cancel it before deleting"),
        )),
        Transition::NotFound => Err(not_found()),
    }
}

#[utoipa::path(post, path = "/api/v1/scans/{id}/event-token", tag = "scans",
    params(("id" = String, Path)), responses((status = 200), (status = 404)),
    security(("api_key" = [])))]
pub async fn event_token(
    State(state): State<AppState>,
    Extension(policy): Extension<Arc<PolicyBuild>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.store.get_scan(&id).await?.ok_or_else(not_found)?;
    let token = policy.mint_token(
        state.event_secret.expose_secret(),
        &id,
        &principal.id,
        now_secs(),
    )?;
    let ttl = policy.ttl_seconds()?;
    let mut resp = Json(serde_json::json!({ "token": token, "expires_in": ttl })).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn sse_event(ev: &crate::events::Event) -> SseEvent {
    SseEvent::default()
        .id(ev.id.to_string())
        .event(&ev.name)
        .data(&ev.data)
}

#[utoipa::path(get, path = "/api/v1/scans/{id}/events", tag = "scans",
    params(("id" = String, Path), ("event_token" = Option<String>, Query)),
    responses((status = 200, content_type = "text/event-stream"), (status = 401), (status = 404)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scan = state.store.get_scan(&id).await?.ok_or_else(not_found)?;
    let last: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if !state.scans.bus().has(&id) && !state.scans.events_expired(&scan) {
        // Run by another instance, or finished here and dropped from
        // memory: the bus is fed from the stored events.
        state.scans.feeds.follow(&id);
    }
    let mut shutdown = state.shutdown.clone();
    let sid = id.clone();
    let stream: futures::stream::BoxStream<'static, Result<SseEvent, Infallible>> =
        match state.scans.bus().subscribe(&id, last) {
            Some(sub) => Box::pin(futures::stream::unfold(
                (sub, false),
                move |(mut sub, done)| {
                    let mut shutdown = shutdown.clone();
                    let sid = sid.clone();
                    async move {
                        if done {
                            return None;
                        }
                        let item = tokio::select! {
                            item = sub.next() => item?,
                            _ = shutdown.wait_for(|s| *s) => return None,
                        };
                        Some(match item {
                            Item::Event(ev) => {
                                let end = ev.is_terminal();
                                (Ok(sse_event(&ev)), (sub, end))
                            }
                            Item::Resync { after, before } => (
                                Ok(SseEvent::default().event("resync").data(
                                    serde_json::json!({
                                        "scan_id": sid,
                                        "missed_after": after,
                                        "missed_before": before,
                                    })
                                    .to_string(),
                                )),
                                (sub, false),
                            ),
                        })
                    }
                },
            )),
            None => {
                // The buffer is gone (finished long ago, or from a previous
                // process): one synthesized terminal event from the record.
                let _ = shutdown.borrow_and_update();
                let synth = crate::event_log::synthesized_terminal(&scan, 0);
                debug_assert!(TERMINAL.contains(&synth.name.as_str()));
                let ev = SseEvent::default().event(synth.name).data(synth.data);
                Box::pin(futures::stream::once(async move { Ok(ev) }))
            }
        };
    let mut resp = Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("keep-alive"),
        )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}
