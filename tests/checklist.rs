//! The auth production checklist, "Verifying a deployment is hardened":
//! the six checks, run as written against a hardened deployment
//! (`SECURESCAN_AUTH_REQUIRED=1`, event-token secret set, one admin key
//! issued by the CLI as the only admin; `READ_KEY` and `WRITE_KEY` issued
//! through `POST /api/v1/keys` with `["read"]` and `["write"]`).

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

struct Deployment {
    app: TestApp,
    admin_key: String,
    only_admin: String,
    read_key: String,
    write_key: String,
}

async fn deployment() -> Deployment {
    let Hardened { app, admin } = hardened().await;
    let read = app
        .create_key_api(Some(&admin.key), "read-only-monitoring", &["read"])
        .await;
    let write = app
        .create_key_api(Some(&admin.key), "ci-writer", &["write"])
        .await;
    assert_eq!(read.scopes, vec!["read"]);
    assert_eq!(write.scopes, vec!["write"]);
    Deployment {
        app,
        admin_key: admin.key,
        only_admin: admin.id,
        read_key: read.key,
        write_key: write.key,
    }
}

// # 1. Auth is required:
// $ curl -i http://127.0.0.1:8000/api/v1/scans
// HTTP/1.1 401 Unauthorized
// {"detail":"X-API-Key header required"}
#[tokio::test]
async fn check_1_auth_is_required() {
    let d = deployment().await;
    let resp = d.app.get("/api/v1/scans", None).await;
    assert_detail(
        resp,
        401,
        "X-API-Key header required",
        "check 1: GET /api/v1/scans without a key",
    )
    .await;
}

// # 2. Bogus key 401s (does not fall through to dev mode):
// $ curl -i -H "X-API-Key: nope" http://127.0.0.1:8000/api/v1/scans
// HTTP/1.1 401 Unauthorized
// {"detail":"Invalid API key"}
#[tokio::test]
async fn check_2_bogus_key_is_401() {
    let d = deployment().await;
    let resp = d.app.get("/api/v1/scans", Some("nope")).await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "check 2: GET /api/v1/scans with X-API-Key: nope",
    )
    .await;
}

// # 3. Read-only key cannot create a scan:
// $ curl -i -X POST -H "X-API-Key: $READ_KEY" \
//   -d '{"target_path":"/tmp","scan_types":["code"]}' \
//   http://127.0.0.1:8000/api/v1/scans
// HTTP/1.1 403 Forbidden
// {"detail":"Requires scope: write"}
#[tokio::test]
async fn check_3_read_key_cannot_create_a_scan() {
    let d = deployment().await;
    // `curl -d` sends the body as application/x-www-form-urlencoded.
    let resp = send(
        d.app
            .request(Method::POST, "/api/v1/scans", Some(&d.read_key))
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

    // The same with a JSON content type, as the CI action sends it.
    let resp = d
        .app
        .post_json(
            "/api/v1/scans",
            Some(&d.read_key),
            &json!({"target_path": "/tmp", "scan_types": ["code"]}),
        )
        .await;
    assert_detail(
        resp,
        403,
        "Requires scope: write",
        "check 3 (JSON body): POST /api/v1/scans with READ_KEY",
    )
    .await;
}

// # 4. Write key cannot list webhook subscriptions:
// $ curl -i -H "X-API-Key: $WRITE_KEY" http://127.0.0.1:8000/api/v1/webhooks
// HTTP/1.1 403 Forbidden
// {"detail":"Requires scope: admin"}
#[tokio::test]
async fn check_4_write_key_cannot_list_webhooks() {
    let d = deployment().await;
    let resp = d.app.get("/api/v1/webhooks", Some(&d.write_key)).await;
    assert_detail(
        resp,
        403,
        "Requires scope: admin",
        "check 4: GET /api/v1/webhooks with WRITE_KEY",
    )
    .await;
}

// # 5. /health and /ready are public:
// $ curl -s http://127.0.0.1:8000/health
// {"status":"ok"}
#[tokio::test]
async fn check_5_health_and_ready_are_public() {
    let d = deployment().await;
    let resp = d.app.get("/health", None).await;
    assert_eq!(resp.status(), 200, "check 5: GET /health without a key");
    let body = resp.text().await.unwrap();
    assert_eq!(body, r#"{"status":"ok"}"#, "check 5: /health body");

    let (status, _, body) = json_of(d.app.get("/ready", None).await).await;
    assert_eq!(status, 200, "check 5: GET /ready without a key: {body}");
    assert!(
        body.is_object(),
        "check 5: /ready body is a JSON object: {body}"
    );
}

// # 6. Lockout protection refuses removing the last admin key:
// $ curl -i -X DELETE -H "X-API-Key: $ADMIN_KEY" \
//   http://127.0.0.1:8000/api/v1/keys/$ONLY_ADMIN
// HTTP/1.1 409 Conflict
// {"detail":"Cannot revoke last admin key without an env-var fallback"}
#[tokio::test]
async fn check_6_lockout_protection() {
    let d = deployment().await;
    let path = format!("/api/v1/keys/{}", d.only_admin);
    let resp = d.app.delete(&path, Some(&d.admin_key)).await;
    assert_detail(
        resp,
        409,
        "Cannot revoke last admin key without an env-var fallback",
        "check 6: DELETE the only admin key",
    )
    .await;

    // Refused means nothing changed: the admin key still works and is listed
    // unrevoked.
    let keys = d.app.list_keys(Some(&d.admin_key)).await;
    let me = keys
        .iter()
        .find(|k| k["id"] == d.only_admin.as_str())
        .expect("admin key listed");
    assert!(
        me["revoked_at"].is_null(),
        "admin key revoked despite the 409: {me}"
    );
}

/// The six checks, in order, against one deployment.
#[tokio::test]
async fn all_six_checks_in_sequence() {
    let d = deployment().await;
    let app = &d.app;
    assert_detail(
        app.get("/api/v1/scans", None).await,
        401,
        "X-API-Key header required",
        "1",
    )
    .await;
    assert_detail(
        app.get("/api/v1/scans", Some("nope")).await,
        401,
        "Invalid API key",
        "2",
    )
    .await;
    let resp = send(
        app.request(Method::POST, "/api/v1/scans", Some(&d.read_key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(r#"{"target_path":"/tmp","scan_types":["code"]}"#),
    )
    .await;
    assert_detail(resp, 403, "Requires scope: write", "3").await;
    assert_detail(
        app.get("/api/v1/webhooks", Some(&d.write_key)).await,
        403,
        "Requires scope: admin",
        "4",
    )
    .await;
    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200, "5");
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"ok"}"#, "5");
    let resp = app
        .delete(
            &format!("/api/v1/keys/{}", d.only_admin),
            Some(&d.admin_key),
        )
        .await;
    assert_detail(
        resp,
        409,
        "Cannot revoke last admin key without an env-var fallback",
        "6",
    )
    .await;
}
