//! Who gets in and who does not: missing, bogus, malformed, revoked and
//! under-scoped credentials; dev mode; the env key; bearer tokens; public
//! routes; revocation races.

mod common;

use common::*;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::json;

const ENV_KEY: &str = "env-key-4f1c9a7e2b6d8c0e5a3f9b1d7c2e6a4f";

// ---------------------------------------------------------------- no key --

#[tokio::test]
async fn no_key_is_401_header_required_when_credentials_exist() {
    let h = hardened().await;
    for (method, path) in [
        (Method::GET, "/api/v1/keys"),
        (Method::POST, "/api/v1/keys"),
        (Method::GET, "/api/v1/keys/me"),
        (Method::DELETE, "/api/v1/keys/abcdefghij"),
        (Method::GET, "/api/v1/scans"),
        (Method::POST, "/api/v1/scans"),
        (Method::GET, "/api/v1/webhooks"),
        (Method::GET, "/api/v1/policy"),
    ] {
        let resp = send(h.app.request(method.clone(), path, None)).await;
        assert_detail(
            resp,
            401,
            "X-API-Key header required",
            &format!("{method} {path} without a key"),
        )
        .await;
    }
}

#[tokio::test]
async fn no_key_is_401_when_only_the_env_key_exists() {
    let app = TestApp::spawn(&[("SECURESCAN_API_KEY", ENV_KEY)]).await;
    let resp = app.get("/api/v1/keys", None).await;
    assert_detail(
        resp,
        401,
        "X-API-Key header required",
        "GET /api/v1/keys, env key configured, none sent",
    )
    .await;
}

#[tokio::test]
async fn legacy_prefix_is_guarded_like_v1() {
    let h = hardened().await;
    let resp = h.app.get("/api/keys", None).await;
    assert_detail(
        resp,
        401,
        "X-API-Key header required",
        "GET /api/keys without a key",
    )
    .await;
    let resp = h.app.get("/api/keys", Some("nope")).await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "GET /api/keys with a bogus key",
    )
    .await;
    let read = h
        .app
        .create_key_api(Some(&h.admin.key), "reader", &["read"])
        .await;
    let resp = h.app.get("/api/keys", Some(&read.key)).await;
    assert_detail(
        resp,
        403,
        "Requires scope: admin",
        "GET /api/keys with a read key",
    )
    .await;
}

// ------------------------------------------------------------ bogus keys --

