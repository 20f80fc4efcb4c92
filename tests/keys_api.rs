//! The keys API (`/api/v1/keys`): issue, list, who-am-i, revoke, lockout
//! protection, validation, the legacy prefix, `last_used_at`, and the
//! `securescan keys` CLI that bootstraps it.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const ENV_KEY: &str = "env-key-8d2e4f6a1b3c5d7e9f0a2b4c6d8e0f1a";

async fn env_app() -> TestApp {
    TestApp::spawn(&[("SECURESCAN_API_KEY", ENV_KEY)]).await
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn scopes_of(v: &Value) -> BTreeSet<String> {
    v["scopes"]
        .as_array()
        .unwrap_or_else(|| panic!("no scopes array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("scope string").to_string())
        .collect()
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("key {id} not listed: {list:?}"))
}

// ---------------------------------------------------------------- create --

#[tokio::test]
async fn create_returns_201_with_the_record_and_the_key() {
    let app = env_app().await;
    let resp = app
        .post_json(
            "/api/v1/keys",
            Some(ENV_KEY),
            &json!({"name": "ci-runner", "scopes": ["read", "write"]}),
        )
        .await;
    let (status, _, v) = json_of(resp).await;
    assert_eq!(status, 201, "{v}");
    let obj = v.as_object().expect("object");
    let fields: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "revoked_at",
            "key"
        ]
        .into_iter()
        .collect(),
        "{v}"
    );
    assert_eq!(v["name"], "ci-runner");
    assert_eq!(scopes_of(&v), set(&["read", "write"]));
    assert!(v["last_used_at"].is_null(), "{v}");
    assert!(v["revoked_at"].is_null(), "{v}");
    assert!(
        v["created_at"].as_str().is_some_and(|s| !s.is_empty()),
        "created_at: {v}"
    );

    let key = CreatedKey::from_json(&v);
    assert!(
        well_formed_key(&key.key),
        "key format ssk_<10>_<32>: {:?}",
        key.key
    );
    assert_eq!(key.id.len(), 10, "id is 10 chars: {:?}", key.id);
    assert!(
        key.id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "id: {:?}",
        key.id
    );
    assert_eq!(key.prefix, format!("ssk_{}", key.id));
    assert!(key.key.starts_with(&format!("{}_", key.prefix)));
    assert_eq!(key.secret().len(), 32);

    // The key works at once.
    let (status, _, me) = json_of(app.get("/api/v1/keys/me", Some(&key.key)).await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], key.id.as_str());
}

