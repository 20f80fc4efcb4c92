//! The embedded default: SQLite in WAL mode.

use super::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// Migrations embedded in the binary: (version, sql).
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    include_str!("../../../migrations/sqlite/0001_api_keys.sql"),
)];

pub struct SqliteStore {
    pool: SqlitePool,
}

const COLUMNS: &str = "id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at";

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
impl KeyStore for SqliteStore {
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
}
