//! Process configuration, read once from the environment at startup.
//!
//! Secrets are wrapped so they never reach a `Debug` output or a log line.

use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug)]
pub struct Config {
    /// `SECURESCAN_API_KEY`: the break-glass key. Empty counts as unset.
    pub env_key: Option<SecretString>,
    /// `SECURESCAN_AUTH_REQUIRED`.
    pub auth_required: bool,
    /// `SECURESCAN_EVENT_TOKEN_SECRET`, as configured (None when unset).
    pub event_secret: Option<SecretBox<Vec<u8>>>,
    pub database_url: String,
    pub rate_limit_per_min: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub rate_limit_enabled: bool,
    pub log_format: LogFormat,
    pub policy_path: Option<PathBuf>,
    /// `SECURESCAN_POLICY_FUEL`: optional fuel per policy call.
    pub policy_fuel: Option<u64>,
    /// `SECURESCAN_POLICY_DEADLINE_MS`: wall-clock bound per policy call.
    pub policy_deadline_ms: u64,
    /// `SECURESCAN_EVENT_RETENTION_SECS`: how long a finished scan's events
    /// stay replayable (default 300).
    pub event_retention_secs: Option<u64>,
    /// `SECURESCAN_WEBHOOK_ALLOW_PRIVATE`: lifts the webhook SSRF guard.
    pub webhook_allow_private: bool,
    /// `SECURESCAN_WEBHOOK_RETRY_BASE_MS`: first retry delay (default 5000),
    /// doubling up to 300 s.
    pub webhook_retry_base_ms: u64,
    /// `SECURESCAN_SCAN_LEASE_SECS`: how long a running scan stays claimed
    /// by its instance without renewal (default 30, at least 3). Another
    /// instance fails the scan once it ran out: the time to notice a
    /// crashed instance.
    pub scan_lease_secs: u64,
    /// `SECURESCAN_POLICY_PUBLIC_KEY`: the Ed25519 key file (PEM or raw) that
    /// policy builds must be signed with; without it uploads are refused.
    pub policy_public_key: Option<ed25519_dalek::VerifyingKey>,
    /// `SECURESCAN_POLICY_MAX_BYTES`: the largest policy build accepted
    /// (default 4 MiB).
    pub policy_max_bytes: usize,
    /// `SECURESCAN_DATABASE_POOL_SIZE`: PostgreSQL connections per instance
    /// (1-1000, default 16). Every instance holds up to this many, and all of
    /// them share the server's `max_connections`. SQLite ignores it.
    pub database_pool_size: u32,
}