#[tokio::test]
async fn default_scopes_are_read_and_write() {
    let app = env_app().await;
    let (status, _, v) = json_of(
        app.post_json(
            "/api/v1/keys",
            Some(ENV_KEY),
            &json!({"name": "default-scopes"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        scopes_of(&v),
        set(&["read", "write"]),
        "admin only when asked: {v}"
    );

    let (status, _, v) = json_of(
        app.post_json(
            "/api/v1/keys",
            Some(ENV_KEY),
            &json!({"name": "null-scopes", "scopes": null}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "scopes: null takes the default: {v}");
    assert_eq!(scopes_of(&v), set(&["read", "write"]));
}

#[tokio::test]
async fn scopes_are_kept_as_asked() {
    let app = env_app().await;
    for scopes in [
        vec!["read"],
        vec!["write"],
        vec!["admin"],
        vec!["read", "write"],
        vec!["read", "write", "admin"],
    ] {
        let k = app.create_key_api(Some(ENV_KEY), "k", &scopes).await;
        assert_eq!(
            k.scopes.iter().cloned().collect::<BTreeSet<_>>(),
            set(&scopes),
            "asked {scopes:?}"
        );
        let listed = app.list_keys(Some(ENV_KEY)).await;
        assert_eq!(scopes_of(find(&listed, &k.id)), set(&scopes));
    }
}

#[tokio::test]
async fn issued_keys_are_distinct() {
    let app = env_app().await;
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for i in 0..8 {
        let k = app
            .create_key_api(Some(ENV_KEY), &format!("k{i}"), &["read"])
            .await;
        assert!(well_formed_key(&k.key), "{:?}", k.key);
        ids.insert(k.id);
        keys.insert(k.key);
    }
    assert_eq!(ids.len(), 8);
    assert_eq!(keys.len(), 8);
}

// ------------------------------------------------------------ validation --

#[tokio::test]
async fn create_validation_is_422_never_500() {
    let app = env_app().await;
    let post = |body: Value| {
        let app = &app;
        async move { app.post_json("/api/v1/keys", Some(ENV_KEY), &body).await }
    };

    for (body, scope) in [
        (json!({"name": "x", "scopes": ["superuser"]}), "superuser"),
        (json!({"name": "x", "scopes": ["read", "bogus"]}), "bogus"),
        (json!({"name": "x", "scopes": [""]}), ""),
    ] {
        assert_detail(
            post(body.clone()).await,
            422,
            &format!("Unknown scope: {scope}"),
            &body.to_string(),
        )
        .await;
    }

    let body = json!({"name": "x", "scopes": []});
    assert_detail(
        post(body.clone()).await,
        422,
        "scopes must not be empty",
        &body.to_string(),
    )
    .await;

    for body in [json!({"scopes": ["read"]}), json!({"name": ""}), json!({})] {
        let (status, _, v) = json_of(post(body.clone()).await).await;
        assert_eq!(status, 422, "{body}: {v}");
        let detail = v["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}: detail string: {v}"));
        assert!(
            detail.starts_with("name"),
            "{body}: detail should start with \"name\": {detail:?}"
        );
    }

    // Not JSON, or not the expected shape.
    let raw_bodies: [&[u8]; 9] = [
        b"{",
        b"not json",
        b"",
        b"[]",
        b"null",
        b"{\"name\": 5}",
        b"{\"name\": \"x\", \"scopes\": \"read\"}",
        b"{\"name\": \"x\", \"scopes\": [1]}",
        b"\xff\xfe",
    ];
    for raw in raw_bodies {
        let resp = send(
            app.request(Method::POST, "/api/v1/keys", Some(ENV_KEY))
                .header("Content-Type", "application/json")
                .body(raw.to_vec()),
        )
        .await;
        let (status, _, v) = json_of(resp).await;
        assert_eq!(status, 422, "body {:?}: {v}", String::from_utf8_lossy(raw));
        assert!(
            v["detail"].is_string(),
            "body {:?}: detail string: {v}",
            String::from_utf8_lossy(raw)
        );
    }

    // Nothing was created by any of it.
    assert_eq!(app.list_keys(Some(ENV_KEY)).await, Vec::<Value>::new());
}

// ------------------------------------------------------------------ list --

#[tokio::test]
async fn list_never_shows_plaintext_and_includes_revoked_keys() {
    let app = env_app().await;
    let a = app.create_key_api(Some(ENV_KEY), "alpha", &["read"]).await;
    let b = app.create_key_api(Some(ENV_KEY), "beta", &["admin"]).await;
    let resp = app
        .delete(&format!("/api/v1/keys/{}", a.id), Some(ENV_KEY))
        .await;
    assert_eq!(resp.status(), 204);

    let resp = app.get("/api/v1/keys", Some(ENV_KEY)).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains(&a.key) && !text.contains(b.secret()),
        "listing leaks a key: {text}"
    );
    let list: Vec<Value> = serde_json::from_str(&text).expect("JSON array");
    assert_eq!(list.len(), 2, "{text}");
    for k in &list {
        let fields: BTreeSet<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "id",
                "name",
                "prefix",
                "scopes",
                "created_at",
                "last_used_at",
                "revoked_at"
            ]
            .into_iter()
            .collect(),
            "{k}"
        );
    }
    let la = find(&list, &a.id);
    assert_eq!(la["name"], "alpha");
    assert_eq!(la["prefix"], a.prefix.as_str());
    assert!(
        la["revoked_at"].as_str().is_some_and(|s| !s.is_empty()),
        "revoked_at set: {la}"
    );
    let lb = find(&list, &b.id);
    assert_eq!(lb["name"], "beta");
    assert!(lb["revoked_at"].is_null(), "{lb}");
    assert_eq!(scopes_of(lb), set(&["admin"]));
}

// -------------------------------------------------------------------- me --

#[tokio::test]
async fn me_describes_the_calling_db_key() {
    let app = env_app().await;
    let k = app
        .create_key_api(Some(ENV_KEY), "monitoring", &["read"])
        .await;
    let w = app
        .create_key_api(Some(ENV_KEY), "writer", &["write"])
        .await;
    for key in [&k, &w] {
        let (status, _, me) = json_of(app.get("/api/v1/keys/me", Some(&key.key)).await).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["id"], key.id.as_str());
        assert_eq!(me["name"], key.name.as_str());
        assert_eq!(me["prefix"], key.prefix.as_str());
        assert!(
            me.get("key").is_none(),
            "/keys/me shows the plaintext: {me}"
        );
        assert!(me["revoked_at"].is_null());
    }
    let resp = app.get("/api/v1/keys/me", Some(ENV_KEY)).await;
    assert_detail(
        resp,
        404,
        "Not authenticated via DB key",
        "env key on /keys/me",
    )
    .await;
}

