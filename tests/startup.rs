//! Process start: the fail-closed startup decision (exit status 2 before
//! listening), the configurations that do start, and a server whose policy
//! component cannot be loaded or cannot run (503, never an allow).

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use std::process::Output;

const ENV_KEY: &str = "env-key-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";

/// `securescan serve` on `prepared`'s database, on a free port, with `env`;
/// the process must exit by itself within 30 s.
fn serve_until_exit(prepared: &Prepared, env: &[(&str, &str)]) -> Output {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    prepared.run_cli(&["serve", "--host", "127.0.0.1", "--port", &port], env)
}

fn assert_exit_2(out: &Output, mentions: &str, ctx: &str) {
    let text = output_text(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{ctx}: expected exit status 2, got {:?}\n--- output ---\n{text}",
        out.status
    );
    assert!(
        text.contains(mentions),
        "{ctx}: the output should name {mentions}\n--- output ---\n{text}"
    );
}

// ------------------------------------------------------------ fail closed --

fn no_credentials_exits_2(value: &str) {
    let prepared = Prepared::new();
    let out = serve_until_exit(
        &prepared,
        &[
            ("SECURESCAN_AUTH_REQUIRED", value),
            ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
        ],
    );
    assert_exit_2(
        &out,
        "SECURESCAN_API_KEY",
        &format!("SECURESCAN_AUTH_REQUIRED={value}, no credentials"),
    );
}

#[test]
fn auth_required_1_without_credentials_exits_2() {
    no_credentials_exits_2("1");
}

#[test]
fn auth_required_true_without_credentials_exits_2() {
    no_credentials_exits_2("true");
}

#[test]
fn auth_required_yes_uppercase_without_credentials_exits_2() {
    no_credentials_exits_2("YES");
}

#[test]
fn auth_required_on_mixed_case_without_credentials_exits_2() {
    no_credentials_exits_2("On");
}

#[test]
fn auth_required_without_credentials_or_secret_exits_2() {
    let prepared = Prepared::new();
    let out = serve_until_exit(&prepared, &[("SECURESCAN_AUTH_REQUIRED", "1")]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
}

#[test]
fn auth_required_with_only_a_read_key_exits_2() {
    let prepared = Prepared::new();
    prepared.create_key("monitoring", &["read"]);
    let out = serve_until_exit(&prepared, &hardened_env());
    assert_exit_2(&out, "SECURESCAN_API_KEY", "only a read-scope DB key");
}

#[test]
fn auth_required_with_only_non_admin_keys_exits_2() {
    let prepared = Prepared::new();
    prepared.create_key("ci", &["read", "write"]);
    prepared.create_key("writer", &["write"]);
    let out = serve_until_exit(&prepared, &hardened_env());
    assert_eq!(
        out.status.code(),
        Some(2),
        "read/write keys only: {}",
        output_text(&out)
    );
}

#[test]
fn auth_required_with_only_a_revoked_admin_key_exits_2() {
    let prepared = Prepared::new();
    let admin = prepared.create_key("old-admin", &["admin"]);
    prepared.revoke_key(&admin.id);
    let out = serve_until_exit(&prepared, &hardened_env());
    assert_eq!(
        out.status.code(),
        Some(2),
        "only a revoked admin key: {}",
        output_text(&out)
    );
}

#[test]
fn auth_required_without_event_secret_exits_2() {
    let prepared = Prepared::new();
    let out = serve_until_exit(
        &prepared,
        &[
            ("SECURESCAN_AUTH_REQUIRED", "1"),
            ("SECURESCAN_API_KEY", ENV_KEY),
        ],
    );
    assert_exit_2(
        &out,
        "SECURESCAN_EVENT_TOKEN_SECRET",
        "env key, no event-token secret",
    );
    assert!(
        !output_text(&out).contains(ENV_KEY),
        "the env key is in the output"
    );
}

#[test]
fn auth_required_with_admin_db_key_but_no_event_secret_exits_2() {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let out = serve_until_exit(&prepared, &[("SECURESCAN_AUTH_REQUIRED", "true")]);
    assert_exit_2(
        &out,
        "SECURESCAN_EVENT_TOKEN_SECRET",
        "admin DB key, no event-token secret",
    );
    assert!(
        !output_text(&out).contains(admin.secret()),
        "a key is in the output"
    );
}

#[test]
fn auth_required_with_empty_env_key_exits_2() {
    // An empty SECURESCAN_API_KEY is no credential.
    let prepared = Prepared::new();
    let out = serve_until_exit(
        &prepared,
        &[
            ("SECURESCAN_AUTH_REQUIRED", "1"),
            ("SECURESCAN_API_KEY", ""),
            ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
        ],
    );
    assert_exit_2(&out, "SECURESCAN_API_KEY", "empty env key");
}

// ----------------------------------------------------------------- starts --

#[tokio::test]
async fn auth_required_with_env_key_and_secret_starts() {
    let app = TestApp::spawn(&[
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_API_KEY", ENV_KEY),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
    ])
    .await;
    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"ok"}"#);
    assert_eq!(app.get("/ready", None).await.status(), 200);
    assert_eq!(app.get("/api/v1/keys", Some(ENV_KEY)).await.status(), 200);
    assert!(!app.logs().contains(ENV_KEY), "env key in the startup log");
    assert!(
        !app.logs().contains(EVENT_SECRET),
        "secret in the startup log"
    );
}

