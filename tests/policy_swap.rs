//! Hot-swapping policy builds in a running server: `GET/PUT /api/v1/policy`,
//! `POST /api/v1/policy/rollback`, `SIGHUP`, the refusals of the swap
//! pipeline one by one, a swap under load, and the `securescan policy`
//! commands.
//!
//! Other builds than the built-in one are made at test time
//! (`common::builds`: strict, one that breaks an invariant, one that traps).

mod common;

use common::*;
use reqwest::Method;
use securescan_host::policy::signing;
use securescan_host::policy::BUILTIN_POLICY;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIG_HEADER: &str = "X-Policy-Signature";
const UPLOADS_DISABLED: &str =
    "Policy uploads are disabled: no SECURESCAN_POLICY_PUBLIC_KEY is configured";

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(signing::digest(b))
}

/// A key pair in a tempdir: the signing key and the public key file.
struct Keys {
    dir: tempfile::TempDir,
    key: ed25519_dalek::SigningKey,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let (key, private, public) = signing::generate();
        std::fs::write(
            dir.path().join("policy.key"),
            secrecy::ExposeSecret::expose_secret(&private),
        )
        .unwrap();
        std::fs::write(dir.path().join("policy.pub"), public).unwrap();
        Keys { dir, key }
    }

    fn public_path(&self) -> String {
        self.dir.path().join("policy.pub").display().to_string()
    }

    fn sign(&self, wasm: &[u8]) -> String {
        signing::sign(&self.key, wasm)
    }
}

/// A hardened server (admin + read key) with `extra` environment.
async fn server(extra: &[(&str, &str)]) -> (TestApp, CreatedKey, CreatedKey) {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let read = prepared.create_key("reader", &["read"]);
    let mut env = hardened_env();
    env.extend_from_slice(extra);
    let app = prepared.spawn(&env).await;
    (app, admin, read)
}

async fn put(app: &TestApp, admin: &str, body: Vec<u8>, sig: Option<&str>) -> reqwest::Response {
    let mut rb = app
        .request(Method::PUT, "/api/v1/policy", Some(admin))
        .body(body);
    if let Some(s) = sig {
        rb = rb.header(SIG_HEADER, s);
    }
    send(rb).await
}

async fn status_of(app: &TestApp, admin: &str) -> Value {
    let (status, _, v) = json_of(app.get("/api/v1/policy", Some(admin)).await).await;
    assert_eq!(status, 200, "GET /api/v1/policy: {v}");
    v
}

/// Asserts a 422 refusal: detail, step and the exact failure list.
async fn assert_refused(resp: reqwest::Response, detail: &str, step: &str, failures: &[&str]) {
    let (status, _, body) = json_of(resp).await;
    assert_eq!(
        (status.as_u16(), &body),
        (
            422,
            &json!({ "detail": detail, "step": step, "failures": failures })
        ),
        "refusal at step {step}"
    );
}

// ------------------------------------------------------------------ views --

