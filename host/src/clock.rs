//! Wall-clock time for the host. The policy component never reads a clock:
//! every "now" it sees comes from here, as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// [`now_ms`] as the component's `u64` timestamps.
pub fn now_ms_u64() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

/// Whole seconds since the Unix epoch, as the component's token clock.
pub fn now_secs() -> u64 {
    now_ms_u64() / 1000
}
