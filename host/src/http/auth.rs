//! The access gate, in front of the router: every request is resolved and
//! decided by the policy component before any handler runs. The host only
//! gathers facts (headers, the key's row, configuration, the clock) and
//! carries out the verdict.

use super::error::ApiError;
use super::{credentials, AppState};
use crate::policy::wit::authn::{Credential, Facts, KeyRow, Principal, PrincipalKind};
use crate::policy::wit::routes::Requirement;
use crate::policy::wit::types::Scope;
use crate::policy::PolicyBuild;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// The caller's key row as read for the decision, handed to handlers so they
/// need not read it again. Only set for a DB-key principal.
#[derive(Clone, Debug)]
pub struct CallerKey(pub crate::store::KeyRecord);

/// Set on the response so the request log can name the principal.
#[derive(Clone, Debug)]
pub struct LoggedKeyId(pub String);

/// Paths the host answers without a policy: liveness and readiness probes
/// carry no data, and `/ready` must be able to say the policy is missing.
fn probe(path: &str) -> bool {
    path == "/health" || path == "/ready"
}

pub fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Read => "read",
        Scope::Write => "write",
        Scope::Admin => "admin",
    }
}

pub fn scope_from_name(s: &str) -> Option<Scope> {
    match s {
        "read" => Some(Scope::Read),
        "write" => Some(Scope::Write),
        "admin" => Some(Scope::Admin),
        _ => None,
    }
}

async fn gather_facts(
    state: &AppState,
    policy: &PolicyBuild,
    resolution: &crate::policy::wit::routes::Resolution,
    credential: Credential,
) -> Result<(Facts, Option<crate::store::KeyRecord>), ApiError> {
    // The id whose row the decision needs, read without trusting it.
    let lookup_id = match &credential {
        Credential::ApiKey(k) | Credential::Bearer(k) => policy.parse_key(k)?.map(|p| p.id),
        Credential::EventToken(t) => policy
            .peek_key_id(t)?
            .filter(|id| id != "env" && id != "dev"),
        Credential::None => None,
    };
    let record = match lookup_id {
        Some(id) => state.store.get_key(&id).await?,
        None => None,
    };
    let row = record.as_ref().map(|r| KeyRow {
        id: r.id.clone(),
        stored_hash: r.key_hash.clone(),
        scopes: r.scopes.iter().filter_map(|s| scope_from_name(s)).collect(),
        revoked: r.revoked_at.is_some(),
    });
    // Whether any DB key exists matters only on a protected route when no
    // key is presented (dev mode, 401 or 503) or for a dev-mode token, and
    // only without an env key. A presented key is judged on its own row, and
    // public and unknown routes are decided before the component reads this
    // fact, so the query is skipped there: a flood of `/health` or of
    // unknown paths costs no database query. Not fetched, the fact takes its
    // fail-closed value (keys exist: never dev mode), as at the edge.
    let protected = matches!(
        resolution.requirement,
        Requirement::AnyDbKey | Requirement::Scopes(_)
    );
    let needs_existence = protected
        && matches!(credential, Credential::None | Credential::EventToken(_))
        && state.config.env_key.is_none();
    let db_key_exists = !needs_existence || state.store.any_unrevoked().await?;
    let facts = Facts {
        requirement: resolution.requirement.clone(),
        accepts_event_token: resolution.accepts_event_token,
        resource_id: resolution.resource_id.clone(),
        credential,
        env_key: state.config.env_key_str().map(str::to_string),
        row,
        db_key_exists,
        auth_required: state.config.auth_required,
        event_secret: state.event_secret.expose_secret().clone(),
        now: crate::clock::now_secs(),
    };
    Ok((facts, record))
}

/// Decides one request; returns the principal, the build it was decided
/// with, and the canonical path when the legacy prefix was used. Only owned
/// facts cross an await (a request body is not `Sync`).
async fn decide(
    state: &AppState,
    method: &str,
    path: &str,
    presented: Credential,
) -> Result<Decided, ApiError> {
    let policy = state
        .policy
        .load_full()
        .ok_or(crate::policy::PolicyError::NotLoaded)?;
    let resolution = policy.resolve(method, path)?;
    let credential = match resolution.requirement {
        // Public and unknown routes are decided without credentials.
        Requirement::Public | Requirement::Unknown => Credential::None,
        _ => presented,
    };
    let (facts, record) = gather_facts(state, &policy, &resolution, credential).await?;
    let principal = policy.authenticate(&facts)??;
    let caller = record.filter(|r| principal.kind == PrincipalKind::DbKey && r.id == principal.id);
    Ok(Decided {
        principal,
        policy,
        rewrite: resolution.legacy.then_some(resolution.canonical_path),
        caller,
    })
}

struct Decided {
    principal: Principal,
    policy: Arc<PolicyBuild>,
    /// The canonical path when the legacy prefix was used.
    rewrite: Option<String>,
    caller: Option<crate::store::KeyRecord>,
}

pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if probe(req.uri().path()) && state.policy.load().is_none() {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let credential = credentials::from_request(req.headers(), req.uri().query());
    let Decided {
        principal,
        policy,
        rewrite,
        caller,
    } = match decide(&state, &method, &path, credential).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let legacy = rewrite.is_some();
    if let Some(canonical) = rewrite {
        let pq = match req.uri().query() {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical,
        };
        if let Ok(uri) = Uri::builder().path_and_query(pq).build() {
            *req.uri_mut() = uri;
        }
    }
    let key_id = match principal.kind {
        PrincipalKind::Anonymous => None,
        _ => Some(principal.id.clone()),
    };
    if principal.kind == PrincipalKind::DbKey {
        state.last_used.record(&principal.id);
    }
    let successor = legacy.then(|| req.uri().path().to_string());
    if let Some(c) = caller {
        req.extensions_mut().insert(CallerKey(c));
    }
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(policy.clone());
    let mut resp = next.run(req).await;
    if let Some(id) = key_id {
        resp.extensions_mut().insert(LoggedKeyId(id));
    }
    if let Some(successor) = successor {
        let h = resp.headers_mut();
        h.insert("deprecation", HeaderValue::from_static("true"));
        if let Ok(v) = HeaderValue::from_str(&format!("<{successor}>; rel=\"successor-version\"")) {
            h.insert("link", v);
        }
        if let Ok(v) = HeaderValue::from_str(&policy.info().legacy_sunset) {
            h.insert("sunset", v);
        }
    }
    resp
}