#[tokio::test]
async fn bogus_keys_are_401_invalid() {
    let h = hardened().await;
    // A real key issued by another deployment: right format and checksum,
    // unknown here.
    let elsewhere = Prepared::new().create_key("elsewhere", &["admin"]);
    let bogus = [
        "nope".to_string(),
        FORGED_KEY.to_string(),
        with_bad_checksum(&h.admin.key),
        with_altered_secret(&h.admin.key),
        format!("{}_", h.admin.prefix),
        h.admin.prefix.clone(),
        format!("{}x", h.admin.key),
        h.admin.key.to_uppercase(),
        elsewhere.key.clone(),
        "Bearer nope".into(),
    ];
    for key in &bogus {
        for path in ["/api/v1/keys", "/api/v1/keys/me", "/api/v1/scans"] {
            let resp = h.app.get(path, Some(key)).await;
            assert_detail(
                resp,
                401,
                "Invalid API key",
                &format!("GET {path} with X-API-Key {key:?}"),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn wrong_env_key_value_is_401_invalid() {
    let app = TestApp::spawn(&[("SECURESCAN_API_KEY", ENV_KEY)]).await;
    for key in [
        &ENV_KEY[..ENV_KEY.len() - 1],
        &format!("{ENV_KEY}0"),
        &ENV_KEY.to_uppercase(),
        "x",
    ] {
        let resp = app.get("/api/v1/keys", Some(key)).await;
        assert_detail(
            resp,
            401,
            "Invalid API key",
            &format!("env key variant {key:?}"),
        )
        .await;
    }
}

/// Malformed input reaches the credential check as a key that does not
/// verify: a 401, never a 500, never dev mode.
async fn assert_bad_inputs_are_401(app: &TestApp, real_key: &str, mode: &str) {
    let non_ascii: Vec<&[u8]> = vec![
        &[0xC3, 0xA9],
        b"ssk_\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9_abcdefghijklmnopqrstuvwxyz012345",
        &[0xFF, 0xFE, 0x80],
        b"\x80abc",
    ];
    for bytes in non_ascii {
        let value = HeaderValue::from_bytes(bytes).expect("header value");
        let resp = send(
            app.client
                .get(app.url("/api/v1/keys"))
                .header("X-API-Key", value),
        )
        .await;
        assert_detail(
            resp,
            401,
            "Invalid API key",
            &format!("{mode}: non-ASCII X-API-Key {bytes:?}"),
        )
        .await;
    }

    for key in [
        String::new(),
        "ssk_".into(),
        "ssk__".into(),
        "ssk_0123456789_".into(),
        FORGED_KEY.into(),
        with_bad_checksum(real_key),
        with_altered_secret(real_key),
        "\t".into(),
        "ssk_ 0123456789".into(),
    ] {
        let value = HeaderValue::from_str(&key).expect("header value");
        let resp = send(
            app.client
                .get(app.url("/api/v1/keys"))
                .header("X-API-Key", value),
        )
        .await;
        assert_detail(
            resp,
            401,
            "Invalid API key",
            &format!("{mode}: X-API-Key {key:?}"),
        )
        .await;
    }

    // 64 KiB: a 401, or 431 if the server refuses headers that large; never 5xx.
    for big in [
        "a".repeat(64 * 1024),
        format!("ssk_0123456789_{}", "A".repeat(64 * 1024)),
    ] {
        let resp = send(
            app.client
                .get(app.url("/api/v1/keys"))
                .header("X-API-Key", big.as_str()),
        )
        .await;
        let status = resp.status().as_u16();
        assert!(
            status == 401 || status == 431,
            "{mode}: 64 KiB X-API-Key: expected 401 or 431, got {status}"
        );
        if status == 401 {
            assert_detail(
                resp,
                401,
                "Invalid API key",
                &format!("{mode}: 64 KiB X-API-Key"),
            )
            .await;
        }
        let resp = send(
            app.client
                .get(app.url("/api/v1/keys"))
                .header("Authorization", format!("Bearer {big}")),
        )
        .await;
        let status = resp.status().as_u16();
        assert!(
            status == 401 || status == 431,
            "{mode}: 64 KiB bearer token: expected 401 or 431, got {status}"
        );
    }

    // The server is still fine afterwards.
    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200, "{mode}: /health after bad input");
}

#[tokio::test]
async fn bad_input_is_401_when_hardened() {
    let h = hardened().await;
    assert_bad_inputs_are_401(&h.app, &h.admin.key, "hardened").await;
}

#[tokio::test]
async fn bad_input_is_401_in_dev_mode_too() {
    let app = TestApp::spawn(&[]).await;
    // A key from another database, for the checksum variants.
    let other = Prepared::new().create_key("other", &["read"]);
    assert_bad_inputs_are_401(&app, &other.key, "dev mode").await;
    // Still dev mode: nothing was created by the bad requests.
    let resp = app.get("/api/v1/keys", None).await;
    assert_eq!(
        resp.status(),
        200,
        "dev mode: GET /api/v1/keys without a key"
    );
}

// -------------------------------------------------------------- dev mode --

#[tokio::test]
async fn dev_mode_lets_keyless_requests_through_but_not_bogus_keys() {
    let app = TestApp::spawn(&[]).await;
    let (status, _, body) = json_of(app.get("/api/v1/keys", None).await).await;
    assert_eq!(
        status, 200,
        "dev mode GET /api/v1/keys without a key: {body}"
    );
    assert_eq!(body, json!([]));

    let resp = app.get("/api/v1/keys", Some("bogus")).await;
    assert_detail(resp, 401, "Invalid API key", "dev mode, X-API-Key: bogus").await;
    let resp = send(
        app.client
            .get(app.url("/api/v1/keys"))
            .header("Authorization", "Bearer bogus"),
    )
    .await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "dev mode, Authorization: Bearer bogus",
    )
    .await;
    let resp = app.get("/api/v1/keys", Some(FORGED_KEY)).await;
    assert_detail(resp, 401, "Invalid API key", "dev mode, forged ssk_ key").await;

    // `/keys/me` is for DB keys only.
    let resp = app.get("/api/v1/keys/me", None).await;
    assert_detail(
        resp,
        404,
        "Not authenticated via DB key",
        "dev mode GET /api/v1/keys/me",
    )
    .await;
}

#[tokio::test]
async fn dev_mode_ends_when_a_db_key_exists() {
    let app = TestApp::spawn(&[]).await;
    // Bootstrap: in dev mode the first key can be issued without a key.
    let k = app.create_key_api(None, "monitoring", &["read"]).await;
    let resp = app.get("/api/v1/keys", None).await;
    assert_detail(
        resp,
        401,
        "X-API-Key header required",
        "keyless request once a DB key exists",
    )
    .await;
    // The read key is what it is: read only.
    let resp = app.get("/api/v1/keys", Some(&k.key)).await;
    assert_detail(
        resp,
        403,
        "Requires scope: admin",
        "read key on GET /api/v1/keys",
    )
    .await;
    let (status, _, me) = json_of(app.get("/api/v1/keys/me", Some(&k.key)).await).await;
    assert_eq!(status, 200, "read key on /keys/me: {me}");
    assert_eq!(me["id"], k.id.as_str());
}

#[tokio::test]
async fn auth_required_disables_dev_mode_fallback() {
    // Auth required with only the env key: no keyless access at all.
    let app = TestApp::spawn(&[
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_API_KEY", ENV_KEY),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
    ])
    .await;
    let resp = app.get("/api/v1/keys", None).await;
    assert_detail(
        resp,
        401,
        "X-API-Key header required",
        "auth required, no key",
    )
    .await;
    let resp = app.get("/api/v1/keys", Some(ENV_KEY)).await;
    assert_eq!(resp.status(), 200, "auth required, env key");
}

// ---------------------------------------------------------------- scopes --

#[tokio::test]
async fn scopes_are_enforced_route_by_route() {
    let h = hardened().await;
    let admin = h.admin.key.as_str();
    let read = h.app.create_key_api(Some(admin), "r", &["read"]).await;
    let write = h.app.create_key_api(Some(admin), "w", &["write"]).await;
    let rw = h
        .app
        .create_key_api(Some(admin), "rw", &["read", "write"])
        .await;

    struct Case<'a> {
        method: Method,
        path: &'a str,
        key: &'a str,
        who: &'a str,
        scope: &'a str,
    }
    let delete_admin = format!("/api/v1/keys/{}", h.admin.id);
    let cases = [
        Case {
            method: Method::GET,
            path: "/api/v1/keys",
            key: &read.key,
            who: "read",
            scope: "admin",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/keys",
            key: &write.key,
            who: "write",
            scope: "admin",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/keys",
            key: &rw.key,
            who: "read+write",
            scope: "admin",
        },
        Case {
            method: Method::POST,
            path: "/api/v1/keys",
            key: &rw.key,
            who: "read+write",
            scope: "admin",
        },
        Case {
            method: Method::DELETE,
            path: "/api/v1/keys/abcdefghij",
            key: &rw.key,
            who: "read+write",
            scope: "admin",
        },
        Case {
            method: Method::DELETE,
            path: &delete_admin,
            key: &write.key,
            who: "write",
            scope: "admin",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/scans",
            key: &write.key,
            who: "write",
            scope: "read",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/scans/abc",
            key: &write.key,
            who: "write",
            scope: "read",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/scans/abc/findings",
            key: &write.key,
            who: "write",
            scope: "read",
        },
        Case {
            method: Method::POST,
            path: "/api/v1/scans",
            key: &read.key,
            who: "read",
            scope: "write",
        },
        Case {
            method: Method::POST,
            path: "/api/v1/scans/abc/cancel",
            key: &read.key,
            who: "read",
            scope: "write",
        },
        Case {
            method: Method::DELETE,
            path: "/api/v1/scans/abc",
            key: &read.key,
            who: "read",
            scope: "write",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/webhooks",
            key: &rw.key,
            who: "read+write",
            scope: "admin",
        },
        Case {
            method: Method::GET,
            path: "/api/v1/policy",
            key: &rw.key,
            who: "read+write",
            scope: "admin",
        },
    ];
    for c in &cases {
        let resp = send(h.app.request(c.method.clone(), c.path, Some(c.key))).await;
        assert_detail(
            resp,
            403,
            &format!("Requires scope: {}", c.scope),
            &format!("{} {} with a {} key", c.method, c.path, c.who),
        )
        .await;
    }
    // The admin key creating the delete case above was not revoked.
    h.app.list_keys(Some(admin)).await;
}

#[tokio::test]
async fn admin_implies_read_and_write() {
    let h = hardened().await;
    // A second admin key issued through the API, used for everything.
    let admin2 = h
        .app
        .create_key_api(Some(&h.admin.key), "admin2", &["admin"])
        .await;
    for key in [&h.admin.key, &admin2.key] {
        for (method, path) in [
            (Method::GET, "/api/v1/scans"),
            (Method::POST, "/api/v1/scans"),
            (Method::GET, "/api/v1/webhooks"),
        ] {
            let resp = send(h.app.request(method.clone(), path, Some(key))).await;
            let status = resp.status().as_u16();
            assert!(
                status != 401 && status != 403 && status < 500,
                "{method} {path} with an admin key: the auth layer refused it ({status})"
            );
        }
        h.app.list_keys(Some(key)).await;
    }
}

// --------------------------------------------------------------- bearer --

#[tokio::test]
async fn bearer_token_works_like_x_api_key() {
    let h = hardened().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = send(
            h.app
                .client
                .get(h.app.url("/api/v1/keys"))
                .header("Authorization", format!("{scheme} {}", h.admin.key)),
        )
        .await;
        assert_eq!(resp.status(), 200, "Authorization: {scheme} <admin key>");
        let resp = send(
            h.app
                .client
                .get(h.app.url("/api/v1/keys"))
                .header("Authorization", format!("{scheme} nope")),
        )
        .await;
        assert_detail(
            resp,
            401,
            "Invalid API key",
            &format!("Authorization: {scheme} nope"),
        )
        .await;
    }
    // Scopes apply to bearer keys too.
    let read = h
        .app
        .create_key_api(Some(&h.admin.key), "r", &["read"])
        .await;
    let resp = send(
        h.app
            .client
            .get(h.app.url("/api/v1/keys"))
            .header("Authorization", format!("Bearer {}", read.key)),
    )
    .await;
    assert_detail(
        resp,
        403,
        "Requires scope: admin",
        "Bearer <read key> on GET /api/v1/keys",
    )
    .await;
    // Env key as a bearer token.
    let app = TestApp::spawn(&[("SECURESCAN_API_KEY", ENV_KEY)]).await;
    let resp = send(
        app.client
            .get(app.url("/api/v1/keys"))
            .header("Authorization", format!("Bearer {ENV_KEY}")),
    )
    .await;
    assert_eq!(resp.status(), 200, "Authorization: Bearer <env key>");
}

