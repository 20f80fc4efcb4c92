//! Token bucket arithmetic shared by the server and the edge.
//!
//! The level is kept in 1/60000ths of a token: with a rate of `per_minute`
//! tokens per 60000 ms, one millisecond refills exactly `per_minute` units, so
//! everything is exact integer arithmetic with no drift between callers.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::policy::{RATE_BURST, RATE_PER_MINUTE};

pub const UNITS_PER_TOKEN: u64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub level: u64,
    pub updated_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub state: Bucket,
    pub limit: u32,
    pub remaining: u32,
    pub retry_after: u32,
    pub reset_after: u32,
}

pub fn default_limits() -> Limits {
    Limits {
        per_minute: RATE_PER_MINUTE,
        burst: RATE_BURST,
    }
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

fn secs(ms: u64) -> u32 {
    u32::try_from(ceil_div(ms, 1000)).unwrap_or(u32::MAX)
}

/// Takes one token. A missing bucket starts full. A clock that goes backwards
/// refills nothing. A zero rate or burst refuses everything (it never divides
/// by zero).
pub fn take(state: Option<Bucket>, limits: Limits, now_ms: u64) -> Verdict {
    let rate = u64::from(limits.per_minute);
    let cap = u64::from(limits.burst) * UNITS_PER_TOKEN;
    let (level, updated) = match state {
        Some(b) => (b.level.min(cap), b.updated_ms),
        None => (cap, now_ms),
    };
    let elapsed = now_ms.saturating_sub(updated);
    let level = level.saturating_add(elapsed.saturating_mul(rate)).min(cap);
    let updated = updated.max(now_ms);
    let allowed = level >= UNITS_PER_TOKEN;
    let level = if allowed {
        level - UNITS_PER_TOKEN
    } else {
        level
    };
    let (retry_after, reset_after) = if rate == 0 {
        (
            if allowed { 0 } else { u32::MAX },
            if level == cap { 0 } else { u32::MAX },
        )
    } else {
        (
            if allowed {
                0
            } else {
                secs(ceil_div(UNITS_PER_TOKEN - level, rate))
            },
            secs(ceil_div(cap - level, rate)),
        )
    };
    Verdict {
        allowed,
        state: Bucket {
            level,
            updated_ms: updated,
        },
        limit: limits.burst,
        remaining: u32::try_from(level / UNITS_PER_TOKEN).unwrap_or(u32::MAX),
        retry_after,
        reset_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        per_minute: 60,
        burst: 10,
    };

    #[test]
    fn defaults_from_policy() {
        assert_eq!(default_limits(), L);
    }

    #[test]
    fn burst_then_refuse_then_refill() {
        let mut s = None;
        for i in 0..10 {
            let v = take(s, L, 0);
            assert!(v.allowed, "request {i}");
            assert_eq!(v.remaining, 9 - i);
            s = Some(v.state);
        }
        let v = take(s, L, 0);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, 1);
        assert_eq!(v.reset_after, 10);
        // one second at 60/min refills one token
        let v = take(s, L, 1000);
        assert!(v.allowed);
        assert_eq!(v.remaining, 0);
        let v2 = take(Some(v.state), L, 1000);
        assert!(!v2.allowed);
    }

    #[test]
    fn slow_rates_do_not_lose_fractions() {
        let l = Limits {
            per_minute: 1,
            burst: 1,
        };
        let mut s = Some(take(None, l, 0).state);
        // 60 calls one second apart: the 60th second refills exactly one token
        for t in 1..60u64 {
            let v = take(s, l, t * 1000);
            assert!(!v.allowed, "t={t}");
            s = Some(v.state);
        }
        assert!(take(s, l, 60_000).allowed);
    }

    #[test]
    fn clock_going_backwards_refills_nothing() {
        let v = take(
            None,
            Limits {
                per_minute: 60,
                burst: 1,
            },
            10_000,
        );
        let v = take(
            Some(v.state),
            Limits {
                per_minute: 60,
                burst: 1,
            },
            0,
        );
        assert!(!v.allowed);
        assert_eq!(v.state.updated_ms, 10_000);
    }

    #[test]
    fn zero_limits_refuse_without_panicking() {
        let v = take(
            None,
            Limits {
                per_minute: 0,
                burst: 0,
            },
            5,
        );
        assert!(!v.allowed);
        let v = take(
            Some(v.state),
            Limits {
                per_minute: 0,
                burst: 0,
            },
            u64::MAX,
        );
        assert!(!v.allowed);
        let v = take(
            Some(Bucket {
                level: u64::MAX,
                updated_ms: 0,
            }),
            Limits {
                per_minute: u32::MAX,
                burst: u32::MAX,
            },
            u64::MAX,
        );
        assert!(v.allowed);
    }
}
