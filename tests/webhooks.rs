//! Webhooks, black-box against the `securescan` binary, with a real HTTP
//! receiver on 127.0.0.1 inside the test (hence
//! `SECURESCAN_WEBHOOK_ALLOW_PRIVATE=1` everywhere except the guard tests).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as AxMethod, StatusCode as AxStatus, Uri};
use axum::response::{IntoResponse, Response as AxResponse};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ENV_KEY: &str = "env-breakglass-5a1e9c3d7b2f4e6a8c0d1b3f5a7e9c2d";
const PRIVATE: &str = "Webhook URL resolves to a private or loopback address";
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";
const WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------- receiver --

#[derive(Clone, Debug)]
struct Captured {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Captured>>>,
    /// Answer 500 to this many requests first.
    fail: Arc<AtomicUsize>,
}

async fn receive(
    State(r): State<Receiver>,
    method: AxMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AxResponse {
    assert_eq!(method, AxMethod::POST);
    let path = uri.path().to_string();
    r.requests.lock().unwrap().push(Captured {
        path: path.clone(),
        headers,
        body,
    });
    if path == "/redirect" {
        return (AxStatus::FOUND, [("location", "/landing")], "").into_response();
    }
    let failing = r
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        (AxStatus::INTERNAL_SERVER_ERROR, "boom").into_response()
    } else {
        (AxStatus::OK, "ok").into_response()
    }
}

impl Receiver {
    /// Starts a receiver; returns it and its base URL.
    async fn start(fail: usize) -> (Receiver, String) {
        let r = Receiver::default();
        r.fail.store(fail, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (r, format!("http://{addr}"))
    }

    fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    fn on(&self, path: &str) -> Vec<Captured> {
        self.requests()
            .into_iter()
            .filter(|c| c.path == path)
            .collect()
    }
}

// -------------------------------------------------------------- helpers --

fn env_allow() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SECURESCAN_API_KEY", ENV_KEY),
        ("SECURESCAN_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("SECURESCAN_WEBHOOK_RETRY_BASE_MS", "200"),
    ]
}

fn env_guarded() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SECURESCAN_API_KEY", ENV_KEY),
        ("SECURESCAN_WEBHOOK_RETRY_BASE_MS", "200"),
    ]
}

async fn create_hook(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let body = json!({ "name": "receiver", "url": url, "event_filter": events });
    let (status, _, v) = json_of(
        app.post_json("/api/v1/webhooks", Some(ENV_KEY), &body)
            .await,
    )
    .await;
    assert_eq!(status, 201, "POST /api/v1/webhooks {body}: {v}");
    for k in ["id", "name", "url", "event_filter", "created_at", "secret"] {
        assert!(v.get(k).is_some(), "created webhook lacks {k}: {v}");
    }
    let secret = v["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64, "secret is 32 bytes hex: {v}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    v
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, _, v) = json_of(
        app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(ENV_KEY))
            .await,
    )
    .await;
    assert_eq!(status, 200, "deliveries: {v}");
    v.as_array().unwrap().clone()
}

/// Polls the deliveries of `id` until `done` holds for the list.
async fn wait_deliveries(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let d = deliveries(app, id).await;
        if done(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never reached the expected state: {d:#?}\n--- log ---\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header<'a>(c: &'a Captured, name: &str) -> &'a str {
    c.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", c.headers))
        .to_str()
        .unwrap()
}

/// Checks `X-SecureScan-Signature` against the body with `secret`.
fn assert_signed(c: &Captured, secret: &str) {
    let sig = header(c, "x-securescan-signature");
    let (t, v1) = sig.split_once(',').expect("t=...,v1=...");
    let t: i64 = t.strip_prefix("t=").expect("t=").parse().expect("unix t");
    let v1 = v1.strip_prefix("v1=").expect("v1=");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - t).abs() < 120, "signature time {t} vs now {now}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&c.body);
    assert_eq!(
        v1,
        hex::encode(mac.finalize().into_bytes()),
        "signature verifies"
    );
}

async fn scan_target() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), "print('hello')\n").unwrap();
    dir
}

