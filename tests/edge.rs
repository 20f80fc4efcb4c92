//! Black-box tests of `securescan-edge` with real origins behind it: the
//! edge binary and `securescan serve` processes on free ports, each origin
//! with its own SQLite database. What the edge refuses must be counted at the
//! edge (`GET /edge/metrics`) and never appear in an origin's request log.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EDGE_BIN: &str = env!("CARGO_BIN_EXE_securescan-edge");
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

// ----------------------------------------------------------------- harness --

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// A running edge process. Killed on drop.
struct EdgeProc {
    address: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl EdgeProc {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn request(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let rb = client().request(method, self.url(path));
        match key {
            Some(k) => rb.header("X-API-Key", k),
            None => rb,
        }
    }

    async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        send(self.request(Method::GET, path, key)).await
    }

    async fn metrics(&self) -> Value {
        let (status, _, v) = json_of(self.get("/edge/metrics", None).await).await;
        assert_eq!(status, 200, "GET /edge/metrics: {v}");
        v
    }

    fn logs(&self) -> String {
        let r = |p: &Path| {
            std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        format!("{}{}", r(&self.stdout), r(&self.stderr))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `SIGHUP` (reload the policy build).
    fn hup(&self) {
        let st = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits (up to 30 s) until the metric `key` of `/edge/metrics` is `n`.
    async fn wait_metric(&self, key: &str, n: u64) {
        for _ in 0..600 {
            if self.metrics().await[key] == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{key} never reached {n}: {}", self.metrics().await);
    }
}

impl Drop for EdgeProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts the edge in front of `upstreams` with the hardened test secret and
/// `extra` environment; waits until it answers `/edge/metrics`.
async fn spawn_edge_args(
    upstreams: &[&str],
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> EdgeProc {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen".to_string(), listen];
    for u in upstreams {
        args.push("--upstream".into());
        args.push(u.to_string());
    }
    args.extend(extra_args.iter().map(|s| s.to_string()));
    let stdout = dir.path().join("edge.stdout.log");
    let stderr = dir.path().join("edge.stderr.log");
    let mut cmd = Command::new(EDGE_BIN);
    cmd.args(&args).current_dir(dir.path()).stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SECURESCAN_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET)
        .env("SECURESCAN_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::from(File::create(&stdout).unwrap()))
        .stderr(Stdio::from(File::create(&stderr).unwrap()));
    let child = cmd.spawn().expect("spawn securescan-edge");
    let mut edge = EdgeProc {
        address: format!("http://127.0.0.1:{port}"),
        child: Some(child),
        stdout,
        stderr,
        _dir: dir,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(st) = edge.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("securescan-edge exited ({st:?})\n{}", edge.logs());
        }
        let probe = client()
            .get(edge.url("/edge/metrics"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if probe.is_ok_and(|r| r.status() == 200) {
            return edge;
        }
        assert!(Instant::now() < deadline, "edge not up\n{}", edge.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn spawn_edge(upstreams: &[&str], env: &[(&str, &str)]) -> EdgeProc {
    spawn_edge_args(upstreams, &[], env).await
}

/// Whether the origin logged a request with this `X-Request-ID`.
fn origin_saw_id(app: &TestApp, rid: &str) -> bool {
    app.request_lines()
        .iter()
        .any(|l| field_str(l, "request_id") == Some(rid))
}

fn origin_saw_path(app: &TestApp, path: &str) -> bool {
    app.request_lines()
        .iter()
        .any(|l| field_str(l, "path") == Some(path))
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// (request id, method, path, key, query token, status, detail)
type Case = (
    &'static str,
    Method,
    String,
    Option<String>,
    Option<String>,
    u16,
    &'static str,
);

/// A token built the reference way with `secret`.
fn craft_token(secret: &str, scan: &str, key_id: &str, expires_at: u64) -> String {
    let payload = format!("{scan}|{key_id}|{expires_at}");
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(payload.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"))
}

fn small_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.txt"), "hello\nworld\n").unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("b/c.txt"), format!("key {AWS_KEY}\n")).unwrap();
    dir
}

/// Many small files (a scan of it stays busy for a while) plus one planted
/// AWS key id.
fn big_tree(n: usize) -> tempfile::TempDir {
    let dir = small_tree();
    let mut body = String::new();
    for i in 0..60 {
        body.push_str(&format!("def handler_{i}(request):\n    return {i}\n"));
    }
    for i in 0..n {
        let p = dir.path().join(format!("pkg{:02}/mod{i:05}.py", i % 30));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &body).unwrap();
    }
    dir
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `POST /api/v1/scans` through the edge with `rid` as request id.
async fn post_scan(edge: &EdgeProc, key: &str, target: &Path, rid: &str) -> reqwest::Response {
    send(
        edge.request(Method::POST, "/api/v1/scans", Some(key))
            .header("X-Request-ID", rid)
            .json(&json!({"target_path": path_str(target), "scan_types": ["code"]})),
    )
    .await
}

async fn mint(edge: &EdgeProc, scan: &str, key: &str, rid: &str) -> String {
    let resp = send(
        edge.request(
            Method::POST,
            &format!("/api/v1/scans/{scan}/event-token"),
            Some(key),
        )
        .header("X-Request-ID", rid),
    )
    .await;
    let (status, _, v) = json_of(resp).await;
    assert_eq!(status, 200, "event-token through the edge: {v}");
    v["token"].as_str().expect("token").to_string()
}

/// One SSE frame: (event name, data).
async fn next_frame(
    body: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    buf: &mut Vec<u8>,
) -> Option<(String, String)> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\n\n") {
            let block = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            let mut ev = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = v.trim().to_string();
                }
            }
            if ev.is_empty() && data.is_empty() {
                continue; // keep-alive comment
            }
            return Some((ev, data));
        }
        match tokio::time::timeout(Duration::from_secs(60), body.next()).await {
            Ok(Some(Ok(chunk))) => buf.extend_from_slice(&chunk),
            Ok(Some(Err(e))) => panic!("stream error: {e}"),
            Ok(None) => return None,
            Err(_) => panic!("no SSE frame within 60 s"),
        }
    }
}

/// A hardened origin (auth required, event secret, one CLI admin key) and
/// the edge in front of it.
async fn origin_and_edge(
    origin_env: &[(&str, &str)],
    edge_env: &[(&str, &str)],
) -> (Hardened, EdgeProc) {
    let h = hardened_with(origin_env).await;
    let edge = spawn_edge(&[&h.app.address], edge_env).await;
    (h, edge)
}

// ------------------------------------------------------------------- tests --

/// The checklist's six "Verifying a deployment is hardened" checks, through
/// the edge, with the origin's statuses and bodies.
#[tokio::test]
async fn checklist_six_checks_through_the_edge() {
    let (Hardened { app, admin }, edge) = origin_and_edge(&[], &[]).await;
    // Keys issued through the edge.
    let mk = |name: &'static str, scope: &'static str| {
        let edge = &edge;
        let admin = admin.key.clone();
        async move {
            let resp = send(
                edge.request(Method::POST, "/api/v1/keys", Some(&admin))
                    .json(&json!({"name": name, "scopes": [scope]})),
            )
            .await;
            let (status, _, v) = json_of(resp).await;
            assert_eq!(status, 201, "create {name} through the edge: {v}");
            CreatedKey::from_json(&v)
        }
    };
    let read = mk("read-only-monitoring", "read").await;
    let write = mk("ci-writer", "write").await;

    // 1. Auth is required (decided at the edge).
    let resp = send(
        edge.request(Method::GET, "/api/v1/scans", None)
            .header("X-Request-ID", "chk-1"),
    )
    .await;
    assert_detail(resp, 401, "X-API-Key header required", "check 1 via edge").await;
    // 2. Bogus key (decided at the edge).
    let resp = send(
        edge.request(Method::GET, "/api/v1/scans", Some("nope"))
            .header("X-Request-ID", "chk-2"),
    )
    .await;
    assert_detail(resp, 401, "Invalid API key", "check 2 via edge").await;
    // 3. Read-only key cannot create a scan (forwarded: only the origin has the row).
    let resp = send(
        edge.request(Method::POST, "/api/v1/scans", Some(&read.key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(r#"{"target_path":"/tmp","scan_types":["code"]}"#),
    )
    .await;
    assert_detail(resp, 403, "Requires scope: write", "check 3 via edge").await;
    // 4. Write key cannot list webhooks.
    let resp = edge.get("/api/v1/webhooks", Some(&write.key)).await;
    assert_detail(resp, 403, "Requires scope: admin", "check 4 via edge").await;
    // 5. /health and /ready are public.
    let resp = edge.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"ok"}"#);
    let (status, _, body) = json_of(edge.get("/ready", None).await).await;
    assert_eq!(status, 200, "/ready via edge: {body}");
    assert!(body.is_object());
    // 6. Lockout protection.
    let resp = edge
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{}", admin.id),
            Some(&admin.key),
        )
        .send()
        .await
        .unwrap();
    assert_detail(
        resp,
        409,
        "Cannot revoke last admin key without an env-var fallback",
        "check 6 via edge",
    )
    .await;

    // The same answers straight from the origin, for 1 and 2.
    assert_detail(
        app.get("/api/v1/scans", None).await,
        401,
        "X-API-Key header required",
        "origin 1",
    )
    .await;
    assert_detail(
        app.get("/api/v1/scans", Some("nope")).await,
        401,
        "Invalid API key",
        "origin 2",
    )
    .await;
    // Checks 1 and 2 never reached the origin.
    assert!(!origin_saw_id(&app, "chk-1"), "check 1 reached the origin");
    assert!(!origin_saw_id(&app, "chk-2"), "check 2 reached the origin");
    let m = edge.metrics().await;
    assert_eq!(m["rejections"]["key_required"], 1, "{m}");
    assert_eq!(m["rejections"]["invalid_key"], 1, "{m}");
}

/// Every kind of edge rejection: exact status and detail, counted at the
/// edge, never seen by the origin.
#[tokio::test]
async fn edge_rejections_are_counted_and_never_reach_the_origin() {
    // The origin's own limit is off, so a 429 can only come from the edge.
    let (Hardened { app, admin }, edge) = origin_and_edge(
        &[("SECURESCAN_RATE_LIMIT_ENABLED", "0")],
        &[
            ("SECURESCAN_RATE_LIMIT_BURST", "2"),
            ("SECURESCAN_RATE_LIMIT_PER_MIN", "1"),
        ],
    )
    .await;
    let tree = small_tree();
    // Two scans fit the burst; the third is refused at the edge.
    let resp = post_scan(&edge, &admin.key, tree.path(), "ok-scan-1").await;
    assert_eq!(
        header(resp.headers(), "x-ratelimit-limit").as_deref(),
        Some("2")
    );
    assert_eq!(
        header(resp.headers(), "x-ratelimit-remaining").as_deref(),
        Some("1")
    );
    let (status, _, scan) = json_of(resp).await;
    assert_eq!(status, 200, "{scan}");
    let scan_id = scan["id"].as_str().unwrap().to_string();
    let (status, _, v) =
        json_of(post_scan(&edge, &admin.key, tree.path(), "ok-scan-2").await).await;
    assert_eq!(status, 200, "{v}");
    let resp = post_scan(&edge, &admin.key, tree.path(), "rej-429").await;
    let h = assert_detail(resp, 429, "Rate limit exceeded", "third scan").await;
    assert!(header(&h, "retry-after").is_some(), "{h:?}");
    assert_eq!(header(&h, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header(&h, "x-request-id").as_deref(), Some("rej-429"));

    let token = mint(&edge, &scan_id, &admin.key, "ok-mint").await;
    let other_scan = "0badc0de-0000-4000-8000-000000000000";
    let forged = craft_token("not-the-secret", &scan_id, &admin.id, now_secs() + 300);
    let expired = craft_token(EVENT_SECRET, &scan_id, &admin.id, now_secs() - 10);
    let bad_checksum = with_bad_checksum(&admin.key);
    let events = format!("/api/v1/scans/{scan_id}/events");

    // (request id, method, path, key, query token, status, detail)
    let cases: Vec<Case> = vec![
        (
            "rej-garbage",
            Method::GET,
            "/api/v1/scans".into(),
            Some("ssk_garbage".into()),
            None,
            401,
            "Invalid API key",
        ),
        (
            "rej-checksum",
            Method::GET,
            "/api/v1/scans".into(),
            Some(bad_checksum),
            None,
            401,
            "Invalid API key",
        ),
        (
            "rej-empty",
            Method::GET,
            "/api/v1/scans".into(),
            Some(String::new()),
            None,
            401,
            "Invalid API key",
        ),
        (
            "rej-nokey",
            Method::GET,
            "/api/v1/scans".into(),
            None,
            None,
            401,
            "X-API-Key header required",
        ),
        (
            "rej-unknown",
            Method::GET,
            "/api/v1/edge-nope".into(),
            Some(admin.key.clone()),
            None,
            404,
            "Not Found",
        ),
        (
            "rej-forged",
            Method::GET,
            events.clone(),
            None,
            Some(forged),
            401,
            "Invalid or expired event token",
        ),
        (
            "rej-expired",
            Method::GET,
            events.clone(),
            None,
            Some(expired),
            401,
            "Invalid or expired event token",
        ),
        (
            "rej-wrongscan",
            Method::GET,
            format!("/api/v1/scans/{other_scan}/events"),
            None,
            Some(token.clone()),
            401,
            "Token does not match scan id",
        ),
        (
            "rej-tokenroute",
            Method::GET,
            format!("/api/v1/scans/{scan_id}"),
            None,
            Some(token.clone()),
            401,
            "Invalid event token route",
        ),
    ];
    for (rid, method, path, key, tok, status, detail) in &cases {
        let mut rb = edge
            .request(method.clone(), path, key.as_deref())
            .header("X-Request-ID", *rid);
        if let Some(t) = tok {
            rb = rb.query(&[("event_token", t)]);
        }
        let h = assert_detail(send(rb).await, *status, detail, rid).await;
        assert_eq!(header(&h, "x-request-id").as_deref(), Some(*rid), "{rid}");
    }

    let m = edge.metrics().await;
    let r = &m["rejections"];
    assert_eq!(r["invalid_key"], 3, "{m}");
    assert_eq!(r["key_required"], 1, "{m}");
    assert_eq!(r["unknown_route"], 1, "{m}");
    assert_eq!(r["invalid_event_token"], 2, "{m}");
    assert_eq!(r["token_scan_mismatch"], 1, "{m}");
    assert_eq!(r["token_route"], 1, "{m}");
    assert_eq!(r["rate_limited"], 1, "{m}");
    assert_eq!(r["upstream_unavailable"], 0, "{m}");
    assert_eq!(m["rejections_total"], 10, "{m}");

    // The accepted requests reached the origin; no rejection did.
    for rid in ["ok-scan-1", "ok-scan-2", "ok-mint"] {
        assert!(
            origin_saw_id(&app, rid),
            "{rid} missing from the origin's log"
        );
    }
    for (rid, ..) in &cases {
        assert!(!origin_saw_id(&app, rid), "{rid} reached the origin");
    }
    assert!(
        !origin_saw_id(&app, "rej-429"),
        "the 429 reached the origin"
    );
    assert!(!origin_saw_path(&app, "/api/v1/edge-nope"));
    assert!(!origin_saw_path(
        &app,
        &format!("/api/v1/scans/{other_scan}/events")
    ));

    // The edge logged one line per request, without secrets or queries.
    let logs = edge.logs();
    assert!(logs.contains("\"target\":\"securescan.edge\""), "{logs}");
    for secret in [
        admin.key.as_str(),
        token.as_str(),
        "event_token=",
        "ssk_garbage",
    ] {
        assert!(!logs.contains(secret), "edge log contains {secret:?}");
    }
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| field_str(l, "request_id") == Some("rej-forged"))
        .expect("log line of rej-forged");
    assert_eq!(field_u64(&line, "status"), Some(401));
    assert_eq!(field_str(&line, "outcome"), Some("invalid_event_token"));
    assert_eq!(field_str(&line, "path"), Some(events.as_str()));
}

/// A scan followed end to end over SSE through the edge with only the event
/// token; the first event arrives while the scan is still running.
#[tokio::test]
async fn sse_stream_with_a_valid_token_end_to_end() {
    let (Hardened { app, admin }, edge) = origin_and_edge(&[], &[]).await;
    let tree = big_tree(3000);
    let (status, _, scan) =
        json_of(post_scan(&edge, &admin.key, tree.path(), "sse-create").await).await;
    assert_eq!(status, 200, "{scan}");
    let id = scan["id"].as_str().unwrap().to_string();
    let token = mint(&edge, &id, &admin.key, "sse-mint").await;
    let resp = send(
        edge.request(Method::GET, &format!("/api/v1/scans/{id}/events"), None)
            .header("X-Request-ID", "sse-stream")
            .query(&[("event_token", &token)]),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(resp.headers(), "content-type").as_deref(),
        Some("text/event-stream")
    );
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    let (first, _) = next_frame(&mut body, &mut buf).await.expect("first event");
    assert_eq!(first, "scan.start");
    // The first event came through while the scan was still busy.
    let (_, _, rec) = json_of(
        edge.get(&format!("/api/v1/scans/{id}"), Some(&admin.key))
            .await,
    )
    .await;
    assert!(
        rec["status"] == "running" || rec["status"] == "pending",
        "first event only arrived after the scan ended (buffered?): {rec}"
    );
    let mut names = vec![first];
    let mut findings = Vec::new();
    while let Some((ev, data)) = next_frame(&mut body, &mut buf).await {
        if ev == "finding" {
            findings.push(data.clone());
        }
        names.push(ev);
    }
    assert_eq!(
        names.last().map(String::as_str),
        Some("scan.complete"),
        "{names:?}"
    );
    assert!(
        findings.iter().any(|f| f.contains("b/c.txt")),
        "the planted AWS key was not reported: {findings:?}"
    );
    assert!(origin_saw_id(&app, "sse-stream"));
    assert_eq!(edge.metrics().await["rejections_total"], 0);
}

/// Scans stick to one origin over two: created through the edge, every
/// later request for the scan reaches the origin that holds it; ids the edge
/// did not see created go to the rendezvous winner, always the same one.
#[tokio::test]
async fn sticky_routing_by_scan_id_over_two_origins() {
    const ENV_KEY: &str = "edge-test-env-key-7c1f0e9d2b";
    let env = [
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
        ("SECURESCAN_API_KEY", ENV_KEY),
    ];
    let a = TestApp::spawn(&env).await;
    let b = TestApp::spawn(&env).await;
    let edge = spawn_edge(
        &[&a.address, &b.address],
        &[("SECURESCAN_API_KEY", ENV_KEY)],
    )
    .await;
    let origins = [&a, &b];
    let which =
        |rid: &str| -> Vec<usize> { (0..2).filter(|&i| origin_saw_id(origins[i], rid)).collect() };
    let tree = small_tree();
    let mut homes = Vec::new();
    for n in 0..4 {
        let rid = format!("create-{n}");
        let (status, _, v) = json_of(post_scan(&edge, ENV_KEY, tree.path(), &rid).await).await;
        assert_eq!(status, 200, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let home = which(&rid);
        assert_eq!(home.len(), 1, "{rid} seen by {home:?}");
        let home = home[0];
        let token = mint(&edge, &id, ENV_KEY, &format!("mint-{n}")).await;
        let resp = send(
            edge.request(Method::GET, &format!("/api/v1/scans/{id}/events"), None)
                .header("X-Request-ID", format!("events-{n}"))
                .query(&[("event_token", &token)]),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.contains("scan.complete"), "{text}");
        let resp = send(
            edge.request(Method::GET, &format!("/api/scans/{id}"), Some(ENV_KEY))
                .header("X-Request-ID", format!("get-{n}")),
        )
        .await;
        assert_eq!(resp.status(), 200, "legacy GET of the scan");
        for rid in [
            format!("mint-{n}"),
            format!("events-{n}"),
            format!("get-{n}"),
        ] {
            assert_eq!(
                which(&rid),
                vec![home],
                "{rid} went elsewhere than its scan"
            );
        }
        homes.push(home);
    }
    // Creation is spread (round-robin), so both origins hold scans.
    assert!(homes.contains(&0) && homes.contains(&1), "{homes:?}");

    // Ids this edge did not create: the rendezvous winner, every time.
    let names = [a.address.as_str(), b.address.as_str()];
    let mut winners = Vec::new();
    for n in 0..12 {
        let id = format!("5ca11d{n:02}-0000-4000-8000-00000000000{}", n % 10);
        let want = securescan_host::edge::hash::pick(&names, &id).unwrap();
        for t in 0..2 {
            let rid = format!("hash-{n}-{t}");
            let resp = send(
                edge.request(Method::GET, &format!("/api/v1/scans/{id}"), Some(ENV_KEY))
                    .header("X-Request-ID", &rid),
            )
            .await;
            assert_detail(resp, 404, "Scan not found", &rid).await;
            assert_eq!(which(&rid), vec![want], "{rid}");
        }
        winners.push(want);
    }
    assert!(winners.contains(&0) && winners.contains(&1), "{winners:?}");
}

/// An upstream that does not answer is a 502 with the detail and a request id.
#[tokio::test]
async fn unreachable_upstream_is_502_with_a_request_id() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let edge = spawn_edge(&[&dead], &[]).await;
    let resp = edge.get("/health", None).await;
    let h = assert_detail(resp, 502, "Upstream unavailable", "dead upstream").await;
    let rid = header(&h, "x-request-id").expect("request id on the 502");
    assert!(!rid.is_empty());
    let resp = send(
        edge.request(Method::GET, "/health", None)
            .header("X-Request-ID", "dead-1"),
    )
    .await;
    let h = assert_detail(resp, 502, "Upstream unavailable", "dead upstream").await;
    assert_eq!(header(&h, "x-request-id").as_deref(), Some("dead-1"));
    let m = edge.metrics().await;
    assert_eq!(m["rejections"]["upstream_unavailable"], 2, "{m}");
}

/// A stand-in origin: `GET /` streams one chunk, then waits for the test's
/// go-ahead before the rest; `GET /health` echoes the request headers and
/// answers with hop-by-hop headers of its own.
async fn fake_origin() -> (String, tokio::sync::mpsc::Sender<()>) {
    use axum::response::IntoResponse;
    let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                let mut m = serde_json::Map::new();
                for (k, v) in &headers {
                    m.insert(
                        k.to_string(),
                        Value::String(v.to_str().unwrap_or("").into()),
                    );
                }
                (
                    [
                        ("x-resp-hop", "1"),
                        ("connection", "x-resp-hop"),
                        ("keep-alive", "timeout=5"),
                    ],
                    axum::Json(Value::Object(m)),
                )
                    .into_response()
            }),
        )
        .route(
            "/",
            axum::routing::get(move || {
                let rx = rx.clone();
                async move {
                    let s = futures::stream::unfold(0u8, move |n| {
                        let rx = rx.clone();
                        async move {
                            match n {
                                0 => Some((
                                    Ok::<_, std::convert::Infallible>(
                                        "data: first\n\n".to_string(),
                                    ),
                                    1,
                                )),
                                1 => {
                                    rx.lock().await.recv().await;
                                    Some((Ok("data: second\n\n".to_string()), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(s),
                    )
                        .into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), tx)
}

/// Hop-by-hop headers are dropped both ways; `X-Forwarded-For` gets the
/// client address appended; `X-Request-ID` is kept when valid, replaced when
/// not, and forwarded; a stream passes unbuffered.
#[tokio::test]
async fn forwarding_headers_and_unbuffered_streaming() {
    let (origin, go) = fake_origin().await;
    let edge = spawn_edge(&[&origin], &[]).await;
    let resp = send(
        edge.request(Method::GET, "/health", None)
            .header("Connection", "x-hop-named")
            .header("X-Hop-Named", "1")
            .header("Keep-Alive", "timeout=5")
            .header("TE", "trailers")
            .header("Proxy-Authorization", "Basic Zm9vOmJhcg==")
            .header("Upgrade", "h2c")
            .header("X-Forwarded-For", "203.0.113.9")
            .header("X-Request-ID", "fwd.id-1")
            .header("X-Custom", "kept"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let rh = resp.headers().clone();
    for gone in ["x-resp-hop", "keep-alive"] {
        assert!(
            !rh.contains_key(gone),
            "response hop-by-hop {gone} forwarded: {rh:?}"
        );
    }
    assert_eq!(header(&rh, "x-request-id").as_deref(), Some("fwd.id-1"));
    let seen: Value = resp.json().await.unwrap();
    for gone in [
        "x-hop-named",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
    ] {
        assert!(
            seen.get(gone).is_none(),
            "{gone} reached the origin: {seen}"
        );
    }
    assert_eq!(seen["x-custom"], "kept");
    assert_eq!(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["x-request-id"], "fwd.id-1");

    // An invalid request id is replaced; the origin gets the one the client gets.
    let resp = send(
        edge.request(Method::GET, "/health", None)
            .header("X-Request-ID", "bad id!"),
    )
    .await;
    let rid = header(resp.headers(), "x-request-id").unwrap();
    let seen: Value = resp.json().await.unwrap();
    assert_ne!(rid, "bad id!");
    assert_eq!(seen["x-request-id"], rid.as_str());
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    // None at all: one is set and forwarded.
    let resp = edge.get("/health", None).await;
    let rid = header(resp.headers(), "x-request-id").unwrap();
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["x-request-id"], rid.as_str());

    // The first chunk arrives before the origin has sent the rest.
    let resp = edge.get("/", None).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    let first = next_frame(&mut body, &mut buf).await.expect("first");
    assert_eq!(first.1, "first");
    go.send(()).await.unwrap();
    let second = next_frame(&mut body, &mut buf).await.expect("second");
    assert_eq!(second.1, "second");
    assert!(next_frame(&mut body, &mut buf).await.is_none());
}

/// SIGHUP reloads the policy build from `--policy`; a failed reload keeps
/// the old build (and the edge keeps answering).
#[tokio::test]
async fn sighup_reloads_the_policy_and_a_failed_reload_keeps_the_old_one() {
    let Hardened { app, admin } = hardened().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.wasm");
    std::fs::write(&policy, securescan_host::policy::BUILTIN_POLICY).unwrap();
    let edge = spawn_edge_args(
        &[&app.address],
        &["--policy", policy.to_str().unwrap()],
        &[],
    )
    .await;
    edge.hup();
    edge.wait_metric("policy_reloads", 1).await;
    std::fs::write(&policy, b"not a policy build").unwrap();
    edge.hup();
    edge.wait_metric("policy_reload_failures", 1).await;
    assert_eq!(edge.metrics().await["policy_reloads"], 1);
    // Still deciding with the old build, and still forwarding.
    assert_detail(
        edge.get("/api/v1/scans", Some("nope")).await,
        401,
        "Invalid API key",
        "after failed reload",
    )
    .await;
    let (status, _, v) = json_of(edge.get("/api/v1/scans", Some(&admin.key)).await).await;
    assert_eq!(status, 200, "{v}");
    let logs = edge.logs();
    assert!(logs.contains("policy reload failed"), "{logs}");

    // A build that compiles but breaks the invariants is refused too, with
    // the server's reason.
    std::fs::write(&policy, common::builds::breaks_invariants()).unwrap();
    edge.hup();
    edge.wait_metric("policy_reload_failures", 2).await;
    assert_eq!(edge.metrics().await["policy_reloads"], 1);
    assert!(
        edge.logs()
            .contains("Policy build breaks the policy invariants"),
        "{}",
        edge.logs()
    );
    let (status, _, v) = json_of(edge.get("/api/v1/scans", Some(&admin.key)).await).await;
    assert_eq!(status, 200, "still the old build: {v}");
}

/// Runs the edge until it exits (it should refuse to start): status, output.
fn edge_until_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(EDGE_BIN);
    cmd.args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(args)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SECURESCAN_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn securescan-edge");
    let deadline = Instant::now() + CLI_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the edge should have refused to start\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// With `SECURESCAN_POLICY_PUBLIC_KEY` the edge, like the server, loads a
/// `--policy` file only when `<file>.sig` signs it: at start (exit 2
/// otherwise) and on every `SIGHUP` (the old build keeps serving).
#[tokio::test]
async fn edge_policy_files_must_be_signed_when_a_public_key_is_set() {
    use securescan_host::policy::signing;
    let Hardened { app, admin } = hardened().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, _private, public) = signing::generate();
    let (other, _, _) = signing::generate();
    let pub_path = dir.path().join("policy.pub");
    std::fs::write(&pub_path, public).unwrap();
    let pub_env = [("SECURESCAN_POLICY_PUBLIC_KEY", pub_path.to_str().unwrap())];
    let policy = dir.path().join("policy.wasm");
    let sig = dir.path().join("policy.wasm.sig");
    let builtin = securescan_host::policy::BUILTIN_POLICY;
    std::fs::write(&policy, builtin).unwrap();
    let args = [
        "--upstream",
        app.address.as_str(),
        "--policy",
        policy.to_str().unwrap(),
    ];

    // No signature file, then one by another key: refused at start.
    let (code, out) = edge_until_exit(&args, &pub_env);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("Policy build signature invalid"), "{out}");
    assert!(out.contains("no signature"), "{out}");
    std::fs::write(&sig, signing::sign(&other, builtin)).unwrap();
    let (code, out) = edge_until_exit(&args, &pub_env);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("Policy build signature invalid"), "{out}");
    // A key file that cannot be read: refused at start, named.
    let (code, out) = edge_until_exit(
        &args,
        &[("SECURESCAN_POLICY_PUBLIC_KEY", "/nonexistent/policy.pub")],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("SECURESCAN_POLICY_PUBLIC_KEY"), "{out}");

    // Signed by the configured key: starts.
    std::fs::write(&sig, signing::sign(&key, builtin)).unwrap();
    let edge = spawn_edge_args(
        &[&app.address],
        &["--policy", policy.to_str().unwrap()],
        &pub_env,
    )
    .await;
    // The default build: API docs are public.
    assert_eq!(edge.get("/openapi.json", None).await.status(), 200);

    // Another build (docs for admins only) under the old signature: refused
    // on SIGHUP, the old build keeps deciding.
    let strict = common::builds::strict();
    std::fs::write(&policy, &strict).unwrap();
    edge.hup();
    edge.wait_metric("policy_reload_failures", 1).await;
    assert!(
        edge.logs().contains("Policy build signature invalid"),
        "{}",
        edge.logs()
    );
    assert_eq!(edge.get("/openapi.json", None).await.status(), 200);

    // Signed: it serves after the next SIGHUP.
    std::fs::write(&sig, signing::sign(&key, &strict)).unwrap();
    edge.hup();
    edge.wait_metric("policy_reloads", 1).await;
    assert_detail(
        edge.get("/openapi.json", None).await,
        401,
        "X-API-Key header required",
        "the strict build decides at the edge",
    )
    .await;
    let (status, _, v) = json_of(edge.get("/openapi.json", Some(&admin.key)).await).await;
    assert_eq!(status, 200, "{v}");
}

/// `ssk_<id>_<secret>` with a valid checksum for any id: key ids are not
/// secret, so anyone can build one of these.
fn checksummed_key(id: &str, secret26: &str) -> String {
    use sha2::Digest;
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let body = format!("ssk_{id}_{secret26}");
    let d = Sha256::digest(body.as_bytes());
    let sum: String = d[..6]
        .iter()
        .map(|b| ALPHABET[(*b % 62) as usize] as char)
        .collect();
    let key = format!("{body}{sum}");
    assert!(
        securescan_core::keys::parse_key(&key).is_some(),
        "test helper built an invalid key"
    );
    key
}

/// A well-formed key with a valid checksum is the origin's to judge (only it
/// has the row): forwarded, refused there, and it does not drain the rate
/// limit bucket of the key id it carries.
#[tokio::test]
async fn forged_key_with_a_victims_id_does_not_drain_its_bucket() {
    let (Hardened { app, admin }, edge) = origin_and_edge(
        &[("SECURESCAN_RATE_LIMIT_ENABLED", "0")],
        &[
            ("SECURESCAN_RATE_LIMIT_BURST", "1"),
            ("SECURESCAN_RATE_LIMIT_PER_MIN", "1"),
        ],
    )
    .await;
    let forged = checksummed_key(&admin.id, "AAAAAAAAAAAAAAAAAAAAAAAAAA");
    let tree = small_tree();
    for n in 0..3 {
        let rid = format!("forged-{n}");
        let resp = post_scan(&edge, &forged, tree.path(), &rid).await;
        assert_detail(resp, 401, "Invalid API key", &rid).await;
        assert!(origin_saw_id(&app, &rid), "{rid}: the origin decides it");
    }
    let (status, _, v) = json_of(post_scan(&edge, &admin.key, tree.path(), "victim").await).await;
    assert_eq!(status, 200, "the victim's bucket was drained: {v}");
    let resp = post_scan(&edge, &admin.key, tree.path(), "victim-2").await;
    assert_detail(
        resp,
        429,
        "Rate limit exceeded",
        "second scan over a burst of 1",
    )
    .await;
    let m = edge.metrics().await;
    assert_eq!(m["rejections"]["rate_limited"], 1, "{m}");
    assert_eq!(m["rejections"]["invalid_key"], 0, "{m}");
}

/// A key that is not `ssk_`-shaped can only be the env key: the edge given
/// `SECURESCAN_API_KEY` lets the right one through (constant-time compare
/// inside the component) and refuses others itself; an edge without it
/// refuses every such key.
#[tokio::test]
async fn env_key_at_the_edge() {
    const ENV_KEY: &str = "edge-test-env-key-2f8a61c0d4";
    let app = TestApp::spawn(&[
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
        ("SECURESCAN_API_KEY", ENV_KEY),
    ])
    .await;
    let with = spawn_edge(&[&app.address], &[("SECURESCAN_API_KEY", ENV_KEY)]).await;
    let without = spawn_edge(&[&app.address], &[]).await;

    let resp = send(
        with.request(Method::GET, "/api/v1/keys", None)
            .header("Authorization", format!("Bearer {ENV_KEY}"))
            .header("X-Request-ID", "env-ok"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(origin_saw_id(&app, "env-ok"));
    // The env key is no DB key: the component says so at the edge.
    let resp = send(
        with.request(Method::GET, "/api/v1/keys/me", Some(ENV_KEY))
            .header("X-Request-ID", "env-me"),
    )
    .await;
    assert_detail(
        resp,
        404,
        "Not authenticated via DB key",
        "env key on /keys/me",
    )
    .await;
    let resp = send(
        with.request(
            Method::GET,
            "/api/v1/keys",
            Some("edge-test-env-key-2f8a61c0d5"),
        )
        .header("X-Request-ID", "env-wrong"),
    )
    .await;
    assert_detail(resp, 401, "Invalid API key", "wrong env key").await;
    let resp = send(
        without
            .request(Method::GET, "/api/v1/keys", Some(ENV_KEY))
            .header("X-Request-ID", "env-unknown-to-edge"),
    )
    .await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "env key at an edge without it",
    )
    .await;
    for rid in ["env-me", "env-wrong", "env-unknown-to-edge"] {
        assert!(!origin_saw_id(&app, rid), "{rid} reached the origin");
    }
    let m = with.metrics().await;
    assert_eq!(m["rejections"]["other_denial"], 1, "{m}");
    assert_eq!(m["rejections"]["invalid_key"], 1, "{m}");
    assert_eq!(without.metrics().await["rejections"]["invalid_key"], 1);
}