/// `1/true/yes/on`, any case.
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://securescan.db?mode=rwc";

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let nonempty = |k: &str| get(k).filter(|v| !v.is_empty());
        let number = |k: &'static str| -> Result<Option<u32>, ConfigError> {
            nonempty(k)
                .map(|v| {
                    v.trim().parse::<u32>().map_err(|_| ConfigError {
                        name: k,
                        reason: "must be a non-negative integer".into(),
                    })
                })
                .transpose()
        };
        // An integer from `lo` to `hi`, or `default` when unset.
        let in_range =
            |k: &'static str, default: u64, lo: u64, hi: u64| -> Result<u64, ConfigError> {
                match nonempty(k) {
                    None => Ok(default),
                    Some(v) => v
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (lo..=hi).contains(n))
                        .ok_or_else(|| ConfigError {
                            name: k,
                            reason: format!("must be an integer from {lo} to {hi}"),
                        }),
                }
            };
        let log_format = match nonempty("SECURESCAN_LOG_FORMAT")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(_) => {
                return Err(ConfigError {
                    name: "SECURESCAN_LOG_FORMAT",
                    reason: "must be json or text".into(),
                })
            }
        };
        let policy_fuel = nonempty("SECURESCAN_POLICY_FUEL")
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| ConfigError {
                    name: "SECURESCAN_POLICY_FUEL",
                    reason: "must be a non-negative integer".into(),
                })
            })
            .transpose()?;
        let policy_deadline_ms = match nonempty("SECURESCAN_POLICY_DEADLINE_MS") {
            None => crate::policy::RuntimeOptions::default().deadline_ms,
            Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError {
                name: "SECURESCAN_POLICY_DEADLINE_MS",
                reason: "must be a non-negative integer".into(),
            })?,
        };
        Ok(Config {
            env_key: nonempty("SECURESCAN_API_KEY").map(SecretString::from),
            auth_required: get("SECURESCAN_AUTH_REQUIRED").is_some_and(|v| truthy(&v)),
            event_secret: nonempty("SECURESCAN_EVENT_TOKEN_SECRET")
                .map(|s| SecretBox::new(Box::new(s.into_bytes()))),
            database_url: nonempty("SECURESCAN_DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            rate_limit_per_min: number("SECURESCAN_RATE_LIMIT_PER_MIN")?,
            rate_limit_burst: number("SECURESCAN_RATE_LIMIT_BURST")?,
            rate_limit_enabled: get("SECURESCAN_RATE_LIMIT_ENABLED")
                .filter(|v| !v.is_empty())
                .is_none_or(|v| truthy(&v)),
            log_format,
            policy_path: nonempty("SECURESCAN_POLICY_PATH").map(PathBuf::from),
            policy_fuel,
            policy_deadline_ms,
            event_retention_secs: nonempty("SECURESCAN_EVENT_RETENTION_SECS")
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| ConfigError {
                        name: "SECURESCAN_EVENT_RETENTION_SECS",
                        reason: "must be a non-negative integer".into(),
                    })
                })
                .transpose()?,
            policy_public_key: nonempty("SECURESCAN_POLICY_PUBLIC_KEY")
                .map(|p| {
                    crate::policy::signing::read_verifying_key(std::path::Path::new(&p)).map_err(
                        |e| ConfigError {
                            name: "SECURESCAN_POLICY_PUBLIC_KEY",
                            reason: e.to_string(),
                        },
                    )
                })
                .transpose()?,
            policy_max_bytes: match nonempty("SECURESCAN_POLICY_MAX_BYTES") {
                None => crate::policy::registry::DEFAULT_MAX_BYTES,
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError {
                        name: "SECURESCAN_POLICY_MAX_BYTES",
                        reason: "must be a positive integer".into(),
                    })?,
            },
            webhook_allow_private: get("SECURESCAN_WEBHOOK_ALLOW_PRIVATE")
                .is_some_and(|v| truthy(&v)),
            scan_lease_secs: in_range("SECURESCAN_SCAN_LEASE_SECS", 30, 3, 86_400)?,
            database_pool_size: u32::try_from(in_range(
                "SECURESCAN_DATABASE_POOL_SIZE",
                u64::from(crate::store::DEFAULT_POOL_SIZE),
                1,
                1000,
            )?)
            .expect("at most 1000"),
            webhook_retry_base_ms: match nonempty("SECURESCAN_WEBHOOK_RETRY_BASE_MS") {
                None => 5000,
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError {
                        name: "SECURESCAN_WEBHOOK_RETRY_BASE_MS",
                        reason: "must be a positive integer".into(),
                    })?,
            },
        })
    }

    pub fn env_key_str(&self) -> Option<&str> {
        self.env_key.as_ref().map(|k| k.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn truthy_values() {
        for v in ["1", "true", "TRUE", "Yes", "on", " On "] {
            assert!(truthy(v), "{v}");
        }
        for v in ["0", "false", "no", "off", "", "2", "enabled"] {
            assert!(!truthy(v), "{v}");
        }
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert!(!c.auth_required);
        assert!(c.env_key.is_none());
        assert!(c.event_secret.is_none());
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert!(c.rate_limit_enabled);
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(!c.webhook_allow_private);
        assert_eq!(c.webhook_retry_base_ms, 5000);
        assert_eq!(c.database_pool_size, 16);
    }

    #[test]
    fn database_pool_size() {
        let c = cfg(&[("SECURESCAN_DATABASE_POOL_SIZE", " 4 ")]).unwrap();
        assert_eq!(c.database_pool_size, 4);
        for bad in ["0", "1001", "-1", "many", "2.5"] {
            let e = cfg(&[("SECURESCAN_DATABASE_POOL_SIZE", bad)]).unwrap_err();
            assert_eq!(e.name, "SECURESCAN_DATABASE_POOL_SIZE", "{bad}");
            assert_eq!(e.reason, "must be an integer from 1 to 1000");
        }
    }

    #[test]
    fn webhook_settings() {
        let c = cfg(&[
            ("SECURESCAN_WEBHOOK_ALLOW_PRIVATE", "yes"),
            ("SECURESCAN_WEBHOOK_RETRY_BASE_MS", "200"),
        ])
        .unwrap();
        assert!(c.webhook_allow_private);
        assert_eq!(c.webhook_retry_base_ms, 200);
        let e = cfg(&[("SECURESCAN_WEBHOOK_RETRY_BASE_MS", "0")]).unwrap_err();
        assert_eq!(e.name, "SECURESCAN_WEBHOOK_RETRY_BASE_MS");
    }

    #[test]
    fn empty_env_key_is_unset_and_secrets_do_not_debug() {
        let c = cfg(&[("SECURESCAN_API_KEY", "")]).unwrap();
        assert!(c.env_key.is_none());
        let c = cfg(&[
            ("SECURESCAN_API_KEY", "topsecretvalue"),
            ("SECURESCAN_EVENT_TOKEN_SECRET", "othersecretvalue"),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("topsecretvalue"));
        assert!(!dbg.contains("othersecretvalue"));
    }

    #[test]
    fn bad_values_are_named() {
        let e = cfg(&[("SECURESCAN_RATE_LIMIT_BURST", "ten")]).unwrap_err();
        assert_eq!(e.name, "SECURESCAN_RATE_LIMIT_BURST");
        let e = cfg(&[("SECURESCAN_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.name, "SECURESCAN_LOG_FORMAT");
        let e = cfg(&[("SECURESCAN_POLICY_MAX_BYTES", "0")]).unwrap_err();
        assert_eq!(e.name, "SECURESCAN_POLICY_MAX_BYTES");
        let e = cfg(&[("SECURESCAN_POLICY_PUBLIC_KEY", "/nonexistent/key.pub")]).unwrap_err();
        assert_eq!(e.name, "SECURESCAN_POLICY_PUBLIC_KEY");
    }
}