// -------------------------------------------------------------- env key --

#[tokio::test]
async fn env_key_has_full_access() {
    let app = TestApp::spawn(&[("SECURESCAN_API_KEY", ENV_KEY)]).await;
    let key = Some(ENV_KEY);
    assert_eq!(app.get("/api/v1/keys", key).await.status(), 200);
    let created = app.create_key_api(key, "issued-by-env", &["admin"]).await;
    assert_eq!(created.scopes, vec!["admin"]);
    let resp = app
        .delete(&format!("/api/v1/keys/{}", created.id), key)
        .await;
    assert_eq!(resp.status(), 204);
    for (method, path) in [
        (Method::GET, "/api/v1/scans"),
        (Method::POST, "/api/v1/scans"),
        (Method::GET, "/api/v1/webhooks"),
    ] {
        let status = send(app.request(method.clone(), path, key))
            .await
            .status()
            .as_u16();
        assert!(
            status != 401 && status != 403 && status < 500,
            "{method} {path} with the env key: refused ({status})"
        );
    }
    let resp = app.get("/api/v1/keys/me", key).await;
    assert_detail(
        resp,
        404,
        "Not authenticated via DB key",
        "env key on /keys/me",
    )
    .await;
}

// ------------------------------------------------------------ revocation --

#[tokio::test]
async fn revocation_takes_effect_on_the_next_request() {
    let h = hardened().await;
    let k = h
        .app
        .create_key_api(Some(&h.admin.key), "leaked", &["read"])
        .await;
    let (status, _, me) = json_of(h.app.get("/api/v1/keys/me", Some(&k.key)).await).await;
    assert_eq!(status, 200, "GET /api/v1/keys/me with K: {me}");
    assert_eq!(me["id"], k.id.as_str());

    let resp = h
        .app
        .delete(&format!("/api/v1/keys/{}", k.id), Some(&h.admin.key))
        .await;
    assert_eq!(resp.status(), 204, "revoke K");

    let resp = h.app.get("/api/v1/keys/me", Some(&k.key)).await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "GET /api/v1/keys/me with K right after revoking K",
    )
    .await;
    let resp = send(
        h.app
            .client
            .get(h.app.url("/api/v1/keys/me"))
            .header("Authorization", format!("Bearer {}", k.key)),
    )
    .await;
    assert_detail(resp, 401, "Invalid API key", "Bearer K after revocation").await;
}

