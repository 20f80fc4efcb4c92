//! Conversions between the native `securescan_core` types and the WIT
//! binding types of the policy component, and the component's functions
//! wrapped to take and give native types.
//!
//! Shared by the differential test (`tests/policy_differential.rs`) and the
//! differential fuzz target (`core-component/fuzz/fuzz_targets/differential.rs`),
//! both of which include this file with `#[path]`. Every conversion
//! destructures its input completely, so a field or case added to the WIT or
//! to the native types breaks both builds instead of silently going untested.

#![allow(dead_code)]

use securescan_core::{authn, info, keys, lifecycle, ratelimit, routes, tokens, types};
use securescan_host::policy::{wit, PolicyBuild, PolicyError};

pub fn scope_to_wit(s: types::Scope) -> wit::types::Scope {
    match s {
        types::Scope::Read => wit::types::Scope::Read,
        types::Scope::Write => wit::types::Scope::Write,
        types::Scope::Admin => wit::types::Scope::Admin,
    }
}

pub fn scope_from_wit(s: wit::types::Scope) -> types::Scope {
    match s {
        wit::types::Scope::Read => types::Scope::Read,
        wit::types::Scope::Write => types::Scope::Write,
        wit::types::Scope::Admin => types::Scope::Admin,
    }
}

pub fn scopes_to_wit(s: &[types::Scope]) -> Vec<wit::types::Scope> {
    s.iter().copied().map(scope_to_wit).collect()
}

pub fn scopes_from_wit(s: Vec<wit::types::Scope>) -> Vec<types::Scope> {
    s.into_iter().map(scope_from_wit).collect()
}

pub fn denial_from_wit(d: wit::types::Denial) -> types::Denial {
    let wit::types::Denial {
        status,
        detail,
        challenge,
    } = d;
    types::Denial {
        status,
        detail,
        challenge,
    }
}

pub fn requirement_to_wit(r: &routes::Requirement) -> wit::routes::Requirement {
    match r {
        routes::Requirement::Public => wit::routes::Requirement::Public,
        routes::Requirement::AnyDbKey => wit::routes::Requirement::AnyDbKey,
        routes::Requirement::Scopes(s) => wit::routes::Requirement::Scopes(scopes_to_wit(s)),
        routes::Requirement::Unknown => wit::routes::Requirement::Unknown,
    }
}

pub fn requirement_from_wit(r: wit::routes::Requirement) -> routes::Requirement {
    match r {
        wit::routes::Requirement::Public => routes::Requirement::Public,
        wit::routes::Requirement::AnyDbKey => routes::Requirement::AnyDbKey,
        wit::routes::Requirement::Scopes(s) => routes::Requirement::Scopes(scopes_from_wit(s)),
        wit::routes::Requirement::Unknown => routes::Requirement::Unknown,
    }
}

pub fn resolution_from_wit(r: wit::routes::Resolution) -> routes::Resolution {
    let wit::routes::Resolution {
        requirement,
        template,
        canonical_path,
        legacy,
        resource_id,
        accepts_event_token,
    } = r;
    routes::Resolution {
        requirement: requirement_from_wit(requirement),
        template,
        canonical_path,
        legacy,
        resource_id,
        accepts_event_token,
    }
}

pub fn route_entry_from_wit(e: wit::routes::RouteEntry) -> routes::RouteEntry {
    let wit::routes::RouteEntry {
        method,
        template,
        requirement,
        accepts_event_token,
    } = e;
    routes::RouteEntry {
        method,
        template,
        requirement: requirement_from_wit(requirement),
        accepts_event_token,
    }
}

pub fn parsed_key_from_wit(p: wit::keys::ParsedKey) -> keys::ParsedKey {
    let wit::keys::ParsedKey { id, prefix } = p;
    keys::ParsedKey { id, prefix }
}

/// `MintedKey`'s `Debug` hides the plaintext, so minted keys are compared as
/// plain tuples: a mismatch then shows both sides in full.
pub type MintedTuple = (String, String, String, String);

pub fn minted_native(m: keys::MintedKey) -> MintedTuple {
    let keys::MintedKey {
        id,
        prefix,
        key,
        stored_hash,
    } = m;
    (id, prefix, key, stored_hash)
}

pub fn minted_from_wit(m: wit::keys::MintedKey) -> MintedTuple {
    let wit::keys::MintedKey {
        id,
        prefix,
        key,
        stored_hash,
    } = m;
    (id, prefix, key, stored_hash)
}

pub fn claims_from_wit(c: wit::tokens::Claims) -> tokens::Claims {
    let wit::tokens::Claims {
        scan_id,
        key_id,
        expires_at,
    } = c;
    tokens::Claims {
        scan_id,
        key_id,
        expires_at,
    }
}