#[tokio::test]
async fn auth_required_with_admin_db_key_and_secret_starts() {
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let app = prepared.spawn(&hardened_env()).await;
    assert_eq!(app.get("/health", None).await.status(), 200);
    assert_eq!(app.get("/ready", None).await.status(), 200);
    assert_eq!(
        app.get("/api/v1/keys", Some(&admin.key)).await.status(),
        200
    );
}

#[tokio::test]
async fn auth_not_required_starts_in_dev_mode() {
    for env in [
        vec![],
        vec![("SECURESCAN_AUTH_REQUIRED", "0")],
        vec![("SECURESCAN_AUTH_REQUIRED", "false")],
    ] {
        let app = TestApp::spawn(&env).await;
        assert_eq!(app.get("/health", None).await.status(), 200, "{env:?}");
        assert_eq!(app.get("/ready", None).await.status(), 200, "{env:?}");
        // Dev mode: no credentials anywhere, so a keyless request passes.
        assert_eq!(app.get("/api/v1/keys", None).await.status(), 200, "{env:?}");
    }
}

#[tokio::test]
async fn auth_not_required_starts_without_credentials_or_secret_for_other_values() {
    for value in ["off", "no", ""] {
        let app = TestApp::spawn(&[("SECURESCAN_AUTH_REQUIRED", value)]).await;
        assert_eq!(
            app.get("/health", None).await.status(),
            200,
            "AUTH_REQUIRED={value:?}"
        );
    }
}

// ----------------------------------------------------- policy unavailable --

async fn assert_policy_unavailable(app: &TestApp, keys: &[Option<&str>], ctx: &str) {
    for key in keys {
        for (method, path) in [
            (Method::GET, "/api/v1/keys"),
            (Method::GET, "/api/v1/keys/me"),
            (Method::GET, "/api/keys"),
        ] {
            let resp = send(app.request(method.clone(), path, *key)).await;
            let what = format!("{ctx}: {method} {path} with key {key:?}");
            assert_ne!(resp.status(), 200, "{what}: allowed without a policy");
            assert_detail(resp, 503, "Policy unavailable", &what).await;
        }
        let resp = app
            .post_json(
                "/api/v1/keys",
                *key,
                &json!({"name": "x", "scopes": ["admin"]}),
            )
            .await;
        assert_detail(
            resp,
            503,
            "Policy unavailable",
            &format!("{ctx}: POST /api/v1/keys with key {key:?}"),
        )
        .await;
        let resp = app.delete("/api/v1/keys/abcdefghij", *key).await;
        assert_detail(
            resp,
            503,
            "Policy unavailable",
            &format!("{ctx}: DELETE with key {key:?}"),
        )
        .await;
    }
}

#[tokio::test]
async fn missing_policy_build_denies_everything_with_503() {
    // Dev mode otherwise: without the policy the keyless request must not pass.
    let app = TestApp::spawn(&[("SECURESCAN_POLICY_PATH", "/nonexistent/policy.wasm")]).await;
    let resp = app.get("/health", None).await;
    assert_eq!(resp.status(), 200, "/health is liveness only");
    let (status, _, body) = json_of(app.get("/ready", None).await).await;
    assert_eq!(status, 503, "/ready without a policy: {body}");
    assert_policy_unavailable(
        &app,
        &[None, Some("nope"), Some(FORGED_KEY)],
        "no policy, dev mode",
    )
    .await;
}

