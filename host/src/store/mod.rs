//! Storage behind one trait, so the server does not care which database holds
//! the keys. SQLite (embedded, the default) lives in [`sqlite`]; PostgreSQL
//! (several instances on one database) in [`postgres`]. Both pass the same
//! contract suite (`tests/store_contract.rs`).

mod postgres;
mod rows;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported database url (expected sqlite://... or postgres://...)")]
    UnsupportedUrl,
    #[error("corrupt row: {0}")]
    Corrupt(String),
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

/// A policy build stored for the other instances.
#[derive(Clone)]
pub struct StoredPolicy {
    pub sha256: String,
    pub wasm: Vec<u8>,
    pub signature: Option<String>,
    pub source: String,
}

impl std::fmt::Debug for StoredPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPolicy")
            .field("sha256", &self.sha256)
            .field("size", &self.wasm.len())
            .field("source", &self.source)
            .finish()
    }
}

/// Which build the instances should run; `generation` grows with every
/// publication, so an instance knows whether it has seen this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivePolicy {
    pub sha256: String,
    pub generation: u64,
    pub source: String,
}

/// A rate-limit bucket as stored: (level, updated_ms).
pub type BucketState = (u64, u64);

/// Computes a bucket's next state from the stored one (`None`: no bucket
/// yet). Returning `None` leaves the bucket as it was.
pub type BucketUpdate<'a> = &'a (dyn Fn(Option<BucketState>) -> Option<BucketState> + Send + Sync);

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

/// A webhook subscription. The signing secret is never serialized.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookRecord {
    pub id: String,
    pub name: String,
    pub url: String,
    pub event_filter: Vec<String>,
    pub created_at: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub secret: String,
}

// The secret stays out of Debug output.
impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("event_filter", &self.event_filter)
            .field("created_at", &self.created_at)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// One attempt to send a delivery.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub at: String,
}

/// A delivery as listed by the API.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    pub id: String,
    pub event: String,
    /// `pending`, `delivered`, `failed` or `abandoned`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// Every attempt, oldest first, with its response code or error.
    pub attempt_log: Vec<AttemptRecord>,
}

/// A new delivery, persisted before any attempt to send it.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    /// The event's `data`, as JSON text.
    pub payload: String,
    pub created_at: String,
    pub created_ms: i64,
}

/// A delivery claimed by the dispatcher (leased until `claimed_until_ms`).
#[derive(Clone, Debug)]
pub struct ClaimedDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
    pub created_at: String,
    pub created_ms: i64,
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    Delivered {
        at: String,
    },
    Retry {
        next_ms: i64,
        next_at: String,
    },
    /// `abandoned` (out of time) or `failed` (cannot ever succeed).
    GiveUp {
        status: &'static str,
    },
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

/// One persisted progress event of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Dense per scan: 1, 2, 3...
    pub id: u64,
    pub name: String,
    /// Compact JSON.
    pub data: String,
}

/// A wake-up sent by some instance (this one included). Signals are hints
/// that something changed; the tables always hold the truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    Message(String),
    /// The listening connection was lost and is back: anything may have
    /// been missed meanwhile, so listeners re-read what they follow.
    Reconnected,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// True when several instances may share this database (PostgreSQL):
    /// a busy scan may then belong to another live instance.
    fn shared(&self) -> bool;
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

    /// Records a new scan, leased by this instance until `lease_until_ms`.
    async fn insert_scan(
        &self,
        scan: &ScanRecord,
        created_by: &str,
        lease_until_ms: i64,
    ) -> Result<(), StoreError>;
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
    /// Marks pending/running scans whose lease ended before `now_ms` as
    /// failed (their instance is gone); returns their ids.
    async fn fail_interrupted_scans(
        &self,
        at: &str,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Extends the lease of scans this instance runs. Returns those of
    /// `ids` that are no longer pending/running (cancelled elsewhere).
    async fn renew_scan_leases(
        &self,
        ids: &[String],
        until_ms: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Persists events of a scan (idempotent: an id already there is kept).
    async fn append_events(&self, scan_id: &str, events: &[StoredEvent]) -> Result<(), StoreError>;
    /// Appends one event after the last stored one; returns its id. For an
    /// instance closing a scan it did not run (its runner died).
    async fn append_event_next(
        &self,
        scan_id: &str,
        name: &str,
        data: &str,
    ) -> Result<u64, StoreError>;
    /// Up to `limit` events of a scan with id > `after`, in id order.
    async fn events_after(
        &self,
        scan_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Deletes the events of scans completed before `completed_before`.
    async fn purge_events(&self, completed_before: &str) -> Result<u64, StoreError>;
    /// Reads a rate-limit bucket, applies `update` and writes the result,
    /// as one step that excludes every other update of the same bucket,
    /// from any instance.
    async fn update_bucket(
        &self,
        subject: &str,
        update: BucketUpdate<'_>,
    ) -> Result<(), StoreError>;
    /// Deletes buckets not touched since `before_ms` (refilled long ago).
    async fn purge_buckets(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Stores a build (kept if already there) and makes it the active one;
    /// returns the new generation.
    async fn publish_policy(&self, build: &StoredPolicy, at: &str) -> Result<u64, StoreError>;
    async fn active_policy(&self) -> Result<Option<ActivePolicy>, StoreError>;
    async fn get_policy(&self, sha256: &str) -> Result<Option<StoredPolicy>, StoreError>;
    /// Sends a signal to every instance listening on this database.
    async fn signal(&self, payload: &str) -> Result<(), StoreError>;
    /// Signals from every instance, or `None` when the database has no
    /// notification channel (SQLite: one process, signals stay in-process).
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Signal>>, StoreError>;
    async fn insert_webhook(&self, hook: &WebhookRecord) -> Result<(), StoreError>;
    async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRecord>, StoreError>;
    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Replaces name, url and filter; `false` when there is no such webhook.
    async fn update_webhook(&self, hook: &WebhookRecord) -> Result<bool, StoreError>;
    /// Deletes a webhook and its deliveries; `false` when there is none.
    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;
    async fn insert_delivery(&self, d: &NewDelivery) -> Result<(), StoreError>;
    /// The newest `limit` deliveries of a webhook, newest first.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Atomically leases up to `limit` pending deliveries that are due and
    /// not leased (or whose lease expired) until `now_ms + lease_ms`.
    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Records attempt number `attempt` and applies its outcome (releasing
    /// the lease), in one transaction.
    async fn record_attempt(
        &self,
        delivery_id: &str,
        attempt: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;
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

/// PostgreSQL connections per instance by default. Several instances share
/// the server's `max_connections` (100 by default), so this stays modest;
/// `SECURESCAN_DATABASE_POOL_SIZE` changes it.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Opens the store named by a database URL and brings its schema up to date.
pub async fn open(url: &str) -> Result<DynStore, StoreError> {
    open_with_pool(url, DEFAULT_POOL_SIZE).await
}

/// [`open`] with at most `pool_size` PostgreSQL connections (SQLite keeps
/// its own small pool: one writer at a time anyway).
pub async fn open_with_pool(url: &str, pool_size: u32) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::open(url, pool_size).await?))
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
