//! The one error type of the HTTP layer. Every variant maps to a status and a
//! `detail` that never carries internals (those go to the log, without
//! secrets).

use crate::policy::{wit, PolicyError};
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub const POLICY_UNAVAILABLE: &str = "Policy unavailable";
pub const DATABASE_UNAVAILABLE: &str = "Database unavailable";
pub const WWW_AUTHENTICATE: &str = "ApiKey realm=\"securescan\", header=\"X-API-Key\"";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A decision of the policy component: status and detail as it said.
    #[error("denied ({status}): {detail}")]
    Denied {
        status: u16,
        detail: String,
        challenge: bool,
    },
    #[error("policy component failed: {0}")]
    Policy(#[from] PolicyError),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
    #[error("{1}")]
    Status(StatusCode, String),
}

impl ApiError {
    pub fn status(code: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Status(code, detail.into())
    }
}

impl From<crate::ratelimit::TakeError> for ApiError {
    fn from(e: crate::ratelimit::TakeError) -> Self {
        match e {
            crate::ratelimit::TakeError::Policy(e) => ApiError::Policy(e),
            crate::ratelimit::TakeError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<wit::types::Denial> for ApiError {
    fn from(d: wit::types::Denial) -> Self {
        ApiError::Denied {
            status: d.status,
            detail: d.detail,
            challenge: d.challenge,
        }
    }
}

pub fn detail(status: StatusCode, detail: &str) -> Response {
    (status, Json(serde_json::json!({ "detail": detail }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Denied {
                status,
                detail: d,
                challenge,
            } => {
                // A status outside 4xx/5xx from a policy build is a broken
                // build: deny with 503 rather than trust it.
                let code = StatusCode::from_u16(status)
                    .ok()
                    .filter(|c| c.is_client_error() || c.is_server_error());
                let Some(code) = code else {
                    tracing::error!(status, "policy returned a non-error status for a denial");
                    return detail(StatusCode::SERVICE_UNAVAILABLE, POLICY_UNAVAILABLE);
                };
                let mut resp = detail(code, &d);
                if challenge || code == StatusCode::UNAUTHORIZED {
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(WWW_AUTHENTICATE),
                    );
                }
                resp
            }
            ApiError::Policy(e) => {
                tracing::error!(error = %e, "policy component failed: denying with 503");
                detail(StatusCode::SERVICE_UNAVAILABLE, POLICY_UNAVAILABLE)
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "database failed");
                detail(StatusCode::SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE)
            }
            ApiError::Status(code, d) => detail(code, &d),
        }
    }
}
