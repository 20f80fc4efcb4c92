//! One contract for every store: each case runs against SQLite (a temp file)
//! and against PostgreSQL (a database of its own on the local server).
//!
//! Where PostgreSQL is not reachable its cases are listed as ignored and a
//! line says why (CI sets `SECURESCAN_REQUIRE_POSTGRES=1`: there they fail
//! instead). A custom harness (libtest-mimic) makes that visible: libtest
//! would hide a skip message in captured output.

mod common;

use common::pg::{self, PgDb};
use futures::future::LocalBoxFuture;
use libtest_mimic::{Arguments, Failed, Trial};
use securescan_host::store::{
    self, ActivePolicy, AttemptOutcome, AttemptRecord, Counts, DynStore, FindingRecord,
    NewDelivery, NewKey, RevokeCheck, RevokeOutcome, ScanRecord, ScanUpdate, Signal, StoredEvent,
    StoredPolicy, Transition, WebhookRecord,
};
use std::sync::Arc;
use std::time::Duration;

/// A store under test, and the URL it was opened with (to open more
/// handles on the same database: more instances).
struct Ctx {
    url: String,
    store: DynStore,
}

impl Ctx {
    async fn another(&self) -> DynStore {
        store::open(&self.url).await.expect("second handle")
    }
}

type Case = fn(Ctx) -> LocalBoxFuture<'static, ()>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), |c| Box::pin($name(c)) as LocalBoxFuture<'static, ()>)),*]
    };
}

const CASES: &[(&str, Case)] = cases![
    keys_insert_get_list_count,
    migrations_are_idempotent,
    revoke_outcomes,
    concurrent_revokes_of_the_last_two_admins_leave_one,
    last_used_never_moves_back,
    scans_lifecycle,
    findings_keep_their_order,
    interrupted_scans_and_leases,
    events_append_read_and_purge,
    events_of_a_deleted_scan_are_dropped,
    webhooks_crud,
    deliveries_are_leased_once_and_released_by_an_attempt,
    deliveries_are_claimed_once_by_competing_dispatchers,
    signals_reach_other_handles,
    a_one_connection_pool_listens_and_serves,
    buckets_update_atomically_across_handles,
    policy_builds_are_published_with_generations,
];

fn main() {
    let args = Arguments::from_args();
    let pg_skip = pg::unavailable();
    if let Some(reason) = &pg_skip {
        println!(
            "\nPostgreSQL store tests SKIPPED ({} cases): {reason}\n  (set {} to another server, or {}=1 to make this a failure)\n",
            CASES.len(),
            pg::URL_VAR,
            pg::REQUIRE_VAR
        );
    }
    let mut trials = Vec::new();
    for &(name, case) in CASES {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(case, Backend::Sqlite)
        }));
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                run(case, Backend::Postgres)
            })
            .with_ignored_flag(pg_skip.is_some()),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

enum Backend {
    Sqlite,
    Postgres,
}

fn run(case: Case, backend: Backend) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Kept alive until the case ends (dropped after the runtime).
    let (_dir, _db, url) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
            (Some(dir), None, url)
        }
        Backend::Postgres => {
            let db = PgDb::create();
            let url = db.url.clone();
            (None, Some(db), url)
        }
    };
    rt.block_on(async {
        let store = store::open(&url).await.expect("open store");
        case(Ctx { url, store }).await;
    });
    drop(rt);
    Ok(())
}

fn key(id: &str, scopes: &[&str]) -> NewKey {
    NewKey {
        id: id.into(),
        name: format!("k-{id}"),
        prefix: format!("ssk_{id}"),
        key_hash: "v1$x$y".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn scan(id: &str, created_at: &str) -> ScanRecord {
    ScanRecord {
        id: id.into(),
        target_path: "/tmp/x".into(),
        scan_types: vec!["code".into()],
        status: "pending".into(),
        created_at: created_at.into(),
        started_at: None,
        completed_at: None,
        error: None,
        files_scanned: 0,
        findings_count: 0,
        skipped: vec![],
    }
}

fn event(id: u64, name: &str) -> StoredEvent {
    StoredEvent {
        id,
        name: name.into(),
        data: format!("{{\"n\":{id}}}"),
    }
}

fn hook(id: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        name: format!("hook {id}"),
        url: "https://example.com/".into(),
        event_filter: vec!["webhook.test".into()],
        created_at: "2026-01-01T00:00:00Z".into(),
        secret: "s3cr3t".into(),
    }
}

fn delivery(id: &str, hook: &str, created_ms: i64) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        webhook_id: hook.into(),
        event: "webhook.test".into(),
        payload: "{}".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        created_ms,
    }
}

