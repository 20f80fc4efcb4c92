//! The WebAssembly export glue: converts between the WIT types and the native
//! ones and calls the same functions the native tests exercise. No logic here.

#[allow(unused_imports)]
use crate::prelude::*;

wit_bindgen::generate!({
    world: "policy",
    path: "../wit",
});

use exports::securescan::auth as w;

use crate::{authn, info, keys, lifecycle, ratelimit, routes, tokens, types};

struct Component;

export!(Component);

fn scope_in(s: w::types::Scope) -> types::Scope {
    match s {
        w::types::Scope::Read => types::Scope::Read,
        w::types::Scope::Write => types::Scope::Write,
        w::types::Scope::Admin => types::Scope::Admin,
    }
}

fn scope_out(s: types::Scope) -> w::types::Scope {
    match s {
        types::Scope::Read => w::types::Scope::Read,
        types::Scope::Write => w::types::Scope::Write,
        types::Scope::Admin => w::types::Scope::Admin,
    }
}

fn scopes_out(s: Vec<types::Scope>) -> Vec<w::types::Scope> {
    s.into_iter().map(scope_out).collect()
}

fn scopes_in(s: Vec<w::types::Scope>) -> Vec<types::Scope> {
    s.into_iter().map(scope_in).collect()
}

fn denial_out(d: types::Denial) -> w::types::Denial {
    w::types::Denial {
        status: d.status,
        detail: d.detail,
        challenge: d.challenge,
    }
}

fn requirement_out(r: routes::Requirement) -> w::routes::Requirement {
    match r {
        routes::Requirement::Public => w::routes::Requirement::Public,
        routes::Requirement::AnyDbKey => w::routes::Requirement::AnyDbKey,
        routes::Requirement::Scopes(s) => w::routes::Requirement::Scopes(scopes_out(s)),
        routes::Requirement::Unknown => w::routes::Requirement::Unknown,
    }
}

fn requirement_in(r: w::routes::Requirement) -> routes::Requirement {
    match r {
        w::routes::Requirement::Public => routes::Requirement::Public,
        w::routes::Requirement::AnyDbKey => routes::Requirement::AnyDbKey,
        w::routes::Requirement::Scopes(s) => routes::Requirement::Scopes(scopes_in(s)),
        w::routes::Requirement::Unknown => routes::Requirement::Unknown,
    }
}

impl w::routes::Guest for Component {
    fn resolve(method: String, path: String) -> w::routes::Resolution {
        // Test builds only (see the `test-trap-on-resolve` feature): a build
        // that traps, for the hot-swap pipeline's refusal tests.
        if cfg!(feature = "test-trap-on-resolve") {
            core::arch::wasm32::unreachable()
        }
        let r = routes::resolve(&method, &path);
        w::routes::Resolution {
            requirement: requirement_out(r.requirement),
            template: r.template,
            canonical_path: r.canonical_path,
            legacy: r.legacy,
            resource_id: r.resource_id,
            accepts_event_token: r.accepts_event_token,
        }
    }

    fn list_routes() -> Vec<w::routes::RouteEntry> {
        routes::list_routes()
            .into_iter()
            .map(|e| w::routes::RouteEntry {
                method: e.method,
                template: e.template,
                requirement: requirement_out(e.requirement),
                accepts_event_token: e.accepts_event_token,
            })
            .collect()
    }
}

impl w::keys::Guest for Component {
    fn parse_key(key: String) -> Option<w::keys::ParsedKey> {
        keys::parse_key(&key).map(|p| w::keys::ParsedKey {
            id: p.id,
            prefix: p.prefix,
        })
    }

    fn mint_key(random: Vec<u8>) -> Result<w::keys::MintedKey, String> {
        keys::mint_key(&random).map(|m| w::keys::MintedKey {
            id: m.id,
            prefix: m.prefix,
            key: m.key,
            stored_hash: m.stored_hash,
        })
    }

    fn hash_key(key: String, salt: Vec<u8>) -> String {
        keys::hash_key(&key, &salt)
    }

    fn verify_key(key: String, stored_hash: String) -> bool {
        keys::verify_key(&key, &stored_hash)
    }

    fn scopes_for_new_key(
        requested: Option<Vec<String>>,
    ) -> Result<Vec<w::types::Scope>, w::types::Denial> {
        keys::scopes_for_new_key(requested.as_deref())
            .map(scopes_out)
            .map_err(denial_out)
    }

    fn effective_scopes(scopes: Vec<w::types::Scope>) -> Vec<w::types::Scope> {
        scopes_out(keys::effective_scopes(&scopes_in(scopes)))
    }
}

impl w::tokens::Guest for Component {
    fn mint_token(secret: Vec<u8>, scan_id: String, key_id: String, now: u64) -> String {
        tokens::mint_token(&secret, &scan_id, &key_id, now)
    }

    fn verify_token(
        secret: Vec<u8>,
        token: String,
        scan_id: String,
        now: u64,
    ) -> Result<w::tokens::Claims, w::types::Denial> {
        tokens::verify_token(&secret, &token, &scan_id, now)
            .map(|c| w::tokens::Claims {
                scan_id: c.scan_id,
                key_id: c.key_id,
                expires_at: c.expires_at,
            })
            .map_err(denial_out)
    }