#[tokio::test]
async fn missing_policy_build_denies_even_the_env_key() {
    let app = TestApp::spawn(&[
        ("SECURESCAN_POLICY_PATH", "/nonexistent/policy.wasm"),
        ("SECURESCAN_API_KEY", ENV_KEY),
    ])
    .await;
    assert_eq!(app.get("/health", None).await.status(), 200);
    assert_eq!(app.get("/ready", None).await.status(), 503);
    assert_policy_unavailable(&app, &[Some(ENV_KEY), None], "no policy, env key").await;
}

#[tokio::test]
async fn garbage_policy_build_denies_everything_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    std::fs::write(&path, b"\0asm this is not a component").unwrap();
    let path = path.to_str().unwrap().to_string();
    let app = TestApp::spawn(&[
        ("SECURESCAN_POLICY_PATH", path.as_str()),
        ("SECURESCAN_API_KEY", ENV_KEY),
    ])
    .await;
    assert_eq!(app.get("/health", None).await.status(), 200);
    assert_eq!(app.get("/ready", None).await.status(), 503);
    assert_policy_unavailable(&app, &[Some(ENV_KEY), None], "garbage policy").await;
}

#[tokio::test]
async fn policy_out_of_fuel_denies_with_503() {
    // Every policy call traps; the server must deny, not allow. /health may
    // or may not go through the policy, so only wait for the listener.
    let prepared = Prepared::new();
    let admin = prepared.create_key("admin", &["admin"]);
    let app = prepared
        .spawn_with(
            &[
                ("SECURESCAN_POLICY_FUEL", "1"),
                ("SECURESCAN_API_KEY", ENV_KEY),
            ],
            Wait::Listening,
        )
        .await;
    assert_policy_unavailable(&app, &[Some(ENV_KEY), Some(&admin.key), None], "fuel=1").await;
    // Still up, still denying.
    let resp = app.get("/api/v1/keys", Some(ENV_KEY)).await;
    assert_detail(resp, 503, "Policy unavailable", "fuel=1, again").await;
}

/// Sweeps the fuel budget across the range where the policy loads but some
/// calls run out of fuel (trap) mid-request. Whatever the budget, every
/// answer is either the right one or 503 `Policy unavailable`: a trap never
/// becomes an allow, never revokes the last admin key.
#[tokio::test]
async fn policy_fuel_sweep_never_turns_a_trap_into_an_allow() {
    let mut budgets: Vec<Option<u64>> = vec![Some(1), Some(300)];
    let mut f = 1_000f64;
    while f < 150_000.0 {
        budgets.push(Some(f as u64));
        f *= 1.6;
    }
    budgets.push(None); // the default budget: nothing traps
                        // One database prepared once, copied for every budget.
    let template = Prepared::new();
    let admin = template.create_key("admin", &["admin"]);
    let read = template.create_key("reader", &["read"]);
    let gone = template.create_key("gone", &["admin"]);
    template.revoke_key(&gone.id);
    let mut mixed = 0;
    for fuel in budgets {
        let prepared = Prepared::new();
        for entry in std::fs::read_dir(template.dir.path()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("test.db") {
                std::fs::copy(entry.path(), prepared.dir.path().join(&name)).unwrap();
            }
        }
        let fuel_s = fuel.map(|f| f.to_string());
        let mut env = hardened_env();
        if let Some(f) = &fuel_s {
            env.push(("SECURESCAN_POLICY_FUEL", f.as_str()));
        }
        let app = prepared.spawn_with(&env, Wait::Listening).await;
        let own = format!("/api/v1/keys/{}", admin.id);
        let cases: Vec<(Method, &str, Option<&str>, u16, &str)> = vec![
            (
                Method::GET,
                "/api/v1/keys",
                None,
                401,
                "X-API-Key header required",
            ),
            (
                Method::GET,
                "/api/v1/keys",
                Some("nope"),
                401,
                "Invalid API key",
            ),
            (
                Method::GET,
                "/api/v1/keys",
                Some(FORGED_KEY),
                401,
                "Invalid API key",
            ),
            (
                Method::GET,
                "/api/v1/keys",
                Some(&gone.key),
                401,
                "Invalid API key",
            ),
            (
                Method::GET,
                "/api/v1/keys",
                Some(&read.key),
                403,
                "Requires scope: admin",
            ),
            (
                Method::POST,
                "/api/v1/scans",
                Some(&read.key),
                403,
                "Requires scope: write",
            ),
            (Method::GET, "/api/v1/keys/me", Some(&read.key), 200, ""),
            (Method::GET, "/api/v1/keys", Some(&admin.key), 200, ""),
            (
                Method::DELETE,
                &own,
                Some(&admin.key),
                409,
                "Cannot revoke last admin key without an env-var fallback",
            ),
        ];
        let mut unavailable = 0;
        for (method, path, key, want, detail) in &cases {
            let ctx = format!("fuel={fuel:?}: {method} {path} with {key:?}");
            let (status, _, body) =
                json_of(send(app.request(method.clone(), path, *key)).await).await;
            if status == 503 {
                assert_eq!(body, json!({"detail": "Policy unavailable"}), "{ctx}");
                unavailable += 1;
                continue;
            }
            assert_eq!(
                status.as_u16(),
                *want,
                "{ctx}: expected {want} or 503, got {status} {body}"
            );
            if !detail.is_empty() {
                assert_eq!(body, json!({"detail": detail}), "{ctx}");
            }
        }
        match fuel {
            Some(1) => assert_eq!(unavailable, cases.len(), "fuel=1: every answer must be 503"),
            None => assert_eq!(unavailable, 0, "default fuel: nothing should trap"),
            _ if unavailable > 0 && unavailable < cases.len() => mixed += 1,
            _ => {}
        }
        // Whatever happened, the admin key was not revoked (read back
        // through the CLI, which runs with the default budget).
        let list = app.cli_list_keys();
        let row = list
            .iter()
            .find(|k| k["id"] == admin.id.as_str())
            .unwrap_or_else(|| panic!("fuel={fuel:?}: admin key not listed: {list:?}"));
        assert!(
            row["revoked_at"].is_null(),
            "fuel={fuel:?}: admin key revoked: {row}"
        );
    }
    eprintln!("fuel budgets with partial traps: {mixed}");
}