/// The lockout rule as the server applies it (the component decides there;
/// the rule is restated here so the store's atomicity is what is tested).
fn lockout(c: &RevokeCheck) -> Result<(), securescan_host::http::ApiError> {
    if c.target_scopes.iter().any(|s| s == "admin") && c.other_admin_keys == 0 {
        Err(securescan_host::http::ApiError::status(
            reqwest::StatusCode::CONFLICT,
            "last admin",
        ))
    } else {
        Ok(())
    }
}

async fn keys_insert_get_list_count(c: Ctx) {
    let s = c.store;
    s.insert_key(key("A", &["admin"])).await.unwrap();
    s.insert_key(key("B", &["read"])).await.unwrap();
    assert_eq!(s.get_key("A").await.unwrap().unwrap().scopes, vec!["admin"]);
    assert!(s.get_key("Z").await.unwrap().is_none());
    let ids: Vec<String> = s
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec!["A", "B"]);
    assert_eq!(
        s.counts().await.unwrap(),
        Counts {
            unrevoked: 2,
            unrevoked_admins: 1
        }
    );
    assert!(s.any_unrevoked().await.unwrap());
    assert!(
        s.insert_key(key("A", &["read"])).await.is_err(),
        "ids are unique"
    );
    s.ping().await.unwrap();
}

async fn migrations_are_idempotent(c: Ctx) {
    c.store.insert_key(key("A", &["admin"])).await.unwrap();
    // Several instances starting at once migrate the same database.
    let (a, b, d) = tokio::join!(c.another(), c.another(), c.another());
    for s in [a, b, d] {
        assert_eq!(s.list_keys().await.unwrap().len(), 1);
    }
}

async fn revoke_outcomes(c: Ctx) {
    let s = c.store;
    s.insert_key(key("A", &["admin"])).await.unwrap();
    let allow = |_: &RevokeCheck| Ok(());
    assert!(matches!(
        s.revoke_key("nope", "t", &allow).await.unwrap(),
        RevokeOutcome::NotFound
    ));
    assert!(matches!(
        s.revoke_key("A", "t", &lockout).await.unwrap(),
        RevokeOutcome::Refused(_)
    ));
    assert!(s.get_key("A").await.unwrap().unwrap().revoked_at.is_none());
    let seen = std::sync::Mutex::new(None);
    let record = |c: &RevokeCheck| {
        *seen.lock().unwrap() = Some(c.clone());
        Ok(())
    };
    assert!(matches!(
        s.revoke_key("A", "2026-02-02T00:00:00Z", &record)
            .await
            .unwrap(),
        RevokeOutcome::Revoked
    ));
    let c = seen.lock().unwrap().clone().unwrap();
    assert_eq!(c.other_admin_keys, 0);
    assert_eq!(c.target_scopes, vec!["admin"]);
    assert!(matches!(
        s.revoke_key("A", "t", &allow).await.unwrap(),
        RevokeOutcome::AlreadyRevoked
    ));
    assert_eq!(
        s.get_key("A").await.unwrap().unwrap().revoked_at.as_deref(),
        Some("2026-02-02T00:00:00Z")
    );
    assert!(!s.any_unrevoked().await.unwrap());
}

