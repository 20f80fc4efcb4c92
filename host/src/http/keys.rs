//! The keys API: issue, list, who-am-i, revoke.

use super::error::ApiError;
use super::AppState;
use crate::keys::{create_key, revoke_key, CreateError, RevokeResult};
use crate::policy::wit::authn::{Principal, PrincipalKind};
use crate::policy::PolicyBuild;
use crate::store::KeyRecord;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateKeyRequest {
    /// Who holds the key (`ci-runner`, `read-only-monitoring`...).
    pub name: Option<String>,
    /// `read`, `write`, `admin`. Defaults to `["read","write"]`.
    pub scopes: Option<Vec<String>>,
}

/// A new key: the listing fields plus the plaintext, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub record: KeyRecord,
    pub key: String,
}

// Never printed whole: the plaintext stays out of Debug output.
impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("record", &self.record)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn unprocessable(detail: impl Into<String>) -> ApiError {
    ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, detail)
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 401), (status = 403), (status = 422)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(policy): Extension<Arc<PolicyBuild>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateKeyRequest = serde_json::from_slice(&body)
        .map_err(|_| unprocessable("Request body must be a JSON object with a name"))?;
    let name = req.name.unwrap_or_default();
    let created = create_key(&state.store, &policy, &name, req.scopes.as_deref())
        .await
        .map_err(|e| match e {
            CreateError::Invalid(d) => unprocessable(d),
            CreateError::Denied(d) => d.into(),
            CreateError::Policy(p) => p.into(),
            CreateError::Store(s) => s.into(),
        })?;
    tracing::info!(key_id = %created.record.id, scopes = ?created.record.scopes, "api key created");
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, body = [KeyRecord]), (status = 401), (status = 403)),
    security(("api_key" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<KeyRecord>>, ApiError> {
    Ok(Json(state.store.list_keys().await?))
}

#[utoipa::path(get, path = "/api/v1/keys/me", tag = "keys",
    responses((status = 200, body = KeyRecord), (status = 401), (status = 404)),
    security(("api_key" = [])))]
pub async fn me(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    caller: Option<Extension<super::auth::CallerKey>>,
) -> Result<Json<KeyRecord>, ApiError> {
    // The policy already refused env/dev principals on this route; this is
    // the same answer should a build let one through.
    let not_db = || ApiError::status(StatusCode::NOT_FOUND, "Not authenticated via DB key");
    if principal.kind != PrincipalKind::DbKey {
        return Err(not_db());
    }
    // The row the decision was made on (read for this request), else read it.
    let record = match caller {
        Some(Extension(c)) => c.0,
        None => state
            .store
            .get_key(&principal.id)
            .await?
            .ok_or_else(not_db)?,
    };
    Ok(Json(record))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404), (status = 409)),
    security(("api_key" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(policy): Extension<Arc<PolicyBuild>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match revoke_key(
        &state.store,
        &policy,
        &id,
        state.config.env_key.is_some(),
        state.config.auth_required,
    )
    .await?
    {
        RevokeResult::NotFound => Err(ApiError::status(StatusCode::NOT_FOUND, "Key not found")),
        RevokeResult::Revoked | RevokeResult::AlreadyRevoked => {
            tracing::info!(key_id = %id, by = %principal.id, "api key revoked");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}
