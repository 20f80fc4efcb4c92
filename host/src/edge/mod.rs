//! `securescan-edge`: a reverse proxy that runs the same policy build as the
//! origin, so garbage is refused where it enters and never reaches an origin.
//!
//! What the edge decides itself (every decision is a call into the policy
//! component; the edge only gathers the facts it has, which never include a
//! database row):
//! - the route is resolved; public routes are forwarded; a route the policy
//!   does not name is 404 `Not Found`;
//! - a protected route without a credential is the origin's 401
//!   `X-API-Key header required`. The edge cannot know whether the origin is
//!   in dev mode, so it assumes credentials exist (`db-key-exists = true`):
//!   the edge is for hardened deployments, where the origin answers exactly
//!   this;
//! - a key (`X-API-Key` or `Bearer`) is put to the component's `authenticate`
//!   with the edge's facts (env key if configured, no row). A key that passes
//!   (the env key) is forwarded. A denied key that `parse_key` accepts
//!   (format and checksum) is forwarded too: the only reason for the denial
//!   is the missing row, which only the origin has. Any other denial (format,
//!   checksum, wrong env key) is final: 401 `Invalid API key`;
//! - an event token on a route that takes one is verified in full with the
//!   shared secret (`verify-token`: signature, expiry, scan binding) before
//!   the stream is opened upstream; the origin still rehydrates the bound
//!   key. A token on any other route is 401 `Invalid event token route`;
//! - `POST /api/v1/scans` (and the legacy path) is rate limited per key id
//!   (from `parse_key`), `env`, or client address, with the origin's headers
//!   and 429. The bucket is checked before forwarding but only charged once
//!   the origin has accepted the caller (any answer but 401, 403, 429, 503),
//!   so nobody can drain another key's bucket by sending forged keys that
//!   carry its id (key ids are not secret). Concurrent requests checked
//!   before one of them is charged can overshoot the edge's burst slightly;
//!   the origin's own limit still holds.
//!
//! Forwarding streams both bodies (SSE passes unbuffered), drops hop-by-hop
//! headers both ways, sets `X-Request-ID` when absent or invalid, appends the
//! client address to `X-Forwarded-For`. Requests naming a scan id go to the
//! upstream that created the scan when this edge saw the creation, else to
//! the rendezvous-hash winner of the id; other requests are round-robin.

pub mod hash;
pub mod headers;
pub mod metrics;

use crate::http::{credentials, request_id};
use crate::policy::wit::authn::{Credential, Facts, PrincipalKind};
use crate::policy::wit::routes::{Requirement, Resolution};
use crate::policy::wit::types::Denial;
use crate::policy::{PolicyBuild, Runtime, RuntimeOptions};
use crate::ratelimit::RateLimiter;
use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use metrics::{Metrics, Reason};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const LOG_TARGET: &str = "securescan.edge";
pub const UPSTREAM_UNAVAILABLE: &str = "Upstream unavailable";
pub const POLICY_UNAVAILABLE: &str = "Policy unavailable";
pub use crate::ratelimit::RATE_LIMITED;
/// The origin's challenge, so edge 401s look like the origin's.
pub const WWW_AUTHENTICATE: &str = "ApiKey realm=\"securescan\", header=\"X-API-Key\"";
pub const METRICS_PATH: &str = "/edge/metrics";
/// The scans collection, where creation is rate limited.
const SCANS: &str = "/api/v1/scans";
/// Scan ids whose creating upstream is remembered.
const MAX_AFFINITY: usize = 100_000;
/// A scan-creation answer larger than this is passed on without learning
/// its id.
const MAX_CREATE_BODY: usize = 1 << 20;