async fn concurrent_revokes_of_the_last_two_admins_leave_one(c: Ctx) {
    c.store.insert_key(key("A", &["admin"])).await.unwrap();
    c.store.insert_key(key("B", &["admin"])).await.unwrap();
    // Three handles: three instances with their own pools.
    let handles = [c.store.clone(), c.another().await, c.another().await];
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = handles[i % 3].clone();
        let target = if i % 2 == 0 { "A" } else { "B" };
        tasks.push(tokio::spawn(async move {
            matches!(
                s.revoke_key(target, "2026-02-02T00:00:00Z", &lockout)
                    .await
                    .unwrap(),
                RevokeOutcome::Revoked
            )
        }));
    }
    let mut revoked = 0;
    for t in tasks {
        revoked += usize::from(t.await.unwrap());
    }
    assert_eq!(revoked, 1, "exactly one revoke succeeds");
    assert_eq!(c.store.counts().await.unwrap().unrevoked_admins, 1);
}

async fn last_used_never_moves_back(c: Ctx) {
    let s = c.store;
    s.insert_key(key("A", &["read"])).await.unwrap();
    s.insert_key(key("B", &["read"])).await.unwrap();
    s.touch_last_used(&[
        ("A".into(), "2026-01-02T00:00:00Z".into()),
        ("B".into(), "2026-01-03T00:00:00Z".into()),
    ])
    .await
    .unwrap();
    // Another instance flushes an older use later: it must not win.
    let other = Ctx {
        url: c.url.clone(),
        store: s.clone(),
    }
    .another()
    .await;
    other
        .touch_last_used(&[
            ("A".into(), "2026-01-01T00:00:00Z".into()),
            ("B".into(), "2026-01-04T00:00:00Z".into()),
        ])
        .await
        .unwrap();
    other.touch_last_used(&[]).await.unwrap();
    let a = s.get_key("A").await.unwrap().unwrap().last_used_at;
    let b = s.get_key("B").await.unwrap().unwrap().last_used_at;
    assert_eq!(a.as_deref(), Some("2026-01-02T00:00:00Z"));
    assert_eq!(b.as_deref(), Some("2026-01-04T00:00:00Z"));
}