#[tokio::test]
async fn get_shows_the_builtin_build_and_uploads_need_a_public_key() {
    let (app, admin, read) = server(&[]).await;
    let v = status_of(&app, &admin.key).await;
    let active = &v["active"];
    assert_eq!(active["name"], "default", "{v}");
    assert_eq!(active["version"], "1.0.0");
    assert_eq!(active["wit_version"], "0.1.0");
    assert_eq!(active["source"], "builtin");
    assert_eq!(active["sha256"], sha256_hex(BUILTIN_POLICY).as_str());
    assert_eq!(active["size"], BUILTIN_POLICY.len());
    assert!(
        active["loaded_at"].as_str().is_some_and(|s| s.len() >= 20),
        "{v}"
    );
    assert!(v["previous"].is_null(), "{v}");

    // Admin only, by the policy's route table.
    for (method, path) in [
        (Method::GET, "/api/v1/policy"),
        (Method::PUT, "/api/v1/policy"),
        (Method::POST, "/api/v1/policy/rollback"),
    ] {
        let resp = send(app.request(method.clone(), path, Some(&read.key))).await;
        assert_detail(
            resp,
            403,
            "Requires scope: admin",
            &format!("{method} {path} as read"),
        )
        .await;
        let resp = send(app.request(method.clone(), path, None)).await;
        assert_detail(
            resp,
            401,
            "X-API-Key header required",
            &format!("{method} {path}"),
        )
        .await;
    }

    // No SECURESCAN_POLICY_PUBLIC_KEY: every upload is refused outright,
    // even a build that would pass every other step.
    let resp = put(&app, &admin.key, BUILTIN_POLICY.to_vec(), Some("anything")).await;
    assert_detail(resp, 403, UPLOADS_DISABLED, "PUT without a public key").await;
    assert_detail(
        send(app.request(Method::POST, "/api/v1/policy/rollback", Some(&admin.key))).await,
        409,
        "No previous policy build to roll back to",
        "rollback with no previous build",
    )
    .await;
    assert_eq!(status_of(&app, &admin.key).await, v, "nothing changed");

    let (_, _, doc) = json_of(app.get("/openapi.json", None).await).await;
    for path in ["/api/v1/policy", "/api/v1/policy/rollback"] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} not in openapi.json"
        );
    }
}

// -------------------------------------------------------------- refusals --

