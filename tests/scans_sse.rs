//! Scans, their live progress over SSE, SSE event tokens and the rate limit
//! on `POST /api/v1/scans`, black-box against the `securescan` binary.
//!
//! Every test starts its own server (see `common`). Every read of an event
//! stream is bounded by [`STREAM_TIMEOUT`], so a stream that never ends fails
//! the test instead of hanging CI.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::sse::*;
use common::*;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// How long a scan may take to reach a final status.
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);
/// A well-formed scan id that no server issued.
const UNKNOWN_SCAN: &str = "00000000-0000-4000-8000-000000000000";
/// Files in the tree of a scan that must still be busy a few requests after
/// its creation (about 1.3 s of scanning here, unloaded).
const BIG: usize = 5000;
/// A second, different event-token secret.
const OTHER_SECRET: &str = "other-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const ENV_KEY: &str = "env-breakglass-7c1d9e3a5b2f4c6e8a0b1d3f5e7a9c2b";

// Planted secrets.
const AWS_KEY: &str = "AKIAJ7QW2ZK4XN5RT3PL";
const PASSWORD: &str = "Zq8#vL2!pR9@xT4m";
const PEM_BODY: [&str; 3] = [
    "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo",
];

fn header_u64(h: &HeaderMap, name: &str, ctx: &str) -> u64 {
    let v = header(h, name).unwrap_or_else(|| panic!("{ctx}: no {name} header: {h:?}"));
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{ctx}: {name} is not a non-negative integer: {v:?}"))
}

// ----------------------------------------------------------- scans helpers --

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

async fn post_scan(app: &TestApp, key: Option<&str>, target: &str, types: &[&str]) -> Response {
    app.post_json(
        "/api/v1/scans",
        key,
        &json!({ "target_path": target, "scan_types": types }),
    )
    .await
}

/// `POST /api/v1/scans`; asserts 200 and a fresh `pending` record.
async fn create_scan(app: &TestApp, key: Option<&str>, target: &Path, types: &[&str]) -> Value {
    let (status, _, v) = json_of(post_scan(app, key, path_str(target), types).await).await;
    assert_eq!(status, 200, "POST /api/v1/scans {target:?} {types:?}: {v}");
    assert_new_record(&v, target, types);
    v
}

fn assert_new_record(v: &Value, target: &Path, types: &[&str]) {
    for k in [
        "id",
        "target_path",
        "scan_types",
        "status",
        "created_at",
        "started_at",
        "completed_at",
        "error",
        "files_scanned",
        "findings_count",
        "skipped",
    ] {
        assert!(v.get(k).is_some(), "scan record has no {k:?}: {v}");
    }
    assert!(
        v["id"].as_str().is_some_and(|s| !s.is_empty()),
        "scan id is not a non-empty string: {v}"
    );
    assert_eq!(v["status"], "pending", "a new scan is pending: {v}");
    assert_eq!(
        v["scan_types"],
        json!(types),
        "scan_types as requested: {v}"
    );
    let canonical = std::fs::canonicalize(target).unwrap_or(target.to_path_buf());
    let got = v["target_path"].as_str().unwrap_or_default();
    assert!(
        got == path_str(target) || got == path_str(&canonical),
        "target_path {got:?} is neither {target:?} nor {canonical:?}"
    );
    assert!(v["created_at"].is_string(), "created_at: {v}");
    assert!(v["started_at"].is_null(), "started_at of a new scan: {v}");
    assert!(
        v["completed_at"].is_null(),
        "completed_at of a new scan: {v}"
    );
    assert!(v["error"].is_null(), "error of a new scan: {v}");
    assert_eq!(v["files_scanned"], 0, "files_scanned of a new scan: {v}");
    assert_eq!(v["findings_count"], 0, "findings_count of a new scan: {v}");
    assert!(v["skipped"].is_array(), "skipped is an array: {v}");
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("scan id").to_string()
}

/// `POST /api/v1/scans/{id}/event-token`; asserts the documented answer.
async fn mint(app: &TestApp, scan: &str, key: Option<&str>) -> String {
    let resp = send(app.request(
        Method::POST,
        &format!("/api/v1/scans/{scan}/event-token"),
        key,
    ))
    .await;
    let (status, h, v) = json_of(resp).await;
    assert_eq!(status, 200, "POST /api/v1/scans/{scan}/event-token: {v}");
    assert_eq!(
        header(&h, "cache-control").as_deref(),
        Some("no-store"),
        "event-token response must not be cached"
    );
    assert_eq!(v["expires_in"], 300, "expires_in: {v}");
    let token = v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token string: {v}"));
    assert!(!token.is_empty(), "empty token: {v}");
    token.to_string()
}

async fn get_scan(app: &TestApp, scan: &str, key: Option<&str>) -> Value {
    let (status, _, v) = json_of(app.get(&format!("/api/v1/scans/{scan}"), key).await).await;
    assert_eq!(status, 200, "GET /api/v1/scans/{scan}: {v}");
    v
}