#[tokio::test]
async fn revocation_takes_effect_on_every_instance() {
    let h = hardened().await;
    let other = h.app.spawn_sibling(&hardened_env()).await;
    let k = h
        .app
        .create_key_api(Some(&h.admin.key), "shared", &["read"])
        .await;
    // Warm both instances up with K (any cache would now hold it).
    for app in [&h.app, &other] {
        for _ in 0..3 {
            assert_eq!(app.get("/api/v1/keys/me", Some(&k.key)).await.status(), 200);
        }
    }
    let resp = other
        .delete(&format!("/api/v1/keys/{}", k.id), Some(&h.admin.key))
        .await;
    assert_eq!(resp.status(), 204, "revoke K on instance 2");
    for (name, app) in [("instance 1", &h.app), ("instance 2", &other)] {
        let resp = app.get("/api/v1/keys/me", Some(&k.key)).await;
        assert_detail(
            resp,
            401,
            "Invalid API key",
            &format!("{name}: K right after its revocation on instance 2"),
        )
        .await;
    }
}

#[tokio::test]
async fn revoked_admin_key_loses_admin_at_once() {
    let h = hardened().await;
    let a2 = h
        .app
        .create_key_api(Some(&h.admin.key), "admin2", &["admin"])
        .await;
    assert_eq!(h.app.get("/api/v1/keys", Some(&a2.key)).await.status(), 200);
    let resp = h
        .app
        .delete(&format!("/api/v1/keys/{}", a2.id), Some(&h.admin.key))
        .await;
    assert_eq!(resp.status(), 204);
    let resp = h.app.get("/api/v1/keys", Some(&a2.key)).await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "revoked admin key on GET /api/v1/keys",
    )
    .await;
    let resp = h
        .app
        .post_json(
            "/api/v1/keys",
            Some(&a2.key),
            &json!({"name": "x", "scopes": ["admin"]}),
        )
        .await;
    assert_detail(
        resp,
        401,
        "Invalid API key",
        "revoked admin key on POST /api/v1/keys",
    )
    .await;
}

