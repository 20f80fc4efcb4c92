//! Key issuance and revocation, shared by the HTTP API and the CLI. The
//! decisions (format, scopes, lockout) are the policy component's.

use crate::http::auth::scope_name;
use crate::http::ApiError;
use crate::http::CreatedKeyOut;
use crate::policy::{PolicyBuild, PolicyError};
use crate::store::{DynStore, NewKey, RevokeOutcome, StoreError};

pub const MAX_NAME: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Invalid(String),
    #[error("denied: {}", .0.detail)]
    Denied(crate::policy::wit::types::Denial),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn validate_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("name must be at most {MAX_NAME} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name.to_string())
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats")
}

/// Issues a key: validated name, scopes per policy, a key minted by the
/// policy from fresh CSPRNG bytes, stored as its hash only.
pub async fn create_key(
    store: &DynStore,
    policy: &PolicyBuild,
    name: &str,
    scopes: Option<&[String]>,
) -> Result<CreatedKeyOut, CreateError> {
    let name = validate_name(name).map_err(CreateError::Invalid)?;
    let scopes = match policy.scopes_for_new_key(scopes)? {
        Ok(s) => s,
        Err(d) if d.status == 422 => return Err(CreateError::Invalid(d.detail)),
        Err(d) => return Err(CreateError::Denied(d)),
    };
    let scopes: Vec<String> = scopes
        .into_iter()
        .map(|s| scope_name(s).to_string())
        .collect();
    // Rejection sampling can, very rarely, run out of bytes; and an id can,
    // astronomically rarely, collide. Both just draw again.
    for _ in 0..4 {
        let mut random = [0u8; 128];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
        let minted = match policy.mint_key(&random)? {
            Ok(m) => m,
            Err(_) => continue,
        };
        let new = NewKey {
            id: minted.id.clone(),
            name: name.clone(),
            prefix: minted.prefix.clone(),
            key_hash: minted.stored_hash.clone(),
            scopes: scopes.clone(),
            created_at: now_rfc3339(),
        };
        match store.insert_key(new).await {
            Ok(record) => {
                return Ok(CreatedKeyOut {
                    record,
                    key: minted.key,
                })
            }
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CreateError::Policy(PolicyError::Call(
        "could not mint a key".into(),
    )))
}

pub enum RevokeResult {
    NotFound,
    Revoked,
    AlreadyRevoked,
}

/// Revokes a key; the lockout decision is taken by the policy inside the
/// store's revoking transaction.
pub async fn revoke_key(
    store: &DynStore,
    policy: &PolicyBuild,
    id: &str,
    env_key_configured: bool,
    auth_required: bool,
) -> Result<RevokeResult, ApiError> {
    let decide = |check: &crate::store::RevokeCheck| -> Result<(), ApiError> {
        let facts = crate::policy::wit::lifecycle::RevokeFacts {
            target_scopes: check
                .target_scopes
                .iter()
                .filter_map(|s| crate::http::auth::scope_from_name(s))
                .collect(),
            target_revoked: check.target_revoked,
            other_admin_keys: check.other_admin_keys,
            env_key_configured,
            auth_required,
        };
        Ok(policy.may_revoke(facts)??)
    };
    match store.revoke_key(id, &now_rfc3339(), &decide).await? {
        RevokeOutcome::NotFound => Ok(RevokeResult::NotFound),
        RevokeOutcome::Revoked => Ok(RevokeResult::Revoked),
        RevokeOutcome::AlreadyRevoked => Ok(RevokeResult::AlreadyRevoked),
        RevokeOutcome::Refused(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("  ci-runner ").unwrap(), "ci-runner");
        assert_eq!(validate_name("").unwrap_err(), "name must not be empty");
        assert_eq!(validate_name("   ").unwrap_err(), "name must not be empty");
        assert_eq!(
            validate_name(&"x".repeat(129)).unwrap_err(),
            "name must be at most 128 characters"
        );
        assert_eq!(
            validate_name("a\nb").unwrap_err(),
            "name must not contain control characters"
        );
    }
}
