//! PostgreSQL: several instances on one database behave as one service.
//!
//! What makes that true lives here, in SQL:
//! - the last-admin lockout check and the revoke run in one transaction
//!   holding a transaction-level advisory lock, so revokes from any number
//!   of instances are serialised exactly like SQLite's `BEGIN IMMEDIATE`;
//! - webhook deliveries are leased with `FOR UPDATE SKIP LOCKED`, so one
//!   delivery is claimed by one dispatcher whatever the number of instances;
//! - progress events are rows (the truth) plus `NOTIFY securescan` (a hint);
//! - `last_used_at` only moves forward (`GREATEST`), whoever writes it.

use super::rows;
use super::*;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::Row;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Migrations embedded in the binary: (version, sql).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_api_keys.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_scans.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_webhooks.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_scan_events.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_rate_buckets.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_policy_builds.sql"),
    ),
];

/// The NOTIFY channel every instance listens on.
pub const CHANNEL: &str = "securescan";

/// Advisory lock keys (arbitrary constants, unique to this schema's users).
const LOCK_MIGRATE: i64 = 0x5ec5_ca40_0001;
const LOCK_REVOKE: i64 = 0x5ec5_ca40_0002;

pub struct PgStore {
    pool: PgPool,
    /// For the LISTEN connection, which lives outside `pool`: it is held for
    /// the life of the process, and must not take a slot the queries need.
    options: PgConnectOptions,
}

const COLUMNS: &str = "id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at";

const SCAN_COLUMNS: &str = "id, target_path, scan_types, status, created_at, started_at, completed_at, error, files_scanned, findings_count, skipped";

const HOOK_COLUMNS: &str = "id, name, url, event_filter, secret, created_at";

/// A scan's status, locked for the caller's transaction.
async fn scan_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT status FROM scans WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

impl PgStore {
    /// Connects with at most `pool_size` connections (see
    /// [`super::DEFAULT_POOL_SIZE`]) and migrates.
    pub async fn open(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let store = PgStore { pool, options };
        store.migrate().await?;
        Ok(store)
    }

    /// Instances starting together migrate one at a time (advisory lock);
    /// PostgreSQL DDL is transactional, so a failed migration leaves nothing.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_MIGRATE)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS securescan_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .execute(&mut *tx)
        .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM securescan_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO securescan_migrations (version) VALUES ($1)")
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
impl Store for PgStore {
    fn shared(&self) -> bool {
        true
    }