/// Two admin keys revoking each other 25 times over, all at once: the
/// lockout check and the revoke are one step, so exactly one survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mutual_revocation_leaves_exactly_one_admin() {
    let prepared = Prepared::new();
    let a = prepared.create_key("admin-a", &["admin"]);
    let b = prepared.create_key("admin-b", &["admin"]);
    let app = prepared.spawn(&hardened_env()).await;

    let mut tasks = Vec::new();
    for i in 0..50 {
        let (auth, target) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let rb = app.request(
            Method::DELETE,
            &format!("/api/v1/keys/{}", target.id),
            Some(&auth.key),
        );
        let who = format!("DELETE {} as {}", target.name, auth.name);
        tasks.push(tokio::spawn(async move {
            let (status, _, body) = json_of(send(rb).await).await;
            (who, status.as_u16(), body)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    for (who, status, body) in &results {
        match status {
            204 => assert!(body.is_null(), "{who}: 204 with a body {body}"),
            409 => assert_eq!(
                body,
                &json!({"detail": "Cannot revoke last admin key without an env-var fallback"}),
                "{who}"
            ),
            401 => assert_eq!(body, &json!({"detail": "Invalid API key"}), "{who}"),
            _ => panic!("{who}: unexpected {status} {body}"),
        }
    }
    let count = |code: u16| results.iter().filter(|(_, s, _)| *s == code).count();
    eprintln!(
        "mutual revocation: {} x 204, {} x 409, {} x 401",
        count(204),
        count(409),
        count(401)
    );
    assert!(
        results.iter().any(|(_, s, _)| *s == 204),
        "no revoke succeeded: {results:?}"
    );

    // Whichever key still works lists both.
    let (survivor, list) = {
        let (s, _, v) = json_of(app.get("/api/v1/keys", Some(&a.key)).await).await;
        if s == 200 {
            (&a, v)
        } else {
            let (s, _, v) = json_of(app.get("/api/v1/keys", Some(&b.key)).await).await;
            assert_eq!(s, 200, "neither admin key works after the race: {v}");
            (&b, v)
        }
    };
    let list = list.as_array().expect("array").clone();
    let unrevoked: Vec<&str> = list
        .iter()
        .filter(|k| k["id"] == a.id.as_str() || k["id"] == b.id.as_str())
        .filter(|k| k["revoked_at"].is_null())
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        unrevoked,
        vec![survivor.id.as_str()],
        "exactly one admin key left unrevoked: {list:?}"
    );
    let loser = if survivor.id == a.id { &b } else { &a };
    let resp = app.get("/api/v1/keys", Some(&loser.key)).await;
    assert_detail(resp, 401, "Invalid API key", "the revoked admin key").await;
}

// --------------------------------------------------- public and unknown --

#[tokio::test]
async fn public_routes_need_no_key_when_hardened() {
    let h = hardened().await;
    let app = &h.app;

    let (status, _, body) = json_of(app.get("/", None).await).await;
    assert_eq!(status, 200, "GET /: {body}");

    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"ok"}"#);

    let (status, _, body) = json_of(app.get("/ready", None).await).await;
    assert_eq!(status, 200, "GET /ready: {body}");
    assert!(body.is_object(), "/ready is JSON: {body}");

    for path in ["/docs", "/redoc"] {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            ct.starts_with("text/html"),
            "GET {path}: content-type {ct:?}"
        );
        let body = resp.text().await.unwrap();
        assert!(
            body.to_ascii_lowercase().contains("<html"),
            "GET {path}: not HTML: {body}"
        );
    }

    let (status, _, doc) = json_of(app.get("/openapi.json", None).await).await;
    assert_eq!(status, 200, "GET /openapi.json");
    assert!(
        doc.get("openapi").is_some(),
        "openapi.json has no \"openapi\" key: {doc}"
    );
    let paths = doc
        .get("paths")
        .and_then(|p| p.as_object())
        .expect("openapi.json has \"paths\"");
    assert!(
        paths.contains_key("/api/v1/keys"),
        "paths lack /api/v1/keys: {:?}",
        paths.keys()
    );
}