/// Everything the edge is configured with.
pub struct EdgeOptions {
    pub upstreams: Vec<String>,
    pub policy_path: Option<PathBuf>,
    /// `SECURESCAN_POLICY_PUBLIC_KEY`, as on the server: with it, a `--policy`
    /// file loads (at start and on `SIGHUP`) only when `<file>.sig` signs it.
    pub policy_public_key: Option<ed25519_dalek::VerifyingKey>,
    /// `SECURESCAN_API_KEY`, when the edge is given it too.
    pub env_key: Option<String>,
    /// `SECURESCAN_EVENT_TOKEN_SECRET`, shared with the origins.
    pub event_secret: Vec<u8>,
    pub rate_limit_per_min: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub rate_limit_enabled: bool,
    pub runtime: RuntimeOptions,
}

/// One origin: `http://host:port`, without a trailing slash.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub base: String,
}

/// Checks an `--upstream` value: `http://host[:port]` with no path.
pub fn parse_upstream(s: &str) -> Result<Upstream, String> {
    let uri: Uri = s.parse().map_err(|e| format!("{s}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{s}: only http:// upstreams are supported"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{s}: no host"))?
        .as_str();
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{s}: an upstream cannot have a path"));
    }
    Ok(Upstream {
        base: format!("http://{authority}"),
    })
}

pub struct Edge {
    policy: ArcSwap<PolicyBuild>,
    runtime: Runtime,
    policy_path: Option<PathBuf>,
    policy_public_key: Option<ed25519_dalek::VerifyingKey>,
    upstreams: Vec<Upstream>,
    rr: AtomicUsize,
    client: Client<HttpConnector, Body>,
    env_key: Option<String>,
    event_secret: Vec<u8>,
    /// Limits (environment over policy defaults), the on/off switch and the
    /// buckets: peeked before forwarding, charged once the origin accepted.
    limits: RateLimiter,
    affinity: Mutex<Affinity>,
    pub metrics: Metrics,
}

#[derive(Default)]
struct Affinity {
    map: HashMap<String, usize>,
    order: VecDeque<String>,
}

impl Affinity {
    fn insert(&mut self, id: String, upstream: usize) {
        if self.map.insert(id.clone(), upstream).is_none() {
            self.order.push_back(id);
            while self.order.len() > MAX_AFFINITY {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

fn load_build(
    runtime: &Runtime,
    path: Option<&PathBuf>,
    public_key: Option<&ed25519_dalek::VerifyingKey>,
) -> anyhow::Result<PolicyBuild> {
    let bytes = crate::policy::reload::read_build(path.map(PathBuf::as_path))
        .map_err(anyhow::Error::msg)?;
    // The built-in build is part of the binary; a file is checked like an
    // upload to the server (same key, same `<file>.sig`), before compiling.
    if let (Some(key), Some(path)) = (public_key, path) {
        let sig_path = crate::policy::registry::signature_path(path);
        let sig = std::fs::read_to_string(&sig_path).ok();
        crate::policy::signing::verify(key, &bytes, sig.as_deref()).map_err(|e| {
            anyhow::anyhow!(
                "Policy build signature invalid: {e} ({})",
                sig_path.display()
            )
        })?;
    }
    let build = runtime.load(&bytes)?;
    // The server's checks after compiling (WIT version, the invariants run
    // through the build): the edge refuses what the server would refuse.
    crate::policy::registry::check(&build, crate::policy::invariants::DEFAULT_INVARIANTS)
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    Ok(build)
}

impl Edge {
    /// Loads the policy build (blocking: call before serving or off the
    /// async runtime).
    pub fn new(opts: EdgeOptions) -> anyhow::Result<Edge> {
        anyhow::ensure!(!opts.upstreams.is_empty(), "at least one --upstream");
        let upstreams = opts
            .upstreams
            .iter()
            .map(|s| parse_upstream(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            !opts.event_secret.is_empty(),
            "SECURESCAN_EVENT_TOKEN_SECRET is required (the origins' event-token secret)"
        );
        let runtime = Runtime::new(opts.runtime)?;
        let build = load_build(
            &runtime,
            opts.policy_path.as_ref(),
            opts.policy_public_key.as_ref(),
        )?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Edge {
            policy: ArcSwap::from_pointee(build),
            runtime,
            policy_path: opts.policy_path,
            policy_public_key: opts.policy_public_key,
            upstreams,
            rr: AtomicUsize::new(0),
            client,
            env_key: opts.env_key.filter(|k| !k.is_empty()),
            event_secret: opts.event_secret,
            limits: RateLimiter::new(
                opts.rate_limit_per_min,
                opts.rate_limit_burst,
                opts.rate_limit_enabled,
            ),
            affinity: Mutex::default(),
            metrics: Metrics::default(),
        })
    }

    pub fn policy(&self) -> Arc<PolicyBuild> {
        self.policy.load_full()
    }

    /// Loads the build again (from `--policy` or the built-in one) and swaps
    /// it in; requests in flight finish on the build they started with. On
    /// failure the old build stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        match load_build(
            &self.runtime,
            self.policy_path.as_ref(),
            self.policy_public_key.as_ref(),
        ) {
            Ok(b) => {
                tracing::info!(sha256 = b.sha256(), policy = %b.info().policy_name,
                    version = %b.info().policy_version, "policy build reloaded");
                self.policy.store(Arc::new(b));
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, sha256 = self.policy().sha256(),
                    "policy reload failed: keeping the current build");
                Err(e)
            }
        }
    }

    /// The upstream for a request: scan-id routes stick to one upstream.
    fn choose(&self, resolution: &Resolution) -> usize {
        if self.upstreams.len() == 1 {
            return 0;
        }
        if let Some(id) = scan_id(resolution) {
            if let Some(&i) = self.affinity.lock().expect("affinity").map.get(id) {
                return i;
            }
            let names: Vec<&str> = self.upstreams.iter().map(|u| u.base.as_str()).collect();
            return hash::pick(&names, id).unwrap_or(0);
        }
        self.rr.fetch_add(1, Ordering::Relaxed) % self.upstreams.len()
    }
}

/// The scan id a request names, by the policy's route template.
fn scan_id(r: &Resolution) -> Option<&str> {
    if r.template.starts_with("/api/v1/scans/{id}") {
        r.resource_id.as_deref()
    } else {
        None
    }
}

fn detail(status: StatusCode, d: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "detail": d }))).into_response()
}

