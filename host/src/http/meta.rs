//! Public routes: root, probes, API docs.

use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub async fn root() -> Json<serde_json::Value> {
    Json(json!({
        "name": "SecureScan",
        "version": env!("CARGO_PKG_VERSION"),
        "docs": "/docs",
    }))
}

#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "Process is alive")))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when the database answers and a policy build is loaded; 503 naming
/// the failing check otherwise.
#[utoipa::path(get, path = "/ready", tag = "meta", responses((status = 200), (status = 503)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = match state.store.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            "unavailable".to_string()
        }
    };
    let policy = match state.policy.load_full() {
        Some(p) => match p.resolve("GET", "/ready") {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: policy check failed");
                "failing".to_string()
            }
        },
        None => "not loaded".to_string(),
    };
    let ok = database == "ok" && policy == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ready" } else { "unavailable" },
            "checks": { "database": database, "policy": policy },
        })),
    )
        .into_response()
}

// The docs pages load their scripts from a CDN at view time, as the
// reference's do; nothing is downloaded at build time.
const SWAGGER: &str = r##"<!DOCTYPE html>
<html><head><title>SecureScan API - Swagger UI</title><meta charset="utf-8">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"##;

const REDOC: &str = r##"<!DOCTYPE html>
<html><head><title>SecureScan API - ReDoc</title><meta charset="utf-8"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body></html>"##;

pub async fn docs() -> Html<&'static str> {
    Html(SWAGGER)
}

pub async fn redoc() -> Html<&'static str> {
    Html(REDOC)
}

pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::status(StatusCode::NOT_FOUND, "Not Found")
}