#[tokio::test]
async fn unknown_route_is_404_whatever_the_credentials() {
    let h = hardened().await;
    let read = h
        .app
        .create_key_api(Some(&h.admin.key), "r", &["read"])
        .await;
    for path in ["/api/v1/nope", "/api/v1/keys/me/extra", "/nope"] {
        for (who, key) in [
            ("no key", None),
            ("bogus key", Some("nope")),
            ("read key", Some(read.key.as_str())),
            ("admin key", Some(h.admin.key.as_str())),
        ] {
            let resp = h.app.get(path, key).await;
            assert_detail(resp, 404, "Not Found", &format!("GET {path} with {who}")).await;
        }
    }
    // A known path with a method the policy does not name: 404 too (no 405
    // telling which methods exist), with or without credentials.
    for (method, path) in [
        (Method::DELETE, "/api/v1/policy"),
        (Method::PUT, "/api/v1/keys"),
        (Method::PATCH, "/health"),
        (Method::POST, "/api/v1/keys/me"),
    ] {
        for (who, key) in [("no key", None), ("admin key", Some(h.admin.key.as_str()))] {
            let resp = send(h.app.request(method.clone(), path, key)).await;
            assert_detail(
                resp,
                404,
                "Not Found",
                &format!("{method} {path} with {who}"),
            )
            .await;
        }
    }
}