fn denial_response(d: &Denial) -> Response {
    let code = StatusCode::from_u16(d.status)
        .ok()
        .filter(|c| c.is_client_error() || c.is_server_error());
    let Some(code) = code else {
        tracing::error!(
            status = d.status,
            "policy returned a non-error status for a denial"
        );
        return detail(StatusCode::SERVICE_UNAVAILABLE, POLICY_UNAVAILABLE);
    };
    let mut resp = detail(code, &d.detail);
    if d.challenge || code == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    resp
}

/// What the edge decided for one request.
enum Verdict {
    Forward {
        /// The rate-limit bucket, for `POST /api/v1/scans`.
        subject: String,
        /// For the log line: a key id, `env`, or a token's bound key id.
        key_id: Option<String>,
    },
    Reject(Reason, Response),
}

fn reject_denial(d: Denial) -> Verdict {
    Verdict::Reject(Reason::of_denial(&d.detail), denial_response(&d))
}

fn policy_error(e: crate::policy::PolicyError) -> (Reason, Response) {
    tracing::error!(target: LOG_TARGET, error = %e, "policy component failed: denying with 503");
    (
        Reason::PolicyUnavailable,
        detail(StatusCode::SERVICE_UNAVAILABLE, POLICY_UNAVAILABLE),
    )
}

fn policy_failed(e: crate::policy::PolicyError) -> Verdict {
    let (reason, resp) = policy_error(e);
    Verdict::Reject(reason, resp)
}

impl Edge {
    fn facts(&self, r: &Resolution, credential: Credential) -> Facts {
        Facts {
            requirement: r.requirement.clone(),
            accepts_event_token: r.accepts_event_token,
            resource_id: r.resource_id.clone(),
            credential,
            env_key: self.env_key.clone(),
            row: None,
            // The edge is for hardened deployments: credentials exist.
            db_key_exists: true,
            auth_required: true,
            event_secret: self.event_secret.clone(),
            now: crate::clock::now_secs(),
        }
    }

