//! The embedded default: SQLite in WAL mode.

use super::rows;
use super::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// Migrations embedded in the binary: (version, sql).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_api_keys.sql"),
    ),
    (2, include_str!("../../../migrations/sqlite/0002_scans.sql")),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_webhooks.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_scan_events.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_rate_buckets.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/sqlite/0006_policy_builds.sql"),
    ),
];

pub struct SqliteStore {
    pool: SqlitePool,
}

const COLUMNS: &str = "id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at";

const SCAN_COLUMNS: &str = "id, target_path, scan_types, status, created_at, started_at, completed_at, error, files_scanned, findings_count, skipped";

const HOOK_COLUMNS: &str = "id, name, url, event_filter, secret, created_at";

/// A scan's status, read inside the caller's (write-locked) transaction.
async fn scan_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT status FROM scans WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS securescan_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM securescan_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO securescan_migrations (version, applied_at) VALUES (?, datetime('now'))")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn shared(&self) -> bool {
        false
    }

    async fn insert_key(&self, key: NewKey) -> Result<KeyRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.key_hash)
        .bind(scopes_to_text(&key.scopes))
        .bind(key.scopes.iter().any(|s| s == "admin"))
        .bind(&key.created_at)
        .execute(&self.pool)
        .await?;
        Ok(KeyRecord {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            created_at: key.created_at,
            last_used_at: None,
            revoked_at: None,
            key_hash: key.key_hash,
        })
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::key).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::key).collect()
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(is_admin), 0) AS a FROM api_keys WHERE revoked_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        let a: i64 = row.try_get("a")?;
        Ok(Counts {
            unrevoked: u32::try_from(n).unwrap_or(u32::MAX),
            unrevoked_admins: u32::try_from(a).unwrap_or(u32::MAX),
        })
    }

    async fn any_unrevoked(&self) -> Result<bool, StoreError> {
        let v: i64 =
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM api_keys WHERE revoked_at IS NULL)")
                .fetch_one(&self.pool)
                .await?;
        Ok(v != 0)
    }

    async fn revoke_key(
        &self,
        id: &str,
        now: &str,
        decide: RevokeDecider<'_, crate::http::ApiError>,
    ) -> Result<RevokeOutcome<crate::http::ApiError>, StoreError> {
        // BEGIN IMMEDIATE takes the write lock before reading, so the count
        // below cannot change under us, across connections and processes.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(row) = sqlx::query("SELECT scopes, revoked_at FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(RevokeOutcome::NotFound);
        };
        let revoked_at: Option<String> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Ok(RevokeOutcome::AlreadyRevoked);
        }
        let others: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL AND is_admin = 1 AND id != ?",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let check = RevokeCheck {
            target_scopes: scopes_from_text(&row.try_get::<String, _>("scopes")?)?,
            target_revoked: false,
            other_admin_keys: u32::try_from(others).unwrap_or(u32::MAX),
        };
        if let Err(e) = decide(&check) {
            return Ok(RevokeOutcome::Refused(e));
        }
        sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RevokeOutcome::Revoked)
    }

    async fn touch_last_used(&self, updates: &[(String, String)]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, at) in updates {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
            )
            .bind(at)
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_scan(
        &self,
        s: &ScanRecord,
        created_by: &str,
        lease_until_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scans (id, target_path, scan_types, status, created_at, skipped, created_by, lease_until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.target_path)
        .bind(scopes_to_text(&s.scan_types))
        .bind(&s.status)
        .bind(&s.created_at)
        .bind(serde_json::to_string(&s.skipped).expect("serializes"))
        .bind(created_by)
        .bind(lease_until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_scan(&self, id: &str) -> Result<Option<ScanRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::scan).transpose()
    }

    async fn list_scans(&self, limit: u32) -> Result<Vec<ScanRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SCAN_COLUMNS} FROM scans ORDER BY created_at DESC, id LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::scan).collect()
    }

    async fn transition_scan(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        at: &str,
        u: ScanUpdate,
    ) -> Result<Transition, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(status) = scan_status(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        if !from.contains(&status.as_str()) {
            return Ok(Transition::Refused(status));
        }
        sqlx::query(
            "UPDATE scans SET status = ?, \
             started_at = CASE WHEN ? THEN ? ELSE started_at END, \
             completed_at = CASE WHEN ? THEN ? ELSE completed_at END, \
             error = COALESCE(?, error), \
             files_scanned = COALESCE(?, files_scanned), \
             findings_count = COALESCE(?, findings_count) \
             WHERE id = ?",
        )
        .bind(to)
        .bind(u.started)
        .bind(at)
        .bind(u.completed)
        .bind(at)
        .bind(u.error)
        .bind(u.files_scanned)
        .bind(u.findings_count)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Transition::Done)
    }

    async fn insert_findings(
        &self,
        scan_id: &str,
        findings: &[FindingRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for f in findings {
            sqlx::query(
                "INSERT INTO findings (scan_id, file, line, rule, severity, excerpt) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(scan_id)
            .bind(&f.file)
            .bind(f.line)
            .bind(&f.rule)
            .bind(&f.severity)
            .bind(&f.excerpt)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_findings(&self, scan_id: &str) -> Result<Vec<FindingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT file, line, rule, severity, excerpt FROM findings WHERE scan_id = ? ORDER BY id",
        )
        .bind(scan_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::finding).collect()
    }

    async fn delete_scan(&self, id: &str, busy: &[&str]) -> Result<Transition, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(status) = scan_status(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        if busy.contains(&status.as_str()) {
            return Ok(Transition::Refused(status));
        }
        for table in ["findings", "scan_events"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE scan_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM scans WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Transition::Done)
    }

    async fn fail_interrupted_scans(
        &self,
        at: &str,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let ids = sqlx::query_scalar::<_, String>(
            "UPDATE scans SET status = 'failed', completed_at = ?, error = 'Interrupted: the instance running it stopped' \
             WHERE status IN ('pending', 'running') AND (lease_until_ms IS NULL OR lease_until_ms < ?) RETURNING id",
        )
        .bind(at)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    async fn renew_scan_leases(
        &self,
        ids: &[String],
        until_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut gone = Vec::new();
        let mut tx = self.pool.begin().await?;
        for id in ids {
            let r = sqlx::query(
                "UPDATE scans SET lease_until_ms = ? WHERE id = ? AND status IN ('pending', 'running')",
            )
            .bind(until_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                gone.push(id.clone());
            }
        }
        tx.commit().await?;
        Ok(gone)
    }

    async fn append_events(&self, scan_id: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for e in events {
            sqlx::query(
                "INSERT OR IGNORE INTO scan_events (scan_id, id, name, data) SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM scans WHERE id = ?)",
            )
            .bind(scan_id)
            .bind(rows::event_id(e.id)?)
            .bind(&e.name)
            .bind(&e.data)
            .bind(scan_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn append_event_next(
        &self,
        scan_id: &str,
        name: &str,
        data: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM scan_events WHERE scan_id = ?",
        )
        .bind(scan_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO scan_events (scan_id, id, name, data) VALUES (?, ?, ?, ?)")
            .bind(scan_id)
            .bind(id)
            .bind(name)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id as u64)
    }

    async fn events_after(
        &self,
        scan_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, data FROM scan_events WHERE scan_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(scan_id)
        .bind(rows::event_id(after)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn purge_events(&self, completed_before: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM scan_events WHERE scan_id IN (SELECT id FROM scans WHERE completed_at IS NOT NULL AND completed_at < ?)",
        )
        .bind(completed_before)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    async fn update_bucket(
        &self,
        subject: &str,
        update: BucketUpdate<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT level, updated_ms FROM rate_buckets WHERE subject = ?")
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await?;
        let state = match row {
            Some(r) => Some((
                r.try_get::<i64, _>("level")?.max(0) as u64,
                r.try_get::<i64, _>("updated_ms")?.max(0) as u64,
            )),
            None => None,
        };
        let Some((level, updated)) = update(state) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO rate_buckets (subject, level, updated_ms) VALUES (?, ?, ?) \
             ON CONFLICT (subject) DO UPDATE SET level = excluded.level, updated_ms = excluded.updated_ms",
        )
        .bind(subject)
        .bind(i64::try_from(level).unwrap_or(i64::MAX))
        .bind(i64::try_from(updated).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge_buckets(&self, before_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM rate_buckets WHERE updated_ms < ?")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn publish_policy(&self, b: &StoredPolicy, at: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO policy_builds (sha256, wasm, signature, source, stored_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (sha256) DO UPDATE SET signature = COALESCE(excluded.signature, policy_builds.signature)",
        )
        .bind(&b.sha256)
        .bind(&b.wasm)
        .bind(&b.signature)
        .bind(&b.source)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let generation: i64 = sqlx::query_scalar(
            "INSERT INTO policy_active (id, sha256, generation, source, updated_at) VALUES (1, ?, 1, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, generation = policy_active.generation + 1, \
             source = excluded.source, updated_at = excluded.updated_at RETURNING generation",
        )
        .bind(&b.sha256)
        .bind(&b.source)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(generation.max(0) as u64)
    }

    async fn active_policy(&self) -> Result<Option<ActivePolicy>, StoreError> {
        let row = sqlx::query("SELECT sha256, generation, source FROM policy_active WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(ActivePolicy {
                sha256: r.try_get("sha256")?,
                generation: r.try_get::<i64, _>("generation")?.max(0) as u64,
                source: r.try_get("source")?,
            })
        })
        .transpose()
    }

    async fn get_policy(&self, sha256: &str) -> Result<Option<StoredPolicy>, StoreError> {
        let row = sqlx::query(
            "SELECT sha256, wasm, signature, source FROM policy_builds WHERE sha256 = ?",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredPolicy {
                sha256: r.try_get("sha256")?,
                wasm: r.try_get("wasm")?,
                signature: r.try_get("signature")?,
                source: r.try_get("source")?,
            })
        })
        .transpose()
    }

    async fn signal(&self, _payload: &str) -> Result<(), StoreError> {
        // One process per SQLite file: the caller delivers signals itself.
        Ok(())
    }

    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Signal>>, StoreError> {
        Ok(None)
    }

    async fn insert_webhook(&self, h: &WebhookRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, name, url, event_filter, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&h.id)
        .bind(&h.name)
        .bind(&h.url)
        .bind(scopes_to_text(&h.event_filter))
        .bind(&h.secret)
        .bind(&h.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::webhook).transpose()
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::webhook).collect()
    }

    async fn update_webhook(&self, h: &WebhookRecord) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE webhooks SET name = ?, url = ?, event_filter = ? WHERE id = ?")
            .bind(&h.name)
            .bind(&h.url)
            .bind(scopes_to_text(&h.event_filter))
            .bind(&h.id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM webhooks WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_delivery(&self, d: &NewDelivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, created_at, created_ms, next_attempt_ms, next_attempt_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        )
        .bind(&d.id)
        .bind(&d.webhook_id)
        .bind(&d.event)
        .bind(&d.payload)
        .bind(&d.created_at)
        .bind(d.created_ms)
        .bind(d.created_ms)
        .bind(&d.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event, status, attempts, last_status_code, last_error, created_at, next_attempt_at, delivered_at FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_ms DESC, rowid DESC LIMIT ?",
        )
        .bind(webhook_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let attempts = sqlx::query(
                "SELECT attempt, status_code, error, at FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::attempt)
            .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(rows::delivery(row, attempts)?);
        }
        Ok(out)
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        // One UPDATE statement: SQLite runs it under the write lock, so two
        // dispatchers (or processes) can never lease the same row.
        let rows = sqlx::query(
            "UPDATE webhook_deliveries SET claimed_until_ms = ?1 + ?2 \
             WHERE id IN (SELECT id FROM webhook_deliveries \
                 WHERE status = 'pending' AND next_attempt_ms <= ?1 \
                 AND (claimed_until_ms IS NULL OR claimed_until_ms <= ?1) \
                 ORDER BY next_attempt_ms LIMIT ?3) \
             AND status = 'pending' AND (claimed_until_ms IS NULL OR claimed_until_ms <= ?1) \
             RETURNING id, webhook_id, event, payload, attempts, created_at, created_ms",
        )
        .bind(now_ms)
        .bind(lease_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::claimed).collect()
    }

    async fn record_attempt(
        &self,
        delivery_id: &str,
        a: &AttemptRecord,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, status_code, error, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(delivery_id)
        .bind(a.attempt)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(&a.at)
        .execute(&mut *tx)
        .await?;
        let (status, next_ms, next_at, delivered_at): (
            &str,
            Option<i64>,
            Option<&str>,
            Option<&str>,
        ) = match outcome {
            AttemptOutcome::Delivered { at } => ("delivered", None, None, Some(at)),
            AttemptOutcome::Retry { next_ms, next_at } => {
                ("pending", Some(*next_ms), Some(next_at), None)
            }
            AttemptOutcome::GiveUp { status } => (status, None, None, None),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, last_error = ?, \
             next_attempt_ms = ?, next_attempt_at = ?, delivered_at = ?, claimed_until_ms = NULL WHERE id = ?",
        )
        .bind(status)
        .bind(a.attempt)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(next_ms)
        .bind(next_at)
        .bind(delivered_at)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
