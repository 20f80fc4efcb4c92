//! The authentication decision. The order of checks lives here, not in hosts:
//!
//! 1. unknown route -> 404 (fail closed); public route -> anonymous.
//! 2. a key (`X-API-Key` or `Bearer`): the env key (constant time, length
//!    hidden), else a DB key (format, checksum, row, not revoked, hash), else
//!    401 `Invalid API key`. A key that does not verify is 401 in dev mode too.
//! 3. an event token: only on routes that take one, then signature/expiry,
//!    scan binding, and the bound principal rehydrated from current facts.
//! 4. nothing: 401 when any credential exists; 503 when auth is required but
//!    none exists; otherwise dev mode.
//! 5. the route's requirement against the principal's effective scopes.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::ct;
use crate::keys::{effective_scopes, parse_key, verify_key};
use crate::routes::Requirement;
use crate::tokens::verify_token;
use crate::types::{detail, Denial, Scope};

#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    None,
    ApiKey(String),
    Bearer(String),
    EventToken(String),
}

impl core::fmt::Debug for Credential {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Credential::None => "None",
            Credential::ApiKey(_) => "ApiKey([redacted])",
            Credential::Bearer(_) => "Bearer([redacted])",
            Credential::EventToken(_) => "EventToken([redacted])",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub stored_hash: String,
    pub scopes: Vec<Scope>,
    pub revoked: bool,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Facts {
    pub requirement: Requirement,
    pub accepts_event_token: bool,
    pub resource_id: Option<String>,
    pub credential: Credential,
    pub env_key: Option<String>,
    pub row: Option<KeyRow>,
    pub db_key_exists: bool,
    pub auth_required: bool,
    pub event_secret: Vec<u8>,
    pub now: u64,
}

impl core::fmt::Debug for Facts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Facts")
            .field("requirement", &self.requirement)
            .field("accepts_event_token", &self.accepts_event_token)
            .field("resource_id", &self.resource_id)
            .field("credential", &self.credential)
            .field("env_key", &self.env_key.as_ref().map(|_| "[redacted]"))
            .field("row", &self.row)
            .field("db_key_exists", &self.db_key_exists)
            .field("auth_required", &self.auth_required)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    Env,
    DbKey,
    Dev,
    Anonymous,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: String,
    pub scopes: Vec<Scope>,
}

fn env() -> Principal {
    Principal {
        kind: PrincipalKind::Env,
        id: "env".into(),
        scopes: Scope::ALL.to_vec(),
    }
}

fn dev() -> Principal {
    Principal {
        kind: PrincipalKind::Dev,
        id: "dev".into(),
        scopes: Scope::ALL.to_vec(),
    }
}

fn db(row: &KeyRow) -> Principal {
    Principal {
        kind: PrincipalKind::DbKey,
        id: row.id.clone(),
        scopes: effective_scopes(&row.scopes),
    }
}

fn dev_mode(f: &Facts) -> bool {
    !f.auth_required && f.env_key.is_none() && !f.db_key_exists
}

fn key_principal(f: &Facts, key: &str) -> Result<Principal, Denial> {
    if let Some(env_key) = &f.env_key {
        if ct::eq_secret(key.as_bytes(), env_key.as_bytes()) {
            return Ok(env());
        }
    }
    let invalid = || Denial::new(401, detail::INVALID_KEY);
    let parsed = parse_key(key).ok_or_else(invalid)?;
    match &f.row {
        Some(row) if row.id == parsed.id && !row.revoked && verify_key(key, &row.stored_hash) => {
            Ok(db(row))
        }
        _ => Err(invalid()),
    }
}

fn token_principal(f: &Facts, token: &str) -> Result<Principal, Denial> {
    if !f.accepts_event_token {
        return Err(Denial::new(401, detail::TOKEN_ROUTE));
    }
    let scan = f.resource_id.as_deref().unwrap_or("");
    let claims = verify_token(&f.event_secret, token, scan, f.now)?;
    match claims.key_id.as_str() {
        "env" => match f.env_key {
            Some(_) => Ok(env()),
            None => Err(Denial::new(401, detail::TOKEN_ENV_GONE)),
        },
        "dev" if dev_mode(f) => Ok(dev()),
        "dev" => Err(Denial::new(401, detail::TOKEN_DEV_GONE)),
        id => match &f.row {
            Some(row) if row.id == id && !row.revoked => Ok(db(row)),
            _ => Err(Denial::new(401, detail::TOKEN_KEY_GONE)),
        },
    }
}