pub fn credential_to_wit(c: &authn::Credential) -> wit::authn::Credential {
    match c {
        authn::Credential::None => wit::authn::Credential::None,
        authn::Credential::ApiKey(k) => wit::authn::Credential::ApiKey(k.clone()),
        authn::Credential::Bearer(k) => wit::authn::Credential::Bearer(k.clone()),
        authn::Credential::EventToken(t) => wit::authn::Credential::EventToken(t.clone()),
    }
}

pub fn key_row_to_wit(r: &authn::KeyRow) -> wit::authn::KeyRow {
    let authn::KeyRow {
        id,
        stored_hash,
        scopes,
        revoked,
    } = r;
    wit::authn::KeyRow {
        id: id.clone(),
        stored_hash: stored_hash.clone(),
        scopes: scopes_to_wit(scopes),
        revoked: *revoked,
    }
}

pub fn facts_to_wit(f: &authn::Facts) -> wit::authn::Facts {
    let authn::Facts {
        requirement,
        accepts_event_token,
        resource_id,
        credential,
        env_key,
        row,
        db_key_exists,
        auth_required,
        event_secret,
        now,
    } = f;
    wit::authn::Facts {
        requirement: requirement_to_wit(requirement),
        accepts_event_token: *accepts_event_token,
        resource_id: resource_id.clone(),
        credential: credential_to_wit(credential),
        env_key: env_key.clone(),
        row: row.as_ref().map(key_row_to_wit),
        db_key_exists: *db_key_exists,
        auth_required: *auth_required,
        event_secret: event_secret.clone(),
        now: *now,
    }
}

pub fn principal_kind_from_wit(k: wit::authn::PrincipalKind) -> authn::PrincipalKind {
    match k {
        wit::authn::PrincipalKind::Env => authn::PrincipalKind::Env,
        wit::authn::PrincipalKind::DbKey => authn::PrincipalKind::DbKey,
        wit::authn::PrincipalKind::Dev => authn::PrincipalKind::Dev,
        wit::authn::PrincipalKind::Anonymous => authn::PrincipalKind::Anonymous,
    }
}

pub fn principal_from_wit(p: wit::authn::Principal) -> authn::Principal {
    let wit::authn::Principal { kind, id, scopes } = p;
    authn::Principal {
        kind: principal_kind_from_wit(kind),
        id,
        scopes: scopes_from_wit(scopes),
    }
}

pub fn revoke_facts_to_wit(f: &lifecycle::RevokeFacts) -> wit::lifecycle::RevokeFacts {
    let lifecycle::RevokeFacts {
        target_scopes,
        target_revoked,
        other_admin_keys,
        env_key_configured,
        auth_required,
    } = f;
    wit::lifecycle::RevokeFacts {
        target_scopes: scopes_to_wit(target_scopes),
        target_revoked: *target_revoked,
        other_admin_keys: *other_admin_keys,
        env_key_configured: *env_key_configured,
        auth_required: *auth_required,
    }
}

pub fn startup_facts_to_wit(f: &lifecycle::StartupFacts) -> wit::lifecycle::StartupFacts {
    let lifecycle::StartupFacts {
        auth_required,
        env_key_configured,
        unrevoked_admin_keys,
        unrevoked_keys,
        event_secret_configured,
    } = f;
    wit::lifecycle::StartupFacts {
        auth_required: *auth_required,
        env_key_configured: *env_key_configured,
        unrevoked_admin_keys: *unrevoked_admin_keys,
        unrevoked_keys: *unrevoked_keys,
        event_secret_configured: *event_secret_configured,
    }
}

pub fn startup_ok_from_wit(o: wit::lifecycle::StartupOk) -> lifecycle::StartupOk {
    let wit::lifecycle::StartupOk { warnings, dev_mode } = o;
    lifecycle::StartupOk { warnings, dev_mode }
}

pub fn fatal_from_wit(f: wit::lifecycle::Fatal) -> lifecycle::Fatal {
    let wit::lifecycle::Fatal { exit_code, message } = f;
    lifecycle::Fatal { exit_code, message }
}

pub fn bucket_to_wit(b: ratelimit::Bucket) -> wit::ratelimit::Bucket {
    let ratelimit::Bucket { level, updated_ms } = b;
    wit::ratelimit::Bucket { level, updated_ms }
}

pub fn bucket_from_wit(b: wit::ratelimit::Bucket) -> ratelimit::Bucket {
    let wit::ratelimit::Bucket { level, updated_ms } = b;
    ratelimit::Bucket { level, updated_ms }
}

pub fn limits_to_wit(l: ratelimit::Limits) -> wit::ratelimit::Limits {
    let ratelimit::Limits { per_minute, burst } = l;
    wit::ratelimit::Limits { per_minute, burst }
}

pub fn limits_from_wit(l: wit::ratelimit::Limits) -> ratelimit::Limits {
    let wit::ratelimit::Limits { per_minute, burst } = l;
    ratelimit::Limits { per_minute, burst }
}

pub fn verdict_from_wit(v: wit::ratelimit::Verdict) -> ratelimit::Verdict {
    let wit::ratelimit::Verdict {
        allowed,
        state,
        limit,
        remaining,
        retry_after,
        reset_after,
    } = v;
    ratelimit::Verdict {
        allowed,
        state: bucket_from_wit(state),
        limit,
        remaining,
        retry_after,
        reset_after,
    }
}

