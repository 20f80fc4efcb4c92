//! PostgreSQL for tests: every test gets a database of its own on the local
//! server (`postgres://postgres@127.0.0.1:5432/test` unless
//! `SECURESCAN_TEST_POSTGRES_URL` names another), dropped when the test ends.
//!
//! Where no server answers, PostgreSQL tests are reported as skipped, with
//! the reason, unless `SECURESCAN_REQUIRE_POSTGRES=1` (set by CI): then
//! they fail, so a CI machine without PostgreSQL cannot pass silently.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const URL_VAR: &str = "SECURESCAN_TEST_POSTGRES_URL";
pub const REQUIRE_VAR: &str = "SECURESCAN_REQUIRE_POSTGRES";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The database tests connect to in order to create their own.
pub fn admin_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string())
}

pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Runs `f` on a runtime of its own in another thread, so it can be used
/// from sync code and from inside other runtimes alike.
fn block<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f())
    })
    .join()
    .expect("postgres helper thread")
}

async fn connect(url: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
    use sqlx::Connection;
    tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
}

/// `None` when PostgreSQL tests can run here, else why not. Panics when
/// they are required.
pub fn unavailable() -> Option<String> {
    let url = admin_url();
    let u = url.clone();
    let reason = block(move || {
        Box::pin(async move {
            match connect(&u).await {
                Ok(_) => None,
                Err(e) => Some(format!("cannot connect to {u}: {e}")),
            }
        })
    });
    if let Some(r) = &reason {
        assert!(
            !required(),
            "{REQUIRE_VAR}=1 but PostgreSQL is not available: {r}"
        );
    }
    reason
}

/// A fresh database, dropped on drop.
pub struct PgDb {
    pub url: String,
    /// The database's name (for admin statements on it).
    pub name: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl PgDb {
    pub fn create() -> PgDb {
        let name = format!(
            "securescan_t_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            rand_suffix()
        );
        let admin = admin_url();
        let n = name.clone();
        block(move || {
            Box::pin(async move {
                use sqlx::Executor;
                let mut c = connect(&admin).await.expect("connect to PostgreSQL");
                c.execute(format!("CREATE DATABASE {n}").as_str())
                    .await
                    .expect("CREATE DATABASE");
            })
        });
        let url = with_database(&admin_url(), &name);
        PgDb { url, name }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin = admin_url();
        let n = self.name.clone();
        block(move || {
            Box::pin(async move {
                use sqlx::Executor;
                if let Ok(mut c) = connect(&admin).await {
                    let _ = c
                        .execute(format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)").as_str())
                        .await;
                }
            })
        });
    }
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:08x}", h.finish() as u32)
}

/// `url` with its database (the path) replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