/// `SECURESCAN_POLICY_PATH` naming a real build: it is loaded and decides.
/// (The built-in build, written to a file, stands in for an operator's.)
#[tokio::test]
async fn policy_path_with_a_valid_build_is_loaded_and_decides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    std::fs::write(&path, securescan_host::policy::BUILTIN_POLICY).unwrap();
    let path = path.display().to_string();
    let app = TestApp::spawn(&[("SECURESCAN_POLICY_PATH", path.as_str())]).await;
    let resp = app.get("/ready", None).await;
    assert_eq!(resp.status(), 200, "ready with a policy from a file");
    let want = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            securescan_host::policy::BUILTIN_POLICY,
        ))
    };
    let loaded = app
        .log_lines()
        .into_iter()
        .find(|l| field_str(l, "message") == Some("policy build loaded"))
        .expect("a 'policy build loaded' line");
    assert_eq!(field_str(&loaded, "sha256"), Some(want.as_str()));
    // It decides: the env-less dev-mode server still refuses a bogus key.
    assert_detail(
        app.get("/api/v1/keys", Some("bogus")).await,
        401,
        "Invalid API key",
        "bogus key with a policy loaded from a file",
    )
    .await;
}

#[test]
fn scan_lease_out_of_range_exits_2() {
    for value in ["1", "abc", "-5", "90000"] {
        let prepared = Prepared::new();
        let out = serve_until_exit(&prepared, &[("SECURESCAN_SCAN_LEASE_SECS", value)]);
        assert_exit_2(
            &out,
            "SECURESCAN_SCAN_LEASE_SECS",
            &format!("SECURESCAN_SCAN_LEASE_SECS={value}"),
        );
    }
}

#[test]
fn database_pool_size_out_of_range_exits_2() {
    for value in ["0", "many", "1001"] {
        let prepared = Prepared::new();
        let out = serve_until_exit(&prepared, &[("SECURESCAN_DATABASE_POOL_SIZE", value)]);
        assert_exit_2(
            &out,
            "SECURESCAN_DATABASE_POOL_SIZE",
            &format!("SECURESCAN_DATABASE_POOL_SIZE={value}"),
        );
    }
}

#[test]
fn unsupported_database_url_exits_with_a_clear_message() {
    let prepared = Prepared::on("mysql://127.0.0.1/test");
    let out = serve_until_exit(&prepared, &[]);
    let text = output_text(&out);
    assert!(!out.status.success(), "must not serve: {text}");
    assert!(
        text.contains("unsupported database url (expected sqlite://... or postgres://...)"),
        "{text}"
    );
}