#[tokio::test]
async fn me_is_404_in_dev_mode() {
    let app = TestApp::spawn(&[]).await;
    let resp = app.get("/api/v1/keys/me", None).await;
    assert_detail(
        resp,
        404,
        "Not authenticated via DB key",
        "dev mode /keys/me",
    )
    .await;
}

// ---------------------------------------------------------------- revoke --

#[tokio::test]
async fn revoke_is_204_idempotent_and_404_for_unknown_ids() {
    let app = env_app().await;
    let k = app.create_key_api(Some(ENV_KEY), "doomed", &["read"]).await;
    let path = format!("/api/v1/keys/{}", k.id);

    let resp = app.delete(&path, Some(ENV_KEY)).await;
    assert_eq!(resp.status(), 204, "first revoke");
    assert!(
        resp.bytes().await.unwrap().is_empty(),
        "204 has an empty body"
    );

    let resp = app.delete(&path, Some(ENV_KEY)).await;
    assert_eq!(resp.status(), 204, "revoking a revoked key");
    assert!(resp.bytes().await.unwrap().is_empty());

    let listed = app.list_keys(Some(ENV_KEY)).await;
    let first_revoked_at = find(&listed, &k.id)["revoked_at"].clone();
    assert!(first_revoked_at.is_string(), "{listed:?}");

    for unknown in ["abcdefghij", "ZZZZZZZZZZ", "nope", "ssk_abcdefghij"] {
        let resp = app
            .delete(&format!("/api/v1/keys/{unknown}"), Some(ENV_KEY))
            .await;
        assert_detail(
            resp,
            404,
            "Key not found",
            &format!("DELETE /api/v1/keys/{unknown}"),
        )
        .await;
    }
}