async fn scans_lifecycle(c: Ctx) {
    let s = c.store;
    s.insert_scan(&scan("s1", "2026-01-01T00:00:01Z"), "k", 1)
        .await
        .unwrap();
    s.insert_scan(&scan("s2", "2026-01-01T00:00:02Z"), "k", 1)
        .await
        .unwrap();
    let listed: Vec<String> = s
        .list_scans(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec!["s2", "s1"], "newest first");
    assert_eq!(s.list_scans(1).await.unwrap().len(), 1);
    let started = ScanUpdate {
        started: true,
        ..Default::default()
    };
    assert_eq!(
        s.transition_scan(
            "s1",
            &["pending"],
            "running",
            "2026-01-01T00:01:00Z",
            started.clone()
        )
        .await
        .unwrap(),
        Transition::Done
    );
    assert_eq!(
        s.transition_scan("s1", &["pending"], "running", "t", started)
            .await
            .unwrap(),
        Transition::Refused("running".into())
    );
    assert_eq!(
        s.transition_scan("nope", &["pending"], "running", "t", ScanUpdate::default())
            .await
            .unwrap(),
        Transition::NotFound
    );
    assert_eq!(
        s.delete_scan("s1", &["pending", "running"]).await.unwrap(),
        Transition::Refused("running".into())
    );
    s.transition_scan(
        "s1",
        &["running"],
        "completed",
        "2026-01-01T00:02:00Z",
        ScanUpdate {
            completed: true,
            files_scanned: Some(7),
            findings_count: Some(2),
            error: Some("partial".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let r = s.get_scan("s1").await.unwrap().unwrap();
    assert_eq!(r.status, "completed");
    assert_eq!(r.started_at.as_deref(), Some("2026-01-01T00:01:00Z"));
    assert_eq!(r.completed_at.as_deref(), Some("2026-01-01T00:02:00Z"));
    assert_eq!((r.files_scanned, r.findings_count), (7, 2));
    assert_eq!(r.error.as_deref(), Some("partial"));
    assert_eq!(r.scan_types, vec!["code"]);
    assert_eq!(
        s.delete_scan("s1", &["pending", "running"]).await.unwrap(),
        Transition::Done
    );
    assert!(s.get_scan("s1").await.unwrap().is_none());
    assert_eq!(
        s.delete_scan("s1", &["pending"]).await.unwrap(),
        Transition::NotFound
    );
}

async fn findings_keep_their_order(c: Ctx) {
    let s = c.store;
    s.insert_scan(&scan("s1", "2026-01-01T00:00:01Z"), "k", 1)
        .await
        .unwrap();
    let findings: Vec<FindingRecord> = (0..50)
        .map(|i| FindingRecord {
            file: format!("f{}.rs", 49 - i),
            line: i,
            rule: "aws-access-key-id".into(),
            severity: "high".into(),
            excerpt: "AKIA****".into(),
        })
        .collect();
    s.insert_findings("s1", &findings).await.unwrap();
    s.insert_findings("s1", &[]).await.unwrap();
    assert_eq!(s.list_findings("s1").await.unwrap(), findings);
    assert!(s.list_findings("nope").await.unwrap().is_empty());
    s.transition_scan("s1", &["pending"], "failed", "t", ScanUpdate::default())
        .await
        .unwrap();
    s.delete_scan("s1", &["pending"]).await.unwrap();
    assert!(
        s.list_findings("s1").await.unwrap().is_empty(),
        "deleted with the scan"
    );
}

async fn interrupted_scans_and_leases(c: Ctx) {
    let s = c.store;
    s.insert_scan(&scan("expired", "2026-01-01T00:00:01Z"), "k", 1_000)
        .await
        .unwrap();
    s.insert_scan(&scan("live", "2026-01-01T00:00:02Z"), "k", 5_000)
        .await
        .unwrap();
    s.insert_scan(&scan("done", "2026-01-01T00:00:03Z"), "k", 1_000)
        .await
        .unwrap();
    s.transition_scan(
        "done",
        &["pending"],
        "completed",
        "t",
        ScanUpdate::default(),
    )
    .await
    .unwrap();
    // At 2 000 ms only the expired lease counts as a lost instance.
    let failed = s
        .fail_interrupted_scans("2026-01-01T01:00:00Z", 2_000)
        .await
        .unwrap();
    assert_eq!(failed, vec!["expired".to_string()]);
    let r = s.get_scan("expired").await.unwrap().unwrap();
    assert_eq!(r.status, "failed");
    assert!(r.error.unwrap().contains("Interrupted"));
    assert_eq!(s.get_scan("live").await.unwrap().unwrap().status, "pending");
    // Renewing: a scan no longer busy (cancelled elsewhere) is reported.
    s.transition_scan(
        "live",
        &["pending"],
        "cancelled",
        "t",
        ScanUpdate::default(),
    )
    .await
    .unwrap();
    s.insert_scan(&scan("runs", "2026-01-01T00:00:04Z"), "k", 1_000)
        .await
        .unwrap();
    let gone = s
        .renew_scan_leases(&["live".into(), "runs".into(), "missing".into()], 10_000)
        .await
        .unwrap();
    assert_eq!(gone, vec!["live".to_string(), "missing".to_string()]);
    assert!(s.renew_scan_leases(&[], 10_000).await.unwrap().is_empty());
    // Renewed until 10 000: not failed at 9 000, failed at 10 001.
    assert!(s
        .fail_interrupted_scans("t", 9_000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.fail_interrupted_scans("t", 10_001).await.unwrap(),
        vec!["runs".to_string()]
    );
    // A single process at startup: everything busy is interrupted.
    s.insert_scan(&scan("any", "2026-01-01T00:00:05Z"), "k", i64::MAX - 1)
        .await
        .unwrap();
    assert_eq!(
        s.fail_interrupted_scans("t", i64::MAX).await.unwrap(),
        vec!["any".to_string()]
    );
}

async fn events_append_read_and_purge(c: Ctx) {
    let s = c.store;
    s.insert_scan(&scan("s1", "2026-01-01T00:00:01Z"), "k", 1)
        .await
        .unwrap();
    s.insert_scan(&scan("s2", "2026-01-01T00:00:02Z"), "k", 1)
        .await
        .unwrap();
    let batch: Vec<StoredEvent> = (1..=5).map(|i| event(i, "scan.progress")).collect();
    s.append_events("s1", &batch).await.unwrap();
    // Idempotent: a retried batch changes nothing (the first copy stays).
    let mut retried = batch.clone();
    retried[0].data = "{\"changed\":true}".into();
    s.append_events("s1", &retried).await.unwrap();
    s.append_events("s1", &[]).await.unwrap();
    assert_eq!(s.events_after("s1", 0, 100).await.unwrap(), batch);
    assert_eq!(s.events_after("s1", 3, 100).await.unwrap(), batch[3..]);
    assert_eq!(s.events_after("s1", 0, 2).await.unwrap(), batch[..2]);
    assert!(s.events_after("s1", 5, 100).await.unwrap().is_empty());
    assert!(s.events_after("s2", 0, 100).await.unwrap().is_empty());
    // Closing a scan from another instance: the next id after the last.
    assert_eq!(
        s.append_event_next("s1", "scan.failed", "{}")
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        s.append_event_next("s2", "scan.failed", "{}")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.events_after("s1", 5, 100).await.unwrap()[0].name,
        "scan.failed"
    );
    // Purge: only scans completed before the cutoff lose their events.
    s.transition_scan(
        "s1",
        &["pending"],
        "failed",
        "2026-01-01T00:10:00Z",
        ScanUpdate {
            completed: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.purge_events("2026-01-01T00:05:00Z").await.unwrap(), 0);
    assert_eq!(s.purge_events("2026-01-01T00:20:00Z").await.unwrap(), 6);
    assert!(s.events_after("s1", 0, 100).await.unwrap().is_empty());
    assert_eq!(s.events_after("s2", 0, 100).await.unwrap().len(), 1);
}

async fn events_of_a_deleted_scan_are_dropped(c: Ctx) {
    let s = c.store;
    s.insert_scan(&scan("s1", "2026-01-01T00:00:01Z"), "k", 1)
        .await
        .unwrap();
    s.append_events("s1", &[event(1, "scan.start")])
        .await
        .unwrap();
    s.transition_scan("s1", &["pending"], "cancelled", "t", ScanUpdate::default())
        .await
        .unwrap();
    s.delete_scan("s1", &["pending"]).await.unwrap();
    assert!(s.events_after("s1", 0, 100).await.unwrap().is_empty());
    // A late write from the instance that ran it is dropped, not an error.
    s.append_events("s1", &[event(2, "scan.cancelled")])
        .await
        .unwrap();
    assert!(s.events_after("s1", 0, 100).await.unwrap().is_empty());
}

async fn webhooks_crud(c: Ctx) {
    let s = c.store;
    s.insert_webhook(&hook("w1")).await.unwrap();
    s.insert_webhook(&hook("w2")).await.unwrap();
    let got = s.get_webhook("w1").await.unwrap().unwrap();
    assert_eq!(got.secret, "s3cr3t");
    assert_eq!(got.event_filter, vec!["webhook.test"]);
    assert_eq!(s.list_webhooks().await.unwrap().len(), 2);
    let mut changed = hook("w1");
    changed.name = "renamed".into();
    changed.url = "https://example.org/h".into();
    changed.event_filter = vec!["scan.complete".into(), "scan.failed".into()];
    assert!(s.update_webhook(&changed).await.unwrap());
    let got = s.get_webhook("w1").await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.url.as_str(), got.event_filter.len()),
        ("renamed", "https://example.org/h", 2)
    );
    assert!(!s.update_webhook(&hook("nope")).await.unwrap());
    assert!(s.delete_webhook("w2").await.unwrap());
    assert!(!s.delete_webhook("w2").await.unwrap());
    assert!(s.get_webhook("w2").await.unwrap().is_none());
}

async fn deliveries_are_leased_once_and_released_by_an_attempt(c: Ctx) {
    let s = c.store;
    s.insert_webhook(&hook("w1")).await.unwrap();
    s.insert_delivery(&delivery("d1", "w1", 1_000))
        .await
        .unwrap();
    let first = s.claim_deliveries(2_000, 60_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    // Leased: nobody else gets it until the lease expires.
    assert!(s
        .claim_deliveries(2_001, 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = s.claim_deliveries(62_000, 60_000, 10).await.unwrap();
    assert_eq!(again.len(), 1, "an expired lease is claimed again");
    let attempt = AttemptRecord {
        attempt: 1,
        status_code: Some(500),
        error: None,
        at: "2026-01-01T00:01:02Z".into(),
    };
    s.record_attempt(
        "d1",
        &attempt,
        &AttemptOutcome::Retry {
            next_ms: 70_000,
            next_at: "2026-01-01T00:01:10Z".into(),
        },
    )
    .await
    .unwrap();
    let listed = s.list_deliveries("w1", 100).await.unwrap();
    assert_eq!(
        listed[0].next_attempt_at.as_deref(),
        Some("2026-01-01T00:01:10Z")
    );
    assert!(s
        .claim_deliveries(69_999, 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let due = s.claim_deliveries(70_000, 60_000, 10).await.unwrap();
    assert_eq!(due[0].attempts, 1);
    s.record_attempt(
        "d1",
        &AttemptRecord {
            attempt: 2,
            status_code: Some(200),
            error: None,
            at: "2026-01-01T00:01:10Z".into(),
        },
        &AttemptOutcome::Delivered {
            at: "2026-01-01T00:01:10Z".into(),
        },
    )
    .await
    .unwrap();
    assert!(s
        .claim_deliveries(i64::MAX / 2, 1, 10)
        .await
        .unwrap()
        .is_empty());
    let list = s.list_deliveries("w1", 100).await.unwrap();
    assert_eq!(list[0].status, "delivered");
    assert_eq!(list[0].attempts, 2);
    assert_eq!(list[0].next_attempt_at, None);
    assert_eq!(
        list[0].delivered_at.as_deref(),
        Some("2026-01-01T00:01:10Z")
    );
    assert_eq!(
        list[0]
            .attempt_log
            .iter()
            .map(|a| a.status_code)
            .collect::<Vec<_>>(),
        vec![Some(500), Some(200)]
    );
    // Newest first, limited.
    s.insert_delivery(&delivery("d2", "w1", 3_000))
        .await
        .unwrap();
    s.insert_delivery(&delivery("d3", "w1", 3_000))
        .await
        .unwrap();
    let ids: Vec<String> = s
        .list_deliveries("w1", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, vec!["d3", "d2"]);
    // Giving up ends it.
    s.record_attempt(
        "d2",
        &AttemptRecord {
            attempt: 1,
            status_code: None,
            error: Some("connect".into()),
            at: "t".into(),
        },
        &AttemptOutcome::GiveUp {
            status: "abandoned",
        },
    )
    .await
    .unwrap();
    let d2 = s
        .list_deliveries("w1", 100)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id == "d2")
        .unwrap();
    assert_eq!(d2.status, "abandoned");
    assert_eq!(d2.last_error.as_deref(), Some("connect"));
    // Deleting the webhook deletes its deliveries.
    assert!(s.delete_webhook("w1").await.unwrap());
    assert!(s.list_deliveries("w1", 100).await.unwrap().is_empty());
}

async fn deliveries_are_claimed_once_by_competing_dispatchers(c: Ctx) {
    c.store.insert_webhook(&hook("w1")).await.unwrap();
    for i in 0..120 {
        c.store
            .insert_delivery(&delivery(&format!("d{i:03}"), "w1", 1_000 + i))
            .await
            .unwrap();
    }
    let handles = [c.store.clone(), c.another().await, c.another().await];
    let claimed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for t in 0..6 {
        let s = handles[t % 3].clone();
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let got = s.claim_deliveries(10_000, 600_000, 7).await.unwrap();
                if got.is_empty() {
                    return;
                }
                claimed
                    .lock()
                    .unwrap()
                    .extend(got.into_iter().map(|d| d.id));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut ids = claimed.lock().unwrap().clone();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(total, 120, "no delivery claimed twice");
    assert_eq!(ids.len(), 120, "every delivery claimed");
}

/// The next message on a listener (reconnections skipped), within 10 s.
async fn next_message(rx: &mut tokio::sync::mpsc::Receiver<Signal>) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Some(Signal::Message(m)) => return m,
                Some(Signal::Reconnected) => continue,
                None => panic!("listener ended"),
            }
        }
    })
    .await
    .expect("signal within 10 s")
}

async fn signals_reach_other_handles(c: Ctx) {
    let Some(mut rx) = c.store.listen().await.unwrap() else {
        // A store without a notification channel must say it is not shared.
        assert!(!c.store.shared(), "a shared store must have signals");
        c.store.signal("ev:x").await.unwrap();
        return;
    };
    assert!(c.store.shared());
    let other = c.another().await;
    // The listener is connected when `listen` returns.
    other.signal("ev:abc").await.unwrap();
    let got = next_message(&mut rx).await;
    assert_eq!(got, "ev:abc");
}

/// `SECURESCAN_DATABASE_POOL_SIZE=1`: the LISTEN connection is not taken
/// from the query pool, so one connection still serves every query (one at
/// a time) while the instance listens. SQLite ignores the size.
async fn a_one_connection_pool_listens_and_serves(c: Ctx) {
    let small = store::open_with_pool(&c.url, 1).await.expect("pool of one");
    let rx = small.listen().await.unwrap();
    let work = async {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = small.clone();
            tasks.push(tokio::spawn(async move {
                s.insert_key(key(&format!("p{i:02}"), &["read"]))
                    .await
                    .unwrap();
                s.get_key(&format!("p{i:02}")).await.unwrap().expect("row")
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .expect("20 concurrent queries on one connection finish (no starvation)");
    assert_eq!(c.store.list_keys().await.unwrap().len(), 20);
    let Some(mut rx) = rx else {
        assert!(!small.shared());
        return;
    };
    c.store.signal("pool:one").await.unwrap();
    let got = next_message(&mut rx).await;
    assert_eq!(got, "pool:one");
}

async fn buckets_update_atomically_across_handles(c: Ctx) {
    let handles = [c.store.clone(), c.another().await, c.another().await];
    let mut tasks = Vec::new();
    for i in 0..90 {
        let s = handles[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            // Read-modify-write: a lost update would show in the count.
            let add = |state: Option<(u64, u64)>| Some((state.map_or(0, |(l, _)| l) + 1, 5));
            s.update_bucket("key:abc", &add).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seen = std::sync::Mutex::new(None);
    let read = |state: Option<(u64, u64)>| {
        *seen.lock().unwrap() = state;
        None
    };
    c.store.update_bucket("key:abc", &read).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), Some((90, 5)), "no update lost");
    // `None` from the update leaves no bucket behind.
    c.store.update_bucket("key:new", &read).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), None);
    c.store.update_bucket("key:new", &read).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), None);
    // Purge by last update.
    assert_eq!(c.store.purge_buckets(5).await.unwrap(), 0);
    assert_eq!(c.store.purge_buckets(6).await.unwrap(), 1);
    c.store.update_bucket("key:abc", &read).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), None);
}

async fn policy_builds_are_published_with_generations(c: Ctx) {
    let s = c.store;
    assert_eq!(s.active_policy().await.unwrap(), None);
    let build = |sha: &str, sig: Option<&str>| StoredPolicy {
        sha256: sha.into(),
        wasm: vec![0, 97, 115, 109, 255, 1],
        signature: sig.map(str::to_string),
        source: "upload".into(),
    };
    assert_eq!(
        s.publish_policy(&build("aa", Some("sig-a")), "t1")
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.publish_policy(&build("bb", None), "t2").await.unwrap(), 2);
    // Back to a stored build: its bytes and signature are kept.
    let mut again = build("aa", None);
    again.source = "rollback".into();
    assert_eq!(s.publish_policy(&again, "t3").await.unwrap(), 3);
    assert_eq!(
        s.active_policy().await.unwrap(),
        Some(ActivePolicy {
            sha256: "aa".into(),
            generation: 3,
            source: "rollback".into()
        })
    );
    let got = s.get_policy("aa").await.unwrap().unwrap();
    assert_eq!(got.wasm, vec![0, 97, 115, 109, 255, 1]);
    assert_eq!(got.signature.as_deref(), Some("sig-a"));
    assert!(s.get_policy("cc").await.unwrap().is_none());
    // Another instance sees the same.
    let other = Ctx {
        url: c.url.clone(),
        store: s.clone(),
    }
    .another()
    .await;
    assert_eq!(other.active_policy().await.unwrap().unwrap().generation, 3);
}