/// Decides one request.
pub fn authenticate(f: &Facts) -> Result<Principal, Denial> {
    match &f.requirement {
        Requirement::Unknown => return Err(Denial::new(404, detail::NOT_FOUND)),
        Requirement::Public => {
            return Ok(Principal {
                kind: PrincipalKind::Anonymous,
                id: String::new(),
                scopes: Vec::new(),
            })
        }
        Requirement::AnyDbKey | Requirement::Scopes(_) => {}
    }
    let principal = match &f.credential {
        Credential::ApiKey(k) | Credential::Bearer(k) => key_principal(f, k)?,
        Credential::EventToken(t) => token_principal(f, t)?,
        Credential::None if f.env_key.is_some() || f.db_key_exists => {
            return Err(Denial::new(401, detail::KEY_REQUIRED))
        }
        Credential::None if f.auth_required => {
            return Err(Denial::new(503, detail::NO_CREDENTIALS))
        }
        Credential::None => dev(),
    };
    match &f.requirement {
        Requirement::AnyDbKey if principal.kind != PrincipalKind::DbKey => {
            Err(Denial::new(404, detail::NOT_DB_KEY))
        }
        Requirement::Scopes(need) => match need.iter().find(|s| !principal.scopes.contains(s)) {
            Some(missing) => Err(Denial::new(
                403,
                format!("{}{}", detail::REQUIRES_SCOPE_PREFIX, missing.as_str()),
            )),
            None => Ok(principal),
        },
        _ => Ok(principal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::mint_key;
    use crate::tokens::mint_token;
    use Scope::*;

    const SECRET: &[u8] = b"event-secret";

    fn base(requirement: Requirement) -> Facts {
        Facts {
            requirement,
            accepts_event_token: false,
            resource_id: None,
            credential: Credential::None,
            env_key: None,
            row: None,
            db_key_exists: false,
            auth_required: false,
            event_secret: SECRET.to_vec(),
            now: 1_000,
        }
    }

    fn key(scopes: &[Scope]) -> (String, KeyRow) {
        let m = mint_key(&(0..80u8).map(|i| i.wrapping_mul(13)).collect::<Vec<_>>()).unwrap();
        let row = KeyRow {
            id: m.id,
            stored_hash: m.stored_hash,
            scopes: scopes.to_vec(),
            revoked: false,
        };
        (m.key, row)
    }

    fn deny(f: &Facts) -> (u16, String, bool) {
        let d = authenticate(f).unwrap_err();
        (d.status, d.detail, d.challenge)
    }

    fn read() -> Requirement {
        Requirement::Scopes(vec![Read])
    }

    #[test]
    fn unknown_route_is_denied_even_for_env() {
        let mut f = base(Requirement::Unknown);
        f.env_key = Some("e".into());
        f.credential = Credential::ApiKey("e".into());
        assert_eq!(deny(&f), (404, "Not Found".into(), false));
    }

    #[test]
    fn public_needs_nothing() {
        let mut f = base(Requirement::Public);
        f.auth_required = true;
        f.credential = Credential::ApiKey("garbage".into());
        assert_eq!(authenticate(&f).unwrap().kind, PrincipalKind::Anonymous);
    }

    /// The host skips the "does any DB key exist" query on public and
    /// unknown routes (host/src/http/auth.rs): their decision must not read
    /// that fact, nor any other.
    #[test]
    fn public_and_unknown_do_not_depend_on_the_facts() {
        for requirement in [Requirement::Public, Requirement::Unknown] {
            let want = authenticate(&base(requirement.clone()));
            for exists in [false, true] {
                for auth_required in [false, true] {
                    for credential in [
                        Credential::None,
                        Credential::ApiKey("x".into()),
                        Credential::EventToken("t".into()),
                    ] {
                        let mut f = base(requirement.clone());
                        f.db_key_exists = exists;
                        f.auth_required = auth_required;
                        f.credential = credential;
                        assert_eq!(authenticate(&f), want, "{requirement:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn env_key_full_trust() {
        let mut f = base(Requirement::Scopes(vec![Admin]));
        f.env_key = Some("s3cret".into());
        f.credential = Credential::Bearer("s3cret".into());
        let p = authenticate(&f).unwrap();
        assert_eq!((p.kind, p.id.as_str()), (PrincipalKind::Env, "env"));
        assert_eq!(p.scopes, vec![Read, Write, Admin]);
    }

    #[test]
    fn wrong_env_key() {
        let mut f = base(read());
        f.env_key = Some("s3cret".into());
        f.credential = Credential::ApiKey("s3cre".into());
        assert_eq!(deny(&f), (401, "Invalid API key".into(), true));
    }

    #[test]
    fn db_key() {
        let (k, row) = key(&[Read]);
        let mut f = base(read());
        f.db_key_exists = true;
        f.credential = Credential::ApiKey(k.clone());
        f.row = Some(row.clone());
        let p = authenticate(&f).unwrap();
        assert_eq!(
            (p.kind, p.id.clone()),
            (PrincipalKind::DbKey, row.id.clone())
        );
        // revoked
        f.row = Some(KeyRow {
            revoked: true,
            ..row.clone()
        });
        assert_eq!(deny(&f), (401, "Invalid API key".into(), true));
        // unknown (no row)
        f.row = None;
        assert_eq!(deny(&f), (401, "Invalid API key".into(), true));
        // row of another id
        f.row = Some(KeyRow {
            id: "XXXXXXXXXX".into(),
            ..row.clone()
        });
        assert_eq!(deny(&f), (401, "Invalid API key".into(), true));
        // row whose hash belongs to another key
        let (_, other) = {
            let m = mint_key(&[7u8; 80]).unwrap();
            (m.key, m.stored_hash)
        };
        f.row = Some(KeyRow {
            stored_hash: other,
            ..row
        });
        assert_eq!(deny(&f), (401, "Invalid API key".into(), true));
    }

    #[test]
    fn bogus_key_in_dev_mode_is_401() {
        for k in ["nope", "", "ssk_", "ssk_\u{e9}", &"a".repeat(65536)] {
            let mut f = base(read());
            f.credential = Credential::ApiKey(k.into());
            assert_eq!(deny(&f), (401, "Invalid API key".into(), true), "{:.10}", k);
        }
    }

    #[test]
    fn missing_key() {
        let mut f = base(read());
        f.db_key_exists = true;
        assert_eq!(deny(&f), (401, "X-API-Key header required".into(), true));
        let mut f = base(read());
        f.env_key = Some("e".into());
        assert_eq!(deny(&f), (401, "X-API-Key header required".into(), true));
    }

    #[test]
    fn required_without_credentials_is_503() {
        let mut f = base(read());
        f.auth_required = true;
        assert_eq!(
            deny(&f),
            (
                503,
                "Authentication is required but no credentials are configured".into(),
                false
            )
        );
    }

    #[test]
    fn dev_mode_passes_everything_but_keys_me() {
        let f = base(Requirement::Scopes(vec![Admin]));
        assert_eq!(authenticate(&f).unwrap().kind, PrincipalKind::Dev);
        let f = base(Requirement::AnyDbKey);
        assert_eq!(
            deny(&f),
            (404, "Not authenticated via DB key".into(), false)
        );
    }

    #[test]
    fn keys_me_refuses_env() {
        let mut f = base(Requirement::AnyDbKey);
        f.env_key = Some("e".into());
        f.credential = Credential::ApiKey("e".into());
        assert_eq!(
            deny(&f),
            (404, "Not authenticated via DB key".into(), false)
        );
        let (k, row) = key(&[Read]);
        f.credential = Credential::ApiKey(k);
        f.row = Some(row);
        assert_eq!(authenticate(&f).unwrap().kind, PrincipalKind::DbKey);
    }

    #[test]
    fn scopes() {
        let cases: &[(&[Scope], Requirement, Option<&str>)] = &[
            (
                &[Read],
                Requirement::Scopes(vec![Write]),
                Some("Requires scope: write"),
            ),
            (
                &[Write],
                Requirement::Scopes(vec![Read]),
                Some("Requires scope: read"),
            ),
            (
                &[Read, Write],
                Requirement::Scopes(vec![Admin]),
                Some("Requires scope: admin"),
            ),
            (&[Admin], Requirement::Scopes(vec![Read]), None),
            (&[Admin], Requirement::Scopes(vec![Write]), None),
            (&[Read], Requirement::Scopes(vec![Read]), None),
        ];
        for (have, need, want) in cases {
            let (k, row) = key(have);
            let mut f = base(need.clone());
            f.db_key_exists = true;
            f.credential = Credential::ApiKey(k);
            f.row = Some(row);
            match want {
                Some(d) => assert_eq!(deny(&f), (403, d.to_string(), false)),
                None => assert!(authenticate(&f).is_ok()),
            }
        }
    }

    fn token_facts(key_id: &str) -> Facts {
        let mut f = base(read());
        f.accepts_event_token = true;
        f.resource_id = Some("scan-a".into());
        f.credential = Credential::EventToken(mint_token(SECRET, "scan-a", key_id, 900));
        f
    }

    #[test]
    fn token_on_other_route() {
        let mut f = token_facts("env");
        f.accepts_event_token = false;
        assert_eq!(deny(&f), (401, "Invalid event token route".into(), true));
    }

    #[test]
    fn token_env() {
        let mut f = token_facts("env");
        f.env_key = Some("e".into());
        assert_eq!(authenticate(&f).unwrap().kind, PrincipalKind::Env);
        f.env_key = None;
        f.db_key_exists = true;
        assert_eq!(
            deny(&f),
            (401, "Env-var key no longer configured".into(), true)
        );
    }

    #[test]
    fn token_dev() {
        let mut f = token_facts("dev");
        assert_eq!(authenticate(&f).unwrap().kind, PrincipalKind::Dev);
        f.db_key_exists = true;
        assert_eq!(
            deny(&f),
            (
                401,
                "Dev-mode token no longer valid (auth has been enabled)".into(),
                true
            )
        );
        let mut f = token_facts("dev");
        f.auth_required = true;
        assert_eq!(
            deny(&f).1,
            "Dev-mode token no longer valid (auth has been enabled)"
        );
    }

    #[test]
    fn token_db_key_rehydrated() {
        let (_, row) = key(&[Read]);
        let mut f = token_facts(&row.id);
        f.db_key_exists = true;
        f.row = Some(row.clone());
        assert_eq!(authenticate(&f).unwrap().id, row.id);
        f.row = Some(KeyRow {
            revoked: true,
            ..row.clone()
        });
        assert_eq!(
            deny(&f),
            (401, "Bound key is revoked or missing".into(), true)
        );
        f.row = None;
        assert_eq!(
            deny(&f),
            (401, "Bound key is revoked or missing".into(), true)
        );
        // a write-only key's token still needs read on the stream
        let (_, wrow) = key(&[Write]);
        let mut f = token_facts(&wrow.id);
        f.row = Some(wrow);
        assert_eq!(deny(&f), (403, "Requires scope: read".into(), false));
    }

    #[test]
    fn token_binding_and_expiry() {
        let mut f = token_facts("env");
        f.env_key = Some("e".into());
        f.resource_id = Some("scan-b".into());
        assert_eq!(deny(&f), (401, "Token does not match scan id".into(), true));
        let mut f = token_facts("env");
        f.env_key = Some("e".into());
        f.now = 900 + 300;
        assert_eq!(
            deny(&f),
            (401, "Invalid or expired event token".into(), true)
        );
        let mut f = token_facts("env");
        f.env_key = Some("e".into());
        f.event_secret = b"rotated".to_vec();
        assert_eq!(
            deny(&f),
            (401, "Invalid or expired event token".into(), true)
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut f = token_facts("env");
        f.env_key = Some("the-env-key".into());
        let s = format!("{f:?}");
        assert!(!s.contains("the-env-key"));
        assert!(!s.contains("event-secret"));
        if let Credential::EventToken(t) = &f.credential {
            assert!(!s.contains(t.as_str()));
        }
    }
}
