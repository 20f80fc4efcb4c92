//! Counters of the edge: one atomic per rejection reason, plus forwarded
//! requests. Served as JSON on `GET /edge/metrics` by the edge itself.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why the edge answered a request itself instead of forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// 404 `Not Found`: the policy does not name the route.
    UnknownRoute,
    /// 401 `X-API-Key header required`.
    KeyRequired,
    /// 401 `Invalid API key`: fails the format or checksum (or a wrong env key).
    InvalidKey,
    /// 401 `Invalid event token route`.
    TokenRoute,
    /// 401 `Invalid or expired event token` (forged, tampered, expired).
    InvalidEventToken,
    /// 401 `Token does not match scan id`.
    TokenScanMismatch,
    /// Any other denial of the policy (e.g. 404 `Not authenticated via DB key`
    /// for the env key on `/api/v1/keys/me`).
    OtherDenial,
    /// 429 `Rate limit exceeded`.
    RateLimited,
    /// 503 `Policy unavailable`: the component failed.
    PolicyUnavailable,
    /// 502 `Upstream unavailable`.
    UpstreamUnavailable,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::UnknownRoute,
        Reason::KeyRequired,
        Reason::InvalidKey,
        Reason::TokenRoute,
        Reason::InvalidEventToken,
        Reason::TokenScanMismatch,
        Reason::OtherDenial,
        Reason::RateLimited,
        Reason::PolicyUnavailable,
        Reason::UpstreamUnavailable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::UnknownRoute => "unknown_route",
            Reason::KeyRequired => "key_required",
            Reason::InvalidKey => "invalid_key",
            Reason::TokenRoute => "token_route",
            Reason::InvalidEventToken => "invalid_event_token",
            Reason::TokenScanMismatch => "token_scan_mismatch",
            Reason::OtherDenial => "other_denial",
            Reason::RateLimited => "rate_limited",
            Reason::PolicyUnavailable => "policy_unavailable",
            Reason::UpstreamUnavailable => "upstream_unavailable",
        }
    }

    /// The reason of a policy denial, by its exact detail.
    pub fn of_denial(detail: &str) -> Reason {
        match detail {
            "Not Found" => Reason::UnknownRoute,
            "X-API-Key header required" => Reason::KeyRequired,
            "Invalid API key" => Reason::InvalidKey,
            "Invalid event token route" => Reason::TokenRoute,
            "Invalid or expired event token" => Reason::InvalidEventToken,
            "Token does not match scan id" => Reason::TokenScanMismatch,
            _ => Reason::OtherDenial,
        }
    }

    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).expect("listed")
    }
}

#[derive(Default)]
pub struct Metrics {
    rejections: [AtomicU64; 10],
    pub forwarded: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl Metrics {
    pub fn reject(&self, r: Reason) {
        self.rejections[r.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, r: Reason) -> u64 {
        self.rejections[r.index()].load(Ordering::Relaxed)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut by = serde_json::Map::new();
        let mut total = 0;
        for r in Reason::ALL {
            let n = self.rejected(r);
            total += n;
            by.insert(r.name().into(), n.into());
        }
        serde_json::json!({
            "rejections": by,
            "rejections_total": total,
            "forwarded": self.forwarded.load(Ordering::Relaxed),
            "policy_reloads": self.reloads.load(Ordering::Relaxed),
            "policy_reload_failures": self.reload_failures.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_reason() {
        let m = Metrics::default();
        m.reject(Reason::InvalidKey);
        m.reject(Reason::InvalidKey);
        m.reject(Reason::of_denial("Token does not match scan id"));
        let j = m.to_json();
        assert_eq!(j["rejections"]["invalid_key"], 2);
        assert_eq!(j["rejections"]["token_scan_mismatch"], 1);
        assert_eq!(j["rejections"]["unknown_route"], 0);
        assert_eq!(j["rejections_total"], 3);
        assert_eq!(Reason::of_denial("Requires scope: x"), Reason::OtherDenial);
    }
}
