//! Native vs wasm: the same input through `securescan_core` compiled natively
//! and through the built policy component (`BUILTIN_POLICY`, the `.wasm` the
//! server embeds) under wasmtime. Outputs must be identical; a trap, running
//! out of fuel or any other failed call is a finding (it panics).
//!
//! Two component runtimes are compared with the native code on every input:
//! - a fresh store and instance per call, with a fuel bound (deterministic:
//!   no wall-clock deadline can fire on a busy machine);
//! - the server's default, instances reused between calls: any state left in
//!   an instance by an earlier call that changed a later answer would show
//!   up as a mismatch here (decisions depend on nothing but the inputs).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use securescan_core::{authn, keys, lifecycle, ratelimit, routes, tokens};
use securescan_core_fuzz::{
    scopes, ArbScope, FactsInput, KeyInput, MethodInput, PathInput, TokenInput, SECRET,
};
use securescan_host::policy::{PolicyBuild, PolicyError, Runtime, RuntimeOptions, BUILTIN_POLICY};
use std::sync::LazyLock;

#[path = "../../../tests/support/policy_convert.rs"]
mod convert;

/// Fuel for one call: about one unit per wasm instruction. The largest
/// inputs libFuzzer produces (4 KiB) need well under a million.
const FUEL: u64 = 50_000_000;

fn load(options: RuntimeOptions) -> PolicyBuild {
    Runtime::new(options)
        .expect("runtime")
        .load(BUILTIN_POLICY)
        .expect("load the built-in policy")
}

static FRESH: LazyLock<PolicyBuild> = LazyLock::new(|| {
    load(RuntimeOptions {
        // Bounded by fuel; the deadline is only a backstop far beyond it.
        deadline_ms: 600_000,
        fuel_per_call: Some(FUEL),
        reuse_instances: false,
    })
});

static REUSED: LazyLock<PolicyBuild> = LazyLock::new(|| {
    load(RuntimeOptions {
        deadline_ms: 600_000,
        fuel_per_call: Some(FUEL),
        reuse_instances: true,
    })
});

#[derive(Arbitrary, Debug)]
enum Op {
    Resolve(MethodInput, PathInput),
    ParseKey(KeyInput),
    VerifyKey(KeyInput, Option<String>, u8),
    MintKey(Vec<u8>),
    HashKey(KeyInput, Vec<u8>),
    ScopesForNewKey(Option<Vec<String>>, Vec<ArbScope>),
    EffectiveScopes(Vec<ArbScope>),
    MintToken(Vec<u8>, String, String, u64),
    VerifyToken {
        token: TokenInput,
        secret: Option<Vec<u8>>,
        scan: String,
        now: u64,
        ask_scan: Option<String>,
    },
    PeekKeyId(TokenInput, String),
    Authenticate(FactsInput),
    MayRevoke(Vec<ArbScope>, bool, u32, bool, bool),
    Startup(bool, bool, u32, u32, bool),
    Take(Option<(u64, u64)>, u32, u32, u64),
    /// The exports without input: route table, build info, token TTL, limits.
    Constants,
}

/// One component call: a failure is a finding.
fn call<T>(which: &str, op: &str, r: Result<T, PolicyError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("component ({which}) call {op} failed (trap/fuel/error): {e}"),
    }
}

/// Runs `w` on both component runtimes and compares each with `native`.
fn same<T: PartialEq + std::fmt::Debug>(
    op: &str,
    native: T,
    w: impl Fn(&PolicyBuild) -> Result<T, PolicyError>,
) {
    let fresh = call("fresh store", op, w(&FRESH));
    assert_eq!(native, fresh, "{op}: native vs wasm (fresh store)");
    let reused = call("reused instance", op, w(&REUSED));
    assert_eq!(native, reused, "{op}: native vs wasm (reused instance)");
}

fuzz_target!(|ops: Vec<Op>| {
    for op in ops.iter().take(4) {
        run(op);
    }
});