#[tokio::test]
async fn every_refusal_has_its_own_reason_and_keeps_the_old_build() {
    let keys = Keys::new();
    let public = keys.public_path();
    let (app, admin, read) = server(&[("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str())]).await;
    let before = status_of(&app, &admin.key).await;
    let strict = builds::strict();

    // Garbage bytes (correctly signed: the signature step passes).
    let garbage = b"\0asm\x0d\0\x01\0 certainly not a component".to_vec();
    let sig = keys.sign(&garbage);
    assert_refused(
        put(&app, &admin.key, garbage, Some(&sig)).await,
        "Policy build is not a WebAssembly component",
        "compile",
        &["the bytes are not a valid WebAssembly component"],
    )
    .await;

    // A valid component of another world.
    let other = wat::parse_str(
        r#"(component
             (core module $m (func (export "f") (result i32) i32.const 7))
             (core instance $i (instantiate $m))
             (func (export "answer") (result u32) (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let sig = keys.sign(&other);
    assert_refused(
        put(&app, &admin.key, other, Some(&sig)).await,
        "Policy build does not implement the policy world",
        "world",
        &["the component does not export the securescan:auth/policy@0.1.0 world"],
    )
    .await;

    // A build that breaks an invariant (keys need only `read`).
    let broken = builds::breaks_invariants();
    let sig = keys.sign(&broken);
    assert_refused(
        put(&app, &admin.key, broken, Some(&sig)).await,
        "Policy build breaks the policy invariants",
        "invariants",
        &[
            "GET /api/v1/keys: expected scopes:admin, got scopes:read",
            "POST /api/v1/keys: expected scopes:admin, got scopes:read",
            "GET /api/keys: expected scopes:admin, got scopes:read",
        ],
    )
    .await;

    // A build that traps.
    let traps = builds::traps();
    let sig = keys.sign(&traps);
    assert_refused(
        put(&app, &admin.key, traps, Some(&sig)).await,
        "Policy build trapped",
        "trap",
        &["the build trapped while the invariants were checked"],
    )
    .await;

    // Unsigned, wrongly signed, malformed signature.
    assert_refused(
        put(&app, &admin.key, strict.clone(), None).await,
        "Policy build signature invalid",
        "signature",
        &["no signature"],
    )
    .await;
    let (stranger, _, _) = signing::generate();
    let wrong = signing::sign(&stranger, &strict);
    assert_refused(
        put(&app, &admin.key, strict.clone(), Some(&wrong)).await,
        "Policy build signature invalid",
        "signature",
        &["signature does not verify with the configured public key"],
    )
    .await;
    // The right key's signature of other bytes.
    let of_other_bytes = keys.sign(BUILTIN_POLICY);
    assert_refused(
        put(&app, &admin.key, strict.clone(), Some(&of_other_bytes)).await,
        "Policy build signature invalid",
        "signature",
        &["signature does not verify with the configured public key"],
    )
    .await;
    assert_refused(
        put(&app, &admin.key, strict.clone(), Some("not-a-signature")).await,
        "Policy build signature invalid",
        "signature",
        &["signature is not base64 or hex of 64 bytes"],
    )
    .await;

    // Oversized: the default limit is 4 MiB, with and without a declared
    // length (a chunked body is cut off while it is read).
    let big = vec![0u8; (4 << 20) + 1];
    let sig = keys.sign(&big);
    assert_refused(
        put(&app, &admin.key, big.clone(), Some(&sig)).await,
        "Policy build too large",
        "size",
        &["the limit is 4194304 bytes"],
    )
    .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
    let resp = send(
        app.request(Method::PUT, "/api/v1/policy", Some(&admin.key))
            .header(SIG_HEADER, &sig)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks))),
    )
    .await;
    assert_refused(
        resp,
        "Policy build too large",
        "size",
        &["the limit is 4194304 bytes"],
    )
    .await;

    // Nothing changed, and the old build still decides.
    assert_eq!(status_of(&app, &admin.key).await, before);
    assert_eq!(app.get("/docs", Some(&read.key)).await.status(), 200);
    assert_detail(
        app.get("/api/v1/keys", Some(&read.key)).await,
        403,
        "Requires scope: admin",
        "after the refusals",
    )
    .await;
}

#[tokio::test]
async fn a_configured_size_limit_is_applied() {
    let keys = Keys::new();
    let public = keys.public_path();
    let (app, admin, _) = server(&[
        ("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str()),
        ("SECURESCAN_POLICY_MAX_BYTES", "100000"),
    ])
    .await;
    // The default build (~125 KB) is over this limit.
    assert!(BUILTIN_POLICY.len() > 100_000);
    let sig = keys.sign(BUILTIN_POLICY);
    assert_refused(
        put(&app, &admin.key, BUILTIN_POLICY.to_vec(), Some(&sig)).await,
        "Policy build too large",
        "size",
        &["the limit is 100000 bytes"],
    )
    .await;
}

// ------------------------------------------------- accept, cache, rollback --

#[tokio::test]
async fn upload_rollback_and_the_compiled_cache() {
    let keys = Keys::new();
    let public = keys.public_path();
    let (app, admin, read) = server(&[("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str())]).await;
    let strict = builds::strict();
    let default_sha = sha256_hex(BUILTIN_POLICY);
    let strict_sha = sha256_hex(&strict);

    let sig = keys.sign(&strict);
    let (status, _, v) = json_of(put(&app, &admin.key, strict.clone(), Some(&sig)).await).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["cached"], false, "a first upload compiles: {v}");
    assert_eq!(v["active"]["name"], "strict");
    assert_eq!(v["active"]["sha256"], strict_sha.as_str());
    assert_eq!(v["active"]["source"], "upload");
    assert_eq!(v["previous"]["sha256"], default_sha.as_str());
    assert_eq!(v["previous"]["source"], "builtin");
    // Strict serves: docs are admin-only now.
    assert_detail(
        app.get("/docs", Some(&read.key)).await,
        403,
        "Requires scope: admin",
        "docs under strict",
    )
    .await;
    let s = status_of(&app, &admin.key).await;
    assert_eq!(s["active"]["sha256"], strict_sha.as_str());
    assert_eq!(s["previous"]["sha256"], default_sha.as_str());

    // Rollback: instant, from memory.
    let (status, _, v) =
        json_of(send(app.request(Method::POST, "/api/v1/policy/rollback", Some(&admin.key))).await)
            .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["active"]["sha256"], default_sha.as_str());
    assert_eq!(v["active"]["source"], "rollback");
    assert_eq!(v["previous"]["sha256"], strict_sha.as_str());
    assert_eq!(app.get("/docs", Some(&read.key)).await.status(), 200);

    // Rolling back again goes forward to strict.
    let (status, _, v) =
        json_of(send(app.request(Method::POST, "/api/v1/policy/rollback", Some(&admin.key))).await)
            .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["active"]["sha256"], strict_sha.as_str());

    // The default build again: from the cache (it was compiled at startup).
    let sig = keys.sign(BUILTIN_POLICY);
    let (status, _, v) =
        json_of(put(&app, &admin.key, BUILTIN_POLICY.to_vec(), Some(&sig)).await).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["cached"], true, "{v}");
    assert_eq!(v["active"]["source"], "upload");
    assert_eq!(
        status_of(&app, &admin.key).await["active"]["sha256"],
        default_sha.as_str()
    );
    assert_eq!(app.get("/docs", Some(&read.key)).await.status(), 200);
}

// ---------------------------------------------------------- swap under load --

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Old,
    New,
}

struct Sample {
    sent: Instant,
    done: Instant,
    seen: Seen,
}

/// A read key hammers `GET /docs` (public under the default build, admin
/// only under strict) over 16 connections while the build is swapped from
/// default to strict: no 5xx, every answer is exactly the old or the new
/// policy's, and every connection switches once.
#[tokio::test]
async fn swap_under_load_switches_once_without_errors() {
    const TASKS: usize = 16;
    const BEFORE: usize = 5_000;
    const TOTAL: usize = 11_000;
    let keys = Keys::new();
    let public = keys.public_path();
    let (app, admin, read) = server(&[("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str())]).await;
    let strict = builds::strict();
    let sig = keys.sign(&strict);
    let old_body = reqwest::get(app.url("/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let url = app.url("/docs");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (count, stop, url, key, old_body) = (
            count.clone(),
            stop.clone(),
            url.clone(),
            read.key.clone(),
            old_body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // One connection per task: requests on it are sequential.
            let client = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let resp = client
                    .get(&url)
                    .header("X-API-Key", &key)
                    .send()
                    .await
                    .expect("transport error under load");
                let status = resp.status().as_u16();
                let body = resp.text().await.expect("body");
                let done = Instant::now();
                let seen = match status {
                    200 => {
                        assert_eq!(body, old_body, "a 200 that is not the docs page");
                        Seen::Old
                    }
                    403 => {
                        assert_eq!(
                            serde_json::from_str::<Value>(&body).unwrap(),
                            json!({"detail": "Requires scope: admin"})
                        );
                        Seen::New
                    }
                    other => panic!("status {other} under load: {body}"),
                };
                samples.push(Sample { sent, done, seen });
                count.fetch_add(1, Ordering::Relaxed);
            }
            samples
        }));
    }
    let started = Instant::now();
    while count.load(Ordering::Relaxed) < BEFORE {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let put_sent = Instant::now();
    let resp = put(&app, &admin.key, strict.clone(), Some(&sig)).await;
    let put_done = Instant::now();
    let (status, _, v) = json_of(resp).await;
    assert_eq!(status, 200, "swap under load: {v}");
    let at_swap = count.load(Ordering::Relaxed);
    while count.load(Ordering::Relaxed) < TOTAL {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let samples = t.await.expect("a load task panicked");
        total += samples.len();
        let switches = samples
            .windows(2)
            .filter(|w| w[0].seen != w[1].seen)
            .count();
        assert_eq!(
            switches, 1,
            "connection {i}: expected exactly one switch from old to new"
        );
        assert_eq!(samples.first().unwrap().seen, Seen::Old, "connection {i}");
        assert_eq!(samples.last().unwrap().seen, Seen::New, "connection {i}");
        for s in &samples {
            if s.done < put_sent {
                assert_eq!(
                    s.seen,
                    Seen::Old,
                    "connection {i}: new policy before the upload"
                );
            }
            if s.sent > put_done {
                assert_eq!(
                    s.seen,
                    Seen::New,
                    "connection {i}: old policy after the swap"
                );
            }
        }
    }
    assert!(total >= 10_000, "only {total} requests");
    eprintln!(
        "swap under load: {total} requests over {TASKS} connections in {:.1?}, {at_swap} before the swap; upload to serving {:.1} ms (server: {} ms, cached {})",
        started.elapsed(),
        (put_done - put_sent).as_secs_f64() * 1000.0,
        v["elapsed_ms"],
        v["cached"]
    );
    assert_eq!(
        status_of(&app, &admin.key).await["active"]["name"],
        "strict"
    );
    // No 5xx anywhere in the request log either.
    let errors = app
        .request_lines()
        .iter()
        .filter(|l| field_u64(l, "status").is_some_and(|s| s >= 500))
        .count();
    assert_eq!(errors, 0, "5xx in the request log");
}

// ------------------------------------------------------------- timings --

/// Upload to serving for the default build: cold (compiled on upload) and
/// from the compiled cache. Printed, not asserted (speed is a benchmark
/// matter).
#[tokio::test]
async fn upload_to_serving_time_cold_and_cached() {
    let keys = Keys::new();
    let public = keys.public_path();
    let dir = tempfile::tempdir().unwrap();
    let strict = builds::strict();
    // Start on strict, so the default build has never been compiled here.
    let path = dir.path().join("strict.wasm");
    std::fs::write(&path, &strict).unwrap();
    std::fs::write(dir.path().join("strict.wasm.sig"), keys.sign(&strict)).unwrap();
    let path_s = path.display().to_string();
    let (app, admin, read) = server(&[
        ("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str()),
        ("SECURESCAN_POLICY_PATH", path_s.as_str()),
    ])
    .await;
    assert_eq!(
        status_of(&app, &admin.key).await["active"]["name"],
        "strict"
    );
    let sig_default = keys.sign(BUILTIN_POLICY);
    let sig_strict = keys.sign(&strict);
    let mut report = Vec::new();
    for (label, bytes, sig, want_cached) in [
        (
            "default, cold",
            BUILTIN_POLICY.to_vec(),
            &sig_default,
            false,
        ),
        ("strict, cached", strict.clone(), &sig_strict, true),
        (
            "default, cached",
            BUILTIN_POLICY.to_vec(),
            &sig_default,
            true,
        ),
    ] {
        let t = Instant::now();
        let (status, _, v) = json_of(put(&app, &admin.key, bytes, Some(sig)).await).await;
        // Serving: the next request is decided by the new build.
        let docs = app.get("/docs", Some(&read.key)).await.status();
        let client_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, 200, "{label}: {v}");
        assert_eq!(v["cached"], want_cached, "{label}: {v}");
        let want_docs = if label.starts_with("default") {
            200
        } else {
            403
        };
        assert_eq!(docs, want_docs, "{label}");
        report.push(format!(
            "{label}: {client_ms:.1} ms upload to serving (server pipeline {:.1} ms)",
            v["elapsed_ms"].as_f64().unwrap()
        ));
    }
    eprintln!(
        "upload-to-serving ({} bytes default build):",
        BUILTIN_POLICY.len()
    );
    for r in report {
        eprintln!("  {r}");
    }
}

// ------------------------------------------------------- files and SIGHUP --

fn sighup(app: &TestApp) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

/// Polls `GET /api/v1/policy` until the active sha256 is `want` (10 s).
async fn wait_active(app: &TestApp, admin: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = status_of(app, admin).await;
        if v["active"]["sha256"] == want {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "active build never became {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a log line with this message (10 s).
async fn wait_log(app: &TestApp, message: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(l) = app
            .log_lines()
            .into_iter()
            .find(|l| field_str(l, "message") == Some(message))
        {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no log line {message:?}:\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_policy_file_and_keeps_the_old_build_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    std::fs::write(&path, BUILTIN_POLICY).unwrap();
    let path_s = path.display().to_string();
    let (app, admin, read) = server(&[("SECURESCAN_POLICY_PATH", path_s.as_str())]).await;
    let v = status_of(&app, &admin.key).await;
    assert_eq!(v["active"]["source"], format!("file:{path_s}").as_str());

    // A broken file: refused, the old build keeps serving.
    std::fs::write(&path, builds::breaks_invariants()).unwrap();
    sighup(&app);
    let line = wait_log(&app, "policy reload refused: keeping the active build").await;
    assert!(
        field_str(&line, "error").is_some_and(|e| e.contains("invariants")),
        "{line}"
    );
    assert_eq!(status_of(&app, &admin.key).await, v);
    assert_eq!(app.get("/docs", Some(&read.key)).await.status(), 200);

    // Strict: loaded without a restart.
    let strict = builds::strict();
    std::fs::write(&path, &strict).unwrap();
    sighup(&app);
    let v = wait_active(&app, &admin.key, &sha256_hex(&strict)).await;
    assert_eq!(v["active"]["name"], "strict");
    assert_eq!(v["active"]["source"], format!("file:{path_s}").as_str());
    assert_eq!(v["previous"]["sha256"], sha256_hex(BUILTIN_POLICY).as_str());
    assert_eq!(app.get("/docs", Some(&read.key)).await.status(), 403);
}

#[tokio::test]
async fn with_a_public_key_a_policy_file_needs_its_signature() {
    let keys = Keys::new();
    let public = keys.public_path();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    let sig_path = dir.path().join("policy.wasm.sig");
    std::fs::write(&path, BUILTIN_POLICY).unwrap();
    let path_s = path.display().to_string();

    // No policy.wasm.sig: the file does not load; every access is 503.
    let unsigned = server(&[
        ("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str()),
        ("SECURESCAN_POLICY_PATH", path_s.as_str()),
    ])
    .await;
    assert_detail(
        unsigned
            .0
            .get("/api/v1/policy", Some(&unsigned.1.key))
            .await,
        503,
        "Policy unavailable",
        "unsigned policy file at startup",
    )
    .await;
    drop(unsigned);

    // Signed: it loads, and SIGHUP only takes a build with a valid signature.
    std::fs::write(&sig_path, keys.sign(BUILTIN_POLICY)).unwrap();
    let (app, admin, read) = server(&[
        ("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str()),
        ("SECURESCAN_POLICY_PATH", path_s.as_str()),
    ])
    .await;
    let v = status_of(&app, &admin.key).await;
    assert_eq!(v["active"]["sha256"], sha256_hex(BUILTIN_POLICY).as_str());
    let strict = builds::strict();
    std::fs::write(&path, &strict).unwrap(); // the old signature stays
    sighup(&app);
    let line = wait_log(&app, "policy reload refused: keeping the active build").await;
    assert!(
        field_str(&line, "error").is_some_and(|e| e.contains("signature")),
        "{line}"
    );
    assert_eq!(status_of(&app, &admin.key).await, v);
    std::fs::write(&sig_path, keys.sign(&strict)).unwrap();
    sighup(&app);
    wait_active(&app, &admin.key, &sha256_hex(&strict)).await;
    assert_eq!(app.get("/docs", Some(&read.key)).await.status(), 403);
}

// ------------------------------------------------------------------- CLI --

#[test]
fn an_unreadable_or_invalid_public_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pub");
    std::fs::write(&bad, "not a key").unwrap();
    for value in [p(&bad), "/nonexistent/policy.pub".to_string()] {
        let out = run_cli(
            &["serve", "--host", "127.0.0.1", "--port", "0"],
            &[("SECURESCAN_POLICY_PUBLIC_KEY", value.as_str())],
        );
        assert_eq!(out.status.code(), Some(2), "{value}: {}", output_text(&out));
        assert!(
            output_text(&out).contains("SECURESCAN_POLICY_PUBLIC_KEY"),
            "{}",
            output_text(&out)
        );
    }
    let out = run_cli(
        &["serve", "--host", "127.0.0.1", "--port", "0"],
        &[("SECURESCAN_POLICY_MAX_BYTES", "lots")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(output_text(&out).contains("SECURESCAN_POLICY_MAX_BYTES"));
}

fn cli_ok(args: &[&str]) -> String {
    let out = run_cli(args, &[]);
    assert!(
        out.status.success(),
        "securescan {}: {:?}\n{}",
        args.join(" "),
        out.status,
        output_text(&out)
    );
    output_text(&out)
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn policy_commands_keygen_sign_verify_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("default.wasm");
    std::fs::write(&wasm, BUILTIN_POLICY).unwrap();
    let prefix = dir.path().join("ops");
    let out = cli_ok(&["policy", "keygen", "--out", &p(&prefix)]);
    let key = dir.path().join("ops.key");
    let public = dir.path().join("ops.pub");
    assert!(out.contains(&p(&key)), "{out}");
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(std::fs::read_to_string(&public)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private key mode");
    }
    // keygen never overwrites.
    let again = run_cli(&["policy", "keygen", "--out", &p(&prefix)], &[]);
    assert_eq!(again.status.code(), Some(1), "{}", output_text(&again));

    let out = cli_ok(&["policy", "sign", "--key", &p(&key), &p(&wasm)]);
    assert!(out.contains(&sha256_hex(BUILTIN_POLICY)), "{out}");
    let sig = std::fs::read_to_string(dir.path().join("default.wasm.sig")).unwrap();
    // The signature is what the server checks.
    let vk = signing::read_verifying_key(&public).unwrap();
    assert_eq!(signing::verify(&vk, BUILTIN_POLICY, Some(&sig)), Ok(()));

    let out = cli_ok(&["policy", "verify", "--key", &p(&public), &p(&wasm)]);
    assert!(out.starts_with("OK:"), "{out}");
    // With the private key file too.
    cli_ok(&["policy", "verify", "--key", &p(&key), &p(&wasm)]);

    // Another key, or other bytes: exit 1.
    let other = dir.path().join("other");
    cli_ok(&["policy", "keygen", "--out", &p(&other)]);
    let bad = run_cli(
        &[
            "policy",
            "verify",
            "--key",
            &p(&dir.path().join("other.pub")),
            &p(&wasm),
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", output_text(&bad));
    assert!(
        output_text(&bad).contains("signature does not verify"),
        "{}",
        output_text(&bad)
    );
    let tampered = dir.path().join("tampered.wasm");
    let mut bytes = BUILTIN_POLICY.to_vec();
    bytes.push(0);
    std::fs::write(&tampered, bytes).unwrap();
    let bad = run_cli(
        &[
            "policy",
            "verify",
            "--key",
            &p(&public),
            "--signature",
            sig.trim(),
            &p(&tampered),
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", output_text(&bad));

    // Raw keys: 32 bytes as hex.
    let raw = dir.path().join("raw.hex");
    std::fs::write(&raw, hex::encode([9u8; 32])).unwrap();
    cli_ok(&[
        "policy",
        "sign",
        "--key",
        &p(&raw),
        "--out",
        &p(&dir.path().join("r.sig")),
        &p(&wasm),
    ]);
    // A raw value read as a public key is the public key (its base64 here).
    let raw_pub = dir.path().join("raw.pub.b64");
    {
        use base64::Engine as _;
        let vk = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        std::fs::write(
            &raw_pub,
            base64::engine::general_purpose::STANDARD.encode(vk.as_bytes()),
        )
        .unwrap();
    }
    cli_ok(&[
        "policy",
        "verify",
        "--key",
        &p(&raw_pub),
        "--signature-file",
        &p(&dir.path().join("r.sig")),
        &p(&wasm),
    ]);

    // inspect
    let out = cli_ok(&["policy", "inspect", &p(&wasm)]);
    for want in [
        "name:          default".to_string(),
        "version:       1.0.0".to_string(),
        "wit version:   0.1.0".to_string(),
        format!("sha256:        {}", sha256_hex(BUILTIN_POLICY)),
        "invariants:    ok".to_string(),
    ] {
        assert!(out.contains(&want), "inspect: {want:?} missing in\n{out}");
    }
    let json_out = cli_ok(&["policy", "inspect", "--json", &p(&wasm)]);
    let v: Value = serde_json::from_str(json_out.trim()).unwrap();
    assert_eq!(v["wit_version"], "0.1.0");
    assert_eq!(v["invariant_failures"], json!([]));
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"nope").unwrap();
    let bad = run_cli(&["policy", "inspect", &p(&garbage)], &[]);
    assert_eq!(bad.status.code(), Some(1), "{}", output_text(&bad));
    assert!(output_text(&bad).contains("not a WebAssembly component"));
}

/// A key made by `openssl genpkey -algorithm ed25519` (PKCS#8 PEM) signs,
/// and its `openssl pkey -pubout` public key verifies. Skipped (with a
/// note) where openssl is not installed.
#[test]
fn openssl_pem_keys_work() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let public = dir.path().join("k.pub.pem");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status();
    let Ok(made) = made else {
        eprintln!("openssl not installed: skipped");
        return;
    };
    assert!(made.success());
    let pubout = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(pubout.success());
    let wasm = dir.path().join("b.wasm");
    std::fs::write(&wasm, BUILTIN_POLICY).unwrap();
    cli_ok(&["policy", "sign", "--key", &p(&key), &p(&wasm)]);
    cli_ok(&["policy", "verify", "--key", &p(&public), &p(&wasm)]);
}

// ------------------------------------------------------- requests in flight --

/// A request that passed the gate before a swap is decided to its end by
/// the build it started with: `POST /api/v1/scans` reads its body after the
/// gate, and its rate limit comes from its build (burst 10 in the default
/// build, 5 in strict).
#[tokio::test]
async fn a_request_in_flight_finishes_on_the_build_it_started_with() {
    let keys = Keys::new();
    let public = keys.public_path();
    let (app, admin, _read) = server(&[("SECURESCAN_POLICY_PUBLIC_KEY", public.as_str())]).await;
    let strict = builds::strict();
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("a.txt"), "hello\n").unwrap();
    let body = json!({ "target_path": tree.path().to_str().unwrap(), "scan_types": ["code"] })
        .to_string()
        .into_bytes();
    let (first, rest) = body.split_at(body.len() / 2);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let in_flight = tokio::spawn(send(
        app.request(Method::POST, "/api/v1/scans", Some(&admin.key))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream)),
    ));
    tx.send(Ok(first.to_vec())).await.unwrap();
    // The headers are in: the gate has taken the default build.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, v) =
        json_of(put(&app, &admin.key, strict.clone(), Some(&keys.sign(&strict))).await).await;
    assert_eq!(status, 200, "swap to strict: {v}");
    tx.send(Ok(rest.to_vec())).await.unwrap();
    drop(tx);
    let resp = in_flight.await.unwrap();
    assert_eq!(resp.status(), 200, "the scan in flight was created");
    assert_eq!(
        header_of(&resp, "x-ratelimit-limit"),
        "10",
        "decided by the default build it started with"
    );
    let after = app
        .post_json(
            "/api/v1/scans",
            Some(&admin.key),
            &json!({ "target_path": tree.path().to_str().unwrap(), "scan_types": ["code"] }),
        )
        .await;
    assert_eq!(after.status(), 200);
    assert_eq!(
        header_of(&after, "x-ratelimit-limit"),
        "5",
        "a request after the swap: strict"
    );
}

fn header_of(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default()
}
