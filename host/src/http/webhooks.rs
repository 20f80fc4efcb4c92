//! The webhooks API (admin only, per the policy): subscriptions, their
//! deliveries, and a test delivery.

use super::error::ApiError;
use super::AppState;
use crate::keys::now_rfc3339;
use crate::store::{DeliveryRecord, WebhookRecord};
use crate::webhooks::{self, EVENTS};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};

pub const NOT_FOUND: &str = "Webhook not found";
const BODY: &str = "Request body must be a JSON object with name, url and event_filter";
const MAX_URL: usize = 2048;

/// `POST /api/v1/webhooks` and `PATCH /api/v1/webhooks/{id}` bodies (for the
/// OpenAPI document; the handlers read the JSON object to tell absent fields
/// and unknown ones like `secret` apart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct WebhookRequest {
    /// 1-128 characters.
    pub name: Option<String>,
    /// An absolute `http` or `https` URL.
    pub url: Option<String>,
    /// A non-empty subset of `scan.complete`, `scan.failed`,
    /// `scanner.failed`, `webhook.test`.
    pub event_filter: Option<Vec<String>>,
}

/// A new webhook: the listing fields plus the signing secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub record: WebhookRecord,
    /// Hex; the HMAC-SHA256 key of `X-SecureScan-Signature`.
    pub secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TestDelivery {
    pub delivery_id: String,
}

fn unprocessable(detail: impl Into<String>) -> ApiError {
    ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, detail)
}

fn not_found() -> ApiError {
    ApiError::status(StatusCode::NOT_FOUND, NOT_FOUND)
}

fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(unprocessable(BODY)),
    }
}

fn valid_name(v: Option<&Value>) -> Result<String, ApiError> {
    let name = match v {
        None | Some(Value::Null) => return Err(unprocessable("name is required")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(unprocessable("name must be a string")),
    };
    let n = name.chars().count();
    if n == 0 || n > 128 {
        return Err(unprocessable("name must be 1-128 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(unprocessable("name must not contain control characters"));
    }
    Ok(name.clone())
}

async fn valid_url(v: Option<&Value>, allow_private: bool) -> Result<String, ApiError> {
    let raw = match v {
        None | Some(Value::Null) => return Err(unprocessable("url is required")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(unprocessable("url must be a string")),
    };
    if raw.len() > MAX_URL {
        return Err(unprocessable("url must be at most 2048 characters"));
    }
    let bad = || unprocessable("url must be an absolute http or https URL");
    let url = reqwest::Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    if !allow_private {
        webhooks::check_destination(&url)
            .await
            .map_err(unprocessable)?;
    }
    Ok(url.to_string())
}

fn valid_filter(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let shape = || unprocessable("event_filter must be a non-empty list of events");
    let items = match v {
        None | Some(Value::Null) => return Err(unprocessable("event_filter is required")),
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(_) => return Err(shape()),
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let Value::String(e) = item else {
            return Err(shape());
        };
        if !EVENTS.contains(&e.as_str()) {
            return Err(unprocessable(format!("Unknown event: {e}")));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = WebhookRequest,
    responses((status = 201, body = CreatedWebhook), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = [])))]
pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let m = object(&body)?;
    let name = valid_name(m.get("name"))?;
    let filter = valid_filter(m.get("event_filter"))?;
    let url = valid_url(m.get("url"), state.webhooks.allow_private).await?;
    let secret = webhooks::new_secret();
    let record = WebhookRecord {
        id: crate::ids::uuid_v4(),
        name,
        url,
        event_filter: filter,
        created_at: now_rfc3339(),
        secret: secret.clone(),
    };
    state.store.insert_webhook(&record).await?;
    tracing::info!(webhook_id = %record.id, events = ?record.event_filter, "webhook created");
    Ok((StatusCode::CREATED, Json(CreatedWebhook { record, secret })).into_response())
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = [WebhookRecord]), (status = 401), (status = 403)),
    security(("api_key" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<WebhookRecord>>, ApiError> {
    Ok(Json(state.store.list_webhooks().await?))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookRecord), (status = 404)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookRecord>, ApiError> {
    state
        .store
        .get_webhook(&id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    request_body = WebhookRequest,
    responses((status = 200, body = WebhookRecord), (status = 404), (status = 422)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<WebhookRecord>, ApiError> {
    let mut record = state.store.get_webhook(&id).await?.ok_or_else(not_found)?;
    let m = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(unprocessable(
                "Request body must be a JSON object with name, url or event_filter",
            ))
        }
    };
    if m.contains_key("secret") {
        return Err(unprocessable("secret cannot be changed"));
    }
    if m.contains_key("name") {
        record.name = valid_name(m.get("name"))?;
    }
    if m.contains_key("event_filter") {
        record.event_filter = valid_filter(m.get("event_filter"))?;
    }
    if m.contains_key("url") {
        record.url = valid_url(m.get("url"), state.webhooks.allow_private).await?;
    }
    if !state.store.update_webhook(&record).await? {
        return Err(not_found());
    }
    tracing::info!(webhook_id = %record.id, "webhook updated");
    Ok(Json(record))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204), (status = 404)),
    security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.store.delete_webhook(&id).await? {
        return Err(not_found());
    }
    tracing::info!(webhook_id = %id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, body = [DeliveryRecord]), (status = 404)),
    security(("api_key" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<DeliveryRecord>>, ApiError> {
    if state.store.get_webhook(&id).await?.is_none() {
        return Err(not_found());
    }
    Ok(Json(
        state
            .store
            .list_deliveries(&id, webhooks::LIST_LIMIT)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 202, body = TestDelivery), (status = 404)),
    security(("api_key" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.store.get_webhook(&id).await?.is_none() {
        return Err(not_found());
    }
    let delivery_id = state
        .webhooks
        .enqueue(&id, "webhook.test", &webhooks::test_data(&id))
        .await?;
    tracing::info!(webhook_id = %id, delivery_id = %delivery_id, "webhook test delivery enqueued");
    Ok((StatusCode::ACCEPTED, Json(TestDelivery { delivery_id })).into_response())
}