fn run(op: &Op) {
    use convert::*;
    match op {
        Op::Resolve(m, p) => {
            let (m, p) = (m.build(), p.build());
            same("resolve", routes::resolve(&m, &p), |b| w_resolve(b, &m, &p));
        }
        Op::ParseKey(k) => {
            let (k, _) = k.build();
            same("parse-key", keys::parse_key(&k), |b| w_parse_key(b, &k));
        }
        Op::VerifyKey(k, stored, which) => {
            let (k, _) = k.build();
            let stored = stored
                .clone()
                .unwrap_or_else(|| securescan_core_fuzz::pool_key(*which).stored_hash.clone());
            same("verify-key", keys::verify_key(&k, &stored), |b| {
                w_verify_key(b, &k, &stored)
            });
        }
        Op::MintKey(random) => {
            same("mint-key", n_mint_key(random), |b| w_mint_key(b, random));
        }
        Op::HashKey(k, salt) => {
            let (k, _) = k.build();
            same("hash-key", keys::hash_key(&k, salt), |b| {
                w_hash_key(b, &k, salt)
            });
        }
        Op::ScopesForNewKey(raw, known) => {
            // Arbitrary strings, or real scope names.
            let req: Option<Vec<String>> = raw.clone().map(|mut v| {
                v.extend(scopes(known).iter().map(|s| s.as_str().to_string()));
                v
            });
            same(
                "scopes-for-new-key",
                keys::scopes_for_new_key(req.as_deref()),
                |b| w_scopes_for_new_key(b, req.as_deref()),
            );
        }
        Op::EffectiveScopes(s) => {
            let s = scopes(s);
            same("effective-scopes", keys::effective_scopes(&s), |b| {
                w_effective_scopes(b, &s)
            });
        }
        Op::MintToken(secret, scan, key, now) => {
            same(
                "mint-token",
                tokens::mint_token(secret, scan, key, *now),
                |b| w_mint_token(b, secret, scan, key, *now),
            );
        }
        Op::VerifyToken {
            token,
            secret,
            scan,
            now,
            ask_scan,
        } => {
            let secret = secret.clone().unwrap_or_else(|| SECRET.to_vec());
            let t = token.build(&secret, scan, *now);
            let ask = ask_scan.as_deref().unwrap_or(scan);
            same(
                "verify-token",
                tokens::verify_token(&secret, &t, ask, *now),
                |b| w_verify_token(b, &secret, &t, ask, *now),
            );
        }
        Op::PeekKeyId(token, scan) => {
            let t = token.build(SECRET, scan, 1_700_000_000);
            same("peek-key-id", tokens::peek_key_id(&t), |b| {
                w_peek_key_id(b, &t)
            });
        }
        Op::Authenticate(input) => {
            let f = input.build().facts;
            same("authenticate", authn::authenticate(&f), |b| {
                w_authenticate(b, &f)
            });
        }
        Op::MayRevoke(s, target_revoked, other_admin_keys, env, required) => {
            let f = lifecycle::RevokeFacts {
                target_scopes: scopes(s),
                target_revoked: *target_revoked,
                other_admin_keys: *other_admin_keys,
                env_key_configured: *env,
                auth_required: *required,
            };
            same("may-revoke", lifecycle::may_revoke(&f), |b| {
                w_may_revoke(b, &f)
            });
        }
        Op::Startup(required, env, admins, keys_n, secret) => {
            let f = lifecycle::StartupFacts {
                auth_required: *required,
                env_key_configured: *env,
                unrevoked_admin_keys: *admins,
                unrevoked_keys: *keys_n,
                event_secret_configured: *secret,
            };
            same("startup", lifecycle::startup(&f), |b| w_startup(b, &f));
        }
        Op::Constants => {
            same("list-routes", routes::list_routes(), w_list_routes);
            same("describe", securescan_core::info::build_info(), w_describe);
            same("ttl-seconds", tokens::ttl_seconds(), |b| b.ttl_seconds());
            same("default-limits", ratelimit::default_limits(), |b| {
                b.default_limits().map(limits_from_wit)
            });
        }
        Op::Take(state, per_minute, burst, now) => {
            let state = state.map(|(level, updated_ms)| ratelimit::Bucket { level, updated_ms });
            let limits = ratelimit::Limits {
                per_minute: *per_minute,
                burst: *burst,
            };
            same("take", ratelimit::take(state, limits, *now), |b| {
                w_take(b, state, limits, *now)
            });
        }
    }
}
