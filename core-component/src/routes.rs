//! Scope resolution: (method, path) -> what the route needs.
//!
//! Matching is exact and fails closed: no normalisation is applied, so a path
//! with an empty segment (`//`, trailing `/`), a dot segment (`.`, `..`, or
//! their percent-encoded forms) or an encoded separator is unknown, and
//! unknown means deny.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::policy::{Access, Seg, LEGACY_CURRENT, LEGACY_PREFIX, ROUTES};
use crate::types::Scope;

/// Longest path considered; anything longer is unknown.
pub const MAX_PATH: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Public,
    AnyDbKey,
    Scopes(Vec<Scope>),
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub requirement: Requirement,
    pub template: String,
    pub canonical_path: String,
    pub legacy: bool,
    pub resource_id: Option<String>,
    pub accepts_event_token: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: String,
    pub template: String,
    pub requirement: Requirement,
    pub accepts_event_token: bool,
}

fn requirement_of(access: Access) -> Requirement {
    match access {
        Access::Public => Requirement::Public,
        Access::AnyDbKey => Requirement::AnyDbKey,
        Access::Scopes(s) => Requirement::Scopes(s.to_vec()),
    }
}

fn unknown(canonical_path: String, legacy: bool) -> Resolution {
    Resolution {
        requirement: Requirement::Unknown,
        template: String::new(),
        canonical_path,
        legacy,
        resource_id: None,
        accepts_event_token: false,
    }
}

/// Maps a legacy `/api/...` path onto `/api/v1/...`. Returns the canonical
/// path and whether it was legacy.
pub fn canonicalize(path: &str) -> (String, bool) {
    let current = LEGACY_CURRENT;
    let prefix = LEGACY_PREFIX;
    let is_current = path == current
        || (path.starts_with(current) && path.as_bytes().get(current.len()) == Some(&b'/'));
    let is_legacy_shape =
        path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/');
    if !is_current && is_legacy_shape {
        let rest = &path[prefix.len()..];
        let mut s = String::with_capacity(current.len() + rest.len());
        s.push_str(current);
        s.push_str(rest);
        (s, true)
    } else {
        (path.to_string(), false)
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A segment is acceptable when it is non-empty printable ASCII, and its
/// percent-decoded form is neither a dot segment nor holds a separator or NUL.
fn segment_ok(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let bytes = seg.as_bytes();
    let mut decoded: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x21..=0x7e).contains(&b) {
            return false;
        }
        if b == b'%' {
            match (
                bytes.get(i + 1).copied().and_then(hex_val),
                bytes.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(h), Some(l)) => {
                    decoded.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => return false,
            }
        }
        decoded.push(b);
        i += 1;
    }
    if decoded == b"." || decoded == b".." {
        return false;
    }
    !decoded.iter().any(|&b| b == b'/' || b == b'\\' || b == 0)
}

/// Resolves a request. `HEAD` is treated as `GET`; method names are
/// case-sensitive, as HTTP says.
pub fn resolve(method: &str, path: &str) -> Resolution {
    if path.len() > MAX_PATH || !path.starts_with('/') {
        return unknown(String::new(), false);
    }
    let (canonical, legacy) = canonicalize(path);
    let method = if method == "HEAD" { "GET" } else { method };
    let segs: Vec<&str> = if canonical == "/" {
        Vec::new()
    } else {
        canonical[1..].split('/').collect()
    };
    if !segs.iter().all(|s| segment_ok(s)) {
        return unknown(canonical, legacy);
    }
    for route in ROUTES {
        if route.segments.len() != segs.len() || !route.methods.contains(&method) {
            continue;
        }
        let mut param = None;
        let matched = route.segments.iter().zip(&segs).all(|(t, s)| match t {
            Seg::Lit(l) => l == s,
            Seg::Param => {
                param = Some(*s);
                true
            }
        });
        if matched {
            return Resolution {
                requirement: requirement_of(route.access),
                template: route.template.to_string(),
                canonical_path: canonical.clone(),
                legacy,
                resource_id: param.map(str::to_string),
                accepts_event_token: route.event_token,
            };
        }
    }
    unknown(canonical, legacy)
}