async fn run_scan(app: &TestApp, dir: &std::path::Path) -> Value {
    let body = json!({ "target_path": dir.display().to_string(), "scan_types": ["code"] });
    let (status, _, v) = json_of(app.post_json("/api/v1/scans", Some(ENV_KEY), &body).await).await;
    assert_eq!(status, 200, "POST /api/v1/scans: {v}");
    let id = v["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, _, s) = json_of(app.get(&format!("/api/v1/scans/{id}"), Some(ENV_KEY)).await).await;
        if s["status"] != "pending" && s["status"] != "running" {
            return s;
        }
        assert!(Instant::now() < deadline, "scan never finished: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- tests --

#[tokio::test]
async fn completed_scan_sends_one_signed_delivery() {
    let (rx, base) = Receiver::start(0).await;
    let app = TestApp::spawn(&env_allow()).await;
    let hook = create_hook(&app, &format!("{base}/complete"), &["scan.complete"]).await;
    let other = create_hook(&app, &format!("{base}/failed"), &["scan.failed"]).await;
    let id = hook["id"].as_str().unwrap();
    let secret = hook["secret"].as_str().unwrap();

    let dir = scan_target().await;
    let scan = run_scan(&app, dir.path()).await;
    assert_eq!(scan["status"], "completed", "{scan}");

    let d = wait_deliveries(&app, id, |d| d.iter().any(|x| x["status"] == "delivered")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = rx.on("/complete");
    assert_eq!(got.len(), 1, "exactly one request: {got:?}");
    assert!(
        rx.on("/failed").is_empty(),
        "scan.failed hook got a request"
    );
    assert!(deliveries(&app, other["id"].as_str().unwrap())
        .await
        .is_empty());
    assert_eq!(d.len(), 1, "{d:#?}");
    let delivery = &d[0];
    assert_eq!(delivery["event"], "scan.complete");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status_code"], 200);
    assert!(delivery["delivered_at"].is_string());
    assert!(delivery["next_attempt_at"].is_null());
    for k in [
        "id",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ] {
        assert!(delivery.get(k).is_some(), "delivery lacks {k}: {delivery}");
    }

    let c = &got[0];
    assert_eq!(header(c, "content-type"), "application/json");
    assert_eq!(header(c, "x-securescan-event"), "scan.complete");
    assert_eq!(header(c, "x-securescan-webhook-id"), id);
    assert_signed(c, secret);
    let text = std::str::from_utf8(&c.body).unwrap();
    assert!(
        text.starts_with("{\"event\":\"scan.complete\","),
        "compact JSON: {text}"
    );
    assert!(!text.contains('\n'));
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["event"], "scan.complete");
    assert_eq!(body["webhook_id"], id);
    assert_eq!(body["delivery_id"], delivery["id"]);
    assert!(body["created_at"].is_string());
    assert_eq!(body["data"]["id"], scan["id"]);
    assert_eq!(body["data"]["status"], "completed");
    // Neither the secret nor the signature reaches the log.
    let logs = app.logs();
    assert!(!logs.contains(secret), "secret logged");
    assert!(
        !logs.contains(header(c, "x-securescan-signature")),
        "signature logged"
    );
}

#[tokio::test]
async fn failing_receiver_gets_three_attempts() {
    let (rx, base) = Receiver::start(2).await;
    let app = TestApp::spawn(&env_allow()).await;
    let hook = create_hook(&app, &format!("{base}/hook"), &["webhook.test"]).await;
    let id = hook["id"].as_str().unwrap();
    let secret = hook["secret"].as_str().unwrap();
    let (status, _, v) = json_of(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(ENV_KEY),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{v}");
    let d = wait_deliveries(&app, id, |d| d.iter().any(|x| x["status"] == "delivered")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["attempts"], 3, "{:#?}", d[0]);
    assert_eq!(d[0]["last_status_code"], 200);
    let codes: Vec<i64> = d[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 500, 200]);
    let got = rx.on("/hook");
    assert_eq!(got.len(), 3, "three requests");
    for c in &got {
        assert_signed(c, secret);
        let b: Value = serde_json::from_slice(&c.body).unwrap();
        assert_eq!(b["delivery_id"], v["delivery_id"]);
    }
}

#[tokio::test]
async fn test_endpoint_enqueues_a_test_delivery() {
    let (rx, base) = Receiver::start(0).await;
    let app = TestApp::spawn(&env_allow()).await;
    let hook = create_hook(&app, &format!("{base}/hook"), &["scan.complete"]).await;
    let id = hook["id"].as_str().unwrap();
    let (status, _, v) = json_of(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(ENV_KEY),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{v}");
    let delivery_id = v["delivery_id"].as_str().expect("delivery_id").to_string();
    let d = wait_deliveries(&app, id, |d| d.iter().any(|x| x["status"] == "delivered")).await;
    assert_eq!(d[0]["id"], delivery_id);
    assert_eq!(d[0]["event"], "webhook.test");
    let got = rx.on("/hook");
    assert_eq!(got.len(), 1);
    assert_eq!(header(&got[0], "x-securescan-event"), "webhook.test");
    assert_signed(&got[0], hook["secret"].as_str().unwrap());
    let b: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(b["event"], "webhook.test");
    assert_eq!(b["delivery_id"], delivery_id);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (rx, base) = Receiver::start(0).await;
    let app = TestApp::spawn(&env_allow()).await;
    let hook = create_hook(&app, &format!("{base}/redirect"), &["webhook.test"]).await;
    let id = hook["id"].as_str().unwrap();
    let (status, _, _) = json_of(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(ENV_KEY),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202);
    let d = wait_deliveries(&app, id, |d| {
        d.first().is_some_and(|x| x["attempts"].as_i64() >= Some(2))
    })
    .await;
    assert_ne!(d[0]["status"], "delivered", "{:#?}", d[0]);
    assert_eq!(d[0]["last_status_code"], 302);
    assert!(rx.on("/landing").is_empty(), "redirect followed");
    assert!(rx.on("/redirect").len() >= 2);
}

#[tokio::test]
async fn private_destinations_are_refused_without_opt_in() {
    let app = TestApp::spawn(&env_guarded()).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/",
        "http://localhost:1/",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://172.20.0.1/hook",
        "http://100.64.1.1/hook",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
    ] {
        let body = json!({ "name": "x", "url": url, "event_filter": ["scan.complete"] });
        let resp = app
            .post_json("/api/v1/webhooks", Some(ENV_KEY), &body)
            .await;
        assert_detail(resp, 422, PRIVATE, url).await;
    }
    // A public literal is accepted (no DNS needed), and cannot be moved to a
    // private one by PATCH.
    let hook = create_hook(&app, "https://93.184.216.34/hook", &["scan.complete"]).await;
    let id = hook["id"].as_str().unwrap();
    let resp = send(
        app.request(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(ENV_KEY),
        )
        .json(&json!({ "url": "http://169.254.169.254/latest/meta-data" })),
    )
    .await;
    assert_detail(resp, 422, PRIVATE, "PATCH to metadata").await;
    let (_, _, v) = json_of(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(ENV_KEY))
            .await,
    )
    .await;
    assert_eq!(v["url"], "https://93.184.216.34/hook");
}

#[tokio::test]
async fn send_time_guard_blocks_stored_private_urls() {
    // A webhook stored while the guard was lifted is still not sent to a
    // loopback address once a server runs with the guard on.
    let (rx, base) = Receiver::start(0).await;
    let mut first = TestApp::spawn(&env_allow()).await;
    let hook = create_hook(&first, &format!("{base}/hook"), &["webhook.test"]).await;
    let id = hook["id"].as_str().unwrap();
    first.terminate();
    let app = first.spawn_sibling(&env_guarded()).await;
    let (status, _, _) = json_of(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            Some(ENV_KEY),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202);
    wait_deliveries(&app, id, |d| {
        d.first().is_some_and(|x| x["attempts"].as_i64() >= Some(1))
    })
    .await;
    // A forbidden literal can never be allowed: failed, not retried.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let d = deliveries(&app, id).await;
    assert_eq!(d[0]["status"], "failed", "{:#?}", d[0]);
    assert_eq!(d[0]["attempts"], 1);
    assert!(d[0]["next_attempt_at"].is_null());
    assert!(d[0]["last_status_code"].is_null());
    assert_eq!(
        d[0]["last_error"],
        "destination resolves to a private or loopback address"
    );
    assert!(rx.requests().is_empty(), "guarded server sent to loopback");
}

#[tokio::test]
async fn validation_errors_have_details() {
    let app = TestApp::spawn(&env_allow()).await;
    let ok =
        json!({ "name": "n", "url": "https://example.com/h", "event_filter": ["scan.complete"] });
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([1, 2]),
            "Request body must be a JSON object with name, url and event_filter",
        ),
        (without("name"), "name is required"),
        (with("name", json!("")), "name must be 1-128 characters"),
        (
            with("name", json!("x".repeat(129))),
            "name must be 1-128 characters",
        ),
        (with("name", json!(5)), "name must be a string"),
        (
            with("name", json!("a\nb")),
            "name must not contain control characters",
        ),
        (without("url"), "url is required"),
        (
            with("url", json!("not a url")),
            "url must be an absolute http or https URL",
        ),
        (
            with("url", json!("/relative/path")),
            "url must be an absolute http or https URL",
        ),
        (
            with("url", json!("ftp://example.com/x")),
            "url must be an absolute http or https URL",
        ),
        (
            with("url", json!("file:///etc/passwd")),
            "url must be an absolute http or https URL",
        ),
        (
            with(
                "url",
                json!(format!("https://example.com/{}", "a".repeat(2100))),
            ),
            "url must be at most 2048 characters",
        ),
        (without("event_filter"), "event_filter is required"),
        (
            with("event_filter", json!([])),
            "event_filter must be a non-empty list of events",
        ),
        (
            with("event_filter", json!("scan.complete")),
            "event_filter must be a non-empty list of events",
        ),
        (
            with("event_filter", json!([1])),
            "event_filter must be a non-empty list of events",
        ),
        (
            with("event_filter", json!(["scan.complete", "scan.exploded"])),
            "Unknown event: scan.exploded",
        ),
    ];
    for (body, detail) in cases {
        let resp = app
            .post_json("/api/v1/webhooks", Some(ENV_KEY), &body)
            .await;
        assert_detail(resp, 422, detail, &body.to_string()).await;
    }
    let resp = send(
        app.request(Method::POST, "/api/v1/webhooks", Some(ENV_KEY))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_detail(
        resp,
        422,
        "Request body must be a JSON object with name, url and event_filter",
        "bad JSON",
    )
    .await;
    // PATCH validates what it changes.
    let hook = create_hook(&app, "https://example.com/h", &["scan.complete"]).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    for (body, detail) in [
        (json!({ "name": "" }), "name must be 1-128 characters"),
        (
            json!({ "url": "gopher://x" }),
            "url must be an absolute http or https URL",
        ),
        (
            json!({ "event_filter": [] }),
            "event_filter must be a non-empty list of events",
        ),
        (json!({ "event_filter": ["nope"] }), "Unknown event: nope"),
    ] {
        let resp = send(app.request(Method::PATCH, &path, Some(ENV_KEY)).json(&body)).await;
        assert_detail(resp, 422, detail, &format!("PATCH {body}")).await;
    }
}

#[tokio::test]
async fn secret_is_shown_once_and_cannot_be_changed() {
    let (rx, base) = Receiver::start(0).await;
    let app = TestApp::spawn(&env_allow()).await;
    let hook = create_hook(&app, &format!("{base}/hook"), &["scan.complete"]).await;
    let id = hook["id"].as_str().unwrap();
    let secret = hook["secret"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{id}");

    let (status, _, one) = json_of(app.get(&path, Some(ENV_KEY)).await).await;
    assert_eq!(status, 200);
    assert!(one.get("secret").is_none(), "{one}");
    assert!(!one.to_string().contains(secret));
    assert_eq!(one["id"], id);
    assert_eq!(one["event_filter"], json!(["scan.complete"]));
    let (status, _, list) = json_of(app.get("/api/v1/webhooks", Some(ENV_KEY)).await).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret").is_none(), "{list}");
    assert!(!list.to_string().contains(secret));

    let resp = send(
        app.request(Method::PATCH, &path, Some(ENV_KEY))
            .json(&json!({ "secret": "0".repeat(64) })),
    )
    .await;
    assert_detail(resp, 422, "secret cannot be changed", "PATCH secret").await;
    let resp = send(
        app.request(Method::PATCH, &path, Some(ENV_KEY))
            .json(&json!({ "name": "renamed", "secret": "x" })),
    )
    .await;
    assert_detail(resp, 422, "secret cannot be changed", "PATCH name+secret").await;

    let (status, _, patched) =
        json_of(
            send(app.request(Method::PATCH, &path, Some(ENV_KEY)).json(
                &json!({ "name": "renamed", "event_filter": ["webhook.test", "scan.failed"] }),
            ))
            .await,
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["url"], format!("{base}/hook"));
    assert_eq!(
        patched["event_filter"],
        json!(["webhook.test", "scan.failed"])
    );
    assert!(patched.get("secret").is_none());

    // Still signed with the original secret.
    let (status, _, _) = json_of(
        app.post_json(&format!("{path}/test"), Some(ENV_KEY), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 202);
    let d = wait_deliveries(&app, id, |d| d.iter().any(|x| x["status"] == "delivered")).await;
    assert!(!Value::Array(d).to_string().contains(secret));
    assert_signed(&rx.on("/hook")[0], secret);
}

#[tokio::test]
async fn unknown_webhooks_are_404() {
    let app = TestApp::spawn(&env_allow()).await;
    let p = format!("/api/v1/webhooks/{UNKNOWN}");
    let nf = "Webhook not found";
    assert_detail(app.get(&p, Some(ENV_KEY)).await, 404, nf, "GET").await;
    assert_detail(app.delete(&p, Some(ENV_KEY)).await, 404, nf, "DELETE").await;
    let resp = send(
        app.request(Method::PATCH, &p, Some(ENV_KEY))
            .json(&json!({ "name": "x" })),
    )
    .await;
    assert_detail(resp, 404, nf, "PATCH").await;
    assert_detail(
        app.get(&format!("{p}/deliveries"), Some(ENV_KEY)).await,
        404,
        nf,
        "deliveries",
    )
    .await;
    assert_detail(
        app.post_json(&format!("{p}/test"), Some(ENV_KEY), &json!({}))
            .await,
        404,
        nf,
        "test",
    )
    .await;

    // Deleted: 204, then 404 everywhere.
    let hook = create_hook(&app, "https://example.com/h", &["scan.complete"]).await;
    let p = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    let resp = app.delete(&p, Some(ENV_KEY)).await;
    assert_eq!(resp.status(), 204);
    assert_detail(app.get(&p, Some(ENV_KEY)).await, 404, nf, "GET deleted").await;
    assert_detail(
        app.delete(&p, Some(ENV_KEY)).await,
        404,
        nf,
        "DELETE deleted",
    )
    .await;
    assert_detail(
        app.get(&format!("{p}/deliveries"), Some(ENV_KEY)).await,
        404,
        nf,
        "deliveries deleted",
    )
    .await;
    let (_, _, list) = json_of(app.get("/api/v1/webhooks", Some(ENV_KEY)).await).await;
    assert_eq!(list, json!([]));
}

/// The seed checklist's check 4, over HTTP: webhooks are admin only, for
/// every route and method.
#[tokio::test]
async fn webhooks_require_admin_on_every_route() {
    let h = hardened_with(&[("SECURESCAN_WEBHOOK_ALLOW_PRIVATE", "1")]).await;
    let admin = h.admin.key.as_str();
    let app = &h.app;
    let read = app.create_key_api(Some(admin), "reader", &["read"]).await;
    let write = app.create_key_api(Some(admin), "writer", &["write"]).await;
    let both = app
        .create_key_api(Some(admin), "rw", &["read", "write"])
        .await;

    // Check 4 as written.
    assert_detail(
        app.get("/api/v1/webhooks", Some(&write.key)).await,
        403,
        "Requires scope: admin",
        "write-only key lists webhooks",
    )
    .await;

    let body =
        json!({ "name": "n", "url": "https://example.com/h", "event_filter": ["scan.complete"] });
    let (status, _, hook) =
        json_of(app.post_json("/api/v1/webhooks", Some(admin), &body).await).await;
    assert_eq!(status, 201, "admin creates: {hook}");
    let id = hook["id"].as_str().unwrap();
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/api/v1/webhooks".into()),
        (Method::POST, "/api/v1/webhooks".into()),
        (Method::GET, format!("/api/v1/webhooks/{id}")),
        (Method::PATCH, format!("/api/v1/webhooks/{id}")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
    ];
    for key in [&read, &write, &both] {
        for (m, p) in &routes {
            let resp = send(app.request(m.clone(), p, Some(&key.key)).json(&body)).await;
            assert_detail(
                resp,
                403,
                "Requires scope: admin",
                &format!("{m} {p} with {:?}", key.scopes),
            )
            .await;
        }
    }
    // Nothing changed, and admin still reaches every route.
    let (status, _, list) = json_of(app.get("/api/v1/webhooks", Some(admin)).await).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "n");
    for (m, p) in &routes {
        let resp = send(
            app.request(m.clone(), p, Some(admin))
                .json(&json!({ "name": "m" })),
        )
        .await;
        let code = resp.status().as_u16();
        assert!(code != 401 && code != 403, "admin {m} {p}: {code}");
    }
}
