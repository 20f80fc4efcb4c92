//! Shared vocabulary: scopes, denials and the exact detail strings of the SPEC.

#[allow(unused_imports)]
use crate::prelude::*;

/// The fixed scope vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// A refusal: status and the exact `detail` clients see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub status: u16,
    pub detail: String,
    /// The response must carry `WWW-Authenticate`.
    pub challenge: bool,
}

impl Denial {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Denial {
            status,
            detail: detail.into(),
            challenge: status == 401,
        }
    }
}

/// Detail strings. Clients of the reference match on these: change none.
pub mod detail {
    pub const KEY_REQUIRED: &str = "X-API-Key header required";
    pub const INVALID_KEY: &str = "Invalid API key";
    pub const REQUIRES_SCOPE_PREFIX: &str = "Requires scope: ";
    pub const NOT_DB_KEY: &str = "Not authenticated via DB key";
    pub const LOCKOUT: &str = "Cannot revoke last admin key without an env-var fallback";
    pub const NO_CREDENTIALS: &str = "Authentication is required but no credentials are configured";
    pub const NOT_FOUND: &str = "Not Found";
    pub const TOKEN_INVALID: &str = "Invalid or expired event token";
    pub const TOKEN_SCAN: &str = "Token does not match scan id";
    pub const TOKEN_KEY_GONE: &str = "Bound key is revoked or missing";
    pub const TOKEN_ENV_GONE: &str = "Env-var key no longer configured";
    pub const TOKEN_DEV_GONE: &str = "Dev-mode token no longer valid (auth has been enabled)";
    pub const TOKEN_ROUTE: &str = "Invalid event token route";
    pub const UNKNOWN_SCOPE_PREFIX: &str = "Unknown scope: ";
}
