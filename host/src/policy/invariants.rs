//! The invariants every policy build must keep (`policies/invariants.toml`),
//! checked through the component itself, so the same check serves the test
//! suite and any pipeline that vets a candidate build before it serves.

use super::bindings::wit;
use super::runtime::{PolicyBuild, PolicyError};
use serde::Deserialize;

/// The invariants shipped with this server.
pub const DEFAULT_INVARIANTS: &str = include_str!("../../../policies/invariants.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    route: Vec<RouteCheck>,
    #[serde(default)]
    implication: Vec<Implication>,
    new_key: Option<NewKey>,
    tokens: Option<Tokens>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteCheck {
    method: String,
    path: String,
    expect: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Implication {
    have: Vec<String>,
    effective: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    default_excludes_admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tokens {
    refuse_other_scan: bool,
    refuse_forged: bool,
    refuse_expired: bool,
}

fn scope(s: &str) -> Option<wit::types::Scope> {
    crate::http::auth::scope_from_name(s)
}

fn describe(r: &wit::routes::Requirement) -> String {
    use wit::routes::Requirement::*;
    match r {
        Public => "public".into(),
        AnyDbKey => "db-key".into(),
        Unknown => "unknown".into(),
        Scopes(s) => format!(
            "scopes:{}",
            s.iter()
                .map(|s| crate::http::auth::scope_name(*s))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn sorted(mut v: Vec<wit::types::Scope>) -> Vec<&'static str> {
    v.sort_by_key(|s| crate::http::auth::scope_name(*s));
    v.into_iter().map(crate::http::auth::scope_name).collect()
}

/// Runs every invariant; returns the list of failures (empty = the build
/// keeps them all). A trap is an error, not a failure list.
pub fn check(build: &PolicyBuild, invariants: &str) -> Result<Vec<String>, PolicyError> {
    let file: File = toml::from_str(invariants)
        .map_err(|e| PolicyError::Load(format!("invariants file: {e}")))?;
    let mut failures = Vec::new();
    for r in &file.route {
        let got = describe(&build.resolve(&r.method, &r.path)?.requirement);
        if got != r.expect {
            failures.push(format!(
                "{} {}: expected {}, got {}",
                r.method, r.path, r.expect, got
            ));
        }
    }
    for i in &file.implication {
        let have: Vec<_> = i.have.iter().filter_map(|s| scope(s)).collect();
        let got = sorted(build.effective_scopes(&have)?);
        let mut want: Vec<&str> = i.effective.iter().map(String::as_str).collect();
        want.sort();
        if got != want {
            failures.push(format!(
                "scopes {:?} should imply {:?}, got {:?}",
                i.have, want, got
            ));
        }
    }
    if let Some(n) = &file.new_key {
        if n.default_excludes_admin {
            match build.scopes_for_new_key(None)? {
                Ok(s) if !s.contains(&wit::types::Scope::Admin) => {}
                Ok(_) => failures.push("a new key without scopes gets admin".into()),
                Err(d) => failures.push(format!("default scopes refused: {}", d.detail)),
            }
        }
    }
    if let Some(t) = &file.tokens {
        let secret = b"invariant-check-secret";
        let now = 1_700_000_000;
        let token = build.mint_token(secret, "scan-a", "env", now)?;
        match build.verify_token(secret, &token, "scan-a", now)? {
            Ok(c) if c.scan_id == "scan-a" && c.key_id == "env" => {}
            other => failures.push(format!("a fresh token does not verify: {other:?}")),
        }
        if t.refuse_other_scan && build.verify_token(secret, &token, "scan-b", now)?.is_ok() {
            failures.push("a token for scan A is accepted on scan B".into());
        }
        if t.refuse_forged {
            let forged = build.mint_token(b"another-secret", "scan-a", "env", now)?;
            if build.verify_token(secret, &forged, "scan-a", now)?.is_ok() {
                failures.push("a token signed with another secret is accepted".into());
            }
        }
        if t.refuse_expired {
            let ttl = u64::from(build.ttl_seconds()?);
            if build
                .verify_token(secret, &token, "scan-a", now + ttl)?
                .is_ok()
            {
                failures.push("an expired token is accepted".into());
            }
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Runtime, RuntimeOptions, BUILTIN_POLICY};

    #[test]
    fn the_builtin_build_keeps_every_invariant() {
        let b = Runtime::new(RuntimeOptions::default())
            .unwrap()
            .load(BUILTIN_POLICY)
            .unwrap();
        let failures = check(&b, DEFAULT_INVARIANTS).unwrap();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn a_broken_expectation_is_reported() {
        let b = Runtime::new(RuntimeOptions::default())
            .unwrap()
            .load(BUILTIN_POLICY)
            .unwrap();
        let f = check(
            &b,
            "[[route]]\nmethod = \"GET\"\npath = \"/api/v1/keys\"\nexpect = \"public\"\n",
        )
        .unwrap();
        assert_eq!(
            f,
            vec!["GET /api/v1/keys: expected public, got scopes:admin".to_string()]
        );
    }
}
