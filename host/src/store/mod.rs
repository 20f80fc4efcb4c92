//! Storage behind one trait, so the server does not care which database holds
//! the keys. SQLite (embedded, the default) lives in [`sqlite`].

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported database url (expected sqlite://...)")]
    UnsupportedUrl,
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("policy refused or failed inside a transaction")]
    Policy,
}

/// A stored key, as listed. Never holds the plaintext.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    #[serde(skip)]
    pub key_hash: String,
}

#[derive(Clone, Debug)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

/// The facts of a revocation, read inside the revoking transaction.
#[derive(Clone, Debug)]
pub struct RevokeCheck {
    pub target_scopes: Vec<String>,
    pub target_revoked: bool,
    pub other_admin_keys: u32,
}

/// The caller's verdict on a [`RevokeCheck`]; `Err` aborts the transaction.
pub type RevokeDecider<'a, E> = &'a (dyn Fn(&RevokeCheck) -> Result<(), E> + Send + Sync);

#[derive(Debug)]
pub enum RevokeOutcome<E> {
    NotFound,
    Revoked,
    AlreadyRevoked,
    Refused(E),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub unrevoked: u32,
    pub unrevoked_admins: u32,
}

#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn insert_key(&self, key: NewKey) -> Result<KeyRecord, StoreError>;
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    async fn counts(&self) -> Result<Counts, StoreError>;
    async fn any_unrevoked(&self) -> Result<bool, StoreError>;
    /// Reads the facts and revokes in one transaction that excludes every
    /// other revocation, so two concurrent revokes of the last two admin keys
    /// can never both pass the check.
    async fn revoke_key(
        &self,
        id: &str,
        now: &str,
        decide: RevokeDecider<'_, crate::http::ApiError>,
    ) -> Result<RevokeOutcome<crate::http::ApiError>, StoreError>;
    /// Writes coalesced `last_used_at` values; never moves one backwards.
    async fn touch_last_used(&self, updates: &[(String, String)]) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
}

pub type DynStore = Arc<dyn KeyStore>;

/// Opens the store named by a database URL and brings its schema up to date.
pub async fn open(url: &str) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

pub(crate) fn scopes_to_text(scopes: &[String]) -> String {
    serde_json::to_string(scopes).expect("strings serialize")
}

pub(crate) fn scopes_from_text(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}
