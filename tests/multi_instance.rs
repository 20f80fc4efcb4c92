//! Three `securescan` instances on one PostgreSQL database behave as one
//! service: a scan run by one is streamed by the others (same ids, same
//! order, `Last-Event-ID` honoured), a revocation on one is refused by all
//! at the next request, the last-admin lockout holds under concurrent
//! revokes spread over the instances, a cancel reaches the instance running
//! the scan, and a webhook is delivered once.
//!
//! Each test gets a database of its own. Without PostgreSQL the tests are
//! listed as ignored with the reason (CI makes that a failure).

mod common;

use common::pg::{self, PgDb};
use common::sse::*;
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Test = fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>;

fn main() {
    let args = Arguments::from_args();
    let skip = pg::unavailable();
    let tests: Vec<(&str, Test)> = vec![
        ("a_scan_on_a_streams_on_b_and_c_in_order", || {
            Box::pin(a_scan_on_a_streams_on_b_and_c_in_order())
        }),
        ("a_key_revoked_on_b_is_refused_on_a_and_c_at_once", || {
            Box::pin(a_key_revoked_on_b_is_refused_on_a_and_c_at_once())
        }),
        (
            "concurrent_revokes_over_three_instances_leave_one_admin",
            || Box::pin(concurrent_revokes_over_three_instances_leave_one_admin()),
        ),
        ("streams_survive_lost_notification_connections", || {
            Box::pin(streams_survive_lost_notification_connections())
        }),
        ("a_cancel_on_c_stops_the_scan_running_on_a", || {
            Box::pin(a_cancel_on_c_stops_the_scan_running_on_a())
        }),
        ("a_webhook_is_delivered_once_by_three_dispatchers", || {
            Box::pin(a_webhook_is_delivered_once_by_three_dispatchers())
        }),
        ("the_scan_rate_limit_holds_across_instances", || {
            Box::pin(the_scan_rate_limit_holds_across_instances())
        }),
        (
            "a_policy_build_accepted_on_one_instance_reaches_every_instance",
            || Box::pin(a_policy_build_accepted_on_one_instance_reaches_every_instance()),
        ),
        ("a_scan_of_a_killed_instance_is_failed_by_another", || {
            Box::pin(a_scan_of_a_killed_instance_is_failed_by_another())
        }),
        ("liveness_and_unknown_routes_need_no_database", || {
            Box::pin(liveness_and_unknown_routes_need_no_database())
        }),
    ];
    if let Some(reason) = &skip {
        println!(
            "\nMulti-instance PostgreSQL tests SKIPPED ({} tests): {reason}\n",
            tests.len()
        );
    }
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            Trial::test(name, move || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(f());
                Ok::<(), Failed>(())
            })
            .with_ignored_flag(skip.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Three hardened instances on one fresh database; the admin key was issued
/// by the CLI before they started.
struct Cluster {
    apps: Vec<TestApp>,
    admin: CreatedKey,
    _db: PgDb,
}

async fn cluster(extra: &[(&str, &str)]) -> Cluster {
    let db = PgDb::create();
    let prepared = Prepared::on(&db.url);
    let admin = prepared.create_key("breakglass-admin", &["admin"]);
    let mut env = hardened_env();
    // Small pools: three instances (and the 100 concurrent revokes spread
    // over them) must work within a few connections each.
    env.push(("SECURESCAN_DATABASE_POOL_SIZE", "4"));
    env.extend_from_slice(extra);
    let a = prepared.spawn(&env).await;
    let b = a.spawn_sibling(&env).await;
    let c = a.spawn_sibling(&env).await;
    Cluster {
        apps: vec![a, b, c],
        admin,
        _db: db,
    }
}

fn tree(files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = String::new();
    for i in 0..40 {
        body.push_str(&format!("def f_{i}(x):\n    return x * {i}\n"));
    }
    for i in 0..files {
        let p = dir.path().join(format!("pkg{:02}/m{i:05}.py", i % 20));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &body).unwrap();
    }
    std::fs::write(
        dir.path().join("pkg00/aws.txt"),
        "id AKIAJ7QW2ZK4XN5RT3PL\n",
    )
    .unwrap();
    dir
}