/// Polls the record until it leaves `pending`/`running`.
async fn wait_finished(app: &TestApp, scan: &str, key: Option<&str>) -> Value {
    let deadline = Instant::now() + SCAN_TIMEOUT;
    loop {
        let v = get_scan(app, scan, key).await;
        let status = v["status"].as_str().unwrap_or_default().to_string();
        if status != "pending" && status != "running" {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "scan {scan} still {status} after {SCAN_TIMEOUT:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the scan has started publishing (its record left `pending`,
/// plus a moment for the first event). Tests about something other than
/// "a stream opened right after creation" use it, so that race is reported
/// by its own test only.
async fn settle(app: &TestApp, scan: &str, key: Option<&str>) {
    let deadline = Instant::now() + SCAN_TIMEOUT;
    loop {
        let v = get_scan(app, scan, key).await;
        if v["status"] != "pending" {
            break;
        }
        assert!(Instant::now() < deadline, "scan {scan} still pending: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn get_findings(app: &TestApp, scan: &str, key: Option<&str>) -> Vec<Value> {
    let (status, _, v) = json_of(
        app.get(&format!("/api/v1/scans/{scan}/findings"), key)
            .await,
    )
    .await;
    assert_eq!(status, 200, "GET /api/v1/scans/{scan}/findings: {v}");
    v.as_array()
        .unwrap_or_else(|| panic!("findings is not an array: {v}"))
        .clone()
}

async fn cancel(app: &TestApp, scan: &str, key: Option<&str>) -> (StatusCode, Value) {
    let resp = send(app.request(Method::POST, &format!("/api/v1/scans/{scan}/cancel"), key)).await;
    let (status, _, v) = json_of(resp).await;
    (status, v)
}

// ---------------------------------------------------------- event tokens --

fn sign(secret: &str, payload: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("hmac key");
    m.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// A token built the reference way: `b64url("<scan>|<key>|<exp>|<b64url(hmac)>")`.
fn craft_token(secret: &str, scan: &str, key_id: &str, expires_at: u64) -> String {
    let payload = format!("{scan}|{key_id}|{expires_at}");
    let sig = sign(secret, &payload);
    URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"))
}

/// The four fields of a token: scan id, key id, expires_at, signature.
fn decode_token(token: &str) -> (String, String, u64, String) {
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "token is not unpadded base64url: {token:?}"
    );
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .unwrap_or_else(|e| panic!("token is not base64url ({e}): {token:?}"));
    let s = String::from_utf8(raw).expect("decoded token is UTF-8");
    let parts: Vec<&str> = s.split('|').collect();
    assert_eq!(
        parts.len(),
        4,
        "decoded token is not scan|key|exp|sig: {s:?}"
    );
    let exp = parts[2]
        .parse()
        .unwrap_or_else(|_| panic!("expires_at is not unix seconds: {s:?}"));
    (parts[0].into(), parts[1].into(), exp, parts[3].into())
}

/// `token` with one character inside its signature changed.
fn flip_char(token: &str) -> String {
    let mut b: Vec<u8> = token.as_bytes().to_vec();
    let i = b.len() - 6;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// A 401 on the events route with exactly `detail` (plus `WWW-Authenticate`
/// and `X-Request-ID`).
async fn assert_events_401(app: &TestApp, scan: &str, token: &str, detail: &str, ctx: &str) {
    let resp = open_events(app, scan, Some(token), None, None).await;
    let h = assert_detail(resp, 401, detail, ctx).await;
    assert!(
        h.contains_key("x-request-id"),
        "{ctx}: 401 without X-Request-ID"
    );
}

/// No token, key or secret in any log line.
fn assert_logs_free_of(app: &TestApp, needles: &[&str], ctx: &str) {
    let logs = app.logs();
    for n in needles {
        assert!(!n.is_empty());
        assert!(
            !logs.contains(n),
            "{ctx}: the server log contains {n:?}\n--- log ---\n{logs}"
        );
    }
}

// -------------------------------------------------------------- fixtures --

fn write_file(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

struct Planted {
    file: &'static str,
    line: u64,
    rule: &'static str,
    severity: &'static str,
}

struct Fixture {
    dir: TempDir,
    planted: Vec<Planted>,
    /// Strings that must never be shown: not in an excerpt, not in an event.
    secrets: Vec<String>,
    /// Text files (the binary one excluded).
    text_files: u64,
    all_files: u64,
}

/// A tree with four planted secrets in four files (one of them `ssk_key`, a
/// live key), a clean file, a decoy key with a bad checksum, and a binary file.
fn plant(ssk_key: &CreatedKey) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_file(
        root,
        "README.md",
        b"# Inventory service\n\nThis service lists the machines of the lab.\nRun it with `make run`.\n",
    );
    write_file(
        root,
        "src/app/client.js",
        format!(
            "// Dashboard client for the internal scanner.\nconst endpoint = \"https://scanner.internal.example/api/v1\";\n\nconnect(endpoint, \"{}\");\n",
            ssk_key.key
        )
        .as_bytes(),
    );
    write_file(
        root,
        "config/settings.py",
        format!("import os\n\nDEBUG = False\npassword = \"{PASSWORD}\"\nTIMEZONE = \"UTC\"\n")
            .as_bytes(),
    );
    write_file(
        root,
        "deploy/aws.txt",
        format!("Deployment account notes\nidentity {AWS_KEY} in eu-west-1\n").as_bytes(),
    );
    write_file(
        root,
        "deploy/keys/id_rsa",
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n{}\n{}\n-----END RSA PRIVATE KEY-----\n",
            PEM_BODY[0], PEM_BODY[1], PEM_BODY[2]
        )
        .as_bytes(),
    );
    // Not a key: the checksum does not match.
    write_file(
        root,
        "notes/todo.txt",
        format!(
            "Rotate the dashboard credential next week.\nold value was {}\n",
            with_bad_checksum(&ssk_key.key)
        )
        .as_bytes(),
    );
    let mut bin: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bin.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    write_file(root, "assets/logo.bin", &bin);
    let mut secrets = vec![
        ssk_key.key.clone(),
        ssk_key.secret().to_string(),
        AWS_KEY.to_string(),
        PASSWORD.to_string(),
    ];
    secrets.extend(PEM_BODY.iter().map(|s| s.to_string()));
    Fixture {
        dir,
        planted: vec![
            Planted {
                file: "src/app/client.js",
                line: 4,
                rule: "securescan-api-key",
                severity: "critical",
            },
            Planted {
                file: "config/settings.py",
                line: 4,
                rule: "generic-secret",
                severity: "medium",
            },
            Planted {
                file: "deploy/aws.txt",
                line: 2,
                rule: "aws-access-key-id",
                severity: "high",
            },
            Planted {
                file: "deploy/keys/id_rsa",
                line: 1,
                rule: "private-key",
                severity: "critical",
            },
        ],
        secrets,
        text_files: 6,
        all_files: 7,
    }
}

/// A tree of `n` small source files, big enough that a scan of it is still
/// busy a few requests after it was created.
fn big_tree(n: usize) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = String::new();
    for i in 0..60 {
        body.push_str(&format!(
            "def handler_{i}(request):\n    return render(request, \"page_{i}.html\", {{\"n\": {i}}})\n"
        ));
    }
    for i in 0..n {
        let p = dir
            .path()
            .join(format!("pkg{:02}/sub{:02}/mod{i:05}.py", i % 30, i % 7));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &body).unwrap();
    }
    dir
}

/// A tiny tree with one planted AWS key.
fn small_tree() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "a.txt", b"hello\nworld\n");
    write_file(dir.path(), "b/c.txt", format!("key {AWS_KEY}\n").as_bytes());
    dir
}

/// Follows a scan to its end through its event stream (with a key); returns
/// the stream.
async fn run_to_end(app: &TestApp, scan: &str, key: Option<&str>) -> Stream {
    settle(app, scan, key).await;
    let s = expect_stream(
        open_events(app, scan, None, key, None).await,
        &format!("events of {scan} with a key"),
    )
    .await;
    check_sequence(&s, 1, "run_to_end");
    s
}

// ================================================================= tests ==

// (1) The whole path: create, mint, follow the stream with only the token,
// then the findings.
#[tokio::test]
async fn end_to_end_scan_followed_over_sse_with_only_the_event_token() {
    let Hardened { app, admin } = hardened().await;
    let planted_key = app
        .create_key_api(Some(&admin.key), "dashboard-planted", &["read"])
        .await;
    let fx = plant(&planted_key);

    let record = create_scan(&app, Some(&admin.key), fx.dir.path(), &["code"]).await;
    assert_eq!(
        record["skipped"],
        json!([]),
        "only code was asked for: {record}"
    );
    let id = id_of(&record);
    let token = mint(&app, &id, Some(&admin.key)).await;

    let ctx = "events with only the event token";
    let s = expect_stream(open_events(&app, &id, Some(&token), None, None).await, ctx).await;
    check_sequence(&s, 1, ctx);
    assert_eq!(
        s.frames[0].name(),
        "scan.start",
        "{ctx}: first event: {:?}",
        s.names()
    );
    assert_eq!(
        s.last().name(),
        "scan.complete",
        "{ctx}: last event: {:?}",
        s.names()
    );

    let progress = s.named("scan.progress");
    assert!(
        !progress.is_empty(),
        "{ctx}: no scan.progress event: {:?}",
        s.names()
    );
    let mut done_before = 0;
    for p in &progress {
        let d = p.json();
        let done = d["files_done"]
            .as_u64()
            .unwrap_or_else(|| panic!("{ctx}: scan.progress without files_done: {d}"));
        let total = d["total_files"]
            .as_u64()
            .unwrap_or_else(|| panic!("{ctx}: scan.progress without total_files: {d}"));
        assert!(done <= total, "{ctx}: files_done > total_files: {d}");
        assert!(done >= done_before, "{ctx}: files_done went backwards: {d}");
        done_before = done;
    }
    let finding_events = s.named("finding");
    assert_eq!(
        finding_events.len(),
        fx.planted.len(),
        "{ctx}: one finding event per planted secret: {:?}",
        s.names()
    );
    for f in &finding_events {
        f.json();
    }
    let complete = s.last().json();
    assert_eq!(
        complete["findings"].as_u64(),
        Some(fx.planted.len() as u64),
        "{ctx}: scan.complete findings count: {complete}"
    );
    for secret in &fx.secrets {
        assert!(
            !s.raw.contains(secret.as_str()),
            "{ctx}: the event stream shows the secret {secret:?}:\n{}",
            s.raw
        );
    }

    // The record.
    let rec = get_scan(&app, &id, Some(&admin.key)).await;
    assert_eq!(
        rec["status"], "completed",
        "record after scan.complete: {rec}"
    );
    assert_eq!(
        rec["findings_count"].as_u64(),
        Some(fx.planted.len() as u64),
        "{rec}"
    );
    assert!(
        rec["started_at"].is_string(),
        "started_at of a completed scan: {rec}"
    );
    assert!(
        rec["completed_at"].is_string(),
        "completed_at of a completed scan: {rec}"
    );
    assert!(rec["error"].is_null(), "error of a completed scan: {rec}");
    let scanned = rec["files_scanned"].as_u64().unwrap_or(0);
    assert!(
        (fx.text_files..=fx.all_files).contains(&scanned),
        "files_scanned {scanned} not in {}..={}: {rec}",
        fx.text_files,
        fx.all_files
    );

    // The findings.
    let findings = get_findings(&app, &id, Some(&admin.key)).await;
    for f in &findings {
        for k in ["file", "line", "rule", "severity", "excerpt"] {
            assert!(f.get(k).is_some(), "finding without {k:?}: {f}");
        }
        let excerpt = f["excerpt"]
            .as_str()
            .unwrap_or_else(|| panic!("excerpt is not a string: {f}"));
        for secret in &fx.secrets {
            assert!(
                !excerpt.contains(secret.as_str()),
                "the excerpt shows the secret {secret:?}: {f}"
            );
        }
    }
    for p in &fx.planted {
        let at: Vec<&Value> = findings
            .iter()
            .filter(|f| f["file"] == p.file && f["line"].as_u64() == Some(p.line))
            .collect();
        assert_eq!(
            at.len(),
            1,
            "exactly one finding at {}:{} ({}); all findings: {findings:#?}",
            p.file,
            p.line,
            p.rule
        );
        assert_eq!(
            at[0]["rule"], p.rule,
            "rule at {}:{}: {}",
            p.file, p.line, at[0]
        );
        assert_eq!(
            at[0]["severity"], p.severity,
            "severity at {}:{}: {}",
            p.file, p.line, at[0]
        );
    }
    assert_eq!(
        findings.len(),
        fx.planted.len(),
        "nothing but the planted secrets (README, the bad-checksum decoy and the binary are clean): {findings:#?}"
    );

    // The same stream again, by key this time: the full replay, identical.
    let again = run_to_end(&app, &id, Some(&admin.key)).await;
    assert_eq!(again.names(), s.names(), "replay by key: same events");
    assert_eq!(
        again
            .frames
            .iter()
            .map(|f| f.data.clone())
            .collect::<Vec<_>>(),
        s.frames.iter().map(|f| f.data.clone()).collect::<Vec<_>>(),
        "replay by key: same data"
    );

    // Listed; no longer cancellable; deletable.
    let (status, _, list) = json_of(app.get("/api/v1/scans", Some(&admin.key)).await).await;
    assert_eq!(status, 200, "GET /api/v1/scans: {list}");
    assert!(
        list.as_array()
            .is_some_and(|a| a.iter().any(|r| r["id"] == id.as_str())),
        "the scan is listed: {list}"
    );
    let resp = send(app.request(
        Method::POST,
        &format!("/api/v1/scans/{id}/cancel"),
        Some(&admin.key),
    ))
    .await;
    assert_detail(
        resp,
        409,
        "Scan cannot be cancelled (status: completed)",
        "cancel a completed scan",
    )
    .await;

    let mut needles: Vec<&str> = vec![&token, &admin.key, admin.secret()];
    needles.extend(fx.secrets.iter().map(String::as_str));
    assert_logs_free_of(&app, &needles, "after the end-to-end scan");

    let resp = app
        .delete(&format!("/api/v1/scans/{id}"), Some(&admin.key))
        .await;
    assert_eq!(resp.status(), 204, "DELETE a completed scan");
    let resp = app
        .get(&format!("/api/v1/scans/{id}"), Some(&admin.key))
        .await;
    assert_detail(resp, 404, "Scan not found", "GET a deleted scan").await;
}

// A client that subscribes right after `POST /api/v1/scans` (before the scan
// task published anything) gets the live stream from `scan.start`, not a
// synthesized terminal event for a scan that is still pending.
#[tokio::test]
async fn stream_opened_right_after_creation_is_live() {
    let Hardened { app, admin } = hardened_with(&[("SECURESCAN_RATE_LIMIT_ENABLED", "0")]).await;
    let key = Some(admin.key.as_str());
    let tree = small_tree();
    // Several clients at once, each subscribing as soon as it has the id:
    // what a dashboard does when a CI run starts a batch of scans.
    let follow = |round: usize| {
        let app = &app;
        let target = tree.path();
        async move {
            let id = id_of(&create_scan(app, key, target, &["code"]).await);
            let ctx = format!("client {round}: events opened right after creation");
            let s = expect_stream(open_events(app, &id, None, key, None).await, &ctx).await;
            (ctx, s)
        }
    };
    let results = futures::future::join_all((1..=20).map(follow)).await;
    for (ctx, s) in &results {
        assert!(
            s.frames.iter().all(|f| !f.data.contains("synthesized")),
            "{ctx}: a synthesized event for a scan that had not finished: {:?}",
            s.frames
        );
        check_sequence(s, 1, ctx);
        assert_eq!(s.frames[0].name(), "scan.start", "{ctx}: {:?}", s.frames);
        assert_eq!(s.last().name(), "scan.complete", "{ctx}: {:?}", s.frames);
        assert_eq!(s.named("finding").len(), 1, "{ctx}: {:?}", s.names());
    }
}

// The token is the reference's format, and a token minted the reference way
// is accepted (the dashboard keeps working).
#[tokio::test]
async fn event_token_has_the_reference_format() {
    let Hardened { app, admin } = hardened().await;
    let tree = small_tree();
    let id = id_of(&create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await);
    settle(&app, &id, Some(&admin.key)).await;
    let before = now_secs();
    let token = mint(&app, &id, Some(&admin.key)).await;
    let after = now_secs();
    let (scan, key_id, exp, sig) = decode_token(&token);
    assert_eq!(scan, id, "token scan id");
    assert_eq!(key_id, admin.id, "token key id is the DB key id");
    assert!(
        (before + 300..=after + 300).contains(&exp),
        "expires_at {exp} is not now+300 ({before}..{after})"
    );
    assert_eq!(
        sig,
        sign(EVENT_SECRET, &format!("{scan}|{key_id}|{exp}")),
        "sig is b64url(HMAC-SHA256(secret, scan|key|exp))"
    );

    // Minted here the reference way, with the deployment's secret.
    let crafted = craft_token(EVENT_SECRET, &id, &admin.id, now_secs() + 120);
    let s = expect_stream(
        open_events(&app, &id, Some(&crafted), None, None).await,
        "events with a reference-minted token",
    )
    .await;
    check_sequence(&s, 1, "events with a reference-minted token");

    // The legacy prefix takes the token too.
    let resp = open_events_at(
        &app,
        &format!("/api/scans/{id}/events"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(
        resp.headers().get("deprecation").map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "legacy events route: Deprecation header"
    );
    let s = expect_stream(resp, "legacy events route with the token").await;
    check_sequence(&s, 1, "legacy events route with the token");
    assert_logs_free_of(&app, &[&token, &crafted], "after token use");
}

// (2) Every token rejection on a hardened deployment, each with its detail.
#[tokio::test]
async fn event_token_rejections() {
    let Hardened { app, admin } = hardened().await;
    let tree = small_tree();
    let a = id_of(&create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await);
    let b = id_of(&create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await);
    settle(&app, &a, Some(&admin.key)).await;
    let token_a = mint(&app, &a, Some(&admin.key)).await;
    let token_b = mint(&app, &b, Some(&admin.key)).await;
    const INVALID: &str = "Invalid or expired event token";

    assert_events_401(&app, &a, "garbage", INVALID, "a garbage token").await;
    assert_events_401(&app, &a, "ssk_not_a_token", INVALID, "a key-looking token").await;
    let flipped = flip_char(&token_a);
    assert_ne!(flipped, token_a);
    assert_events_401(
        &app,
        &a,
        &flipped,
        INVALID,
        "a token with one character changed",
    )
    .await;
    let wrong_secret = craft_token(OTHER_SECRET, &a, &admin.id, now_secs() + 200);
    assert_events_401(
        &app,
        &a,
        &wrong_secret,
        INVALID,
        "a token signed with another secret",
    )
    .await;
    let expired = craft_token(EVENT_SECRET, &a, &admin.id, now_secs() - 60);
    assert_events_401(
        &app,
        &a,
        &expired,
        INVALID,
        "an expired token (right secret)",
    )
    .await;
    let unsigned = URL_SAFE_NO_PAD.encode(format!("{a}|{}|{}|", admin.id, now_secs() + 200));
    assert_events_401(&app, &a, &unsigned, INVALID, "a token without a signature").await;

    // Scan binding.
    assert_events_401(
        &app,
        &b,
        &token_a,
        "Token does not match scan id",
        "token of scan A on scan B",
    )
    .await;
    assert_events_401(
        &app,
        &a,
        &token_b,
        "Token does not match scan id",
        "token of scan B on scan A",
    )
    .await;

    // A valid token is no credential anywhere else.
    for (method, path) in [
        (Method::GET, format!("/api/v1/scans/{a}")),
        (Method::GET, format!("/api/v1/scans/{a}/findings")),
        (Method::GET, "/api/v1/scans".to_string()),
        (Method::POST, format!("/api/v1/scans/{a}/event-token")),
        (Method::POST, format!("/api/v1/scans/{a}/cancel")),
        (Method::DELETE, format!("/api/v1/scans/{a}")),
        (Method::GET, "/api/v1/keys".to_string()),
    ] {
        let resp = send(
            app.request(method.clone(), &path, None)
                .query(&[("event_token", &token_a)]),
        )
        .await;
        assert_detail(
            resp,
            401,
            "Invalid event token route",
            &format!("{method} {path}?event_token=<valid token>"),
        )
        .await;
    }
    // The scan was not touched by any of that.
    get_scan(&app, &a, Some(&admin.key)).await;

    // Still good on its own route.
    let s = expect_stream(
        open_events(&app, &a, Some(&token_a), None, None).await,
        "the valid token after the rejections",
    )
    .await;
    check_sequence(&s, 1, "the valid token after the rejections");

    // Minted by a server with another secret (same database, so the scan exists there).
    let other = Prepared {
        dir: tempfile::tempdir().expect("tempdir"),
        db_url: app.db_url.clone(),
    }
    .spawn(&[
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_EVENT_TOKEN_SECRET", OTHER_SECRET),
    ])
    .await;
    let foreign = mint(&other, &a, Some(&admin.key)).await;
    assert_ne!(foreign, token_a);
    assert_events_401(
        &app,
        &a,
        &foreign,
        INVALID,
        "a token minted by a server with another secret",
    )
    .await;
    let (foreign_scan, _, _, _) = decode_token(&foreign);
    assert_eq!(foreign_scan, a);

    assert_logs_free_of(
        &app,
        &[
            &token_a,
            &token_b,
            &flipped,
            &wrong_secret,
            &expired,
            &foreign,
        ],
        "after the token rejections",
    );
}

#[tokio::test]
async fn token_of_a_revoked_key_is_refused() {
    let Hardened { app, admin } = hardened().await;
    let reader = app
        .create_key_api(Some(&admin.key), "read-only-monitoring", &["read"])
        .await;
    let tree = small_tree();
    let id = id_of(&create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await);
    settle(&app, &id, Some(&admin.key)).await;
    let token = mint(&app, &id, Some(&reader.key)).await;
    let (_, key_id, _, _) = decode_token(&token);
    assert_eq!(key_id, reader.id, "the token is bound to the read key");
    let s = expect_stream(
        open_events(&app, &id, Some(&token), None, None).await,
        "events with the read key's token",
    )
    .await;
    check_sequence(&s, 1, "events with the read key's token");

    let resp = app
        .delete(&format!("/api/v1/keys/{}", reader.id), Some(&admin.key))
        .await;
    assert_eq!(resp.status(), 204, "revoke the read key");
    assert_events_401(
        &app,
        &id,
        &token,
        "Bound key is revoked or missing",
        "token of a key revoked after minting",
    )
    .await;
    assert_logs_free_of(&app, &[&token, &reader.key], "after the revoked-key token");
}

#[tokio::test]
async fn env_key_token_after_restart_without_the_env_key() {
    // One database for both processes, outliving both.
    let shared = tempfile::tempdir().expect("tempdir");
    let db_url = format!("sqlite://{}/shared.db?mode=rwc", shared.path().display());
    let first = Prepared {
        dir: tempfile::tempdir().expect("tempdir"),
        db_url: db_url.clone(),
    };
    let admin = first.create_key("breakglass-admin", &["admin"]);
    let mut env = hardened_env();
    env.push(("SECURESCAN_API_KEY", ENV_KEY));
    let app = first.spawn(&env).await;

    let tree = small_tree();
    let id = id_of(&create_scan(&app, Some(ENV_KEY), tree.path(), &["code"]).await);
    settle(&app, &id, Some(ENV_KEY)).await;
    let token = mint(&app, &id, Some(ENV_KEY)).await;
    let (_, key_id, _, _) = decode_token(&token);
    assert_eq!(
        key_id, "env",
        "a token minted with the env key is bound to `env`"
    );
    let s = expect_stream(
        open_events(&app, &id, Some(&token), None, None).await,
        "events with the env key's token",
    )
    .await;
    check_sequence(&s, 1, "events with the env key's token");
    assert_logs_free_of(&app, &[&token, ENV_KEY], "first process");
    drop(app);

    // Same secret, same database, no env key.
    let app = Prepared {
        dir: tempfile::tempdir().expect("tempdir"),
        db_url,
    }
    .spawn(&hardened_env())
    .await;
    assert_events_401(
        &app,
        &id,
        &token,
        "Env-var key no longer configured",
        "env-key token after a restart without the env key",
    )
    .await;
    // The scan itself is still there for a DB key, and so are its events
    // (persisted, within the retention time): the new process replays the
    // same stream, with the same ids, from the table.
    let replayed = expect_stream(
        open_events(&app, &id, None, Some(&admin.key), None).await,
        "events of a scan from the previous process",
    )
    .await;
    assert_eq!(
        replayed.names(),
        s.names(),
        "same events after a restart: {:?}",
        replayed.frames
    );
    check_sequence(&replayed, 1, "replayed after a restart");
    assert_logs_free_of(&app, &[&token], "second process");
}

#[tokio::test]
async fn dev_mode_token_is_refused_once_auth_is_enabled() {
    let app = TestApp::spawn(&[("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET)]).await;
    let tree = small_tree();
    let id = id_of(&create_scan(&app, None, tree.path(), &["code"]).await);
    settle(&app, &id, None).await;
    let token = mint(&app, &id, None).await;
    let (_, key_id, _, _) = decode_token(&token);
    assert_eq!(key_id, "dev", "a dev-mode token is bound to `dev`");
    let s = expect_stream(
        open_events(&app, &id, Some(&token), None, None).await,
        "events with a dev-mode token in dev mode",
    )
    .await;
    check_sequence(&s, 1, "events with a dev-mode token in dev mode");

    let key = app
        .create_key_api(None, "first-key", &["read", "write"])
        .await;
    assert_events_401(
        &app,
        &id,
        &token,
        "Dev-mode token no longer valid (auth has been enabled)",
        "dev-mode token after a DB key was created",
    )
    .await;
    let s = expect_stream(
        open_events(&app, &id, None, Some(&key.key), None).await,
        "events with the new key",
    )
    .await;
    check_sequence(&s, 1, "events with the new key");
    assert_logs_free_of(&app, &[&token, &key.key], "dev mode");
}

// (3) Last-Event-ID resumes after N with the buffered events.
#[tokio::test]
async fn last_event_id_resumes_a_completed_scan() {
    let Hardened { app, admin } = hardened().await;
    let planted_key = app
        .create_key_api(Some(&admin.key), "planted", &["read"])
        .await;
    let fx = plant(&planted_key);
    let id = id_of(&create_scan(&app, Some(&admin.key), fx.dir.path(), &["code"]).await);
    settle(&app, &id, Some(&admin.key)).await;
    let token = mint(&app, &id, Some(&admin.key)).await;
    let full = expect_stream(
        open_events(&app, &id, Some(&token), None, None).await,
        "full stream",
    )
    .await;
    check_sequence(&full, 1, "full stream");
    let n = full.frames.len() as u64;
    assert!(
        n >= 4,
        "start, progress, findings, complete: {:?}",
        full.names()
    );

    for after in [1, 2, n / 2, n - 1] {
        let ctx = format!("Last-Event-ID: {after} (of {n})");
        let s = expect_stream(
            open_events(&app, &id, Some(&token), None, Some(after)).await,
            &ctx,
        )
        .await;
        check_sequence(&s, after + 1, &ctx);
        let want = &full.frames[after as usize..];
        assert_eq!(
            s.names(),
            want.iter().map(Frame::name).collect::<Vec<_>>(),
            "{ctx}: the replay is the rest of the stream"
        );
        assert_eq!(
            s.frames.iter().map(|f| f.data.as_str()).collect::<Vec<_>>(),
            want.iter().map(|f| f.data.as_str()).collect::<Vec<_>>(),
            "{ctx}: same data"
        );
    }
    // With a key instead of a token.
    let s = expect_stream(
        open_events(&app, &id, None, Some(&admin.key), Some(2)).await,
        "Last-Event-ID: 2 with a key",
    )
    .await;
    check_sequence(&s, 3, "Last-Event-ID: 2 with a key");
    assert_logs_free_of(&app, &[&token], "after resumes");
}

// An EventSource reconnects after the server closes; resuming after the
// terminal event must not hold the connection open forever.
#[tokio::test]
async fn resume_after_the_terminal_event_ends() {
    let Hardened { app, admin } = hardened().await;
    let tree = small_tree();
    let id = id_of(&create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await);
    let full = run_to_end(&app, &id, Some(&admin.key)).await;
    let n = full.frames.len() as u64;
    let ctx = format!("Last-Event-ID: {n} (the terminal event)");
    let s = expect_stream(
        open_events(&app, &id, None, Some(&admin.key), Some(n)).await,
        &ctx,
    )
    .await;
    for f in &s.frames {
        assert!(
            f.id.is_none_or(|i| i > n) || f.is_terminal(),
            "{ctx}: an already delivered event was sent again: {f:?}"
        );
    }
    if let Some(last) = s.frames.last() {
        assert!(
            last.is_terminal(),
            "{ctx}: the stream ends on a terminal event: {:?}",
            s.frames
        );
    }
}

// (4) Cancel right after creation.
#[tokio::test]
async fn cancel_mid_scan_ends_the_stream_with_scan_cancelled() {
    let Hardened { app, admin } = hardened().await;
    let key = Some(admin.key.as_str());
    let tree = big_tree(BIG);

    // Cancelled right after creation.
    let id = id_of(&create_scan(&app, key, tree.path(), &["code"]).await);
    let (status, rec) = cancel(&app, &id, key).await;
    assert_eq!(
        status, 200,
        "cancel right after creation: {rec} (a 409 `completed` means the {BIG}-file tree scanned before the next request)"
    );
    assert_eq!(
        rec["status"], "cancelled",
        "cancel answers the record: {rec}"
    );
    assert_eq!(rec["id"], id.as_str(), "{rec}");
    // A moment for the scan task to notice (the "stream opened before the
    // first event" race has its own test).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token = mint(&app, &id, key).await;
    let ctx = "events of a scan cancelled right after creation";
    let s = expect_stream(open_events(&app, &id, Some(&token), None, None).await, ctx).await;
    check_sequence(&s, 1, ctx);
    assert_eq!(s.last().name(), "scan.cancelled", "{ctx}: {:?}", s.names());
    assert!(
        s.named("scan.complete").is_empty(),
        "{ctx}: {:?}",
        s.names()
    );

    let rec = wait_finished(&app, &id, key).await;
    assert_eq!(
        rec["status"], "cancelled",
        "the record stays cancelled: {rec}"
    );
    let resp = send(app.request(Method::POST, &format!("/api/v1/scans/{id}/cancel"), key)).await;
    assert_detail(
        resp,
        409,
        "Scan cannot be cancelled (status: cancelled)",
        "cancel twice",
    )
    .await;
    let resp = app.delete(&format!("/api/v1/scans/{id}"), key).await;
    assert_eq!(resp.status(), 204, "DELETE a cancelled scan");

    // Cancelled while a client follows it live.
    let id = id_of(&create_scan(&app, key, tree.path(), &["code"]).await);
    settle(&app, &id, key).await;
    let token2 = mint(&app, &id, key).await;
    let resp = open_events(&app, &id, Some(&token2), None, None).await;
    let (status, rec) = cancel(&app, &id, key).await;
    assert_eq!(
        status, 200,
        "cancel a running scan with a subscriber: {rec} (a 409 `completed` means the {BIG}-file tree scanned too fast)"
    );
    assert_eq!(rec["status"], "cancelled", "{rec}");
    let ctx = "events of a scan cancelled while followed";
    let s = expect_stream(resp, ctx).await;
    check_sequence(&s, 1, ctx);
    assert_eq!(s.frames[0].name(), "scan.start", "{ctx}: {:?}", s.names());
    assert_eq!(s.last().name(), "scan.cancelled", "{ctx}: {:?}", s.names());
    assert!(
        s.named("scan.complete").is_empty(),
        "{ctx}: {:?}",
        s.names()
    );
    let rec = wait_finished(&app, &id, key).await;
    assert_eq!(
        rec["status"], "cancelled",
        "the record stays cancelled: {rec}"
    );
    assert_logs_free_of(&app, &[&token, &token2], "after cancel");
}

// (9) DELETE is refused while the scan is busy, allowed once it is not.
#[tokio::test]
async fn delete_is_409_while_busy_and_204_after() {
    let Hardened { app, admin } = hardened().await;
    let key = Some(admin.key.as_str());
    let tree = big_tree(BIG);
    let id = id_of(&create_scan(&app, key, tree.path(), &["code"]).await);
    let path = format!("/api/v1/scans/{id}");

    let (status, _, body) = json_of(app.delete(&path, key).await).await;
    assert_eq!(status, 409, "DELETE right after creation: {body}");
    let busy = [
        json!({"detail": "Scan is pending; cancel it before deleting"}),
        json!({"detail": "Scan is running; cancel it before deleting"}),
    ];
    assert!(busy.contains(&body), "DELETE of a busy scan: {body}");

    // Once it is seen running, the detail says so.
    let deadline = Instant::now() + SCAN_TIMEOUT;
    loop {
        let rec = get_scan(&app, &id, key).await;
        match rec["status"].as_str() {
            Some("running") => break,
            Some("pending") => {}
            _ => panic!("the 3000-file scan finished before it was seen running: {rec}"),
        }
        assert!(Instant::now() < deadline, "scan never started: {rec}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let resp = app.delete(&path, key).await;
    assert_detail(
        resp,
        409,
        "Scan is running; cancel it before deleting",
        "DELETE of a running scan",
    )
    .await;

    let (status, rec) = cancel(&app, &id, key).await;
    assert_eq!(status, 200, "cancel the running scan: {rec}");
    assert_eq!(rec["status"], "cancelled", "{rec}");
    let resp = app.delete(&path, key).await;
    assert_eq!(resp.status(), 204, "DELETE after cancel");
    assert_detail(
        app.get(&path, key).await,
        404,
        "Scan not found",
        "GET after DELETE",
    )
    .await;
    assert_detail(
        app.delete(&path, key).await,
        404,
        "Scan not found",
        "DELETE twice",
    )
    .await;

    // A scan that ran to completion is deletable too.
    let small = small_tree();
    let id = id_of(&create_scan(&app, key, small.path(), &["code"]).await);
    let rec = wait_finished(&app, &id, key).await;
    assert_eq!(rec["status"], "completed", "{rec}");
    let resp = app.delete(&format!("/api/v1/scans/{id}"), key).await;
    assert_eq!(resp.status(), 204, "DELETE a completed scan");
    let (status, _, list) = json_of(app.get("/api/v1/scans", key).await).await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .is_some_and(|a| !a.iter().any(|r| r["id"] == id.as_str())),
        "a deleted scan is not listed: {list}"
    );
}

// (5) The token bucket on POST /api/v1/scans.
#[tokio::test]
async fn rate_limit_answers_429_after_the_burst() {
    let Hardened { app, admin } = hardened_with(&[
        ("SECURESCAN_RATE_LIMIT_BURST", "3"),
        ("SECURESCAN_RATE_LIMIT_PER_MIN", "1"),
    ])
    .await;
    let writer = app
        .create_key_api(Some(&admin.key), "ci-runner", &["read", "write"])
        .await;
    let tree = small_tree();
    let target = path_str(tree.path());

    for i in 0..3u64 {
        let resp = post_scan(&app, Some(&admin.key), target, &["code"]).await;
        let (status, h, v) = json_of(resp).await;
        assert_eq!(status, 200, "POST #{} within the burst: {v}", i + 1);
        let ctx = format!("POST #{} within the burst", i + 1);
        assert_eq!(
            header_u64(&h, "x-ratelimit-limit", &ctx),
            3,
            "{ctx}: X-RateLimit-Limit"
        );
        assert_eq!(
            header_u64(&h, "x-ratelimit-remaining", &ctx),
            2 - i,
            "{ctx}: X-RateLimit-Remaining"
        );
        header_u64(&h, "x-ratelimit-reset", &ctx);
    }

    let resp = send(
        app.request(Method::POST, "/api/v1/scans", Some(&admin.key))
            .header("X-Request-ID", "rate-limit-probe-4")
            .json(&json!({ "target_path": target, "scan_types": ["code"] })),
    )
    .await;
    let h = assert_detail(resp, 429, "Rate limit exceeded", "4th POST within a second").await;
    let ctx = "429";
    assert!(
        header_u64(&h, "retry-after", ctx) >= 1,
        "Retry-After >= 1: {h:?}"
    );
    assert_eq!(
        header_u64(&h, "x-ratelimit-limit", ctx),
        3,
        "X-RateLimit-Limit on 429"
    );
    assert_eq!(
        header_u64(&h, "x-ratelimit-remaining", ctx),
        0,
        "X-RateLimit-Remaining on 429"
    );
    header_u64(&h, "x-ratelimit-reset", ctx);
    assert_eq!(
        header(&h, "x-request-id").as_deref(),
        Some("rate-limit-probe-4"),
        "X-Request-ID echoed on 429"
    );

    // Only 3 scans were created.
    let (_, _, list) = json_of(app.get("/api/v1/scans", Some(&admin.key)).await).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(3),
        "scans after a 429: {list}"
    );

    // Another key has its own bucket.
    let resp = post_scan(&app, Some(&writer.key), target, &["code"]).await;
    let (status, h, v) = json_of(resp).await;
    assert_eq!(
        status, 200,
        "another key is not limited by the first one's bucket: {v}"
    );
    assert_eq!(
        header_u64(&h, "x-ratelimit-remaining", "other key"),
        2,
        "a fresh bucket"
    );

    // Reading is not rate limited.
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/scans", Some(&admin.key)).await.status(),
            200
        );
    }
    // The first key is still limited.
    let resp = post_scan(&app, Some(&admin.key), target, &["code"]).await;
    assert_detail(
        resp,
        429,
        "Rate limit exceeded",
        "5th POST with the first key",
    )
    .await;

    let logs = app.logs();
    assert!(
        logs.lines().any(|l| l.contains("rate limited")),
        "no log line mentions `rate limited`:\n{logs}"
    );
    assert_logs_free_of(
        &app,
        &[&admin.key, admin.secret(), &writer.key, writer.secret()],
        "rate limiting",
    );
    let limited: Vec<Value> = app
        .request_lines()
        .into_iter()
        .filter(|l| field_u64(l, "status") == Some(429))
        .collect();
    assert!(
        !limited.is_empty(),
        "no securescan.request line with status 429:\n{logs}"
    );
}

#[tokio::test]
async fn rate_limit_can_be_disabled() {
    let tree = small_tree();
    let target = path_str(tree.path());
    // Control: a burst of 1 limits the second POST (dev mode: per address).
    let on = TestApp::spawn(&[
        ("SECURESCAN_RATE_LIMIT_BURST", "1"),
        ("SECURESCAN_RATE_LIMIT_PER_MIN", "1"),
    ])
    .await;
    assert_eq!(post_scan(&on, None, target, &["code"]).await.status(), 200);
    let resp = post_scan(&on, None, target, &["code"]).await;
    assert_detail(
        resp,
        429,
        "Rate limit exceeded",
        "dev mode, burst 1, 2nd POST",
    )
    .await;
    drop(on);

    let off = TestApp::spawn(&[
        ("SECURESCAN_RATE_LIMIT_BURST", "1"),
        ("SECURESCAN_RATE_LIMIT_PER_MIN", "1"),
        ("SECURESCAN_RATE_LIMIT_ENABLED", "0"),
    ])
    .await;
    for i in 0..6 {
        let (status, _, v) = json_of(post_scan(&off, None, target, &["code"]).await).await;
        assert_eq!(status, 200, "rate limit disabled, POST #{}: {v}", i + 1);
    }
}

// (6) Checklist check 3, and the scopes of the scans routes.
#[tokio::test]
async fn check_3_read_key_cannot_create_a_scan() {
    let Hardened { app, admin } = hardened().await;
    let read = app
        .create_key_api(Some(&admin.key), "read-only-monitoring", &["read"])
        .await;
    let write = app
        .create_key_api(Some(&admin.key), "ci-writer", &["write"])
        .await;

    // As curl -d sends it.
    let resp = send(
        app.request(Method::POST, "/api/v1/scans", Some(&read.key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(r#"{"target_path":"/tmp","scan_types":["code"]}"#),
    )
    .await;
    assert_detail(
        resp,
        403,
        "Requires scope: write",
        "check 3: POST /api/v1/scans with READ_KEY",
    )
    .await;
    let resp = post_scan(&app, Some(&read.key), "/tmp", &["code"]).await;
    assert_detail(
        resp,
        403,
        "Requires scope: write",
        "POST /api/v1/scans (JSON) with READ_KEY",
    )
    .await;
    let (_, _, list) = json_of(app.get("/api/v1/scans", Some(&admin.key)).await).await;
    assert_eq!(list, json!([]), "no scan was created by the read key");

    // The write key creates; the read key reads.
    let tree = small_tree();
    let id = id_of(&create_scan(&app, Some(&write.key), tree.path(), &["code"]).await);
    settle(&app, &id, Some(&read.key)).await;
    let path = format!("/api/v1/scans/{id}");
    assert_eq!(
        app.get("/api/v1/scans", Some(&read.key)).await.status(),
        200
    );
    assert_eq!(app.get(&path, Some(&read.key)).await.status(), 200);
    assert_eq!(
        app.get(&format!("{path}/findings"), Some(&read.key))
            .await
            .status(),
        200
    );
    let token = mint(&app, &id, Some(&read.key)).await;
    let s = expect_stream(
        open_events(&app, &id, Some(&token), None, None).await,
        "read key's token",
    )
    .await;
    check_sequence(&s, 1, "read key's token");
    let s = expect_stream(
        open_events(&app, &id, None, Some(&read.key), None).await,
        "read key header",
    )
    .await;
    check_sequence(&s, 1, "read key header");

    // read and write are independent.
    let resp = send(app.request(
        Method::POST,
        &format!("{path}/event-token"),
        Some(&write.key),
    ))
    .await;
    assert_detail(
        resp,
        403,
        "Requires scope: read",
        "event-token with a write-only key",
    )
    .await;
    let resp = open_events(&app, &id, None, Some(&write.key), None).await;
    assert_detail(
        resp,
        403,
        "Requires scope: read",
        "events with a write-only key",
    )
    .await;
    assert_detail(
        app.get(&path, Some(&write.key)).await,
        403,
        "Requires scope: read",
        "GET scan, write key",
    )
    .await;
    let resp = send(app.request(Method::POST, &format!("{path}/cancel"), Some(&read.key))).await;
    assert_detail(resp, 403, "Requires scope: write", "cancel with a read key").await;
    assert_detail(
        app.delete(&path, Some(&read.key)).await,
        403,
        "Requires scope: write",
        "DELETE with a read key",
    )
    .await;
    // No key at all on a hardened deployment.
    let resp = open_events(&app, &id, None, None, None).await;
    assert_detail(
        resp,
        401,
        "X-API-Key header required",
        "events without key or token",
    )
    .await;
}

// (7) Request validation.
#[tokio::test]
async fn scan_request_validation() {
    // Every refused request draws from the bucket too: many requests here.
    let Hardened { app, admin } = hardened_with(&[("SECURESCAN_RATE_LIMIT_ENABLED", "0")]).await;
    let key = Some(admin.key.as_str());
    let tree = small_tree();
    let target = path_str(tree.path());

    let resp = post_scan(&app, key, target, &["code", "bogus"]).await;
    assert_detail(resp, 422, "Unknown scan type: bogus", "unknown scan type").await;
    let resp = app
        .post_json("/api/v1/scans", key, &json!({ "scan_types": ["code"] }))
        .await;
    assert_detail(resp, 422, "target_path is required", "no target_path").await;
    let resp = post_scan(&app, key, target, &[]).await;
    assert_detail(
        resp,
        422,
        "scan_types must not be empty",
        "empty scan_types",
    )
    .await;
    let resp = post_scan(&app, key, "/nonexistent/securescan-test/deeper", &["code"]).await;
    assert_detail(resp, 400, "Target path does not exist", "nonexistent path").await;

    // Protected system paths, and ways around the prefix check.
    let link_dir = tempfile::tempdir().expect("tempdir");
    let link = link_dir.path().join("innocent");
    std::os::unix::fs::symlink("/proc", &link).expect("symlink");
    let link = path_str(&link).to_string();
    for p in [
        "/proc",
        "/sys",
        "/etc/shadow",
        "/proc/self",
        "/sys/kernel",
        "/proc/",
        "/tmp/../proc",
        link.as_str(),
    ] {
        let resp = post_scan(&app, key, p, &["code"]).await;
        assert_detail(
            resp,
            400,
            "Target path is a protected system path",
            &format!("target_path {p:?}"),
        )
        .await;
    }
    let (_, _, list) = json_of(app.get("/api/v1/scans", key).await).await;
    assert_eq!(
        list,
        json!([]),
        "no scan recorded for a refused request: {list}"
    );

    // Known types without a scanner are accepted and recorded as skipped.
    let all = ["code", "dependency", "iac", "baseline", "dast", "network"];
    let rec = create_scan(&app, key, tree.path(), &all).await;
    let skipped = rec["skipped"].as_array().expect("skipped array");
    let mut names: Vec<&str> = skipped
        .iter()
        .map(|s| {
            s["scan_type"]
                .as_str()
                .unwrap_or_else(|| panic!("skipped entry: {s}"))
        })
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec!["baseline", "dast", "dependency", "iac", "network"],
        "{rec}"
    );
    for s in skipped {
        assert!(
            s["reason"].as_str().is_some_and(|r| !r.trim().is_empty()),
            "skipped entry without a reason: {s}"
        );
    }
    let id = id_of(&rec);
    let done = wait_finished(&app, &id, key).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["skipped"], rec["skipped"],
        "skipped is kept on the record"
    );

    let rec = create_scan(&app, key, tree.path(), &["dast"]).await;
    assert_eq!(rec["skipped"].as_array().map(Vec::len), Some(1), "{rec}");
    let done = wait_finished(&app, &id_of(&rec), key).await;
    assert_eq!(
        done["status"], "completed",
        "a scan with nothing to run completes: {done}"
    );

    // `/root/.ssh` and below are protected whether or not they exist on the
    // host (on a test machine they may well not): the answer must neither
    // depend on nor reveal that.
    for p in ["/root/.ssh", "/root/.ssh/id_rsa"] {
        let resp = post_scan(&app, key, p, &["code"]).await;
        assert_detail(
            resp,
            400,
            "Target path is a protected system path",
            &format!("target_path {p:?} (exists: {})", Path::new(p).exists()),
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_scan_is_404_everywhere() {
    let Hardened { app, admin } = hardened().await;
    let key = Some(admin.key.as_str());
    let base = format!("/api/v1/scans/{UNKNOWN_SCAN}");
    assert_detail(app.get(&base, key).await, 404, "Scan not found", "GET").await;
    assert_detail(
        app.get(&format!("{base}/findings"), key).await,
        404,
        "Scan not found",
        "findings",
    )
    .await;
    assert_detail(
        app.delete(&base, key).await,
        404,
        "Scan not found",
        "DELETE",
    )
    .await;
    let resp = send(app.request(Method::POST, &format!("{base}/cancel"), key)).await;
    assert_detail(resp, 404, "Scan not found", "cancel").await;
    let resp = send(app.request(Method::POST, &format!("{base}/event-token"), key)).await;
    assert_detail(resp, 404, "Scan not found", "event-token").await;
    let resp = open_events(&app, UNKNOWN_SCAN, None, key, None).await;
    assert_detail(resp, 404, "Scan not found", "events").await;
}

// (8) After the buffer is dropped: one synthesized terminal event.
#[tokio::test]
async fn synthesized_terminal_event_after_the_buffer_is_dropped() {
    let Hardened { app, admin } = hardened_with(&[("SECURESCAN_EVENT_RETENTION_SECS", "1")]).await;
    let tree = small_tree();
    let id = id_of(&create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await);
    let token = mint(&app, &id, Some(&admin.key)).await;
    let rec = wait_finished(&app, &id, Some(&admin.key)).await;
    assert_eq!(rec["status"], "completed", "{rec}");
    let findings = rec["findings_count"].clone();
    assert_eq!(findings, 1, "one planted key: {rec}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    for (ctx, token, key, last) in [
        ("token after retention", Some(token.as_str()), None, None),
        ("key after retention", None, Some(admin.key.as_str()), None),
        (
            "Last-Event-ID after retention",
            Some(token.as_str()),
            None,
            Some(2),
        ),
    ] {
        let s = expect_stream(open_events(&app, &id, token, key, last).await, ctx).await;
        assert_eq!(
            s.frames.len(),
            1,
            "{ctx}: exactly one event: {:?}",
            s.frames
        );
        let f = &s.frames[0];
        assert_eq!(f.name(), "scan.complete", "{ctx}: {f:?}");
        let d = f.json();
        assert_eq!(d["synthesized"], true, "{ctx}: {d}");
        assert_eq!(d["findings"], findings, "{ctx}: findings count: {d}");
    }

    // A cancelled scan's synthesized event is scan.cancelled.
    let big = big_tree(BIG);
    let id = id_of(&create_scan(&app, Some(&admin.key), big.path(), &["code"]).await);
    let (status, rec) = cancel(&app, &id, Some(&admin.key)).await;
    assert_eq!(status, 200, "cancel: {rec}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = expect_stream(
        open_events(&app, &id, None, Some(&admin.key), None).await,
        "cancelled scan after retention",
    )
    .await;
    assert_eq!(s.names(), vec!["scan.cancelled"], "{:?}", s.frames);
    assert_eq!(s.frames[0].json()["synthesized"], true, "{:?}", s.frames[0]);
    assert_logs_free_of(&app, &[&token], "synthesized");
}

// (10) Shutdown: an open stream of a scan still running ends cleanly when the
// server is asked to stop (SIGTERM), and the process exits 0 instead of
// waiting forever on the stream.
#[tokio::test(flavor = "multi_thread")]
async fn open_streams_end_cleanly_on_shutdown() {
    let Hardened { mut app, admin } = hardened().await;
    let tree = big_tree(30_000);
    let scan = create_scan(&app, Some(&admin.key), tree.path(), &["code"]).await;
    let id = id_of(&scan);
    let resp = open_events(&app, &id, None, Some(&admin.key), None).await;
    assert_eq!(resp.status(), StatusCode::OK, "events of a running scan");
    let reader = tokio::spawn(read_stream(resp, "stream open across shutdown"));
    // Let the stream deliver its first events, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = app.terminate();
        (status, app)
    })
    .await
    .expect("terminate");
    assert!(
        status.0.success(),
        "exit status after SIGTERM: {:?}",
        status.0
    );
    let stream = reader.await.expect("reader task");
    assert_eq!(
        stream.frames.first().map(Frame::name),
        Some("scan.start"),
        "the stream was live before the shutdown"
    );
    assert!(
        !stream.frames.iter().any(Frame::is_terminal),
        "the scan was still running: the stream ended because of the shutdown, not a terminal event ({:?})",
        stream.names()
    );
}
