//! The `POST /scans` rate limit: one token bucket per principal (`key:<id>`,
//! `env`) or client address (`ip:<addr>`), never keyed by a raw key. The
//! arithmetic is the policy component's, so the edge and the server agree.
//!
//! With a shared database (PostgreSQL, several instances) the buckets live in
//! the database and each take is one locked read-decide-write, so the limit
//! holds for the service as a whole; with SQLite (one process) they stay in
//! memory.

use crate::policy::{wit, PolicyBuild, PolicyError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Buckets kept before idle full ones are dropped.
const MAX_BUCKETS: usize = 100_000;

#[derive(Clone)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<String, wit::ratelimit::Bucket>>>,
    /// Overrides of the policy's defaults from the environment.
    per_minute: Option<u32>,
    burst: Option<u32>,
    pub enabled: bool,
}

impl RateLimiter {
    pub fn new(per_minute: Option<u32>, burst: Option<u32>, enabled: bool) -> Self {
        RateLimiter {
            buckets: Arc::default(),
            per_minute,
            burst,
            enabled,
        }
    }

    pub fn limits(&self, policy: &PolicyBuild) -> Result<wit::ratelimit::Limits, PolicyError> {
        let d = policy.default_limits()?;
        Ok(wit::ratelimit::Limits {
            per_minute: self.per_minute.unwrap_or(d.per_minute),
            burst: self.burst.unwrap_or(d.burst),
        })
    }

    /// The verdict a take would give now, without taking (nothing stored);
    /// `None` when the limit is disabled.
    pub fn peek(
        &self,
        policy: &PolicyBuild,
        subject: &str,
        now_ms: u64,
    ) -> Result<Option<wit::ratelimit::Verdict>, PolicyError> {
        if !self.enabled {
            return Ok(None);
        }
        let limits = self.limits(policy)?;
        let state = self
            .buckets
            .lock()
            .expect("bucket lock")
            .get(subject)
            .copied();
        policy.take(state, limits, now_ms).map(Some)
    }

    /// Takes one token for `subject`; `None` when the limit is disabled.
    pub fn take(
        &self,
        policy: &PolicyBuild,
        subject: &str,
        now_ms: u64,
    ) -> Result<Option<wit::ratelimit::Verdict>, PolicyError> {
        if !self.enabled {
            return Ok(None);
        }
        let limits = self.limits(policy)?;
        let mut buckets = self.buckets.lock().expect("bucket lock");
        let state = buckets.get(subject).copied();
        let verdict = policy.take(state, limits, now_ms)?;
        if buckets.len() >= MAX_BUCKETS && state.is_none() {
            // Forget buckets that have refilled: they carry no state.
            let cap = u64::from(limits.burst) * 60_000;
            buckets.retain(|_, b| b.level < cap);
        }
        buckets.insert(subject.to_string(), verdict.state);
        Ok(Some(verdict))
    }
}

/// The `detail` of a 429, at the edge and at the origin alike.
pub const RATE_LIMITED: &str = "Rate limit exceeded";

/// `X-RateLimit-*` (and `Retry-After` when refused) for a verdict.
pub fn set_headers(h: &mut axum::http::HeaderMap, v: &wit::ratelimit::Verdict) {
    let mut set = |k: &'static str, n: u32| {
        h.insert(k, axum::http::HeaderValue::from(n));
    };
    set("x-ratelimit-limit", v.limit);
    set("x-ratelimit-remaining", v.remaining);
    set("x-ratelimit-reset", v.reset_after);
    if !v.allowed {
        set("retry-after", v.retry_after.max(1));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl RateLimiter {
    /// [`RateLimiter::take`], with the buckets in `store` when it is shared
    /// by several instances.
    pub async fn take_in(
        &self,
        store: &crate::store::DynStore,
        policy: &PolicyBuild,
        subject: &str,
        now_ms: u64,
    ) -> Result<Option<wit::ratelimit::Verdict>, TakeError> {
        if !self.enabled || !store.shared() {
            return Ok(self.take(policy, subject, now_ms)?);
        }
        let limits = self.limits(policy)?;
        let outcome: Mutex<Option<Result<wit::ratelimit::Verdict, PolicyError>>> = Mutex::new(None);
        let update = |state: Option<crate::store::BucketState>| {
            let bucket =
                state.map(|(level, updated_ms)| wit::ratelimit::Bucket { level, updated_ms });
            let verdict = policy.take(bucket, limits, now_ms);
            let next = verdict
                .as_ref()
                .ok()
                .map(|v| (v.state.level, v.state.updated_ms));
            *outcome.lock().expect("outcome lock") = Some(verdict);
            next
        };
        store.update_bucket(subject, &update).await?;
        let verdict = outcome
            .into_inner()
            .expect("outcome lock")
            .expect("the update ran");
        Ok(Some(verdict?))
    }
}
