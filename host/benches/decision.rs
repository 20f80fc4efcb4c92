//! One authorization decision, three ways: the native `securescan_core`
//! function, the policy component with instance reuse (the server's default),
//! and the component with a fresh instance per call (from the `InstancePre`,
//! on the pooling allocator). Plus route resolution, native vs component.
//!
//! The decision: `GET /api/v1/scans` (requirement `Scopes([Read])`) with a
//! valid DB key in `X-API-Key` and its row, auth required.
//!
//! ```text
//! cargo bench -p securescan --bench decision -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use securescan_core::{authn, keys, routes, Scope};
use securescan_host::policy::{wit, PolicyBuild, Runtime, RuntimeOptions, BUILTIN_POLICY};
use std::hint::black_box;

const METHOD: &str = "GET";
const PATH: &str = "/api/v1/scans/0f8e2c1a-77b2-4c3e-9d1f-5a6b7c8d9e0f/events";

fn load(reuse_instances: bool) -> PolicyBuild {
    Runtime::new(RuntimeOptions {
        reuse_instances,
        ..RuntimeOptions::default()
    })
    .expect("runtime")
    .load(BUILTIN_POLICY)
    .expect("load the built-in policy")
}

fn native_facts() -> (authn::Facts, String) {
    let random: Vec<u8> = (0..96u32)
        .map(|i| (i as u8).wrapping_mul(73) ^ 0x5a)
        .collect();
    let m = keys::mint_key(&random).expect("mint");
    let facts = authn::Facts {
        requirement: routes::Requirement::Scopes(vec![Scope::Read]),
        accepts_event_token: false,
        resource_id: None,
        credential: authn::Credential::ApiKey(m.key.clone()),
        env_key: None,
        row: Some(authn::KeyRow {
            id: m.id.clone(),
            stored_hash: m.stored_hash.clone(),
            scopes: vec![Scope::Read, Scope::Write],
            revoked: false,
        }),
        db_key_exists: true,
        auth_required: true,
        event_secret: b"evt-secret-3b9f0c2d8e7a41f6a5d4c3b2a1908f7e".to_vec(),
        now: 1_700_000_000,
    };
    (facts, m.id)
}

fn wit_facts(f: &authn::Facts) -> wit::authn::Facts {
    let key = match &f.credential {
        authn::Credential::ApiKey(k) => k.clone(),
        _ => unreachable!(),
    };
    let row = f.row.as_ref().expect("row");
    wit::authn::Facts {
        requirement: wit::routes::Requirement::Scopes(vec![wit::types::Scope::Read]),
        accepts_event_token: f.accepts_event_token,
        resource_id: f.resource_id.clone(),
        credential: wit::authn::Credential::ApiKey(key),
        env_key: f.env_key.clone(),
        row: Some(wit::authn::KeyRow {
            id: row.id.clone(),
            stored_hash: row.stored_hash.clone(),
            scopes: vec![wit::types::Scope::Read, wit::types::Scope::Write],
            revoked: row.revoked,
        }),
        db_key_exists: f.db_key_exists,
        auth_required: f.auth_required,
        event_secret: f.event_secret.clone(),
        now: f.now,
    }
}

fn decision(c: &mut Criterion) {
    let (facts, id) = native_facts();
    let wfacts = wit_facts(&facts);
    let reused = load(true);
    let per_call = load(false);

    // Every variant must allow this request before it is timed.
    let p = authn::authenticate(&facts).expect("native allows");
    assert_eq!(
        (p.kind, p.id.as_str()),
        (authn::PrincipalKind::DbKey, id.as_str())
    );
    for b in [&reused, &per_call] {
        let p = b
            .authenticate(&wfacts)
            .expect("call")
            .expect("component allows");
        assert_eq!(p.kind, wit::authn::PrincipalKind::DbKey);
        assert_eq!(p.id, id);
    }
    let r = routes::resolve(METHOD, PATH);
    assert_eq!(r.template, "/api/v1/scans/{id}/events");
    assert_eq!(
        reused.resolve(METHOD, PATH).expect("call").template,
        r.template
    );

    c.bench_function("authenticate/native", |b| {
        b.iter(|| authn::authenticate(black_box(&facts)))
    });
    c.bench_function("authenticate/component_reused", |b| {
        b.iter(|| reused.authenticate(black_box(&wfacts)).expect("call"))
    });
    c.bench_function("authenticate/component_per_call_instance", |b| {
        b.iter(|| per_call.authenticate(black_box(&wfacts)).expect("call"))
    });

    c.bench_function("resolve/native", |b| {
        b.iter(|| routes::resolve(black_box(METHOD), black_box(PATH)))
    });
    c.bench_function("resolve/component_reused", |b| {
        b.iter(|| {
            reused
                .resolve(black_box(METHOD), black_box(PATH))
                .expect("call")
        })
    });
    c.bench_function("resolve/component_per_call_instance", |b| {
        b.iter(|| {
            per_call
                .resolve(black_box(METHOD), black_box(PATH))
                .expect("call")
        })
    });
}

criterion_group!(benches, decision);
criterion_main!(benches);