/// The whole route table, one entry per method.
pub fn list_routes() -> Vec<RouteEntry> {
    ROUTES
        .iter()
        .flat_map(|r| {
            r.methods.iter().map(move |m| RouteEntry {
                method: m.to_string(),
                template: r.template.to_string(),
                requirement: requirement_of(r.access),
                accepts_event_token: r.event_token,
            })
        })
        .collect()
}

/// Every distinct route template of the table, sorted (one per path, whatever
/// its methods). Used by generators that build paths from the real routes
/// (the differential test and the fuzz targets).
pub fn templates() -> Vec<String> {
    let mut t: Vec<String> = ROUTES.iter().map(|r| r.template.to_string()).collect();
    t.sort();
    t.dedup();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str) -> Requirement {
        resolve(method, path).requirement
    }

    #[test]
    fn public_routes() {
        for p in ["/", "/health", "/ready", "/docs", "/redoc", "/openapi.json"] {
            assert_eq!(req("GET", p), Requirement::Public, "{p}");
            assert_eq!(req("HEAD", p), Requirement::Public, "{p}");
        }
    }

    #[test]
    fn spec_route_table() {
        use Scope::*;
        let cases: &[(&str, &str, Requirement)] = &[
            ("GET", "/api/v1/keys/me", Requirement::AnyDbKey),
            ("POST", "/api/v1/keys", Requirement::Scopes(vec![Admin])),
            ("GET", "/api/v1/keys", Requirement::Scopes(vec![Admin])),
            (
                "DELETE",
                "/api/v1/keys/abc",
                Requirement::Scopes(vec![Admin]),
            ),
            ("GET", "/api/v1/scans", Requirement::Scopes(vec![Read])),
            ("GET", "/api/v1/scans/x1", Requirement::Scopes(vec![Read])),
            (
                "GET",
                "/api/v1/scans/x1/findings",
                Requirement::Scopes(vec![Read]),
            ),
            (
                "POST",
                "/api/v1/scans/x1/event-token",
                Requirement::Scopes(vec![Read]),
            ),
            (
                "GET",
                "/api/v1/scans/x1/events",
                Requirement::Scopes(vec![Read]),
            ),
            ("POST", "/api/v1/scans", Requirement::Scopes(vec![Write])),
            (
                "POST",
                "/api/v1/scans/x1/cancel",
                Requirement::Scopes(vec![Write]),
            ),
            (
                "DELETE",
                "/api/v1/scans/x1",
                Requirement::Scopes(vec![Write]),
            ),
            ("GET", "/api/v1/webhooks", Requirement::Scopes(vec![Admin])),
            ("POST", "/api/v1/webhooks", Requirement::Scopes(vec![Admin])),
            (
                "GET",
                "/api/v1/webhooks/w",
                Requirement::Scopes(vec![Admin]),
            ),
            (
                "PATCH",
                "/api/v1/webhooks/w",
                Requirement::Scopes(vec![Admin]),
            ),
            (
                "DELETE",
                "/api/v1/webhooks/w",
                Requirement::Scopes(vec![Admin]),
            ),
            (
                "GET",
                "/api/v1/webhooks/w/deliveries",
                Requirement::Scopes(vec![Admin]),
            ),
            (
                "POST",
                "/api/v1/webhooks/w/test",
                Requirement::Scopes(vec![Admin]),
            ),
            ("GET", "/api/v1/policy", Requirement::Scopes(vec![Admin])),
            ("PUT", "/api/v1/policy", Requirement::Scopes(vec![Admin])),
            (
                "POST",
                "/api/v1/policy/rollback",
                Requirement::Scopes(vec![Admin]),
            ),
        ];
        for (m, p, want) in cases {
            assert_eq!(&req(m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn keys_me_is_not_a_key_id() {
        // `/keys/me` is only GET; DELETE /keys/me is revoking the key with id "me".
        let r = resolve("GET", "/api/v1/keys/me");
        assert_eq!(r.template, "/api/v1/keys/me");
        let r = resolve("DELETE", "/api/v1/keys/me");
        assert_eq!(r.template, "/api/v1/keys/{id}");
        assert_eq!(r.resource_id.as_deref(), Some("me"));
    }

    #[test]
    fn legacy_prefix_maps_to_v1() {
        let r = resolve("GET", "/api/scans/abc/events");
        assert!(r.legacy);
        assert_eq!(r.canonical_path, "/api/v1/scans/abc/events");
        assert_eq!(r.requirement, Requirement::Scopes(vec![Scope::Read]));
        assert_eq!(r.resource_id.as_deref(), Some("abc"));
        assert!(r.accepts_event_token);
        let r = resolve("GET", "/api/v1/scans");
        assert!(!r.legacy);
        assert_eq!(
            req("GET", "/api/keys"),
            Requirement::Scopes(vec![Scope::Admin])
        );
        // The legacy prefix never reaches public routes outside /api.
        assert_eq!(req("GET", "/api/health"), Requirement::Unknown);
        assert_eq!(req("GET", "/api"), Requirement::Unknown);
        assert_eq!(req("GET", "/apis/v1/scans"), Requirement::Unknown);
    }

    #[test]
    fn unknown_routes_fail_closed() {
        for (m, p) in [
            ("GET", "/api/v1/nope"),
            ("GET", "/api/v1/scans/"),
            ("GET", "/api/v1//scans"),
            ("GET", "/api/v1/keys/../keys"),
            ("GET", "/api/v1/scans/./events"),
            ("GET", "/api/v1/scans/%2e%2E/events"),
            ("GET", "/api/v1/scans/%2E/events"),
            ("GET", "/api/v1/scans/a%2fb"),
            ("GET", "/api/v1/scans/a%5Cb"),
            ("GET", "/api/v1/scans/a%00"),
            ("GET", "/api/v1/scans/a%zz"),
            ("GET", "/api/v1/scans/a%2"),
            ("GET", "/health/"),
            ("GET", "health"),
            ("GET", ""),
            ("get", "/health"),
            ("TRACE", "/health"),
            ("OPTIONS", "/api/v1/keys"),
            ("PUT", "/api/v1/keys"),
            ("GET", "/api/v1/scans/\u{e9}"),
            ("GET", "/api/v1/scans/a b"),
        ] {
            assert_eq!(req(m, p), Requirement::Unknown, "{m} {p:?}");
        }
        let long = format!("/api/v1/scans/{}", "a".repeat(MAX_PATH));
        assert_eq!(req("GET", &long), Requirement::Unknown);
    }

    #[test]
    fn encoded_ordinary_characters_are_fine_in_params() {
        let r = resolve("GET", "/api/v1/scans/a%20b");
        assert_eq!(r.resource_id.as_deref(), Some("a%20b"));
        assert_eq!(r.requirement, Requirement::Scopes(vec![Scope::Read]));
    }

    #[test]
    fn only_the_events_route_takes_tokens() {
        let with: Vec<_> = list_routes()
            .into_iter()
            .filter(|r| r.accepts_event_token)
            .collect();
        assert_eq!(with.len(), 1);
        assert_eq!(with[0].template, "/api/v1/scans/{id}/events");
    }

    #[test]
    fn list_routes_covers_each_method() {
        let all = list_routes();
        assert!(all
            .iter()
            .any(|r| r.method == "PATCH" && r.template == "/api/v1/webhooks/{id}"));
        assert!(all.iter().all(|r| r.requirement != Requirement::Unknown));
    }

    #[test]
    fn templates_are_the_distinct_templates_of_the_table() {
        let t = templates();
        let mut from_list: Vec<String> = list_routes().into_iter().map(|r| r.template).collect();
        from_list.sort();
        from_list.dedup();
        assert_eq!(t, from_list);
        assert!(t.iter().any(|x| x == "/api/v1/webhooks/{id}"));
    }
}
