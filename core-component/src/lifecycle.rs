//! Lockout protection and the startup decision.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::types::{detail, Denial, Scope};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeFacts {
    pub target_scopes: Vec<Scope>,
    pub target_revoked: bool,
    pub other_admin_keys: u32,
    pub env_key_configured: bool,
    pub auth_required: bool,
}

/// Whether a key may be revoked. Revoking an already revoked key is allowed
/// (idempotent). The last unrevoked admin key is kept while auth is required
/// and no env key could take over.
pub fn may_revoke(f: &RevokeFacts) -> Result<(), Denial> {
    let last_admin =
        !f.target_revoked && f.target_scopes.contains(&Scope::Admin) && f.other_admin_keys == 0;
    if last_admin && f.auth_required && !f.env_key_configured {
        return Err(Denial {
            status: 409,
            detail: detail::LOCKOUT.into(),
            challenge: false,
        });
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupFacts {
    pub auth_required: bool,
    pub env_key_configured: bool,
    pub unrevoked_admin_keys: u32,
    pub unrevoked_keys: u32,
    pub event_secret_configured: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal {
    pub exit_code: u8,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupOk {
    pub warnings: Vec<String>,
    pub dev_mode: bool,
}

pub const FATAL_NO_ADMIN: &str = "SECURESCAN_AUTH_REQUIRED is set but no credential can administer this server: set SECURESCAN_API_KEY (openssl rand -hex 32) or create an admin key with `securescan keys create --name breakglass --scopes admin`";
pub const FATAL_NO_SECRET: &str = "SECURESCAN_AUTH_REQUIRED is set but SECURESCAN_EVENT_TOKEN_SECRET is not: set it to a stable random value (openssl rand -hex 32)";
pub const WARN_RANDOM_SECRET: &str = "SECURESCAN_EVENT_TOKEN_SECRET is not set: using a random per-process secret, so event tokens stop working at every restart";
pub const WARN_DEV_MODE: &str = "no credential is configured and SECURESCAN_AUTH_REQUIRED is off: dev mode, requests without a key pass every scope check";
pub const WARN_NOT_REQUIRED: &str = "SECURESCAN_AUTH_REQUIRED is off: if every credential is removed the server falls back to dev mode";

/// The startup decision. Fatal cases exit with status 2 before listening.
pub fn startup(f: &StartupFacts) -> Result<StartupOk, Fatal> {
    if f.auth_required {
        if !f.env_key_configured && f.unrevoked_admin_keys == 0 {
            return Err(Fatal {
                exit_code: 2,
                message: FATAL_NO_ADMIN.into(),
            });
        }
        if !f.event_secret_configured {
            return Err(Fatal {
                exit_code: 2,
                message: FATAL_NO_SECRET.into(),
            });
        }
        return Ok(StartupOk {
            warnings: Vec::new(),
            dev_mode: false,
        });
    }
    let mut warnings = Vec::new();
    if !f.event_secret_configured {
        warnings.push(WARN_RANDOM_SECRET.to_string());
    }
    let dev_mode = !f.env_key_configured && f.unrevoked_keys == 0;
    warnings.push(
        if dev_mode {
            WARN_DEV_MODE
        } else {
            WARN_NOT_REQUIRED
        }
        .to_string(),
    );
    Ok(StartupOk { warnings, dev_mode })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scope::*;

    fn rf(scopes: &[Scope], others: u32, env: bool, required: bool) -> RevokeFacts {
        RevokeFacts {
            target_scopes: scopes.to_vec(),
            target_revoked: false,
            other_admin_keys: others,
            env_key_configured: env,
            auth_required: required,
        }
    }

    #[test]
    fn lockout() {
        let d = may_revoke(&rf(&[Admin], 0, false, true)).unwrap_err();
        assert_eq!(
            (d.status, d.detail.as_str()),
            (
                409,
                "Cannot revoke last admin key without an env-var fallback"
            )
        );
        assert!(may_revoke(&rf(&[Admin], 1, false, true)).is_ok());
        assert!(may_revoke(&rf(&[Admin], 0, true, true)).is_ok());
        assert!(may_revoke(&rf(&[Admin], 0, false, false)).is_ok());
        assert!(may_revoke(&rf(&[Read, Write], 0, false, true)).is_ok());
        let mut revoked = rf(&[Admin], 0, false, true);
        revoked.target_revoked = true;
        assert!(may_revoke(&revoked).is_ok());
    }

    fn sf(required: bool, env: bool, admins: u32, keys: u32, secret: bool) -> StartupFacts {
        StartupFacts {
            auth_required: required,
            env_key_configured: env,
            unrevoked_admin_keys: admins,
            unrevoked_keys: keys,
            event_secret_configured: secret,
        }
    }

    #[test]
    fn fatal_cases_exit_2() {
        for f in [
            sf(true, false, 0, 0, true),
            sf(true, false, 0, 3, true), // read/write keys only
            sf(true, true, 0, 0, false), // no event secret
            sf(true, false, 1, 1, false),
        ] {
            let e = startup(&f).unwrap_err();
            assert_eq!(e.exit_code, 2, "{f:?}");
            assert!(!e.message.contains('\n'));
        }
        assert_eq!(
            startup(&sf(true, false, 0, 1, true)).unwrap_err().message,
            FATAL_NO_ADMIN
        );
        assert_eq!(
            startup(&sf(true, true, 0, 0, false)).unwrap_err().message,
            FATAL_NO_SECRET
        );
    }

    #[test]
    fn ok_cases() {
        let ok = startup(&sf(true, true, 0, 0, true)).unwrap();
        assert!(!ok.dev_mode && ok.warnings.is_empty());
        let ok = startup(&sf(true, false, 1, 1, true)).unwrap();
        assert!(!ok.dev_mode);
        let ok = startup(&sf(false, false, 0, 0, false)).unwrap();
        assert!(ok.dev_mode);
        assert_eq!(
            ok.warnings,
            vec![WARN_RANDOM_SECRET.to_string(), WARN_DEV_MODE.into()]
        );
        let ok = startup(&sf(false, false, 0, 1, true)).unwrap();
        assert!(!ok.dev_mode);
        assert_eq!(ok.warnings, vec![WARN_NOT_REQUIRED.to_string()]);
    }
}