    async fn insert_key(&self, key: NewKey) -> Result<KeyRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, is_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
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
            "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE is_admin) AS a FROM api_keys WHERE revoked_at IS NULL",
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
        Ok(
            sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM api_keys WHERE revoked_at IS NULL)")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn revoke_key(
        &self,
        id: &str,
        now: &str,
        decide: RevokeDecider<'_, crate::http::ApiError>,
    ) -> Result<RevokeOutcome<crate::http::ApiError>, StoreError> {
        // Every revoke, on every instance, takes this lock first: the count
        // of other admin keys read below cannot change until we commit.
        // (Row locks alone would not do: two revokes of two different admin
        // keys lock different rows and could both see one other admin.)
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_REVOKE)
            .execute(&mut *tx)
            .await?;
        let Some(row) = sqlx::query("SELECT scopes, revoked_at FROM api_keys WHERE id = $1")
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
            "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL AND is_admin AND id <> $1",
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
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
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
        let (ids, ats): (Vec<&str>, Vec<&str>) = updates
            .iter()
            .map(|(i, a)| (i.as_str(), a.as_str()))
            .unzip();
        // One statement for the batch; GREATEST keeps the newest value
        // whichever instance writes last.
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at) \
             FROM UNNEST($1::text[], $2::text[]) AS u(id, at) \
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at COLLATE \"C\")",
        )
        .bind(&ids)
        .bind(&ats)
        .execute(&self.pool)
        .await?;
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
            "INSERT INTO scans (id, target_path, scan_types, status, created_at, skipped, created_by, lease_until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        let row = sqlx::query(&format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::scan).transpose()
    }

    async fn list_scans(&self, limit: u32) -> Result<Vec<ScanRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SCAN_COLUMNS} FROM scans ORDER BY created_at DESC, id LIMIT $1"
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
        let mut tx = self.pool.begin().await?;
        let Some(status) = scan_status(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        if !from.contains(&status.as_str()) {
            return Ok(Transition::Refused(status));
        }
        sqlx::query(
            "UPDATE scans SET status = $1, \
             started_at = CASE WHEN $2 THEN $3 ELSE started_at END, \
             completed_at = CASE WHEN $4 THEN $3 ELSE completed_at END, \
             error = COALESCE($5, error), \
             files_scanned = COALESCE($6, files_scanned), \
             findings_count = COALESCE($7, findings_count) \
             WHERE id = $8",
        )
        .bind(to)
        .bind(u.started)
        .bind(at)
        .bind(u.completed)
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
        if findings.is_empty() {
            return Ok(());
        }
        let files: Vec<&str> = findings.iter().map(|f| f.file.as_str()).collect();
        let lines: Vec<i64> = findings.iter().map(|f| f.line).collect();
        let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        let severities: Vec<&str> = findings.iter().map(|f| f.severity.as_str()).collect();
        let excerpts: Vec<&str> = findings.iter().map(|f| f.excerpt.as_str()).collect();
        // WITH ORDINALITY keeps the findings' order in their serial ids.
        sqlx::query(
            "INSERT INTO findings (scan_id, file, line, rule, severity, excerpt) \
             SELECT $1, f, l, r, s, e FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]) \
             WITH ORDINALITY AS t(f, l, r, s, e, n) ORDER BY n",
        )
        .bind(scan_id)
        .bind(&files)
        .bind(&lines)
        .bind(&rules)
        .bind(&severities)
        .bind(&excerpts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_findings(&self, scan_id: &str) -> Result<Vec<FindingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT file, line, rule, severity, excerpt FROM findings WHERE scan_id = $1 ORDER BY id",
        )
        .bind(scan_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::finding).collect()
    }

    async fn delete_scan(&self, id: &str, busy: &[&str]) -> Result<Transition, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(status) = scan_status(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        if busy.contains(&status.as_str()) {
            return Ok(Transition::Refused(status));
        }
        // Findings and events go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM scans WHERE id = $1")
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
            "UPDATE scans SET status = 'failed', completed_at = $1, error = 'Interrupted: the instance running it stopped' \
             WHERE status IN ('pending', 'running') AND (lease_until_ms IS NULL OR lease_until_ms < $2) RETURNING id",
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
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let renewed: Vec<String> = sqlx::query_scalar(
            "UPDATE scans SET lease_until_ms = $1 WHERE id = ANY($2) AND status IN ('pending', 'running') RETURNING id",
        )
        .bind(until_ms)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids
            .iter()
            .filter(|id| !renewed.contains(id))
            .cloned()
            .collect())
    }

    async fn append_events(&self, scan_id: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let ids = events
            .iter()
            .map(|e| rows::event_id(e.id))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        let datas: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        // A deleted scan's late events are dropped (the join finds no scan).
        sqlx::query(
            "INSERT INTO scan_events (scan_id, id, name, data) \
             SELECT s.id, e.id, e.name, e.data FROM scans s, UNNEST($2::bigint[], $3::text[], $4::text[]) AS e(id, name, data) \
             WHERE s.id = $1 ON CONFLICT (scan_id, id) DO NOTHING",
        )
        .bind(scan_id)
        .bind(&ids)
        .bind(&names)
        .bind(&datas)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn append_event_next(
        &self,
        scan_id: &str,
        name: &str,
        data: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The scan row lock orders concurrent appenders of this scan.
        scan_status(&mut tx, scan_id).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scan_events (scan_id, id, name, data) \
             SELECT $1, COALESCE(MAX(id), 0) + 1, $2, $3 FROM scan_events WHERE scan_id = $1 RETURNING id",
        )
        .bind(scan_id)
        .bind(name)
        .bind(data)
        .fetch_one(&mut *tx)
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
            "SELECT id, name, data FROM scan_events WHERE scan_id = $1 AND id > $2 ORDER BY id LIMIT $3",
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
            "DELETE FROM scan_events WHERE scan_id IN (SELECT id FROM scans WHERE completed_at IS NOT NULL AND completed_at < $1)",
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT level, updated_ms FROM rate_buckets WHERE subject = $1")
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
            "INSERT INTO rate_buckets (subject, level, updated_ms) VALUES ($1, $2, $3) \
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
        let r = sqlx::query("DELETE FROM rate_buckets WHERE updated_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn publish_policy(&self, b: &StoredPolicy, at: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO policy_builds (sha256, wasm, signature, source, stored_at) VALUES ($1, $2, $3, $4, $5) \
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
            "INSERT INTO policy_active (id, sha256, generation, source, updated_at) VALUES (1, $1, 1, $2, $3) \
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
            "SELECT sha256, wasm, signature, source FROM policy_builds WHERE sha256 = $1",
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

    async fn signal(&self, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Signal>>, StoreError> {
        // A pool of one of its own: the listener keeps its connection, and
        // reconnects through this pool when it drops.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&own).await?;
        // Notifications missed while the connection is down are reported as
        // `Reconnected` (try_recv gives `None`), never silently dropped.
        listener.ignore_pool_close_event(true);
        listener.listen(CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                let signal = match listener.try_recv().await {
                    Ok(Some(n)) => Signal::Message(n.payload().to_string()),
                    Ok(None) => Signal::Reconnected,
                    Err(e) => {
                        tracing::warn!(error = %e, "database notifications lost; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        Signal::Reconnected
                    }
                };
                if tx.send(signal).await.is_err() {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }

    async fn insert_webhook(&self, h: &WebhookRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, name, url, event_filter, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
        let row = sqlx::query(&format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
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
        let r =
            sqlx::query("UPDATE webhooks SET name = $1, url = $2, event_filter = $3 WHERE id = $4")
                .bind(&h.name)
                .bind(&h.url)
                .bind(scopes_to_text(&h.event_filter))
                .bind(&h.id)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn insert_delivery(&self, d: &NewDelivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, created_at, created_ms, next_attempt_ms, next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6, $5)",
        )
        .bind(&d.id)
        .bind(&d.webhook_id)
        .bind(&d.event)
        .bind(&d.payload)
        .bind(&d.created_at)
        .bind(d.created_ms)
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
            "SELECT id, event, status, attempts, last_status_code, last_error, created_at, next_attempt_at, delivered_at FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_ms DESC, seq DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        // Every attempt of the listed deliveries in one query.
        let attempt_rows = sqlx::query(
            "SELECT delivery_id, attempt, status_code, error, at FROM delivery_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut attempts: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
        for a in &attempt_rows {
            attempts
                .entry(a.try_get("delivery_id")?)
                .or_default()
                .push(rows::attempt(a)?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(ids) {
            out.push(rows::delivery(
                row,
                attempts.remove(&id).unwrap_or_default(),
            )?);
        }
        Ok(out)
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        // SKIP LOCKED: a row another dispatcher is claiming right now is
        // skipped, not waited for and never claimed twice.
        let rows = sqlx::query(
            "UPDATE webhook_deliveries SET claimed_until_ms = $1 + $2 \
             WHERE id IN (SELECT id FROM webhook_deliveries \
                 WHERE status = 'pending' AND next_attempt_ms <= $1 \
                 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $1) \
                 ORDER BY next_attempt_ms LIMIT $3 FOR UPDATE SKIP LOCKED) \
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, status_code, error, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (delivery_id, attempt) DO UPDATE SET status_code = EXCLUDED.status_code, error = EXCLUDED.error, at = EXCLUDED.at",
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
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, last_status_code = $3, last_error = $4, \
             next_attempt_ms = $5, next_attempt_at = $6, delivered_at = $7, claimed_until_ms = NULL WHERE id = $8",
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
