//! The HTTP surface: state, router, and the two layers every request passes
//! (observe: request id + one log line; gate: the policy decision).

pub mod auth;
pub mod credentials;
mod error;
mod keys;
mod meta;
pub mod openapi;
mod policy_api;
pub mod request_id;
mod scans;
mod webhooks;

pub use error::{ApiError, DATABASE_UNAVAILABLE, POLICY_UNAVAILABLE};
pub use keys::CreatedKey as CreatedKeyOut;

use crate::config::Config;
use crate::last_used::LastUsed;
use crate::policy::PolicyBuild;
use crate::store::DynStore;
use arc_swap::ArcSwapOption;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use axum::Router;
use secrecy::SecretBox;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    /// The active policy build; `None` when none could be loaded (every
    /// access decision is then 503).
    pub policy: Arc<ArcSwapOption<PolicyBuild>>,
    /// The builds behind `policy`: swap pipeline, history, cache.
    pub registry: Arc<crate::policy::PolicyRegistry>,
    /// The event-token secret in force (configured, or random per process).
    pub event_secret: Arc<SecretBox<Vec<u8>>>,
    pub last_used: LastUsed,
    pub scans: crate::scans::Scans,
    pub limiter: crate::ratelimit::RateLimiter,
    pub webhooks: crate::webhooks::Webhooks,
    /// Becomes `true` when the server shuts down: open streams end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// A router that remembers what it serves, so a test can check every route
/// against the policy's table: a route added here without a policy entry
/// fails that test (and is denied at run time anyway).
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        handler: MethodRouter<AppState>,
    ) -> Self {
        for m in methods {
            self.table.push((m, path));
        }
        self.router = self.router.route(path, handler);
        self
    }

    pub fn table(&self) -> &[(&'static str, &'static str)] {
        &self.table
    }
}

/// Every route the server serves.
pub fn routes() -> Routes {
    use axum::routing::{delete, get, post};
    Routes::new()
        .add("/", &["GET"], get(meta::root))
        .add("/health", &["GET"], get(meta::health))
        .add("/ready", &["GET"], get(meta::ready))
        .add("/docs", &["GET"], get(meta::docs))
        .add("/redoc", &["GET"], get(meta::redoc))
        .add("/openapi.json", &["GET"], get(meta::openapi_json))
        .add(
            "/api/v1/keys",
            &["GET", "POST"],
            get(keys::list).post(keys::create),
        )
        .add("/api/v1/keys/me", &["GET"], get(keys::me))
        .add("/api/v1/keys/{id}", &["DELETE"], delete(keys::revoke))
        .add(
            "/api/v1/scans",
            &["GET", "POST"],
            get(scans::list).post(scans::create),
        )
        .add(
            "/api/v1/scans/{id}",
            &["GET", "DELETE"],
            get(scans::get).delete(scans::delete),
        )
        .add(
            "/api/v1/scans/{id}/findings",
            &["GET"],
            get(scans::findings),
        )
        .add("/api/v1/scans/{id}/cancel", &["POST"], post(scans::cancel))
        .add(
            "/api/v1/scans/{id}/event-token",
            &["POST"],
            post(scans::event_token),
        )
        .add("/api/v1/scans/{id}/events", &["GET"], get(scans::events))
        .add(
            "/api/v1/webhooks",
            &["GET", "POST"],
            get(webhooks::list).post(webhooks::create),
        )
        .add(
            "/api/v1/webhooks/{id}",
            &["GET", "PATCH", "DELETE"],
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .add(
            "/api/v1/webhooks/{id}/deliveries",
            &["GET"],
            get(webhooks::deliveries),
        )
        .add(
            "/api/v1/webhooks/{id}/test",
            &["POST"],
            post(webhooks::test),
        )
        .add(
            "/api/v1/policy",
            &["GET", "PUT"],
            get(policy_api::status).put(policy_api::upload),
        )
        .add(
            "/api/v1/policy/rollback",
            &["POST"],
            post(policy_api::rollback),
        )
}

/// The whole application: observe, then gate, then the router. The gate
/// wraps the router as one service (not per route) so it runs before routing:
/// it decides unknown paths too, and rewrites legacy `/api/...` paths.
pub fn app(state: AppState) -> Router {
    let inner = routes()
        .router
        .fallback(meta::not_found)
        .with_state(state.clone());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state(state, auth::gate))
        .layer(middleware::from_fn(observe))
}

/// Request id on every response, and one log line per request on target
/// `securescan.request`: never the query string (it may hold a token), never
/// a header value.
async fn observe(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = request_id::from_headers(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(request_id::HEADER, v);
    }
    let key_id = resp
        .extensions()
        .get::<auth::LoggedKeyId>()
        .map(|k| k.0.clone());
    let status = resp.status().as_u16();
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "securescan.request",
        request_id = %request_id,
        method = %method,
        path = %path,
        status,
        latency_ms,
        key_id = key_id.as_deref(),
        "request"
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::wit::routes::Requirement;
    use crate::policy::{Runtime, RuntimeOptions, BUILTIN_POLICY};

    /// Fails when a route is added to the router without a policy entry: the
    /// policy must name every (method, template) the router serves.
    #[test]
    fn every_route_has_a_policy_entry() {
        let b = Runtime::new(RuntimeOptions::default())
            .unwrap()
            .load(BUILTIN_POLICY)
            .unwrap();
        let r = routes();
        assert!(!r.table().is_empty());
        for (method, template) in r.table() {
            let path = template.replace("{id}", "x1");
            let res = b.resolve(method, &path).unwrap();
            assert_ne!(
                res.requirement,
                Requirement::Unknown,
                "{method} {template} is served but the policy does not name it"
            );
            assert_eq!(&res.template, template, "{method} {template}");
        }
    }
}
