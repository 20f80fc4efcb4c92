//! Route resolution with arbitrary methods and paths: percent-encoding,
//! dot segments, `//`, trailing slashes, the legacy prefix, very long paths.
//!
//! Properties, beyond "no panic":
//! - an unknown route is never allowed, whatever the credential (the full
//!   decision is run with the env key presented);
//! - a known route's path is well formed: starts with `/`, at most MAX_PATH
//!   long, no empty segment, no (encoded) dot segment or encoded separator;
//!   its template with the parameter filled in is exactly the canonical path;
//!   the (method, template) pair is in the route table;
//! - the legacy prefix `/api/x` resolves exactly as `/api/v1/x`;
//! - `HEAD` resolves as `GET`; answers are the same when asked twice.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use securescan_core::authn::{self, Credential, Facts};
use securescan_core::routes::{self, Requirement};
use securescan_core::types::detail;
use securescan_core_fuzz::{MethodInput, PathInput};
use std::sync::LazyLock;

#[derive(Arbitrary, Debug)]
struct Input {
    method: MethodInput,
    path: PathInput,
}

static TABLE: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    routes::list_routes()
        .into_iter()
        .map(|e| (e.method, e.template))
        .collect()
});

fn decodes_to_dot_or_separator(seg: &str) -> bool {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = seg.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out == b"." || out == b".." || out.iter().any(|&c| c == b'/' || c == b'\\' || c == 0)
}

fuzz_target!(|i: Input| {
    let method = i.method.build();
    let path = i.path.build();
    let r = routes::resolve(&method, &path);
    assert_eq!(
        r,
        routes::resolve(&method, &path),
        "resolve is deterministic"
    );
    if method == "HEAD" {
        assert_eq!(r, routes::resolve("GET", &path));
    }

    if r.requirement == Requirement::Unknown {
        assert!(r.template.is_empty() && r.resource_id.is_none() && !r.accepts_event_token);
        // Never allow: not even the env key passes an unknown route.
        let env = "fuzz-env-key".to_string();
        let facts = Facts {
            requirement: r.requirement.clone(),
            accepts_event_token: r.accepts_event_token,
            resource_id: r.resource_id.clone(),
            credential: Credential::ApiKey(env.clone()),
            env_key: Some(env),
            row: None,
            db_key_exists: false,
            auth_required: false,
            event_secret: b"s".to_vec(),
            now: 0,
        };
        let d = authn::authenticate(&facts).expect_err("an unknown route was allowed");
        assert_eq!((d.status, d.detail.as_str()), (404, detail::NOT_FOUND));
        let dev = Facts {
            credential: Credential::None,
            env_key: None,
            ..facts
        };
        assert!(
            authn::authenticate(&dev).is_err(),
            "dev mode allowed an unknown route"
        );
    } else {
        assert!(
            path.starts_with('/') && path.len() <= routes::MAX_PATH,
            "{path:?}"
        );
        if path != "/" {
            for seg in path[1..].split('/') {
                assert!(!seg.is_empty(), "empty segment accepted: {path:?}");
                assert!(
                    seg.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                    "non-printable segment accepted: {path:?}"
                );
                assert!(
                    !decodes_to_dot_or_separator(seg),
                    "dot segment or encoded separator accepted: {path:?}"
                );
            }
        }
        let filled = match &r.resource_id {
            Some(id) => {
                assert!(r.template.contains("{id}"));
                r.template.replace("{id}", id)
            }
            None => {
                assert!(!r.template.contains("{id}"));
                r.template.clone()
            }
        };
        assert_eq!(filled, r.canonical_path, "template does not match the path");
        let m = if method == "HEAD" {
            "GET"
        } else {
            method.as_str()
        };
        assert!(
            TABLE.iter().any(|(tm, tt)| tm == m && *tt == r.template),
            "({m}, {}) not in the route table",
            r.template
        );
        if r.legacy {
            assert!(path.starts_with("/api/") && !path.starts_with("/api/v1/"));
            assert_eq!(r.canonical_path, format!("/api/v1{}", &path[4..]));
        } else {
            assert_eq!(r.canonical_path, path);
        }
    }

    // Legacy equivalence: /api/<rest> is /api/v1/<rest>.
    if let Some(rest) = path.strip_prefix("/api/") {
        if !(rest == "v1" || rest.starts_with("v1/")) {
            let current = format!("/api/v1/{rest}");
            if current.len() <= routes::MAX_PATH {
                let c = routes::resolve(&method, &current);
                assert!(r.legacy);
                assert_eq!(r.requirement, c.requirement, "{path:?} vs {current:?}");
                assert_eq!(r.template, c.template);
                assert_eq!(r.resource_id, c.resource_id);
                assert_eq!(r.accepts_event_token, c.accepts_event_token);
                assert_eq!(r.canonical_path, c.canonical_path);
            }
        }
    }
});