async fn create_scan(app: &TestApp, key: &str, target: &Path) -> String {
    let body = json!({ "target_path": target.to_str().unwrap(), "scan_types": ["code"] });
    let (status, _, v) = json_of(app.post_json("/api/v1/scans", Some(key), &body).await).await;
    assert_eq!(status, 200, "POST /api/v1/scans: {v}");
    v["id"].as_str().expect("scan id").to_string()
}

async fn scan_status(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, _, v) = json_of(app.get(&format!("/api/v1/scans/{id}"), Some(key)).await).await;
    assert_eq!(status, 200, "GET scan {id}: {v}");
    v
}

async fn wait_final(app: &TestApp, key: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = scan_status(app, key, id).await;
        if !matches!(v["status"].as_str(), Some("pending" | "running")) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "scan {id} never ended: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_scan_on_a_streams_on_b_and_c_in_order() {
    let Cluster { apps, admin, _db } = cluster(&[]).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let files = tree(3000);
    let id = create_scan(a, &admin.key, files.path()).await;
    // Subscribed on B (by key) and C (by an event token minted on B) while
    // the scan runs on A.
    let (status, _, tok) = json_of(
        send(b.request(
            Method::POST,
            &format!("/api/v1/scans/{id}/event-token"),
            Some(&admin.key),
        ))
        .await,
    )
    .await;
    assert_eq!(status, 200, "event token minted on B: {tok}");
    let token = tok["token"].as_str().unwrap().to_string();
    let on_b = async {
        expect_stream(
            open_events(b, &id, None, Some(&admin.key), None).await,
            "stream on B",
        )
        .await
    };
    let on_c = async {
        expect_stream(
            open_events(c, &id, Some(&token), None, None).await,
            "stream on C with a token minted on B",
        )
        .await
    };
    let running_when_subscribed = scan_status(a, &admin.key, &id).await["status"].clone();
    let (sb, sc) = tokio::join!(on_b, on_c);
    check_sequence(&sb, 1, "B");
    check_sequence(&sc, 1, "C");
    assert_eq!(sb.names(), sc.names(), "B and C got the same events");
    let data = |s: &Stream| s.frames.iter().map(|f| f.data.clone()).collect::<Vec<_>>();
    assert_eq!(data(&sb), data(&sc), "B and C got the same data");
    assert_eq!(sb.last().name(), "scan.complete", "{:?}", sb.names());
    assert!(
        sb.named("scan.progress").len() >= 2,
        "progress events came through: {:?}",
        sb.names()
    );
    assert_eq!(sb.named("finding").len(), 1, "{:?}", sb.names());
    eprintln!(
        "scan status when B and C subscribed: {running_when_subscribed}; {} events each",
        sb.frames.len()
    );
    // A's own stream (from memory) is the same stream.
    let sa = expect_stream(
        open_events(a, &id, None, Some(&admin.key), None).await,
        "stream on A",
    )
    .await;
    assert_eq!(data(&sa), data(&sb), "A streams what B and C streamed");
    // Last-Event-ID on another instance than the one that served the ids.
    let resumed = expect_stream(
        open_events(c, &id, None, Some(&admin.key), Some(3)).await,
        "resumed on C after id 3",
    )
    .await;
    check_sequence(&resumed, 4, "resumed on C");
    assert_eq!(data(&resumed), data(&sb)[3..].to_vec());
}

async fn a_key_revoked_on_b_is_refused_on_a_and_c_at_once() {
    let Cluster { apps, admin, _db } = cluster(&[]).await;
    let reader = apps[0]
        .create_key_api(Some(&admin.key), "reader", &["read"])
        .await;
    for (n, app) in apps.iter().enumerate() {
        let (status, _, v) = json_of(app.get("/api/v1/keys/me", Some(&reader.key)).await).await;
        assert_eq!(status, 200, "instance {n} before the revoke: {v}");
    }
    let resp = apps[1]
        .delete(&format!("/api/v1/keys/{}", reader.id), Some(&admin.key))
        .await;
    assert_eq!(resp.status(), 204, "revoke on B");
    // The very next request, on every instance.
    for (n, app) in apps.iter().enumerate() {
        assert_detail(
            app.get("/api/v1/keys/me", Some(&reader.key)).await,
            401,
            "Invalid API key",
            &format!("revoked key on instance {n}, right after the revoke on B"),
        )
        .await;
    }
}

