//! The embedded default: SQLite in WAL mode.

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
];

pub struct SqliteStore {
    pool: SqlitePool,
}

const COLUMNS: &str = "id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at";

const SCAN_COLUMNS: &str = "id, target_path, scan_types, status, created_at, started_at, completed_at, error, files_scanned, findings_count, skipped";

fn scan(row: &sqlx::sqlite::SqliteRow) -> Result<ScanRecord, StoreError> {
    Ok(ScanRecord {
        id: row.try_get("id")?,
        target_path: row.try_get("target_path")?,
        scan_types: scopes_from_text(&row.try_get::<String, _>("scan_types")?)?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        error: row.try_get("error")?,
        files_scanned: row.try_get("files_scanned")?,
        findings_count: row.try_get("findings_count")?,
        skipped: serde_json::from_str(&row.try_get::<String, _>("skipped")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

const HOOK_COLUMNS: &str = "id, name, url, event_filter, secret, created_at";

fn webhook(row: &sqlx::sqlite::SqliteRow) -> Result<WebhookRecord, StoreError> {
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        event_filter: scopes_from_text(&row.try_get::<String, _>("event_filter")?)?,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
    })
}

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

fn record(row: &sqlx::sqlite::SqliteRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        key_hash: row.try_get("key_hash")?,
        scopes: scopes_from_text(&row.try_get::<String, _>("scopes")?)?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
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
        row.as_ref().map(record).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
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

    async fn insert_scan(&self, s: &ScanRecord, created_by: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scans (id, target_path, scan_types, status, created_at, skipped, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.target_path)
        .bind(scopes_to_text(&s.scan_types))
        .bind(&s.status)
        .bind(&s.created_at)
        .bind(serde_json::to_string(&s.skipped).expect("serializes"))
        .bind(created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_scan(&self, id: &str) -> Result<Option<ScanRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(scan).transpose()
    }

    async fn list_scans(&self, limit: u32) -> Result<Vec<ScanRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SCAN_COLUMNS} FROM scans ORDER BY created_at DESC, id LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scan).collect()
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
        rows.iter()
            .map(|r| {
                Ok(FindingRecord {
                    file: r.try_get("file")?,
                    line: r.try_get("line")?,
                    rule: r.try_get("rule")?,
                    severity: r.try_get("severity")?,
                    excerpt: r.try_get("excerpt")?,
                })
            })
            .collect()
    }

    async fn delete_scan(&self, id: &str, busy: &[&str]) -> Result<Transition, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(status) = scan_status(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        if busy.contains(&status.as_str()) {
            return Ok(Transition::Refused(status));
        }
        sqlx::query("DELETE FROM findings WHERE scan_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM scans WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Transition::Done)
    }

    async fn fail_interrupted_scans(&self, at: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE scans SET status = 'failed', completed_at = ?, error = 'Interrupted by a server restart' WHERE status IN ('pending', 'running')",
        )
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
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
        row.as_ref().map(webhook).transpose()
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook).collect()
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
            .map(|a| {
                Ok(AttemptRecord {
                    attempt: a.try_get("attempt")?,
                    status_code: a.try_get("status_code")?,
                    error: a.try_get("error")?,
                    at: a.try_get("at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            let status: String = row.try_get("status")?;
            out.push(DeliveryRecord {
                id,
                event: row.try_get("event")?,
                attempts: row.try_get("attempts")?,
                last_status_code: row.try_get("last_status_code")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
                next_attempt_at: if status == "pending" {
                    row.try_get("next_attempt_at")?
                } else {
                    None
                },
                delivered_at: row.try_get("delivered_at")?,
                status,
                attempt_log: attempts,
            });
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
        rows.iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    event: r.try_get("event")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    created_at: r.try_get("created_at")?,
                    created_ms: r.try_get("created_ms")?,
                })
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let s = SqliteStore::open(&url).await.unwrap();
        (dir, s)
    }

    fn key(id: &str, scopes: &[&str]) -> NewKey {
        NewKey {
            id: id.into(),
            name: format!("k-{id}"),
            prefix: format!("ssk_{id}"),
            key_hash: "v1$x$y".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn insert_get_list_count() {
        let (_d, s) = store().await;
        s.insert_key(key("A", &["admin"])).await.unwrap();
        s.insert_key(key("B", &["read"])).await.unwrap();
        assert_eq!(s.get_key("A").await.unwrap().unwrap().scopes, vec!["admin"]);
        assert!(s.get_key("Z").await.unwrap().is_none());
        assert_eq!(s.list_keys().await.unwrap().len(), 2);
        assert_eq!(
            s.counts().await.unwrap(),
            Counts {
                unrevoked: 2,
                unrevoked_admins: 1
            }
        );
        assert!(s.any_unrevoked().await.unwrap());
    }

    #[tokio::test]
    async fn migrations_are_idempotent() {
        let (d, _s) = store().await;
        let url = format!("sqlite://{}/t.db?mode=rwc", d.path().display());
        SqliteStore::open(&url).await.unwrap();
    }

    #[tokio::test]
    async fn revoke_outcomes() {
        let (_d, s) = store().await;
        s.insert_key(key("A", &["admin"])).await.unwrap();
        let allow = |_: &RevokeCheck| Ok(());
        assert!(matches!(
            s.revoke_key("nope", "t", &allow).await.unwrap(),
            RevokeOutcome::NotFound
        ));
        let seen = std::sync::Mutex::new(None);
        let record = |c: &RevokeCheck| {
            *seen.lock().unwrap() = Some(c.clone());
            Ok(())
        };
        assert!(matches!(
            s.revoke_key("A", "t", &record).await.unwrap(),
            RevokeOutcome::Revoked
        ));
        let c = seen.lock().unwrap().clone().unwrap();
        assert_eq!(c.other_admin_keys, 0);
        assert_eq!(c.target_scopes, vec!["admin"]);
        assert!(matches!(
            s.revoke_key("A", "t", &allow).await.unwrap(),
            RevokeOutcome::AlreadyRevoked
        ));
        assert!(!s.any_unrevoked().await.unwrap());
    }

    #[tokio::test]
    async fn last_used_never_moves_back() {
        let (_d, s) = store().await;
        s.insert_key(key("A", &["read"])).await.unwrap();
        s.touch_last_used(&[("A".into(), "2026-01-02T00:00:00Z".into())])
            .await
            .unwrap();
        s.touch_last_used(&[("A".into(), "2026-01-01T00:00:00Z".into())])
            .await
            .unwrap();
        assert_eq!(
            s.get_key("A")
                .await
                .unwrap()
                .unwrap()
                .last_used_at
                .as_deref(),
            Some("2026-01-02T00:00:00Z")
        );
    }

    #[tokio::test]
    async fn deliveries_are_leased_once_and_released_by_an_attempt() {
        let (_d, s) = store().await;
        let hook = WebhookRecord {
            id: "w1".into(),
            name: "n".into(),
            url: "https://example.com/".into(),
            event_filter: vec!["webhook.test".into()],
            created_at: "2026-01-01T00:00:00Z".into(),
            secret: "s".into(),
        };
        s.insert_webhook(&hook).await.unwrap();
        s.insert_delivery(&NewDelivery {
            id: "d1".into(),
            webhook_id: "w1".into(),
            event: "webhook.test".into(),
            payload: "{}".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            created_ms: 1_000,
        })
        .await
        .unwrap();
        let first = s.claim_deliveries(2_000, 60_000, 10).await.unwrap();
        assert_eq!(first.len(), 1);
        // Leased: nobody else gets it until the lease expires.
        assert!(s
            .claim_deliveries(2_001, 60_000, 10)
            .await
            .unwrap()
            .is_empty());
        let again = s.claim_deliveries(62_000, 60_000, 10).await.unwrap();
        assert_eq!(again.len(), 1, "an expired lease is claimed again");
        let attempt = AttemptRecord {
            attempt: 1,
            status_code: Some(500),
            error: None,
            at: "2026-01-01T00:01:02Z".into(),
        };
        s.record_attempt(
            "d1",
            &attempt,
            &AttemptOutcome::Retry {
                next_ms: 70_000,
                next_at: "2026-01-01T00:01:10Z".into(),
            },
        )
        .await
        .unwrap();
        assert!(s
            .claim_deliveries(69_999, 60_000, 10)
            .await
            .unwrap()
            .is_empty());
        let due = s.claim_deliveries(70_000, 60_000, 10).await.unwrap();
        assert_eq!(due[0].attempts, 1);
        s.record_attempt(
            "d1",
            &AttemptRecord {
                attempt: 2,
                status_code: Some(200),
                error: None,
                at: "2026-01-01T00:01:10Z".into(),
            },
            &AttemptOutcome::Delivered {
                at: "2026-01-01T00:01:10Z".into(),
            },
        )
        .await
        .unwrap();
        assert!(s
            .claim_deliveries(i64::MAX / 2, 1, 10)
            .await
            .unwrap()
            .is_empty());
        let list = s.list_deliveries("w1", 100).await.unwrap();
        assert_eq!(list[0].status, "delivered");
        assert_eq!(list[0].attempts, 2);
        assert_eq!(
            list[0]
                .attempt_log
                .iter()
                .map(|a| a.status_code)
                .collect::<Vec<_>>(),
            vec![Some(500), Some(200)]
        );
        // Deleting the webhook deletes its deliveries.
        assert!(s.delete_webhook("w1").await.unwrap());
        assert!(s.list_deliveries("w1", 100).await.unwrap().is_empty());
    }
}