    fn peek_key_id(token: String) -> Option<String> {
        tokens::peek_key_id(&token)
    }

    fn ttl_seconds() -> u32 {
        tokens::ttl_seconds()
    }
}

impl w::authn::Guest for Component {
    fn authenticate(f: w::authn::Facts) -> Result<w::authn::Principal, w::types::Denial> {
        let facts = authn::Facts {
            requirement: requirement_in(f.requirement),
            accepts_event_token: f.accepts_event_token,
            resource_id: f.resource_id,
            credential: match f.credential {
                w::authn::Credential::None => authn::Credential::None,
                w::authn::Credential::ApiKey(k) => authn::Credential::ApiKey(k),
                w::authn::Credential::Bearer(k) => authn::Credential::Bearer(k),
                w::authn::Credential::EventToken(t) => authn::Credential::EventToken(t),
            },
            env_key: f.env_key,
            row: f.row.map(|r| authn::KeyRow {
                id: r.id,
                stored_hash: r.stored_hash,
                scopes: scopes_in(r.scopes),
                revoked: r.revoked,
            }),
            db_key_exists: f.db_key_exists,
            auth_required: f.auth_required,
            event_secret: f.event_secret,
            now: f.now,
        };
        authn::authenticate(&facts)
            .map(|p| w::authn::Principal {
                kind: match p.kind {
                    authn::PrincipalKind::Env => w::authn::PrincipalKind::Env,
                    authn::PrincipalKind::DbKey => w::authn::PrincipalKind::DbKey,
                    authn::PrincipalKind::Dev => w::authn::PrincipalKind::Dev,
                    authn::PrincipalKind::Anonymous => w::authn::PrincipalKind::Anonymous,
                },
                id: p.id,
                scopes: scopes_out(p.scopes),
            })
            .map_err(denial_out)
    }
}

impl w::lifecycle::Guest for Component {
    fn may_revoke(f: w::lifecycle::RevokeFacts) -> Result<(), w::types::Denial> {
        lifecycle::may_revoke(&lifecycle::RevokeFacts {
            target_scopes: scopes_in(f.target_scopes),
            target_revoked: f.target_revoked,
            other_admin_keys: f.other_admin_keys,
            env_key_configured: f.env_key_configured,
            auth_required: f.auth_required,
        })
        .map_err(denial_out)
    }

    fn startup(
        f: w::lifecycle::StartupFacts,
    ) -> Result<w::lifecycle::StartupOk, w::lifecycle::Fatal> {
        lifecycle::startup(&lifecycle::StartupFacts {
            auth_required: f.auth_required,
            env_key_configured: f.env_key_configured,
            unrevoked_admin_keys: f.unrevoked_admin_keys,
            unrevoked_keys: f.unrevoked_keys,
            event_secret_configured: f.event_secret_configured,
        })
        .map(|o| w::lifecycle::StartupOk {
            warnings: o.warnings,
            dev_mode: o.dev_mode,
        })
        .map_err(|e| w::lifecycle::Fatal {
            exit_code: e.exit_code,
            message: e.message,
        })
    }
}

impl w::ratelimit::Guest for Component {
    fn default_limits() -> w::ratelimit::Limits {
        let l = ratelimit::default_limits();
        w::ratelimit::Limits {
            per_minute: l.per_minute,
            burst: l.burst,
        }
    }

    fn take(
        state: Option<w::ratelimit::Bucket>,
        limits: w::ratelimit::Limits,
        now_ms: u64,
    ) -> w::ratelimit::Verdict {
        let v = ratelimit::take(
            state.map(|b| ratelimit::Bucket {
                level: b.level,
                updated_ms: b.updated_ms,
            }),
            ratelimit::Limits {
                per_minute: limits.per_minute,
                burst: limits.burst,
            },
            now_ms,
        );
        w::ratelimit::Verdict {
            allowed: v.allowed,
            state: w::ratelimit::Bucket {
                level: v.state.level,
                updated_ms: v.state.updated_ms,
            },
            limit: v.limit,
            remaining: v.remaining,
            retry_after: v.retry_after,
            reset_after: v.reset_after,
        }
    }
}

impl w::info::Guest for Component {
    fn describe() -> w::info::BuildInfo {
        let i = info::build_info();
        w::info::BuildInfo {
            policy_name: i.policy_name,
            policy_version: i.policy_version,
            policy_sha256: i.policy_sha256,
            wit_version: i.wit_version,
            legacy_sunset: i.legacy_sunset,
        }
    }
}

/// The canonical ABI's allocator entry point. wit-bindgen's own copy lives in
/// its `std` support; this no_std build exports one over the global allocator.
///
/// # Safety
/// Called only by the component model's lowering code with a pointer it got
/// from this function (or null with `old_len == 0`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{alloc, realloc, Layout};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two alignment and sizes that
    // fit the 32-bit address space.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable();
    }
    ptr
}
