//! Property tests of the HTTP edge that matters for access: reading the
//! credential off `X-API-Key` / `Authorization`, sanitising `X-Request-ID`,
//! and parsing the `event_token` query parameter.
//!
//! The pure functions are tested directly and fast (thousands of cases); the
//! extracted credential is then decided by the real policy component
//! (`BUILTIN_POLICY`) to show that no header value is an allow without the
//! valid key. A small black-box sample sends the same kinds of input to the
//! real binary and checks status, detail and the echoed request id.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::header::HeaderValue;
use securescan_host::http::credentials::{event_token, from_request};
use securescan_host::http::request_id;
use securescan_host::policy::wit::authn::{Credential, Facts, KeyRow, PrincipalKind};
use securescan_host::policy::wit::routes::Requirement;
use securescan_host::policy::wit::types::Scope;
use securescan_host::policy::{PolicyBuild, Runtime, RuntimeOptions, BUILTIN_POLICY};
use std::sync::LazyLock;

const ENV_KEY: &str = "env-key-7d3a9c1e5b2f8046a1c3e5d7f9b0a2c4";
const INVALID_KEY: &str = "Invalid API key";
const KEY_REQUIRED: &str = "X-API-Key header required";
const TOKEN_INVALID: &str = "Invalid or expired event token";
const TOKEN_ROUTE: &str = "Invalid event token route";

static POLICY: LazyLock<PolicyBuild> = LazyLock::new(|| {
    Runtime::new(RuntimeOptions::default())
        .expect("runtime")
        .load(BUILTIN_POLICY)
        .expect("built-in policy")
});

/// A real DB key, minted by the component from fixed bytes.
static KEY: LazyLock<(String, KeyRow)> = LazyLock::new(|| {
    let random: Vec<u8> = (0..96u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let m = POLICY
        .mint_key(&random)
        .expect("component call")
        .expect("enough random bytes");
    let row = KeyRow {
        id: m.id,
        stored_hash: m.stored_hash,
        scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
        revoked: false,
    };
    (m.key, row)
});

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(n)
    }
}

