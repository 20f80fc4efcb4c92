//! Observability: one structured `securescan.request` line per request,
//! `X-Request-ID` handling, and no key, token or secret in any log line.

mod common;

use common::*;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const ENV_KEY: &str = "envkeyvalue-7c3e9a1f5b2d8e4a6c0f9b3d7e1a5c2f";
const BOGUS_KEY: &str = "bogus-Q7w8e9r0t1y2u3i4o5p6a7s8d9f0";
const TOKEN: &str = "SECRETTOKENVALUE";

/// A hardened deployment with an env key too, an admin key (CLI) and a
/// read key (API).
async fn deployment(extra: &[(&str, &str)]) -> (TestApp, CreatedKey, CreatedKey) {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let mut env = vec![
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
        ("SECURESCAN_API_KEY", ENV_KEY),
    ];
    env.extend_from_slice(extra);
    let app = prepared.spawn(&env).await;
    let read = app
        .create_key_api(Some(&admin.key), "reader", &["read"])
        .await;
    (app, admin, read)
}

fn with_rid(rb: reqwest::RequestBuilder, rid: &str) -> reqwest::RequestBuilder {
    rb.header("X-Request-ID", rid)
}

/// Requests carrying every kind of secret; returns the plaintext of the key
/// issued during them.
async fn secret_laden_traffic(app: &TestApp, admin: &CreatedKey, read: &CreatedKey) -> CreatedKey {
    let ok = |s: reqwest::StatusCode| s.as_u16();
    // Admin key, X-API-Key and Bearer.
    assert_eq!(
        ok(app.get("/api/v1/keys", Some(&admin.key)).await.status()),
        200
    );
    let resp = send(
        app.client
            .get(app.url("/api/v1/keys"))
            .header("Authorization", format!("Bearer {}", admin.key)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    // Read key: allowed, and refused.
    assert_eq!(
        app.get("/api/v1/keys/me", Some(&read.key)).await.status(),
        200
    );
    assert_eq!(app.get("/api/v1/keys", Some(&read.key)).await.status(), 403);
    // Bogus keys.
    assert_eq!(app.get("/api/v1/keys", Some(BOGUS_KEY)).await.status(), 401);
    let resp = send(
        app.client
            .get(app.url("/api/v1/keys"))
            .header("Authorization", format!("Bearer {BOGUS_KEY}")),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        app.get("/api/v1/keys", Some(&with_bad_checksum(&admin.key)))
            .await
            .status(),
        401
    );
    // No key at all.
    assert_eq!(app.get("/api/v1/scans", None).await.status(), 401);
    // Event tokens in the query string.
    for path in [
        format!("/api/v1/scans/x/events?event_token={TOKEN}"),
        format!("/api/scans/x/events?event_token={TOKEN}"),
        format!("/api/v1/keys?event_token={TOKEN}"),
        format!("/api/v1/scans/x/events?a=1&event_token={TOKEN}&b=2"),
    ] {
        let status = app.get(&path, None).await.status();
        assert!(
            status.is_client_error(),
            "GET {path}: expected a 4xx, got {status}"
        );
    }
    // The env key, and a key issued with it (its plaintext is in a response body).
    assert_eq!(app.get("/api/v1/keys", Some(ENV_KEY)).await.status(), 200);
    let issued = app
        .create_key_api(Some(ENV_KEY), "issued", &["write"])
        .await;
    assert_eq!(
        app.get("/api/v1/keys/me", Some(&issued.key)).await.status(),
        200
    );
    // Credentials on public routes and unknown routes are not logged either.
    assert_eq!(app.get("/health", Some(&admin.key)).await.status(), 200);
    assert_eq!(app.get("/api/v1/nope", Some(ENV_KEY)).await.status(), 404);
    // Revoke the issued key and use it once more.
    let resp = app
        .delete(&format!("/api/v1/keys/{}", issued.id), Some(ENV_KEY))
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        app.get("/api/v1/keys/me", Some(&issued.key)).await.status(),
        401
    );
    issued
}

fn assert_no_secrets(logs: &str, admin: &CreatedKey, read: &CreatedKey, issued: &CreatedKey) {
    assert!(!logs.is_empty(), "no log output captured at all");
    let forbidden: Vec<(&str, &str)> = vec![
        ("admin key", admin.key.as_str()),
        ("admin key secret", admin.secret()),
        ("read key", read.key.as_str()),
        ("read key secret", read.secret()),
        ("issued key", issued.key.as_str()),
        ("issued key secret", issued.secret()),
        ("bogus key", BOGUS_KEY),
        ("env key", ENV_KEY),
        ("event-token secret", EVENT_SECRET),
        ("event token", TOKEN),
    ];
    for (what, value) in forbidden {
        assert!(
            !logs.contains(value),
            "the {what} ({value:?}) appears in the log:\n{}",
            logs.lines()
                .filter(|l| l.contains(value))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test]
async fn logs_never_contain_keys_tokens_or_secrets() {
    let (mut app, admin, read) = deployment(&[]).await;
    let issued = secret_laden_traffic(&app, &admin, &read).await;
    // Stop cleanly so everything, shutdown lines included, is on disk.
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
    let logs = app.logs();
    assert_no_secrets(&logs, &admin, &read, &issued);

    let lines = app.request_lines();
    assert!(!lines.is_empty(), "no securescan.request lines in:\n{logs}");
    assert!(
        lines.iter().any(|l| field_u64(l, "status") == Some(401)),
        "no securescan.request line with status 401:\n{logs}"
    );
    for l in &lines {
        let path =
            field_str(l, "path").unwrap_or_else(|| panic!("request line without a path: {l}"));
        assert!(!path.contains('?'), "query string logged: {l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| field_str(l, "path") == Some("/api/v1/scans/x/events")),
        "no request line for /api/v1/scans/x/events:\n{logs}"
    );
}

#[tokio::test]
async fn text_logs_never_contain_keys_tokens_or_secrets() {
    let (mut app, admin, read) = deployment(&[("SECURESCAN_LOG_FORMAT", "text")]).await;
    let issued = secret_laden_traffic(&app, &admin, &read).await;
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
    let logs = app.logs();
    assert_no_secrets(&logs, &admin, &read, &issued);
    assert!(
        logs.contains("securescan.request"),
        "no request lines in text logs:\n{logs}"
    );
}

#[tokio::test]
async fn every_stdout_line_is_a_json_object() {
    let (app, admin, read) = deployment(&[]).await;
    secret_laden_traffic(&app, &admin, &read).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = app.stdout_log();
    assert!(!out.trim().is_empty(), "nothing on stdout");
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert!(v.is_object(), "stdout line is not a JSON object: {line}");
    }
}

/// The line for the request that carried `X-Request-ID: rid`; exactly one.
fn line_for(app: &TestApp, rid: &str) -> Value {
    let lines: Vec<Value> = app
        .request_lines()
        .into_iter()
        .filter(|l| field_str(l, "request_id") == Some(rid))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one securescan.request line with request_id {rid:?}, got {lines:?}\n--- log ---\n{}",
        app.logs()
    );
    lines.into_iter().next().unwrap()
}

fn assert_line(l: &Value, method: &str, path: &str, status: u64, key_id: Option<&str>) {
    assert_eq!(field_str(l, "method"), Some(method), "method: {l}");
    assert_eq!(field_str(l, "path"), Some(path), "path: {l}");
    assert_eq!(field_u64(l, "status"), Some(status), "status: {l}");
    let latency = field(l, "latency_ms").unwrap_or_else(|| panic!("no latency_ms: {l}"));
    let ms = latency
        .as_f64()
        .or_else(|| latency.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("latency_ms is not a number: {l}"));
    assert!(ms >= 0.0, "latency_ms: {l}");
    if let Some(id) = key_id {
        assert_eq!(field_str(l, "key_id"), Some(id), "key_id: {l}");
    }
}

#[tokio::test]
async fn one_request_line_per_request_with_its_fields() {
    let (app, admin, read) = deployment(&[]).await;
    let c = &app.client;

    let resp = send(with_rid(
        app.request(Method::GET, "/api/v1/keys", Some(&admin.key)),
        "rid-admin-list",
    ))
    .await;
    assert_eq!(resp.status(), 200);
    let resp = send(with_rid(
        app.request(Method::POST, "/api/v1/keys", Some(&admin.key))
            .json(&json!({"name": "n", "scopes": ["read"]})),
        "rid-admin-post",
    ))
    .await;
    assert_eq!(resp.status(), 201);
    let resp = send(with_rid(
        app.request(Method::GET, "/api/v1/keys/me", Some(&read.key)),
        "rid-read-me",
    ))
    .await;
    assert_eq!(resp.status(), 200);
    let resp = send(with_rid(
        app.request(Method::GET, "/api/v1/keys", Some(&read.key)),
        "rid-read-403",
    ))
    .await;
    assert_eq!(resp.status(), 403);
    let resp = send(with_rid(
        app.request(Method::GET, "/api/v1/keys", Some(ENV_KEY)),
        "rid-env",
    ))
    .await;
    assert_eq!(resp.status(), 200);
    let resp = send(with_rid(
        app.request(Method::GET, "/api/v1/keys", Some(BOGUS_KEY)),
        "rid-bogus",
    ))
    .await;
    assert_eq!(resp.status(), 401);
    let resp = send(with_rid(
        app.request(Method::GET, "/api/v1/keys", None),
        "rid-nokey",
    ))
    .await;
    assert_eq!(resp.status(), 401);
    let resp = send(with_rid(c.get(app.url("/health?probe=1")), "rid-health")).await;
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_line(
        &line_for(&app, "rid-admin-list"),
        "GET",
        "/api/v1/keys",
        200,
        Some(&admin.id),
    );
    assert_line(
        &line_for(&app, "rid-admin-post"),
        "POST",
        "/api/v1/keys",
        201,
        Some(&admin.id),
    );
    assert_line(
        &line_for(&app, "rid-read-me"),
        "GET",
        "/api/v1/keys/me",
        200,
        Some(&read.id),
    );
    assert_line(
        &line_for(&app, "rid-read-403"),
        "GET",
        "/api/v1/keys",
        403,
        None,
    );
    assert_line(
        &line_for(&app, "rid-env"),
        "GET",
        "/api/v1/keys",
        200,
        Some("env"),
    );
    assert_line(
        &line_for(&app, "rid-bogus"),
        "GET",
        "/api/v1/keys",
        401,
        None,
    );
    assert_line(
        &line_for(&app, "rid-nokey"),
        "GET",
        "/api/v1/keys",
        401,
        None,
    );
    assert_line(&line_for(&app, "rid-health"), "GET", "/health", 200, None);
}

// ---------------------------------------------------------- X-Request-ID --

fn rid_of(h: &reqwest::header::HeaderMap) -> String {
    h.get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-ID on the response: {h:?}"))
        .to_str()
        .expect("ASCII X-Request-ID")
        .to_string()
}

fn valid_rid(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[tokio::test]
async fn valid_request_ids_are_echoed_on_every_response() {
    let (app, _admin, read) = deployment(&[]).await;
    let long = "a".repeat(128);
    for rid in ["abc-123_x.y", "A", long.as_str(), "0.1.2", "___", "--"] {
        // (expected status, request)
        let cases: Vec<(u16, reqwest::RequestBuilder)> = vec![
            (200, app.request(Method::GET, "/health", None)),
            (200, app.request(Method::GET, "/api/v1/keys", Some(ENV_KEY))),
            (401, app.request(Method::GET, "/api/v1/keys", None)),
            (401, app.request(Method::GET, "/api/v1/keys", Some("nope"))),
            (
                403,
                app.request(Method::GET, "/api/v1/keys", Some(&read.key)),
            ),
            (404, app.request(Method::GET, "/api/v1/nope", Some(ENV_KEY))),
            (
                404,
                app.request(Method::DELETE, "/api/v1/keys/abcdefghij", Some(ENV_KEY)),
            ),
            (
                422,
                app.request(Method::POST, "/api/v1/keys", Some(ENV_KEY))
                    .body("{"),
            ),
        ];
        for (want, rb) in cases {
            let req = rb.try_clone().unwrap().build().unwrap();
            let what = format!("{} {}", req.method(), req.url().path());
            let resp = send(with_rid(rb, rid)).await;
            assert_eq!(resp.status().as_u16(), want, "{what}");
            assert_eq!(
                rid_of(resp.headers()),
                rid,
                "{what}: X-Request-ID not echoed"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // And the log line carries the same id.
    assert!(
        app.request_lines()
            .iter()
            .any(|l| field_str(l, "request_id") == Some("abc-123_x.y")),
        "request id not in the log"
    );
}

#[tokio::test]
async fn invalid_request_ids_are_replaced() {
    let (app, _admin, read) = deployment(&[]).await;
    let too_long = "b".repeat(200);
    let just_too_long = "c".repeat(129);
    let bad: Vec<HeaderValue> = vec![
        HeaderValue::from_str(&too_long).unwrap(),
        HeaderValue::from_str(&just_too_long).unwrap(),
        HeaderValue::from_static("has space"),
        HeaderValue::from_static("a<b"),
        HeaderValue::from_static("<script>alert(1)</script>"),
        HeaderValue::from_static("a/b"),
        HeaderValue::from_static("id\"quote"),
        HeaderValue::from_static(""),
        HeaderValue::from_bytes(&[0xC3, 0xA9]).unwrap(),
    ];
    for value in bad {
        for (want, path, key) in [
            (200u16, "/health", None),
            (401, "/api/v1/keys", None),
            (403, "/api/v1/keys", Some(read.key.as_str())),
            (404, "/api/v1/nope", Some(ENV_KEY)),
        ] {
            let resp = send(
                app.request(Method::GET, path, key)
                    .header("X-Request-ID", value.clone()),
            )
            .await;
            assert_eq!(resp.status().as_u16(), want, "GET {path}");
            let got = rid_of(resp.headers());
            assert_ne!(
                got.as_bytes(),
                value.as_bytes(),
                "GET {path}: invalid X-Request-ID {value:?} echoed"
            );
            assert!(
                valid_rid(&got),
                "GET {path}: generated X-Request-ID {got:?} is not valid"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = app.logs();
    assert!(!logs.contains(&too_long), "rejected request id logged");
    assert!(!logs.contains("<script>"), "rejected request id logged");
}

#[tokio::test]
async fn request_ids_are_generated_when_absent() {
    let (app, _admin, _read) = deployment(&[]).await;
    let mut seen = std::collections::BTreeSet::new();
    for (path, want) in [
        ("/health", 200u16),
        ("/api/v1/keys", 401),
        ("/health", 200),
        ("/api/v1/nope", 404),
    ] {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status().as_u16(), want);
        let rid = rid_of(resp.headers());
        assert!(valid_rid(&rid), "generated X-Request-ID {rid:?}");
        assert!(seen.insert(rid.clone()), "X-Request-ID {rid:?} reused");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Each generated id is the one in the log line.
    for rid in &seen {
        line_for(&app, rid);
    }
}