async fn concurrent_revokes_over_three_instances_leave_one_admin() {
    let Cluster { apps, admin, _db } = cluster(&[]).await;
    let second = apps[0]
        .create_key_api(Some(&admin.key), "second-admin", &["admin"])
        .await;
    let keys = [admin, second];
    let apps = Arc::new(apps);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let apps = apps.clone();
        let (auth, target) = (keys[i % 2].clone(), keys[(i + 1) % 2].clone());
        tasks.push(tokio::spawn(async move {
            let app = &apps[i % 3];
            let resp = app
                .delete(&format!("/api/v1/keys/{}", target.id), Some(&auth.key))
                .await;
            let (status, _, body) = json_of(resp).await;
            (i % 3, status.as_u16(), body, target.id)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    for (n, status, body, _) in &results {
        match status {
            204 => {}
            409 => assert_eq!(
                body,
                &json!({"detail": "Cannot revoke last admin key without an env-var fallback"}),
                "instance {n}"
            ),
            401 => assert_eq!(body, &json!({"detail": "Invalid API key"}), "instance {n}"),
            _ => panic!("instance {n}: unexpected {status} {body}"),
        }
    }
    let count = |code: u16| results.iter().filter(|(_, s, _, _)| *s == code).count();
    eprintln!(
        "100 revokes over 3 instances: {} x 204, {} x 409, {} x 401",
        count(204),
        count(409),
        count(401)
    );
    assert!(count(204) >= 1, "a revoke succeeded: {results:?}");
    let rows = apps[2].cli_list_keys();
    let live: Vec<&Value> = rows.iter().filter(|k| k["revoked_at"].is_null()).collect();
    assert_eq!(live.len(), 1, "exactly one admin key left: {rows:?}");
    // And it works everywhere; the other is refused everywhere.
    let survivor = keys
        .iter()
        .find(|k| live[0]["id"] == k.id.as_str())
        .unwrap();
    let loser = keys.iter().find(|k| k.id != survivor.id).unwrap();
    // Every 204 was a revoke of the loser (the first, then idempotent
    // repeats by the survivor); nobody ever revoked the survivor.
    assert!(
        results
            .iter()
            .filter(|(_, s, _, _)| *s == 204)
            .all(|(_, _, _, target)| *target == loser.id),
        "{results:?}"
    );
    for app in apps.iter() {
        let (status, _, _) = json_of(app.get("/api/v1/keys", Some(&survivor.key)).await).await;
        assert_eq!(status, 200);
        assert_detail(
            app.get("/api/v1/keys", Some(&loser.key)).await,
            401,
            "Invalid API key",
            "the revoked admin key",
        )
        .await;
    }
}

async fn a_cancel_on_c_stops_the_scan_running_on_a() {
    let Cluster { apps, admin, _db } = cluster(&[]).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let files = tree(20_000);
    let id = create_scan(a, &admin.key, files.path()).await;
    // Wait until A is really scanning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while scan_status(b, &admin.key, &id).await["status"] != "running" {
        assert!(tokio::time::Instant::now() < deadline, "scan never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stream = tokio::spawn({
        let url = b.url(&format!("/api/v1/scans/{id}/events"));
        let key = admin.key.clone();
        async move {
            let resp = client()
                .get(url)
                .header("X-API-Key", key)
                .send()
                .await
                .expect("events on B");
            expect_stream(resp, "stream on B").await
        }
    });
    let (status, _, v) = json_of(
        send(c.request(
            Method::POST,
            &format!("/api/v1/scans/{id}/cancel"),
            Some(&admin.key),
        ))
        .await,
    )
    .await;
    assert_eq!(status, 200, "cancel on C: {v}");
    assert_eq!(v["status"], "cancelled");
    let s = stream.await.expect("stream task");
    check_sequence(&s, 1, "stream on B of a scan cancelled on C");
    assert_eq!(s.last().name(), "scan.cancelled", "{:?}", s.names());
    let done = wait_final(a, &admin.key, &id).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    // A stopped scanning: the last progress it reported is short of the tree.
    let last_progress = s
        .named("scan.progress")
        .last()
        .map(|f| f.json()["files_done"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    assert!(
        last_progress < 20_000,
        "A stopped before the end of the tree (last progress {last_progress})"
    );
}

async fn a_webhook_is_delivered_once_by_three_dispatchers() {
    let Cluster { apps, admin, _db } = cluster(&[
        ("SECURESCAN_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("SECURESCAN_WEBHOOK_RETRY_BASE_MS", "200"),
    ])
    .await;
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = got.clone();
    let receiver = axum::Router::new().fallback(
        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let event = headers
                    .get("x-securescan-event")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                sink.lock()
                    .unwrap()
                    .push((event, String::from_utf8_lossy(&body).into_owned()));
                "ok"
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let body = json!({
        "name": "receiver",
        "url": format!("http://{addr}/hook"),
        "event_filter": ["scan.complete"],
    });
    let (status, _, hook) = json_of(
        apps[0]
            .post_json("/api/v1/webhooks", Some(&admin.key), &body)
            .await,
    )
    .await;
    assert_eq!(status, 201, "webhook created on A: {hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();

    let files = tree(50);
    let id = create_scan(&apps[1], &admin.key, files.path()).await;
    wait_final(&apps[1], &admin.key, &id).await;
    let resp = send(apps[2].request(
        Method::POST,
        &format!("/api/v1/webhooks/{hook_id}/test"),
        Some(&admin.key),
    ))
    .await;
    assert_eq!(resp.status(), 202, "test delivery from C");

    // Both arrive, and then nothing more: three dispatchers poll the same
    // table and none sends a delivery another one claimed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries missing: {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = got.lock().unwrap().clone();
    let complete: Vec<_> = got.iter().filter(|(e, _)| e == "scan.complete").collect();
    let test: Vec<_> = got.iter().filter(|(e, _)| e == "webhook.test").collect();
    assert_eq!(complete.len(), 1, "scan.complete delivered once: {got:?}");
    assert_eq!(test.len(), 1, "webhook.test delivered once: {got:?}");
    assert!(complete[0].1.contains(&id), "{:?}", complete[0]);
    assert_eq!(got.len(), 2, "{got:?}");
    // Every instance reports the same: two deliveries, one attempt each.
    for app in &apps {
        let (status, _, list) = json_of(
            app.get(
                &format!("/api/v1/webhooks/{hook_id}/deliveries"),
                Some(&admin.key),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{list}");
        let list = list.as_array().expect("deliveries array").clone();
        assert_eq!(list.len(), 2, "{list:?}");
        for d in &list {
            assert_eq!(d["status"], "delivered", "{d}");
            assert_eq!(d["attempts"], 1, "{d}");
        }
    }
}

/// An instance dies mid-scan (SIGKILL): another one notices the lease ran
/// out, fails the scan and closes its event stream.
async fn a_scan_of_a_killed_instance_is_failed_by_another() {
    let Cluster {
        mut apps,
        admin,
        _db,
    } = cluster(&[("SECURESCAN_SCAN_LEASE_SECS", "3")]).await;
    let files = tree(40_000);
    let id = create_scan(&apps[0], &admin.key, files.path()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while scan_status(&apps[1], &admin.key, &id).await["status"] != "running" {
        assert!(tokio::time::Instant::now() < deadline, "scan never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a = apps.remove(0);
    drop(a); // SIGKILL
    let killed_at = tokio::time::Instant::now();
    let s = expect_stream(
        open_events(&apps[0], &id, None, Some(&admin.key), None).await,
        "stream on B of a scan whose instance died",
    )
    .await;
    check_sequence(&s, 1, "stream of an interrupted scan");
    assert_eq!(s.last().name(), "scan.failed", "{:?}", s.names());
    let done = wait_final(&apps[1], &admin.key, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"].as_str().unwrap_or("").contains("Interrupted"),
        "{done}"
    );
    eprintln!(
        "interrupted scan failed and its stream closed {:?} after the kill (lease 3 s)",
        killed_at.elapsed()
    );
}

/// One bucket per key for the whole service: a burst of 3 is 3 scans in
/// all, wherever they are posted.
async fn the_scan_rate_limit_holds_across_instances() {
    let Cluster { apps, admin, _db } = cluster(&[
        ("SECURESCAN_RATE_LIMIT_PER_MIN", "1"),
        ("SECURESCAN_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let files = tree(5);
    let body = json!({ "target_path": files.path().to_str().unwrap(), "scan_types": ["code"] });
    let mut remaining = Vec::new();
    for app in &apps {
        let resp = app
            .post_json("/api/v1/scans", Some(&admin.key), &body)
            .await;
        assert_eq!(resp.status(), 200);
        remaining.push(header(resp.headers(), "x-ratelimit-remaining").unwrap_or_default());
    }
    assert_eq!(remaining, vec!["2", "1", "0"], "one bucket over A, B, C");
    for (n, app) in apps.iter().enumerate() {
        let resp = app
            .post_json("/api/v1/scans", Some(&admin.key), &body)
            .await;
        let h = resp.headers().clone();
        assert_detail(
            resp,
            429,
            "Rate limit exceeded",
            &format!("fourth scan, on instance {n}"),
        )
        .await;
        assert!(
            h.get("retry-after").is_some(),
            "Retry-After on instance {n}"
        );
    }
}

async fn active_sha(app: &TestApp, admin: &str) -> String {
    let (status, _, v) = json_of(app.get("/api/v1/policy", Some(admin)).await).await;
    assert_eq!(status, 200, "GET /api/v1/policy: {v}");
    v["active"]["sha256"].as_str().unwrap_or("").to_string()
}

/// Waits until every app shows `sha` as its active build; returns how long.
async fn converge(apps: &[&TestApp], admin: &str, sha: &str, ctx: &str) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        let mut all = true;
        for app in apps {
            all &= active_sha(app, admin).await == sha;
        }
        if all {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{ctx}: instances never converged on {sha}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn docs_status(app: &TestApp, key: &str) -> u16 {
    app.get("/docs", Some(key)).await.status().as_u16()
}

/// A build uploaded on A is stored and adopted by B and C (each through its
/// own pipeline); a rollback on C reaches A and B; an instance started
/// later adopts the database's active build.
async fn a_policy_build_accepted_on_one_instance_reaches_every_instance() {
    use securescan_host::policy::{signing, BUILTIN_POLICY};
    let keys = tempfile::tempdir().unwrap();
    let (key, _private, public) = signing::generate();
    let pub_path = keys.path().join("policy.pub");
    std::fs::write(&pub_path, public).unwrap();
    let pub_path = pub_path.display().to_string();
    let env = [("SECURESCAN_POLICY_PUBLIC_KEY", pub_path.as_str())];
    let Cluster { apps, admin, _db } = cluster(&env).await;
    let reader = apps[0]
        .create_key_api(Some(&admin.key), "reader", &["read"])
        .await;
    let builtin = hex::encode(signing::digest(BUILTIN_POLICY));
    let strict = common::builds::strict();
    let strict_sha = hex::encode(signing::digest(&strict));
    for app in &apps {
        assert_eq!(active_sha(app, &admin.key).await, builtin);
        assert_eq!(
            docs_status(app, &reader.key).await,
            200,
            "default: /docs open"
        );
    }

    let sig = signing::sign(&key, &strict);
    let resp = send(
        apps[0]
            .request(Method::PUT, "/api/v1/policy", Some(&admin.key))
            .header("X-Policy-Signature", sig)
            .body(strict.clone()),
    )
    .await;
    assert_eq!(
        resp.status(),
        200,
        "PUT on A: {}",
        resp.text().await.unwrap_or_default()
    );
    let all: Vec<&TestApp> = apps.iter().collect();
    let took = converge(&all, &admin.key, &strict_sha, "upload on A").await;
    eprintln!("upload on A reached B and C in {took:?}");
    for (n, app) in apps.iter().enumerate() {
        assert_detail(
            app.get("/docs", Some(&reader.key)).await,
            403,
            "Requires scope: admin",
            &format!("strict policy on instance {n}"),
        )
        .await;
    }
    let (_, _, v) = json_of(apps[1].get("/api/v1/policy", Some(&admin.key)).await).await;
    assert_eq!(v["active"]["source"], "cluster:upload", "{v}");

    // Rollback on C: everyone goes back to the built-in build.
    let resp =
        send(apps[2].request(Method::POST, "/api/v1/policy/rollback", Some(&admin.key))).await;
    assert_eq!(resp.status(), 200, "rollback on C");
    let took = converge(&all, &admin.key, &builtin, "rollback on C").await;
    eprintln!("rollback on C reached A and B in {took:?}");
    for app in &apps {
        assert_eq!(docs_status(app, &reader.key).await, 200, "default again");
    }

    // Strict again (from B), then a fourth instance joins: it adopts it.
    let resp = send(
        apps[1]
            .request(Method::PUT, "/api/v1/policy", Some(&admin.key))
            .header("X-Policy-Signature", signing::sign(&key, &strict))
            .body(strict.clone()),
    )
    .await;
    assert_eq!(resp.status(), 200, "PUT on B");
    let mut env4 = hardened_env();
    env4.extend_from_slice(&env);
    let d = apps[0].spawn_sibling(&env4).await;
    let mut all = all;
    all.push(&d);
    converge(&all, &admin.key, &strict_sha, "a fourth instance").await;
    assert_detail(
        d.get("/docs", Some(&reader.key)).await,
        403,
        "Requires scope: admin",
        "strict policy on the instance that joined later",
    )
    .await;
}

/// Kills every instance's LISTEN connection (as a network cut or a database
/// restart would): notifications are lost, yet a scan run on A is streamed
/// on B in full, in order, read from the table; and the listeners come back.
async fn streams_survive_lost_notification_connections() {
    use sqlx::Connection;
    let Cluster { apps, admin, _db } = cluster(&[]).await;
    let db_name = _db.name.clone();
    let mut conn = sqlx::PgConnection::connect(&pg::admin_url()).await.unwrap();
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{db_name}' AND query ILIKE 'LISTEN%'"
    );
    let killed: i64 = sqlx::query_scalar(&kill)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(killed >= 3, "one listener per instance was cut ({killed})");
    let files = tree(2000);
    let id = create_scan(&apps[0], &admin.key, files.path()).await;
    let s = expect_stream(
        open_events(&apps[1], &id, None, Some(&admin.key), None).await,
        "stream on B with its listener cut",
    )
    .await;
    check_sequence(&s, 1, "stream on B with its listener cut");
    assert_eq!(s.last().name(), "scan.complete", "{:?}", s.names());
    // The listeners reconnect (sqlx re-LISTENs on its next receive).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db_name}' AND query ILIKE 'LISTEN%'"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if n >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "listeners did not come back ({n})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With the database gone, `/health` stays 200 and unknown routes stay 404
/// (neither costs a query: a flood of them never reaches PostgreSQL), while
/// everything that needs a fact from the database fails closed with 503
/// `Database unavailable`, and recovers when the database is back.
async fn liveness_and_unknown_routes_need_no_database() {
    use sqlx::Connection;
    let db = PgDb::create();
    let prepared = Prepared::on(&db.url);
    let admin = prepared.create_key("breakglass-admin", &["admin"]);
    let app = prepared.spawn(&hardened_env()).await;
    let (status, _, v) = json_of(app.get("/api/v1/keys", Some(&admin.key)).await).await;
    assert_eq!(status, 200, "{v}");

    let name = db.name.clone();
    let mut conn = sqlx::PgConnection::connect(&pg::admin_url()).await.unwrap();
    let set_allowed = |allowed: bool| format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}");
    sqlx::query(&set_allowed(false))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();

    for _ in 0..3 {
        let (status, _, v) = json_of(app.get("/health", None).await).await;
        assert_eq!(status, 200, "/health without a database: {v}");
        assert_eq!(v, json!({"status": "ok"}));
        for key in [None, Some("ssk_bogus"), Some(admin.key.as_str())] {
            assert_detail(
                app.get("/api/v1/definitely-not-a-route", key).await,
                404,
                "Not Found",
                "unknown route without a database",
            )
            .await;
        }
    }
    // Needs the database: the key's row, or whether any key exists.
    for (key, ctx) in [(Some(admin.key.as_str()), "admin key"), (None, "no key")] {
        assert_detail(
            app.get("/api/v1/keys", key).await,
            503,
            "Database unavailable",
            &format!("protected route, {ctx}, without a database"),
        )
        .await;
    }
    assert_eq!(app.get("/ready", None).await.status(), 503);

    sqlx::query(&set_allowed(true))
        .execute(&mut conn)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let resp = app.get("/api/v1/keys", Some(&admin.key)).await;
        if resp.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery after the database came back: {}",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_detail(
        app.get("/api/v1/keys", None).await,
        401,
        "X-API-Key header required",
        "no key, database back",
    )
    .await;
}