pub fn build_info_from_wit(i: wit::info::BuildInfo) -> info::BuildInfo {
    let wit::info::BuildInfo {
        policy_name,
        policy_version,
        policy_sha256,
        wit_version,
        legacy_sunset,
    } = i;
    info::BuildInfo {
        policy_name,
        policy_version,
        policy_sha256,
        wit_version,
        legacy_sunset,
    }
}

// ---------------------------------------------------------------------------
// The component's functions in native types. An `Err` is a failed call (trap,
// fuel, deadline): callers decide that it is a failure, never "no answer".
// ---------------------------------------------------------------------------

pub fn w_resolve(
    b: &PolicyBuild,
    method: &str,
    path: &str,
) -> Result<routes::Resolution, PolicyError> {
    b.resolve(method, path).map(resolution_from_wit)
}

pub fn w_list_routes(b: &PolicyBuild) -> Result<Vec<routes::RouteEntry>, PolicyError> {
    Ok(b.list_routes()?
        .into_iter()
        .map(route_entry_from_wit)
        .collect())
}

pub fn w_parse_key(b: &PolicyBuild, key: &str) -> Result<Option<keys::ParsedKey>, PolicyError> {
    Ok(b.parse_key(key)?.map(parsed_key_from_wit))
}

pub fn w_mint_key(
    b: &PolicyBuild,
    random: &[u8],
) -> Result<Result<MintedTuple, String>, PolicyError> {
    Ok(b.mint_key(random)?.map(minted_from_wit))
}

pub fn n_mint_key(random: &[u8]) -> Result<MintedTuple, String> {
    keys::mint_key(random).map(minted_native)
}

pub fn w_hash_key(b: &PolicyBuild, key: &str, salt: &[u8]) -> Result<String, PolicyError> {
    b.hash_key(key, salt)
}

pub fn w_verify_key(b: &PolicyBuild, key: &str, stored: &str) -> Result<bool, PolicyError> {
    b.verify_key(key, stored)
}

pub fn w_scopes_for_new_key(
    b: &PolicyBuild,
    req: Option<&[String]>,
) -> Result<Result<Vec<types::Scope>, types::Denial>, PolicyError> {
    Ok(b.scopes_for_new_key(req)?
        .map(scopes_from_wit)
        .map_err(denial_from_wit))
}

pub fn w_effective_scopes(
    b: &PolicyBuild,
    s: &[types::Scope],
) -> Result<Vec<types::Scope>, PolicyError> {
    Ok(scopes_from_wit(b.effective_scopes(&scopes_to_wit(s))?))
}

pub fn w_mint_token(
    b: &PolicyBuild,
    secret: &[u8],
    scan: &str,
    key: &str,
    now: u64,
) -> Result<String, PolicyError> {
    b.mint_token(secret, scan, key, now)
}

pub fn w_verify_token(
    b: &PolicyBuild,
    secret: &[u8],
    token: &str,
    scan: &str,
    now: u64,
) -> Result<Result<tokens::Claims, types::Denial>, PolicyError> {
    Ok(b.verify_token(secret, token, scan, now)?
        .map(claims_from_wit)
        .map_err(denial_from_wit))
}

pub fn w_peek_key_id(b: &PolicyBuild, token: &str) -> Result<Option<String>, PolicyError> {
    b.peek_key_id(token)
}

pub fn w_authenticate(
    b: &PolicyBuild,
    f: &authn::Facts,
) -> Result<Result<authn::Principal, types::Denial>, PolicyError> {
    Ok(b.authenticate(&facts_to_wit(f))?
        .map(principal_from_wit)
        .map_err(denial_from_wit))
}

pub fn w_may_revoke(
    b: &PolicyBuild,
    f: &lifecycle::RevokeFacts,
) -> Result<Result<(), types::Denial>, PolicyError> {
    Ok(b.may_revoke(revoke_facts_to_wit(f))?
        .map_err(denial_from_wit))
}

pub fn w_startup(
    b: &PolicyBuild,
    f: &lifecycle::StartupFacts,
) -> Result<Result<lifecycle::StartupOk, lifecycle::Fatal>, PolicyError> {
    Ok(b.startup(startup_facts_to_wit(f))?
        .map(startup_ok_from_wit)
        .map_err(fatal_from_wit))
}

pub fn w_take(
    b: &PolicyBuild,
    state: Option<ratelimit::Bucket>,
    limits: ratelimit::Limits,
    now: u64,
) -> Result<ratelimit::Verdict, PolicyError> {
    b.take(state.map(bucket_to_wit), limits_to_wit(limits), now)
        .map(verdict_from_wit)
}

pub fn w_describe(b: &PolicyBuild) -> Result<info::BuildInfo, PolicyError> {
    b.describe().map(build_info_from_wit)
}
