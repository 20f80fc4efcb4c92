//! The token bucket over arbitrary limits, states and clocks.
//!
//! Properties, beyond "no panic" (no overflow, no division by zero):
//! - the level never exceeds the burst; `remaining` is the whole tokens left;
//!   `limit` is the burst;
//! - an allowed request has `retry_after == 0`; a refused one leaves less
//!   than one token;
//! - the clock never goes backwards in the state, and a clock that goes
//!   backwards refills nothing;
//! - a zero burst refuses everything;
//! - starting from nothing, no sequence of requests gets more than
//!   burst + rate * elapsed / 60000 tokens;
//! - the same call gives the same answer.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use securescan_core::ratelimit::{self, Bucket, Limits, UNITS_PER_TOKEN};

#[derive(Arbitrary, Debug)]
struct Input {
    per_minute: u32,
    burst: u32,
    small: bool,
    start: Option<(u64, u64)>,
    t0: u64,
    steps: Vec<i32>,
}

fuzz_target!(|i: Input| {
    let limits = if i.small {
        Limits {
            per_minute: i.per_minute % 200,
            burst: i.burst % 20,
        }
    } else {
        Limits {
            per_minute: i.per_minute,
            burst: i.burst,
        }
    };
    let cap = u64::from(limits.burst) * UNITS_PER_TOKEN;
    let mut state = i
        .start
        .map(|(level, updated_ms)| Bucket { level, updated_ms });
    let fresh = state.is_none();
    let mut now = i.t0;
    let mut max_now = now;
    let mut allowed: u128 = 0;
    for step in i.steps.iter().take(64) {
        let v = ratelimit::take(state, limits, now);
        assert_eq!(
            v,
            ratelimit::take(state, limits, now),
            "take is deterministic"
        );
        assert!(v.state.level <= cap, "level above burst: {v:?}");
        assert_eq!(v.limit, limits.burst);
        assert_eq!(
            u64::from(v.remaining),
            v.state.level / UNITS_PER_TOKEN,
            "{v:?}"
        );
        if v.allowed {
            allowed += 1;
            assert_eq!(v.retry_after, 0);
            assert!(limits.burst > 0, "a zero burst allowed a request");
        } else {
            assert!(
                v.state.level < UNITS_PER_TOKEN,
                "refused with a token left: {v:?}"
            );
            assert!(v.retry_after > 0);
        }
        if let Some(prev) = state {
            assert!(
                v.state.updated_ms >= prev.updated_ms,
                "state clock went back"
            );
            assert!(v.state.updated_ms >= now);
            if now <= prev.updated_ms {
                // No time passed (or it went back): nothing refilled.
                let before = prev.level.min(cap);
                let took = if v.allowed { UNITS_PER_TOKEN } else { 0 };
                assert_eq!(
                    v.state.level + took,
                    before,
                    "refilled without time passing"
                );
            }
        }
        state = Some(v.state);
        max_now = max_now.max(now);
        now = now.saturating_add_signed(i64::from(*step));
    }
    if fresh {
        let elapsed = u128::from(max_now - i.t0);
        let earned = u128::from(limits.burst)
            + (elapsed * u128::from(limits.per_minute)) / u128::from(UNITS_PER_TOKEN);
        assert!(allowed <= earned, "{allowed} allowed, {earned} earned");
    }
});