    fn decide(
        &self,
        policy: &PolicyBuild,
        r: &Resolution,
        presented: Credential,
        client: SocketAddr,
    ) -> Verdict {
        let ip_subject = || format!("ip:{}", client.ip());
        match r.requirement {
            Requirement::Public => {
                return Verdict::Forward {
                    subject: ip_subject(),
                    key_id: None,
                }
            }
            Requirement::Unknown => {
                return match policy.authenticate(&self.facts(r, Credential::None)) {
                    Ok(Err(d)) => reject_denial(d),
                    // A build that lets an unknown route through is broken.
                    Ok(Ok(_)) => reject_denial(Denial {
                        status: 404,
                        detail: "Not Found".into(),
                        challenge: false,
                    }),
                    Err(e) => policy_failed(e),
                };
            }
            Requirement::AnyDbKey | Requirement::Scopes(_) => {}
        }
        match presented {
            Credential::EventToken(token) if r.accepts_event_token => {
                let scan = r.resource_id.as_deref().unwrap_or("");
                match policy.verify_token(
                    &self.event_secret,
                    &token,
                    scan,
                    crate::clock::now_secs(),
                ) {
                    Ok(Ok(claims)) => Verdict::Forward {
                        subject: ip_subject(),
                        key_id: Some(claims.key_id),
                    },
                    Ok(Err(d)) => reject_denial(d),
                    Err(e) => policy_failed(e),
                }
            }
            Credential::ApiKey(ref key) | Credential::Bearer(ref key) => {
                let parsed = match policy.parse_key(key) {
                    Ok(p) => p,
                    Err(e) => return policy_failed(e),
                };
                match policy.authenticate(&self.facts(r, presented.clone())) {
                    // Without a row only the env key can pass.
                    Ok(Ok(p)) => Verdict::Forward {
                        subject: match p.kind {
                            PrincipalKind::Env => "env".into(),
                            _ => format!("key:{}", p.id),
                        },
                        key_id: Some(p.id),
                    },
                    // Well-formed with a valid checksum: only the origin has
                    // the row that decides it.
                    Ok(Err(_)) if parsed.is_some() => {
                        let id = parsed.map(|p| p.id).unwrap_or_default();
                        Verdict::Forward {
                            subject: format!("key:{id}"),
                            key_id: Some(id),
                        }
                    }
                    Ok(Err(d)) => reject_denial(d),
                    Err(e) => policy_failed(e),
                }
            }
            // No credential, or a token on a route that takes none.
            other => match policy.authenticate(&self.facts(r, other)) {
                Ok(Err(d)) => reject_denial(d),
                Ok(Ok(_)) => reject_denial(Denial {
                    status: 401,
                    detail: "X-API-Key header required".into(),
                    challenge: true,
                }),
                Err(e) => policy_failed(e),
            },
        }
    }
}

/// Builds the edge's router: `/edge/metrics`, everything else proxied.
pub fn router(edge: Arc<Edge>) -> Router {
    Router::new().fallback(handle).with_state(edge)
}

