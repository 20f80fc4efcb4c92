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

/// A scan as stored and returned by the API.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScanRecord {
    pub id: String,
    pub target_path: String,
    pub scan_types: Vec<String>,
    /// `pending`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub error: Option<String>,
    pub files_scanned: i64,
    pub findings_count: i64,
    /// Scan types recorded as skipped, with the reason.
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Skipped {
    pub scan_type: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FindingRecord {
    pub file: String,
    pub line: i64,
    pub rule: String,
    pub severity: String,
    pub excerpt: String,
}

/// How a conditional status change went.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    Done,
    /// The scan is in another status (given).
    Refused(String),
    NotFound,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub unrevoked: u32,
    pub unrevoked_admins: u32,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
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

    async fn insert_scan(&self, scan: &ScanRecord, created_by: &str) -> Result<(), StoreError>;
    async fn get_scan(&self, id: &str) -> Result<Option<ScanRecord>, StoreError>;
    async fn list_scans(&self, limit: u32) -> Result<Vec<ScanRecord>, StoreError>;
    /// Moves a scan from one of `from` to `to`, setting the given fields.
    async fn transition_scan(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        at: &str,
        update: ScanUpdate,
    ) -> Result<Transition, StoreError>;
    async fn insert_findings(
        &self,
        scan_id: &str,
        findings: &[FindingRecord],
    ) -> Result<(), StoreError>;
    async fn list_findings(&self, scan_id: &str) -> Result<Vec<FindingRecord>, StoreError>;
    /// Deletes a scan unless it is in one of `busy`.
    async fn delete_scan(&self, id: &str, busy: &[&str]) -> Result<Transition, StoreError>;
    /// Marks scans left pending/running by a previous process as failed.
    async fn fail_interrupted_scans(&self, at: &str) -> Result<u64, StoreError>;
}

/// Fields a transition may set besides the status.
#[derive(Clone, Debug, Default)]
pub struct ScanUpdate {
    pub started: bool,
    pub completed: bool,
    pub error: Option<String>,
    pub files_scanned: Option<i64>,
    pub findings_count: Option<i64>,
}

pub type DynStore = Arc<dyn Store>;

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