#[tokio::test]
async fn lockout_counts_only_unrevoked_admin_keys() {
    // Hardened, no env key: one admin (CLI) and a read key.
    let h = hardened().await;
    let read = h
        .app
        .create_key_api(Some(&h.admin.key), "reader", &["read"])
        .await;
    let own = format!("/api/v1/keys/{}", h.admin.id);
    assert_detail(
        h.app.delete(&own, Some(&h.admin.key)).await,
        409,
        "Cannot revoke last admin key without an env-var fallback",
        "only admin, a read key exists",
    )
    .await;

    // A second admin: either can go, but not both.
    let a2 = h
        .app
        .create_key_api(Some(&h.admin.key), "admin2", &["admin"])
        .await;
    let resp = h
        .app
        .delete(&format!("/api/v1/keys/{}", a2.id), Some(&h.admin.key))
        .await;
    assert_eq!(resp.status(), 204, "revoke the second admin");
    assert_detail(
        h.app.delete(&own, Some(&h.admin.key)).await,
        409,
        "Cannot revoke last admin key without an env-var fallback",
        "only admin again after revoking the second",
    )
    .await;

    // A third admin revokes the first: fine; it is then the last one.
    let a3 = h
        .app
        .create_key_api(Some(&h.admin.key), "admin3", &["admin"])
        .await;
    let resp = h.app.delete(&own, Some(&a3.key)).await;
    assert_eq!(
        resp.status(),
        204,
        "revoke the first admin while a third exists"
    );
    assert_detail(
        h.app.get("/api/v1/keys", Some(&h.admin.key)).await,
        401,
        "Invalid API key",
        "revoked first admin",
    )
    .await;
    assert_detail(
        h.app
            .delete(&format!("/api/v1/keys/{}", a3.id), Some(&a3.key))
            .await,
        409,
        "Cannot revoke last admin key without an env-var fallback",
        "third admin is now the last",
    )
    .await;
    // Non-admin keys can always be revoked.
    let resp = h
        .app
        .delete(&format!("/api/v1/keys/{}", read.id), Some(&a3.key))
        .await;
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn last_admin_can_be_revoked_with_an_env_key_fallback() {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let app = prepared
        .spawn(&[
            ("SECURESCAN_AUTH_REQUIRED", "1"),
            ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
            ("SECURESCAN_API_KEY", ENV_KEY),
        ])
        .await;
    let resp = app
        .delete(&format!("/api/v1/keys/{}", admin.id), Some(&admin.key))
        .await;
    assert_eq!(resp.status(), 204, "env-var fallback exists: no lockout");
    assert_detail(
        app.get("/api/v1/keys", Some(&admin.key)).await,
        401,
        "Invalid API key",
        "revoked",
    )
    .await;
    assert_eq!(app.get("/api/v1/keys", Some(ENV_KEY)).await.status(), 200);
}

#[tokio::test]
async fn last_admin_can_be_revoked_when_auth_is_not_required() {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let app = prepared.spawn(&[]).await;
    let resp = app
        .delete(&format!("/api/v1/keys/{}", admin.id), Some(&admin.key))
        .await;
    assert_eq!(resp.status(), 204, "auth not required: no lockout");
    assert_detail(
        app.get("/api/v1/keys", Some(&admin.key)).await,
        401,
        "Invalid API key",
        "revoked",
    )
    .await;
}

// --------------------------------------------------------- legacy prefix --

fn assert_legacy_headers(h: &reqwest::header::HeaderMap, successor: &str, ctx: &str) {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(
        get("deprecation").as_deref(),
        Some("true"),
        "{ctx}: Deprecation"
    );
    assert_eq!(
        get("link"),
        Some(format!("<{successor}>; rel=\"successor-version\"")),
        "{ctx}: Link"
    );
    assert!(
        get("sunset").is_some_and(|s| !s.is_empty()),
        "{ctx}: Sunset"
    );
}

#[tokio::test]
async fn legacy_prefix_serves_the_same_api_with_deprecation_headers() {
    let app = env_app().await;
    let k = app.create_key_api(Some(ENV_KEY), "k", &["read"]).await;

    let (status, h, legacy) = json_of(app.get("/api/keys", Some(ENV_KEY)).await).await;
    assert_eq!(status, 200, "GET /api/keys: {legacy}");
    assert_legacy_headers(&h, "/api/v1/keys", "GET /api/keys");
    let (status, h, v1) = json_of(app.get("/api/v1/keys", Some(ENV_KEY)).await).await;
    assert_eq!(status, 200);
    assert_eq!(legacy, v1, "legacy and v1 listings differ");
    assert!(h.get("deprecation").is_none(), "v1 route marked deprecated");

    let (status, h, created) = json_of(
        app.post_json(
            "/api/keys",
            Some(ENV_KEY),
            &json!({"name": "via-legacy", "scopes": ["read"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "POST /api/keys: {created}");
    assert_legacy_headers(&h, "/api/v1/keys", "POST /api/keys");
    let created = CreatedKey::from_json(&created);

    let (status, h, me) = json_of(app.get("/api/keys/me", Some(&k.key)).await).await;
    assert_eq!(status, 200, "GET /api/keys/me: {me}");
    assert_eq!(me["id"], k.id.as_str());
    assert_legacy_headers(&h, "/api/v1/keys/me", "GET /api/keys/me");

    let resp = app
        .delete(&format!("/api/keys/{}", created.id), Some(ENV_KEY))
        .await;
    assert_eq!(resp.status(), 204, "DELETE /api/keys/{{id}}");
    assert_legacy_headers(
        resp.headers(),
        &format!("/api/v1/keys/{}", created.id),
        "DELETE /api/keys/{id}",
    );
}

// ----------------------------------------------------------- last used --

#[tokio::test]
async fn last_used_at_is_recorded() {
    let app = env_app().await;
    let k = app.create_key_api(Some(ENV_KEY), "k", &["read"]).await;
    assert!(find(&app.list_keys(Some(ENV_KEY)).await, &k.id)["last_used_at"].is_null());
    assert_eq!(app.get("/api/v1/keys/me", Some(&k.key)).await.status(), 200);

    // May be coalesced (flushed every second or so); give it a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = app.list_keys(Some(ENV_KEY)).await;
        let lu = &find(&list, &k.id)["last_used_at"];
        if let Some(s) = lu.as_str() {
            assert!(!s.is_empty());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last_used_at still null after 10 s: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn last_used_at_survives_a_clean_shutdown() {
    let prepared = Prepared::new();
    let k = prepared.create_key("k", &["read"]);
    let mut app = prepared.spawn(&[]).await;
    assert_eq!(app.get("/api/v1/keys/me", Some(&k.key)).await.status(), 200);
    let status = app.terminate();
    assert!(
        status.success(),
        "SIGTERM exit status {status:?}\n{}",
        app.logs()
    );

    let list = app.cli_list_keys();
    let row = find(&list, &k.id);
    assert!(
        row["last_used_at"].as_str().is_some_and(|s| !s.is_empty()),
        "last_used_at lost on clean shutdown: {row}"
    );
}

// ------------------------------------------------------------------ CLI --

#[test]
fn cli_create_prints_exactly_one_json_object() {
    let prepared = Prepared::new();
    let out = prepared.run_cli(
        &[
            "keys",
            "create",
            "--name",
            "breakglass",
            "--scopes",
            "admin,read",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout");
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout:?}"));
    let fields: BTreeSet<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    for f in ["id", "name", "prefix", "scopes", "created_at", "key"] {
        assert!(fields.contains(f), "missing {f}: {v}");
    }
    assert_eq!(v["name"], "breakglass");
    assert_eq!(scopes_of(&v), set(&["admin", "read"]));
    let k = CreatedKey::from_json(&v);
    assert!(well_formed_key(&k.key), "{:?}", k.key);
    assert_eq!(k.prefix, format!("ssk_{}", k.id));

    // Default scopes through the CLI too.
    let d = prepared.create_key("default", &[]);
    assert_eq!(
        d.scopes.iter().cloned().collect::<BTreeSet<_>>(),
        set(&["read", "write"])
    );

    // An unknown scope is refused, and nothing is printed as a key.
    let out = prepared.run_cli(
        &[
            "keys", "create", "--name", "x", "--scopes", "root", "--json",
        ],
        &[],
    );
    assert!(
        !out.status.success(),
        "unknown scope accepted: {}",
        output_text(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("ssk_"),
        "{}",
        output_text(&out)
    );
}

#[tokio::test]
async fn cli_issued_key_works_over_http() {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let app = prepared.spawn(&hardened_env()).await;
    let list = app.list_keys(Some(&admin.key)).await;
    let row = find(&list, &admin.id);
    assert_eq!(row["name"], "admin");
    assert_eq!(row["prefix"], admin.prefix.as_str());
    assert_eq!(scopes_of(row), set(&["admin"]));
}