async fn handle(
    State(edge): State<Arc<Edge>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let start = Instant::now();
    let rid = request_id::from_headers(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (mut resp, outcome, upstream, key_id) = if path == METRICS_PATH && method == Method::GET {
        let body = edge.metrics.to_json();
        (axum::Json(body).into_response(), "metrics", None, None)
    } else {
        proxy(&edge, client, &rid, req).await
    };
    if !resp.headers().contains_key(request_id::HEADER) {
        if let Ok(v) = HeaderValue::from_str(&rid) {
            resp.headers_mut().insert(request_id::HEADER, v);
        }
    }
    tracing::info!(
        target: LOG_TARGET,
        request_id = %rid,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        outcome,
        upstream = upstream.as_deref(),
        key_id = key_id.as_deref(),
        "request"
    );
    resp
}

type Handled = (Response, &'static str, Option<String>, Option<String>);

async fn proxy(edge: &Edge, client: SocketAddr, rid: &str, req: Request) -> Handled {
    let policy = edge.policy();
    let reject = |reason: Reason, resp: Response| -> Handled {
        edge.metrics.reject(reason);
        (resp, reason.name(), None, None)
    };
    let resolution = match policy.resolve(req.method().as_str(), req.uri().path()) {
        Ok(r) => r,
        Err(e) => {
            let (reason, resp) = policy_error(e);
            return reject(reason, resp);
        }
    };
    let presented = credentials::from_request(req.headers(), req.uri().query());
    let (subject, key_id) = match edge.decide(&policy, &resolution, presented, client) {
        Verdict::Forward { subject, key_id } => (subject, key_id),
        Verdict::Reject(reason, resp) => return reject(reason, resp),
    };
    let creates_scan = req.method() == Method::POST && resolution.template == SCANS;
    if creates_scan {
        match edge
            .limits
            .peek(&policy, &subject, crate::clock::now_ms_u64())
        {
            Ok(Some(v)) if !v.allowed => {
                tracing::warn!(target: LOG_TARGET, subject = %subject,
                    retry_after = v.retry_after, "rate limited");
                let mut resp = detail(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED);
                crate::ratelimit::set_headers(resp.headers_mut(), &v);
                return reject(Reason::RateLimited, resp);
            }
            Ok(_) => {}
            Err(e) => {
                let (reason, resp) = policy_error(e);
                return reject(reason, resp);
            }
        }
    }
    let index = edge.choose(&resolution);
    let upstream = edge.upstreams[index].base.clone();
    let out = match upstream_request(&upstream, client, rid, req) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, error = %e, "cannot build the upstream request");
            return reject(
                Reason::UpstreamUnavailable,
                detail(StatusCode::BAD_GATEWAY, UPSTREAM_UNAVAILABLE),
            );
        }
    };
    let resp = match edge.client.request(out).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, upstream = %upstream, error = %e,
                "upstream unavailable");
            edge.metrics.reject(Reason::UpstreamUnavailable);
            return (
                detail(StatusCode::BAD_GATEWAY, UPSTREAM_UNAVAILABLE),
                Reason::UpstreamUnavailable.name(),
                Some(upstream),
                key_id,
            );
        }
    };
    edge.metrics.forwarded.fetch_add(1, Ordering::Relaxed);
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    let mut body = Body::new(body);
    if creates_scan {
        // Charged only now, when the origin took a token itself: its gate
        // let the caller through (not 401 / 403 / 503) and its own limit did
        // not refuse (429). A forged key that carries someone's key id thus
        // costs that key nothing.
        if !matches!(parts.status.as_u16(), 401 | 403 | 429 | 503) {
            match edge
                .limits
                .take(&policy, &subject, crate::clock::now_ms_u64())
            {
                Ok(Some(v)) => crate::ratelimit::set_headers(&mut parts.headers, &v),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(target: LOG_TARGET, error = %e, "rate limit charge failed")
                }
            }
        }
        if parts.status == StatusCode::OK && edge.upstreams.len() > 1 {
            body = learn_scan(edge, index, body).await;
        }
    }
    (
        Response::from_parts(parts, body),
        "forwarded",
        Some(upstream),
        key_id,
    )
}

/// Remembers which upstream created a scan (the answer is a small JSON
/// record), so the scan's later requests go there.
async fn learn_scan(edge: &Edge, index: usize, body: Body) -> Body {
    match axum::body::to_bytes(body, MAX_CREATE_BODY).await {
        Ok(bytes) => {
            if let Some(id) = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
            {
                edge.affinity.lock().expect("affinity").insert(id, index);
            }
            Body::from(bytes)
        }
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, error = %e, "scan creation answer unreadable");
            Body::empty()
        }
    }
}