/// Bytes a header value may hold (what `HeaderValue::from_bytes` accepts):
/// visible ASCII, space, tab and any byte >= 0x80 (not UTF-8 necessarily).
fn arb_header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => 0x20u8..=0x7e,
        1 => Just(b'\t'),
        2 => 0x80u8..=0xff,
    ];
    prop_oneof![
        4 => prop::collection::vec(byte, 0..80),
        // Near misses of the real key: one byte changed, cut, padded.
        2 => (any::<prop::sample::Index>(), 0x21u8..=0x7e).prop_map(|(ix, b)| {
            let mut k = KEY.0.clone().into_bytes();
            let i = ix.index(k.len());
            k[i] = if k[i] == b { b'!' } else { b };
            k
        }),
        1 => any::<prop::sample::Index>().prop_map(|ix| {
            let k = KEY.0.as_bytes();
            k[..ix.index(k.len())].to_vec()
        }),
        1 => prop::sample::select(vec![" ", "  ", "\t"]).prop_map(|pad| {
            format!("{pad}{}{pad}", KEY.0).into_bytes()
        }),
        1 => prop::sample::select(vec![
            "", "ssk_", "ssk__", "Bearer", "bearer ", "null", "undefined", "\u{fffd}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn header(name: &str, value: &[u8]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
        http::HeaderValue::from_bytes(value).expect("strategy makes valid header bytes"),
    );
    h
}

/// Facts of a hardened server (env key and one DB key) for `GET /api/v1/scans`.
fn facts(credential: Credential) -> Facts {
    let r = POLICY
        .resolve("GET", "/api/v1/scans")
        .expect("component call");
    Facts {
        requirement: r.requirement,
        accepts_event_token: r.accepts_event_token,
        resource_id: r.resource_id,
        credential,
        env_key: Some(ENV_KEY.into()),
        row: Some(KEY.1.clone()),
        db_key_exists: true,
        auth_required: true,
        event_secret: EVENT_SECRET.as_bytes().to_vec(),
        now: 1_700_000_000,
    }
}

/// The extracted key text if the credential carries one.
fn key_text(c: &Credential) -> Option<&str> {
    match c {
        Credential::ApiKey(k) | Credential::Bearer(k) => Some(k),
        _ => None,
    }
}

proptest! {
    #![proptest_config(cases(3_000))]

    /// Any `X-API-Key` value is a presented key: it is never dropped (which
    /// would fall through to dev mode), and it is kept as sent (lossy UTF-8).
    #[test]
    fn x_api_key_is_always_a_presented_key(v in arb_header_bytes(), query in ".{0,20}") {
        let c = from_request(&header("x-api-key", &v), Some(&query));
        prop_assert_eq!(c, Credential::ApiKey(String::from_utf8_lossy(&v).into_owned()));
    }

    /// `Authorization`: a bearer key exactly when the scheme is `bearer` in
    /// any case; every other scheme is no credential at all.
    #[test]
    fn authorization_is_bearer_or_nothing(v in arb_header_bytes(), scheme in prop::sample::select(vec!["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", "Bearer:", ""])) {
        let mut raw = scheme.as_bytes().to_vec();
        raw.push(b' ');
        raw.extend_from_slice(&v);
        let c = from_request(&header("authorization", &raw), None);
        if scheme.eq_ignore_ascii_case("bearer") {
            prop_assert_eq!(c, Credential::Bearer(String::from_utf8_lossy(&v).trim().to_string()));
        } else {
            prop_assert_eq!(c, Credential::None);
        }
        // The header alone, whatever it holds, parses too.
        let _ = from_request(&header("authorization", &v), None);
    }

    /// No header value is an allow unless the extracted text is exactly a
    /// valid key; every refusal of a presented key is 401 `Invalid API key`.
    #[test]
    fn no_header_value_allows_without_a_valid_key(v in arb_header_bytes(), bearer in any::<bool>()) {
        let h = if bearer {
            let mut raw = b"Bearer ".to_vec();
            raw.extend_from_slice(&v);
            header("authorization", &raw)
        } else {
            header("x-api-key", &v)
        };
        let c = from_request(&h, None);
        let presented = key_text(&c).map(str::to_string);
        let verdict = POLICY.authenticate(&facts(c)).expect("component call (trap = finding)");
        match verdict {
            Ok(p) => {
                let k = presented.expect("allowed without a presented key");
                prop_assert!(k == KEY.0 || k == ENV_KEY, "allowed with {:?}", k);
                prop_assert!(matches!(p.kind, PrincipalKind::DbKey | PrincipalKind::Env));
            }
            Err(d) => {
                prop_assert_eq!(d.status, 401);
                let want = if presented.is_some() { INVALID_KEY } else { KEY_REQUIRED };
                prop_assert_eq!(d.detail.as_str(), want);
                prop_assert!(d.challenge);
            }
        }
    }

    /// The request id used (and echoed) is always 1-128 chars of
    /// `[A-Za-z0-9._-]`; an acceptable one is kept as sent.
    #[test]
    fn request_id_is_always_sanitised(v in prop_oneof![
        3 => arb_header_bytes(),
        2 => "[A-Za-z0-9._-]{1,140}".prop_map(String::into_bytes),
        1 => "[A-Za-z0-9._ -]{0,130}".prop_map(String::into_bytes),
    ]) {
        let id = request_id::from_headers(&header(request_id::HEADER, &v));
        let acceptable = |s: &[u8]| {
            (1..=128).contains(&s.len())
                && s.iter().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
        };
        prop_assert!(acceptable(id.as_bytes()), "{:?}", id);
        prop_assert!(request_id::valid(&id));
        if acceptable(&v) {
            prop_assert_eq!(id.as_bytes(), &v[..]);
        } else {
            prop_assert_ne!(id.as_bytes(), &v[..]);
        }
        prop_assert_eq!(request_id::valid(&String::from_utf8_lossy(&v)), acceptable(&v));
    }

    /// Query parsing never panics; a token set by a form encoder comes back
    /// exactly, the first `event_token` wins, and look-alike names do not count.
    #[test]
    fn event_token_query_round_trips(
        token in ".{0,60}",
        second in ".{0,10}",
        before in prop::collection::vec(("[a-z_]{0,12}", ".{0,10}"), 0..4),
        raw in ".{0,80}",
    ) {
        let _ = event_token(&raw);
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &before {
            if k != "event_token" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("event_token", &token);
        q.append_pair("event_token", &second);
        let q = q.finish();
        prop_assert_eq!(event_token(&q), Some(token.clone()));
        prop_assert_eq!(from_request(&http::HeaderMap::new(), Some(&q)), Credential::EventToken(token));
        let look_alike = q.replace("event_token=", "event_tokens=");
        prop_assert_eq!(event_token(&look_alike), None);
    }

    /// Any `event_token` text is refused with the SPEC detail: `Invalid or
    /// expired event token` on the events route, `Invalid event token route`
    /// anywhere else. Never 500, never an allow.
    #[test]
    fn event_token_garbage_is_refused_with_spec_details(raw in ".{0,80}", token in prop_oneof![
        ".{0,80}",
        "[A-Za-z0-9_=-]{0,200}",
    ]) {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("event_token", &token);
        let q = q.finish();
        for query in [q.as_str(), raw.as_str()] {
            let Credential::EventToken(t) = from_request(&http::HeaderMap::new(), Some(query)) else {
                continue;
            };
            for (path, want) in [
                ("/api/v1/scans/scan-1/events", TOKEN_INVALID),
                ("/api/scans/scan-1/events", TOKEN_INVALID),
                ("/api/v1/scans", TOKEN_ROUTE),
                ("/api/v1/keys", TOKEN_ROUTE),
            ] {
                let r = POLICY.resolve("GET", path).expect("component call");
                prop_assert!(r.requirement != Requirement::Unknown);
                let f = Facts {
                    requirement: r.requirement,
                    accepts_event_token: r.accepts_event_token,
                    resource_id: r.resource_id,
                    ..facts(Credential::EventToken(t.clone()))
                };
                let d = POLICY
                    .authenticate(&f)
                    .expect("component call (trap = finding)")
                    .expect_err("a garbage token was allowed");
                prop_assert_eq!((d.status, d.detail.as_str()), (401, want), "{} {:?}", path, t);
            }
        }
    }
}

// ------------------------------------------------------------ black box --

/// Draws `n` values from a strategy with a fixed seed (reproducible).
fn sample<S: Strategy>(s: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    (0..n)
        .map(|_| s.new_tree(&mut runner).expect("value").current())
        .collect()
}

#[tokio::test]
async fn black_box_sample_of_headers_and_tokens() {
    let app = TestApp::spawn(&[
        ("SECURESCAN_API_KEY", ENV_KEY),
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
    ])
    .await;
    let values = sample(arb_header_bytes(), 40);

    for v in &values {
        // The server sees header values with surrounding whitespace trimmed
        // (HTTP/1.1); only the exact env key is an allow, and none is sent.
        let text = String::from_utf8_lossy(v);
        if text.trim() == ENV_KEY {
            continue;
        }
        let hv = HeaderValue::from_bytes(v).expect("valid header bytes");
        let ctx = format!("X-API-Key {v:?}");
        let resp = send(
            app.request(reqwest::Method::GET, "/api/v1/scans", None)
                .header("X-API-Key", hv.clone()),
        )
        .await;
        assert_detail(resp, 401, INVALID_KEY, &ctx).await;

        let mut bearer = b"Bearer ".to_vec();
        bearer.extend_from_slice(v);
        let resp = send(
            app.request(reqwest::Method::GET, "/api/v1/scans", None)
                .header("Authorization", HeaderValue::from_bytes(&bearer).unwrap()),
        )
        .await;
        // `Bearer` with nothing after it is an empty presented key: still 401.
        assert_detail(
            resp,
            401,
            INVALID_KEY,
            &format!("Authorization: Bearer {v:?}"),
        )
        .await;

        // The same bytes as a request id: the echo is always sanitised.
        let resp = send(
            app.request(reqwest::Method::GET, "/health", None)
                .header("X-Request-ID", hv),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let echoed = resp
            .headers()
            .get("x-request-id")
            .expect("request id echoed")
            .to_str()
            .expect("ASCII")
            .to_string();
        assert!(request_id::valid(&echoed), "{echoed:?} for {v:?}");
        if request_id::valid(&text) {
            assert_eq!(echoed, text);
        }
    }

    // Other Authorization schemes are no credential.
    let resp = send(
        app.request(reqwest::Method::GET, "/api/v1/scans", None)
            .header("Authorization", "Basic dXNlcjpwYXNz"),
    )
    .await;
    assert_detail(resp, 401, KEY_REQUIRED, "Authorization: Basic").await;

    // event_token garbage, percent-encoded by the client.
    for t in sample(".{0,60}", 15) {
        for (path, want) in [
            ("/api/v1/scans/scan-1/events", TOKEN_INVALID),
            ("/api/v1/scans", TOKEN_ROUTE),
        ] {
            let resp = send(
                app.request(reqwest::Method::GET, path, None)
                    .query(&[("event_token", &t)]),
            )
            .await;
            assert_detail(resp, 401, want, &format!("GET {path}?event_token={t:?}")).await;
        }
    }
}