fn upstream_request(
    upstream: &str,
    client: SocketAddr,
    rid: &str,
    req: Request,
) -> Result<Request, String> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    parts.uri = format!("{upstream}{pq}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let h = &mut parts.headers;
    headers::strip_hop_by_hop(h);
    if let Some(host) = h.remove(header::HOST) {
        h.insert("x-forwarded-host", host);
    }
    h.insert(
        request_id::HEADER,
        HeaderValue::from_str(rid).map_err(|e| e.to_string())?,
    );
    let ip = client.ip().to_string();
    let xff = match h
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
    {
        prior if prior.is_empty() => ip,
        prior => format!("{}, {ip}", prior.join(", ")),
    };
    h.insert(
        "x-forwarded-for",
        HeaderValue::from_str(&xff).map_err(|e| e.to_string())?,
    );
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    parts.version = axum::http::Version::HTTP_11;
    Ok(Request::from_parts(parts, body))
}

/// Serves until SIGTERM / Ctrl-C; SIGHUP reloads the policy build.
pub async fn serve(edge: Arc<Edge>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    // Registered before the first request is accepted.
    let e = edge.clone();
    crate::policy::reload::on_sighup(move || {
        let e = e.clone();
        async move {
            let _ = tokio::task::spawn_blocking(move || e.reload()).await;
        }
    })?;
    let app = router(edge).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = rx.await;
    });
    let stop = async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = tx.send(());
        // Open streams (SSE) may never end on their own: bound the drain.
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    tokio::select! {
        r = server => r,
        () = stop => Ok(()),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::BUILTIN_POLICY;

    #[test]
    fn upstream_values() {
        assert_eq!(
            parse_upstream("http://127.0.0.1:8000").unwrap().base,
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            parse_upstream("http://127.0.0.1:8000/").unwrap().base,
            "http://127.0.0.1:8000"
        );
        assert!(parse_upstream("https://x").is_err());
        assert!(parse_upstream("http://x/api").is_err());
        assert!(parse_upstream("nonsense").is_err());
    }

    #[test]
    fn scan_routes_name_their_scan() {
        let b = Runtime::new(RuntimeOptions::default())
            .unwrap()
            .load(BUILTIN_POLICY)
            .unwrap();
        let r = b.resolve("GET", "/api/scans/abc/events").unwrap();
        assert_eq!(scan_id(&r), Some("abc"));
        let r = b.resolve("GET", "/api/v1/scans/abc").unwrap();
        assert_eq!(scan_id(&r), Some("abc"));
        let r = b.resolve("DELETE", "/api/v1/keys/abc").unwrap();
        assert_eq!(scan_id(&r), None);
        let r = b.resolve("POST", "/api/v1/scans").unwrap();
        assert_eq!(scan_id(&r), None);
    }

    #[test]
    fn forwarded_request_headers() {
        let req = Request::builder()
            .uri("/api/v1/scans?event_token=t")
            .header("host", "edge.example")
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .header("te", "trailers")
            .header("x-forwarded-for", "10.1.1.1")
            .header("x-api-key", "k")
            .body(Body::empty())
            .unwrap();
        let out = upstream_request(
            "http://127.0.0.1:1",
            "192.0.2.7:5555".parse().unwrap(),
            "rid-1",
            req,
        )
        .unwrap();
        assert_eq!(
            out.uri().to_string(),
            "http://127.0.0.1:1/api/v1/scans?event_token=t"
        );
        let h = out.headers();
        assert_eq!(h["x-forwarded-for"], "10.1.1.1, 192.0.2.7");
        assert_eq!(h["x-request-id"], "rid-1");
        assert_eq!(h["x-forwarded-host"], "edge.example");
        assert_eq!(h["x-api-key"], "k");
        for gone in ["connection", "x-hop", "te", "host"] {
            assert!(!h.contains_key(gone), "{gone} forwarded");
        }
    }
}
