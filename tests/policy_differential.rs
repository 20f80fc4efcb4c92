//! Differential test: the native `securescan_core` functions and the built
//! policy component (`BUILTIN_POLICY`, run by wasmtime through the host's
//! `Runtime`) must give identical answers for the same inputs, for every
//! exported function of `wit/policy.wit`.
//!
//! Inputs are generated natively, converted to the WIT binding types with
//! explicit conversion functions, and the component's answers converted back
//! to the native types before comparing. Every conversion destructures its
//! input completely, so a field or case added to the WIT or to the native
//! types breaks this file's build instead of silently going untested.
//!
//! A failed component call (trap, out of fuel, ...) fails the test: it is
//! never treated as "no answer".
//!
//! The component is compiled and loaded once per test binary and shared by
//! all tests (the runtime keeps a small pool of instances, so the tests may
//! run in parallel).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::sample::Index;
use securescan_core::{authn, info, keys, lifecycle, ratelimit, routes, tokens, types};
use securescan_host::policy::{PolicyBuild, Runtime, RuntimeOptions, BUILTIN_POLICY};

#[path = "support/policy_convert.rs"]
mod convert;
use convert::*;
use sha2::Sha256;
use std::sync::LazyLock;

// ---------------------------------------------------------------------------
// The component under test
// ---------------------------------------------------------------------------

static H: LazyLock<PolicyBuild> = LazyLock::new(|| {
    Runtime::new(RuntimeOptions::default())
        .expect("runtime")
        .load(BUILTIN_POLICY)
        .expect("load the built-in policy")
});

fn b() -> &'static PolicyBuild {
    &H
}

/// Unwraps a component call: an error (trap, deadline, ...) fails the test.
#[track_caller]
fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("component call {what} failed (trap/error): {e}"),
    }
}

fn wasm_hash_key(key: &str, salt: &[u8]) -> String {
    ok(convert::w_hash_key(b(), key, salt), "hash-key")
}

// ---------------------------------------------------------------------------
// The component's side of every function, in native types
// ---------------------------------------------------------------------------

fn w_resolve(method: &str, path: &str) -> routes::Resolution {
    ok(convert::w_resolve(b(), method, path), "resolve")
}

fn w_parse_key(key: &str) -> Option<keys::ParsedKey> {
    ok(convert::w_parse_key(b(), key), "parse-key")
}

fn w_mint_key(random: &[u8]) -> Result<MintedTuple, String> {
    ok(convert::w_mint_key(b(), random), "mint-key")
}

fn w_verify_key(key: &str, stored: &str) -> bool {
    ok(convert::w_verify_key(b(), key, stored), "verify-key")
}

fn w_scopes_for_new_key(req: Option<&[String]>) -> Result<Vec<types::Scope>, types::Denial> {
    ok(
        convert::w_scopes_for_new_key(b(), req),
        "scopes-for-new-key",
    )
}

fn w_effective_scopes(s: &[types::Scope]) -> Vec<types::Scope> {
    ok(convert::w_effective_scopes(b(), s), "effective-scopes")
}

fn w_mint_token(secret: &[u8], scan: &str, key: &str, now: u64) -> String {
    ok(
        convert::w_mint_token(b(), secret, scan, key, now),
        "mint-token",
    )
}

fn w_verify_token(
    secret: &[u8],
    token: &str,
    scan: &str,
    now: u64,
) -> Result<tokens::Claims, types::Denial> {
    ok(
        convert::w_verify_token(b(), secret, token, scan, now),
        "verify-token",
    )
}

fn w_peek_key_id(token: &str) -> Option<String> {
    ok(convert::w_peek_key_id(b(), token), "peek-key-id")
}

fn w_authenticate(f: &authn::Facts) -> Result<authn::Principal, types::Denial> {
    ok(convert::w_authenticate(b(), f), "authenticate")
}

fn w_may_revoke(f: &lifecycle::RevokeFacts) -> Result<(), types::Denial> {
    ok(convert::w_may_revoke(b(), f), "may-revoke")
}

fn w_startup(f: &lifecycle::StartupFacts) -> Result<lifecycle::StartupOk, lifecycle::Fatal> {
    ok(convert::w_startup(b(), f), "startup")
}

fn w_take(
    state: Option<ratelimit::Bucket>,
    limits: ratelimit::Limits,
    now: u64,
) -> ratelimit::Verdict {
    ok(convert::w_take(b(), state, limits, now), "take")
}

// ---------------------------------------------------------------------------
// Fixtures and input helpers
// ---------------------------------------------------------------------------

fn seed_bytes(seed: u8) -> Vec<u8> {
    (0..96u32)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).rotate_left(3))
        .collect()
}

/// A few keys minted natively from fixed bytes: rows, env keys and
/// credentials are drawn from this small pool so that they often match.
static POOL: LazyLock<Vec<keys::MintedKey>> = LazyLock::new(|| {
    (1..=3u8)
        .map(|s| keys::mint_key(&seed_bytes(s)).expect("fixture key"))
        .collect()
});

const POOL_LEN: usize = 3;

/// The route templates of the native table (the list itself is compared with
/// the component's in `list_routes_are_identical`).
static TEMPLATES: LazyLock<Vec<String>> = LazyLock::new(routes::templates);

/// Replaces the character at `ix` (a char index chosen within the length).
fn flip_char(s: &str, ix: &Index, c: char) -> String {
    let n = s.chars().count();
    if n == 0 {
        return c.to_string();
    }
    flip_char_at(s, ix.index(n), c)
}

/// Replaces the `i`-th character.
fn flip_char_at(s: &str, i: usize, c: char) -> String {
    s.chars()
        .enumerate()
        .map(|(j, o)| if j == i { c } else { o })
        .collect()
}

/// Inserts `ins` at a char boundary chosen by `ix`.
fn insert_at(s: &str, ix: &Index, ins: &str) -> String {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    let at = bounds[ix.index(bounds.len())];
    format!("{}{}{}", &s[..at], ins, &s[at..])
}

/// Cuts the string at a char boundary chosen by `ix`.
fn truncate_at(s: &str, ix: &Index) -> String {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    s[..bounds[ix.index(bounds.len())]].to_string()
}

fn sign(secret: &[u8], payload: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
    m.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// A token built by hand, correctly signed, with arbitrary field contents.
fn crafted_token(secret: &[u8], scan: &str, key: &str, exp: &str) -> String {
    let payload = format!("{scan}|{key}|{exp}");
    let sig = sign(secret, &payload);
    URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"))
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        // Shrunk failures are printed; no regression files are written next
        // to the sources.
        failure_persistence: None,
        ..ProptestConfig::with_cases(n)
    }
}

fn arb_scope() -> impl Strategy<Value = types::Scope> {
    prop::sample::select(types::Scope::ALL.to_vec())
}

fn arb_scopes() -> impl Strategy<Value = Vec<types::Scope>> {
    prop::collection::vec(arb_scope(), 0..5)
}

/// Arbitrary text: plain ids, printable ASCII, any unicode, separators.
fn arb_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[A-Za-z0-9_-]{0,12}",
        2 => "[ -~]{0,16}",
        2 => ".{0,12}",
        1 => "[|a-z0-9]{0,10}",
        1 => prop::sample::select(vec!["", "env", "dev", "|", "||", "a|b", "é", "\u{0}", "ssk_"])
            .prop_map(String::from),
    ]
    .boxed()
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        1 => Just(0u64),
        1 => Just(1u64),
        1 => Just(u64::MAX),
        2 => (u64::MAX - 1_000_000)..=u64::MAX,
        3 => 0u64..10_000_000,
        2 => (0u64..=40).prop_map(|t| t * 60_000),
        2 => 1_600_000_000_000u64..1_900_000_000_000,
    ]
}

fn arb_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => any::<u32>(),
        1 => Just(0u32),
        1 => Just(1u32),
        1 => Just(u32::MAX),
        1 => (u32::MAX - 10)..=u32::MAX,
        4 => 0u32..200,
    ]
}

/// Unix seconds: realistic values and the extremes.
fn arb_now() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1_600_000_000u64..1_900_000_000,
        1 => any::<u64>(),
        1 => Just(0u64),
        1 => 0u64..1000,
        1 => Just(u64::MAX),
        1 => (u64::MAX - 700)..=u64::MAX,
    ]
}

fn arb_method() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
        ])
        .prop_map(String::from),
        2 => prop::sample::select(vec![
            "get", "post", "put", "patch", "delete", "head", "Get", "gET", "GET ", " GET", "",
        ])
        .prop_map(String::from),
        1 => "[A-Za-z]{0,8}",
        1 => ".{0,6}",
    ]
}

/// Values substituted for a `{param}` segment.
fn arb_param() -> BoxedStrategy<String> {
    let pieces = vec![
        ".", "..", "", "%2e", "%2E", "%2e%2E", "%2f", "%2F", "%00", "%zz", "%2", "%", "%5c", "%5C",
        "%20", "a%20b", "%41", "a%2fb", "%ff", "%C3%A9", "~", "é", "\u{0}", " ", "\t", "/", "\\",
        "?", "#", "me", "abc", "_", "-",
    ];
    prop_oneof![
        4 => "[A-Za-z0-9_-]{1,12}",
        1 => Just("me".to_string()),
        2 => prop::sample::select(pieces.clone()).prop_map(String::from),
        2 => prop::collection::vec(prop::sample::select(pieces), 1..5)
            .prop_map(|v| v.concat()),
        2 => "[ -~]{0,12}",
        2 => ".{0,12}",
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum Mangle {
    /// `/api/v1/...` -> `/api/...`
    Legacy,
    TrailingSlash,
    /// Doubles one `/`.
    DoubleSlash(Index),
    /// Adds a dot segment (or an encoded one) after one `/`.
    DotSegment(Index, &'static str),
    /// Inserts arbitrary text anywhere.
    Insert(Index, String),
    /// Makes the path long (around and beyond `MAX_PATH`).
    Pad(usize),
    Truncate(Index),
    DropLeadingSlash,
    Uppercase,
    /// Replaces the whole path.
    Replace(String),
}

fn arb_mangle() -> BoxedStrategy<Mangle> {
    prop_oneof![
        4 => Just(Mangle::Legacy),
        1 => Just(Mangle::TrailingSlash),
        1 => any::<Index>().prop_map(Mangle::DoubleSlash),
        2 => (
            any::<Index>(),
            prop::sample::select(vec![".", "..", "%2e", "%2E%2e", "%2e.", ".%2E", "%2f", ""])
        )
            .prop_map(|(i, s)| Mangle::DotSegment(i, s)),
        2 => (any::<Index>(), arb_param()).prop_map(|(i, s)| Mangle::Insert(i, s)),
        1 => prop_oneof![2000usize..2100, 0usize..5000].prop_map(Mangle::Pad),
        1 => any::<Index>().prop_map(Mangle::Truncate),
        1 => Just(Mangle::DropLeadingSlash),
        1 => Just(Mangle::Uppercase),
        1 => prop_oneof![".{0,30}", "/[ -~]{0,40}", "/api(/[a-z0-9.%]{0,6}){0,5}"]
            .prop_map(Mangle::Replace),
    ]
    .boxed()
}

fn slash_positions(s: &str) -> Vec<usize> {
    s.match_indices('/').map(|(i, _)| i).collect()
}

fn apply_mangle(path: String, m: &Mangle) -> String {
    match m {
        Mangle::Legacy => match path.strip_prefix("/api/v1") {
            Some(rest) => format!("/api{rest}"),
            None => path,
        },
        Mangle::TrailingSlash => path + "/",
        Mangle::DoubleSlash(ix) => {
            let p = slash_positions(&path);
            if p.is_empty() {
                path
            } else {
                let at = p[ix.index(p.len())];
                format!("{}/{}", &path[..at], &path[at..])
            }
        }
        Mangle::DotSegment(ix, seg) => {
            let p = slash_positions(&path);
            if p.is_empty() {
                path
            } else {
                let at = p[ix.index(p.len())];
                format!("{}/{}{}", &path[..at], seg, &path[at..])
            }
        }
        Mangle::Insert(ix, s) => insert_at(&path, ix, s),
        Mangle::Pad(n) => path + &"a".repeat(*n),
        Mangle::Truncate(ix) => truncate_at(&path, ix),
        Mangle::DropLeadingSlash => path.trim_start_matches('/').to_string(),
        Mangle::Uppercase => path.to_uppercase(),
        Mangle::Replace(s) => s.clone(),
    }
}

/// A real template with its parameters substituted, then 0..3 mangles.
fn arb_path() -> BoxedStrategy<String> {
    let n = TEMPLATES.len();
    (0..n, arb_param(), prop::collection::vec(arb_mangle(), 0..3))
        .prop_map(|(t, param, mangles)| {
            let template = &TEMPLATES[t];
            let mut path: String = template
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') && seg.ends_with('}') {
                        param.as_str()
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            for m in &mangles {
                path = apply_mangle(path, m);
            }
            path
        })
        .boxed()
}

/// Inputs to `parse-key` / `verify-key` around one minted key.
#[derive(Clone, Debug)]
enum KeyInput {
    Valid,
    Flip(Index, char),
    Insert(Index, String),
    Truncate(Index),
    Other(usize),
    /// Right shape, random content (checksum almost surely wrong).
    Shaped(String, String),
    Random(String),
}

fn arb_key_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".chars().collect::<Vec<_>>()
        ),
        1 => prop::sample::select(vec!['_', '-', '$', ' ', 'é', '\u{0}', '=', '|']),
        1 => any::<char>(),
    ]
}

fn arb_key_input() -> BoxedStrategy<KeyInput> {
    prop_oneof![
        3 => Just(KeyInput::Valid),
        4 => (any::<Index>(), arb_key_char()).prop_map(|(i, c)| KeyInput::Flip(i, c)),
        1 => (any::<Index>(), arb_text()).prop_map(|(i, s)| KeyInput::Insert(i, s)),
        1 => any::<Index>().prop_map(KeyInput::Truncate),
        1 => (0..POOL_LEN).prop_map(KeyInput::Other),
        2 => ("[A-Za-z0-9]{10}", "[A-Za-z0-9]{32}").prop_map(|(a, b)| KeyInput::Shaped(a, b)),
        2 => prop_oneof![arb_text(), "ssk_[ -~]{0,50}", "[A-Za-z0-9_]{46}"].prop_map(KeyInput::Random),
    ]
    .boxed()
}

fn key_from_input(base: &str, k: &KeyInput) -> String {
    match k {
        KeyInput::Valid => base.to_string(),
        KeyInput::Flip(i, c) => flip_char(base, i, *c),
        KeyInput::Insert(i, s) => insert_at(base, i, s),
        KeyInput::Truncate(i) => truncate_at(base, i),
        KeyInput::Other(i) => POOL[*i].key.clone(),
        KeyInput::Shaped(id, secret) => format!("ssk_{id}_{secret}"),
        KeyInput::Random(s) => s.clone(),
    }
}

/// A stored hash around one minted key's hash.
#[derive(Clone, Debug)]
enum HashInput {
    Valid,
    Flip(Index, char),
    Truncate(Index),
    /// `hash-key` of the base key with this salt (any length).
    Salted(Vec<u8>),
    Other(usize),
    /// A different version tag in front of the valid salt and digest.
    Version(String),
    Uppercase,
    /// An extra `$field`.
    Extra(String),
    Random(String),
}

fn arb_hash_input() -> BoxedStrategy<HashInput> {
    prop_oneof![
        3 => Just(HashInput::Valid),
        3 => (
            any::<Index>(),
            prop_oneof![
                prop::sample::select("0123456789abcdefABCDEF$_-=".chars().collect::<Vec<_>>()),
                any::<char>()
            ]
        )
            .prop_map(|(i, c)| HashInput::Flip(i, c)),
        1 => any::<Index>().prop_map(HashInput::Truncate),
        2 => prop::collection::vec(any::<u8>(), 0..40).prop_map(HashInput::Salted),
        1 => (0..POOL_LEN).prop_map(HashInput::Other),
        1 => prop_oneof![Just("v2".to_string()), Just("V1".to_string()), Just(String::new()), "[a-z0-9]{0,3}"]
            .prop_map(HashInput::Version),
        1 => Just(HashInput::Uppercase),
        1 => arb_text().prop_map(HashInput::Extra),
        1 => prop_oneof![arb_text(), "v1\\$[A-Za-z0-9_=-]{0,24}\\$[0-9a-f]{0,70}"]
            .prop_map(HashInput::Random),
    ]
    .boxed()
}

fn hash_from_input(key: &str, stored: &str, h: &HashInput) -> String {
    match h {
        HashInput::Valid => stored.to_string(),
        HashInput::Flip(i, c) => flip_char(stored, i, *c),
        HashInput::Truncate(i) => truncate_at(stored, i),
        HashInput::Salted(salt) => keys::hash_key(key, salt),
        HashInput::Other(i) => POOL[*i].stored_hash.clone(),
        HashInput::Version(v) => match stored.split_once('$') {
            Some((_, rest)) => format!("{v}${rest}"),
            None => stored.to_string(),
        },
        HashInput::Uppercase => stored.to_uppercase(),
        HashInput::Extra(s) => format!("{stored}${s}"),
        HashInput::Random(s) => s.clone(),
    }
}

fn arb_random_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200),
        1 => prop::collection::vec(any::<u8>(), 60..70),
        // Mostly rejected bytes (>= 248): exercises "not enough random bytes".
        2 => prop::collection::vec(230u8..=255, 0..200),
    ]
}

/// An event token input, relative to the facts it is checked against.
#[derive(Clone, Debug)]
enum TokenInput {
    /// Minted natively.
    Minted {
        /// Signed with the checking secret (else with `other_secret`).
        same_secret: bool,
        other_secret: Vec<u8>,
        /// Bound to the checked scan id (else to `other_scan`).
        same_scan: bool,
        other_scan: String,
        key_id: KeyIdInput,
        /// How long ago it was minted (may be negative: minted in the future).
        age: i64,
        mangle: Option<TokenMangle>,
    },
    /// Correctly signed, hand-built fields (odd expiry strings, `|`...).
    Crafted {
        key_id: KeyIdInput,
        exp: String,
    },
    Random(String),
}

#[derive(Clone, Debug)]
enum KeyIdInput {
    Env,
    Dev,
    Pool(usize),
    Other(String),
}

#[derive(Clone, Debug)]
enum TokenMangle {
    Flip(Index, char),
    Pad(usize),
    Truncate(Index),
    Insert(Index, String),
}

fn arb_key_id_input() -> BoxedStrategy<KeyIdInput> {
    prop_oneof![
        2 => Just(KeyIdInput::Env),
        2 => Just(KeyIdInput::Dev),
        3 => (0..POOL_LEN).prop_map(KeyIdInput::Pool),
        2 => arb_text().prop_map(KeyIdInput::Other),
    ]
    .boxed()
}

fn key_id_of(k: &KeyIdInput) -> String {
    match k {
        KeyIdInput::Env => "env".into(),
        KeyIdInput::Dev => "dev".into(),
        KeyIdInput::Pool(i) => POOL[*i].id.clone(),
        KeyIdInput::Other(s) => s.clone(),
    }
}

fn arb_token_mangle() -> BoxedStrategy<TokenMangle> {
    prop_oneof![
        3 => (
            any::<Index>(),
            prop_oneof![
                prop::sample::select("AZaz09-_=+/|".chars().collect::<Vec<_>>()),
                any::<char>()
            ]
        )
            .prop_map(|(i, c)| TokenMangle::Flip(i, c)),
        1 => (0usize..4).prop_map(TokenMangle::Pad),
        1 => any::<Index>().prop_map(TokenMangle::Truncate),
        1 => (any::<Index>(), arb_text()).prop_map(|(i, s)| TokenMangle::Insert(i, s)),
    ]
    .boxed()
}

fn arb_age() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -5i64..=310,
        1 => prop::sample::select(vec![-1i64, 0, 1, 298, 299, 300, 301]),
        1 => any::<i64>(),
    ]
}

fn arb_token_input() -> BoxedStrategy<TokenInput> {
    prop_oneof![
        6 => (
            (prop::bool::weighted(0.85), prop::collection::vec(any::<u8>(), 0..8)),
            (prop::bool::weighted(0.85), arb_text()),
            arb_key_id_input(),
            arb_age(),
            prop_oneof![5 => Just(None), 1 => arb_token_mangle().prop_map(Some)],
        )
            .prop_map(
                |((same_secret, other_secret), (same_scan, other_scan), key_id, age, mangle)| {
                    TokenInput::Minted {
                        same_secret,
                        other_secret,
                        same_scan,
                        other_scan,
                        key_id,
                        age,
                        mangle,
                    }
                }
            )
            .boxed(),
        2 => (
            arb_key_id_input(),
            prop_oneof![
                "[0-9]{0,22}",
                prop::sample::select(vec![
                    "+9999999999", "-1", " 9999999999", "9999999999 ", "0x10", "", "18446744073709551615",
                    "18446744073709551616", "00000000009999999999", "１２３",
                ])
                .prop_map(String::from),
                arb_text(),
            ]
        )
            .prop_map(|(key_id, exp)| TokenInput::Crafted { key_id, exp })
            .boxed(),
        2 => prop_oneof![
            arb_text(),
            "[A-Za-z0-9_=-]{0,80}",
            "[A-Za-z0-9_-]{1020,1030}",
            ".{0,40}".prop_map(|s| URL_SAFE_NO_PAD.encode(s)),
        ]
        .prop_map(TokenInput::Random),
    ]
    .boxed()
}

fn mangle_token(t: String, m: &TokenMangle) -> String {
    match m {
        TokenMangle::Flip(i, c) => flip_char(&t, i, *c),
        TokenMangle::Pad(n) => t + &"=".repeat(*n),
        TokenMangle::Truncate(i) => truncate_at(&t, i),
        TokenMangle::Insert(i, s) => insert_at(&t, i, s),
    }
}

/// Builds the token for a check with `secret`, `scan` and `now`.
fn token_from_input(secret: &[u8], scan: &str, now: u64, t: &TokenInput) -> String {
    match t {
        TokenInput::Minted {
            same_secret,
            other_secret,
            same_scan,
            other_scan,
            key_id,
            age,
            mangle,
        } => {
            let s = if *same_secret { secret } else { other_secret };
            let c = if *same_scan { scan } else { other_scan };
            let minted_at = now.saturating_add_signed(age.saturating_neg());
            let tok = tokens::mint_token(s, c, &key_id_of(key_id), minted_at);
            match mangle {
                Some(m) => mangle_token(tok, m),
                None => tok,
            }
        }
        TokenInput::Crafted { key_id, exp } => crafted_token(secret, scan, &key_id_of(key_id), exp),
        TokenInput::Random(s) => s.clone(),
    }
}

fn arb_requirement() -> impl Strategy<Value = routes::Requirement> {
    prop_oneof![
        1 => Just(routes::Requirement::Public),
        2 => Just(routes::Requirement::AnyDbKey),
        6 => arb_scopes().prop_map(routes::Requirement::Scopes),
        1 => Just(routes::Requirement::Unknown),
    ]
}

/// Where an API key credential comes from.
#[derive(Clone, Debug)]
enum KeySource {
    Pool(usize, KeyInput),
    /// The configured env key (or, when none is configured, this text).
    Env(String),
    /// The env key with one character changed.
    EnvFlip(Index, char),
    Random(String),
}

fn arb_key_source() -> BoxedStrategy<KeySource> {
    prop_oneof![
        6 => (0..POOL_LEN, prop_oneof![3 => Just(KeyInput::Valid), 2 => arb_key_input()])
            .prop_map(|(i, k)| KeySource::Pool(i, k)),
        2 => arb_text().prop_map(KeySource::Env),
        1 => (any::<Index>(), arb_key_char()).prop_map(|(i, c)| KeySource::EnvFlip(i, c)),
        1 => prop_oneof![4 => arb_text(), 1 => Just("a".repeat(65536))].prop_map(KeySource::Random),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum CredInput {
    None,
    ApiKey(KeySource),
    Bearer(KeySource),
    EventToken(TokenInput),
}

fn arb_cred_input() -> BoxedStrategy<CredInput> {
    prop_oneof![
        2 => Just(CredInput::None),
        4 => arb_key_source().prop_map(CredInput::ApiKey),
        2 => arb_key_source().prop_map(CredInput::Bearer),
        4 => arb_token_input().prop_map(CredInput::EventToken),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum EnvInput {
    None,
    Text(String),
    /// A DB key's plaintext configured as the env key.
    Pool(usize),
}

fn arb_env_input() -> impl Strategy<Value = EnvInput> {
    prop_oneof![
        3 => Just(EnvInput::None),
        2 => prop_oneof![arb_text(), "[0-9a-f]{64}"].prop_map(EnvInput::Text),
        1 => (0..POOL_LEN).prop_map(EnvInput::Pool),
    ]
}

/// Which key the database row belongs to.
#[derive(Clone, Debug)]
enum RowKey {
    /// The pool key the credential names (or the first one): the common
    /// case of a row fetched by the credential's key id.
    FromCredential,
    Pool(usize),
    /// A row with id `id_text` and the first pool key's hash.
    Text,
}

#[derive(Clone, Debug)]
struct RowInput {
    key: RowKey,
    id_text: String,
    hash: HashInput,
    scopes: Vec<types::Scope>,
    revoked: bool,
}

fn arb_row_input() -> BoxedStrategy<Option<RowInput>> {
    prop_oneof![
        1 => Just(None),
        3 => (
            prop_oneof![
                4 => Just(RowKey::FromCredential),
                2 => (0..POOL_LEN).prop_map(RowKey::Pool),
                1 => Just(RowKey::Text),
            ],
            arb_text(),
            prop_oneof![3 => Just(HashInput::Valid), 1 => arb_hash_input()],
            arb_scopes(),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(key, id_text, hash, scopes, revoked)| Some(RowInput {
                key,
                id_text,
                hash,
                scopes,
                revoked,
            }))
            .boxed(),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
struct FactsInput {
    requirement: routes::Requirement,
    accepts_event_token: bool,
    resource_id: Option<String>,
    cred: CredInput,
    env: EnvInput,
    row: Option<RowInput>,
    db_key_exists: bool,
    auth_required: bool,
    event_secret: Vec<u8>,
    now: u64,
}

fn arb_facts_input() -> BoxedStrategy<FactsInput> {
    (
        (
            arb_requirement(),
            prop::bool::weighted(0.75),
            prop_oneof![1 => Just(None), 4 => arb_text().prop_map(Some)],
        ),
        arb_cred_input(),
        arb_env_input(),
        arb_row_input(),
        (any::<bool>(), any::<bool>()),
        prop_oneof![
            1 => Just(Vec::new()),
            8 => prop::collection::vec(any::<u8>(), 1..40),
        ],
        arb_now(),
    )
        .prop_map(
            |(
                (requirement, accepts_event_token, resource_id),
                cred,
                env,
                row,
                (db_key_exists, auth_required),
                event_secret,
                now,
            )| FactsInput {
                requirement,
                accepts_event_token,
                resource_id,
                cred,
                env,
                row,
                db_key_exists,
                auth_required,
                event_secret,
                now,
            },
        )
        .boxed()
}

fn facts_from_input(i: &FactsInput) -> authn::Facts {
    let env_key = match &i.env {
        EnvInput::None => None,
        EnvInput::Text(s) => Some(s.clone()),
        EnvInput::Pool(p) => Some(POOL[*p].key.clone()),
    };
    let key_of = |src: &KeySource| match src {
        KeySource::Pool(p, k) => key_from_input(&POOL[*p].key, k),
        KeySource::Env(fallback) => env_key.clone().unwrap_or_else(|| fallback.clone()),
        KeySource::EnvFlip(ix, c) => flip_char(env_key.as_deref().unwrap_or(""), ix, *c),
        KeySource::Random(s) => s.clone(),
    };
    let scan = i.resource_id.clone().unwrap_or_default();
    let credential = match &i.cred {
        CredInput::None => authn::Credential::None,
        CredInput::ApiKey(s) => authn::Credential::ApiKey(key_of(s)),
        CredInput::Bearer(s) => authn::Credential::Bearer(key_of(s)),
        CredInput::EventToken(t) => {
            authn::Credential::EventToken(token_from_input(&i.event_secret, &scan, i.now, t))
        }
    };
    let cred_pool = match &i.cred {
        CredInput::ApiKey(KeySource::Pool(p, _)) | CredInput::Bearer(KeySource::Pool(p, _)) => *p,
        CredInput::EventToken(
            TokenInput::Minted {
                key_id: KeyIdInput::Pool(p),
                ..
            }
            | TokenInput::Crafted {
                key_id: KeyIdInput::Pool(p),
                ..
            },
        ) => *p,
        _ => 0,
    };
    let row = i.row.as_ref().map(|r| {
        let pool = match r.key {
            RowKey::FromCredential => Some(cred_pool),
            RowKey::Pool(p) => Some(p),
            RowKey::Text => None,
        };
        let (id, key, stored) = match pool {
            Some(p) => (
                POOL[p].id.clone(),
                POOL[p].key.clone(),
                POOL[p].stored_hash.clone(),
            ),
            None => (
                r.id_text.clone(),
                r.id_text.clone(),
                POOL[0].stored_hash.clone(),
            ),
        };
        authn::KeyRow {
            id,
            stored_hash: hash_from_input(&key, &stored, &r.hash),
            scopes: r.scopes.clone(),
            revoked: r.revoked,
        }
    });
    authn::Facts {
        requirement: i.requirement.clone(),
        accepts_event_token: i.accepts_event_token,
        resource_id: i.resource_id.clone(),
        credential,
        env_key,
        row,
        db_key_exists: i.db_key_exists,
        auth_required: i.auth_required,
        event_secret: i.event_secret.clone(),
        now: i.now,
    }
}

/// A readable form of the built facts for failure messages (the native
/// `Debug` redacts credentials on purpose).
fn show_facts(f: &authn::Facts) -> String {
    let cred = match &f.credential {
        authn::Credential::None => "None".to_string(),
        authn::Credential::ApiKey(k) => format!("ApiKey({k:?})"),
        authn::Credential::Bearer(k) => format!("Bearer({k:?})"),
        authn::Credential::EventToken(t) => format!("EventToken({t:?})"),
    };
    format!(
        "{:?} credential={cred} env_key={:?} secret={:?}",
        f, f.env_key, f.event_secret
    )
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(10_000))]

    #[test]
    fn resolve_matches(method in arb_method(), path in arb_path()) {
        let native = routes::resolve(&method, &path);
        let wasm = w_resolve(&method, &path);
        prop_assert_eq!(native, wasm, "resolve({:?}, {:?})", method, path);
    }

    #[test]
    fn authenticate_matches(input in arb_facts_input()) {
        let facts = facts_from_input(&input);
        let native = authn::authenticate(&facts);
        let wasm = w_authenticate(&facts);
        prop_assert_eq!(native, wasm, "authenticate({})", show_facts(&facts));
    }
}

proptest! {
    #![proptest_config(cases(3_000))]

    #[test]
    fn resolve_matches_on_arbitrary_text(method in arb_method(), path in prop_oneof![
        ".{0,40}",
        "/[ -~]{0,60}",
        "/api(/[A-Za-z0-9.%~_-]{0,8}){0,6}/?",
    ]) {
        let native = routes::resolve(&method, &path);
        let wasm = w_resolve(&method, &path);
        prop_assert_eq!(native, wasm, "resolve({:?}, {:?})", method, path);
    }

    #[test]
    fn parse_key_matches(seed in prop::collection::vec(any::<u8>(), 64..100), k in arb_key_input()) {
        let base = keys::mint_key(&seed).map(|m| m.key).unwrap_or_else(|_| POOL[0].key.clone());
        let key = key_from_input(&base, &k);
        prop_assert_eq!(keys::parse_key(&key), w_parse_key(&key), "parse_key({:?})", key);
    }

    #[test]
    fn mint_key_matches(random in arb_random_bytes()) {
        let native = n_mint_key(&random);
        let wasm = w_mint_key(&random);
        prop_assert_eq!(&native, &wasm, "mint_key({:?})", random);
        // A minted key checks out on the other side too.
        if let Ok((id, prefix, key, stored)) = wasm {
            prop_assert_eq!(
                keys::parse_key(&key),
                Some(keys::ParsedKey { id, prefix })
            );
            prop_assert!(keys::verify_key(&key, &stored));
        }
    }

    #[test]
    fn hash_and_verify_key_match(
        seed in prop::collection::vec(any::<u8>(), 64..100),
        k in arb_key_input(),
        h in arb_hash_input(),
        salt in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let m = keys::mint_key(&seed).unwrap_or_else(|_| POOL[0].clone());
        let key = key_from_input(&m.key, &k);
        let stored = hash_from_input(&m.key, &m.stored_hash, &h);
        prop_assert_eq!(
            keys::verify_key(&key, &stored),
            w_verify_key(&key, &stored),
            "verify_key({:?}, {:?})", key, stored
        );
        prop_assert_eq!(
            keys::hash_key(&key, &salt),
            wasm_hash_key(&key, &salt),
            "hash_key({:?}, {:?})", key, salt
        );
    }

    #[test]
    fn scopes_for_new_key_matches(req in prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        6 => prop::collection::vec(prop_oneof![
            4 => prop::sample::select(vec!["read", "write", "admin"]).prop_map(String::from),
            1 => prop::sample::select(vec!["Read", "ADMIN", "", " read", "read ", "root", "*"])
                .prop_map(String::from),
            1 => arb_text(),
            1 => ".{30,40}",
        ], 1..6).prop_map(Some),
    ]) {
        let native = keys::scopes_for_new_key(req.as_deref());
        let wasm = w_scopes_for_new_key(req.as_deref());
        prop_assert_eq!(native, wasm, "scopes_for_new_key({:?})", req);
    }

    #[test]
    fn effective_scopes_matches(s in prop::collection::vec(arb_scope(), 0..8)) {
        prop_assert_eq!(keys::effective_scopes(&s), w_effective_scopes(&s), "{:?}", s);
    }

    #[test]
    fn mint_token_matches(
        secret in prop::collection::vec(any::<u8>(), 0..40),
        scan in arb_text(),
        key in arb_text(),
        now in arb_now(),
    ) {
        let native = tokens::mint_token(&secret, &scan, &key, now);
        let wasm = w_mint_token(&secret, &scan, &key, now);
        prop_assert_eq!(&native, &wasm, "mint_token({:?}, {:?}, {:?}, {})", secret, scan, key, now);
        prop_assert_eq!(tokens::peek_key_id(&native), w_peek_key_id(&wasm));
    }

    #[test]
    fn verify_and_peek_token_match(
        secret in prop_oneof![1 => Just(Vec::new()), 6 => prop::collection::vec(any::<u8>(), 1..40)],
        scan in arb_text(),
        now in arb_now(),
        t in arb_token_input(),
    ) {
        let token = token_from_input(&secret, &scan, now, &t);
        prop_assert_eq!(
            tokens::verify_token(&secret, &token, &scan, now),
            w_verify_token(&secret, &token, &scan, now),
            "verify_token({:?}, {:?}, {:?}, {})", secret, token, scan, now
        );
        prop_assert_eq!(
            tokens::peek_key_id(&token),
            w_peek_key_id(&token),
            "peek_key_id({:?})", token
        );
    }

    #[test]
    fn may_revoke_matches(
        target_scopes in arb_scopes(),
        target_revoked in any::<bool>(),
        other_admin_keys in arb_u32(),
        env_key_configured in any::<bool>(),
        auth_required in any::<bool>(),
    ) {
        let f = lifecycle::RevokeFacts {
            target_scopes,
            target_revoked,
            other_admin_keys,
            env_key_configured,
            auth_required,
        };
        prop_assert_eq!(lifecycle::may_revoke(&f), w_may_revoke(&f), "{:?}", f);
    }

    #[test]
    fn startup_matches(
        auth_required in any::<bool>(),
        env_key_configured in any::<bool>(),
        unrevoked_admin_keys in arb_u32(),
        unrevoked_keys in arb_u32(),
        event_secret_configured in any::<bool>(),
    ) {
        let f = lifecycle::StartupFacts {
            auth_required,
            env_key_configured,
            unrevoked_admin_keys,
            unrevoked_keys,
            event_secret_configured,
        };
        prop_assert_eq!(lifecycle::startup(&f), w_startup(&f), "{:?}", f);
    }

    #[test]
    fn take_matches(
        state in prop_oneof![
            1 => Just(None),
            3 => (arb_u64(), arb_u64())
                .prop_map(|(level, updated_ms)| Some(ratelimit::Bucket { level, updated_ms })),
        ],
        per_minute in arb_u32(),
        burst in arb_u32(),
        now in arb_u64(),
    ) {
        let limits = ratelimit::Limits { per_minute, burst };
        prop_assert_eq!(
            ratelimit::take(state, limits, now),
            w_take(state, limits, now),
            "take({:?}, {:?}, {})", state, limits, now
        );
    }

    /// A bucket carried through a sequence of requests on each side.
    #[test]
    fn take_sequences_match(
        per_minute in arb_u32(),
        burst in arb_u32(),
        start in arb_u64(),
        steps in prop::collection::vec(
            prop_oneof![4 => 0u64..2000, 1 => 0u64..200_000, 1 => any::<u64>()],
            1..25,
        ),
        backwards in prop::collection::vec(any::<bool>(), 25),
    ) {
        let limits = ratelimit::Limits { per_minute, burst };
        let (mut ns, mut ws) = (None, None);
        let mut now = start;
        for (i, d) in steps.iter().enumerate() {
            now = if backwards[i] && d % 7 == 0 {
                now.saturating_sub(*d)
            } else {
                now.saturating_add(*d)
            };
            let nv = ratelimit::take(ns, limits, now);
            let wv = w_take(ws, limits, now);
            prop_assert_eq!(nv, wv, "step {} take({:?}, {:?}, {})", i, ns, limits, now);
            ns = Some(nv.state);
            ws = Some(wv.state);
        }
    }
}

// ---------------------------------------------------------------------------
// Deterministic checks
// ---------------------------------------------------------------------------

#[test]
fn list_routes_are_identical() {
    let native = routes::list_routes();
    let wasm: Vec<routes::RouteEntry> = ok(b().list_routes(), "list-routes")
        .into_iter()
        .map(route_entry_from_wit)
        .collect();
    assert!(!native.is_empty());
    assert_eq!(native, wasm);
}

#[test]
fn every_listed_route_resolves_identically() {
    for e in routes::list_routes() {
        for param in ["x1", "me", "%2e", "a%2fb"] {
            let path = e.template.replace("{id}", param);
            for p in [path.clone(), path.replacen("/api/v1", "/api", 1)] {
                for m in [e.method.as_str(), "HEAD", "OPTIONS"] {
                    assert_eq!(routes::resolve(m, &p), w_resolve(m, &p), "{m} {p}");
                }
            }
        }
    }
}

#[test]
fn constants_are_identical() {
    assert_eq!(tokens::ttl_seconds(), ok(b().ttl_seconds(), "ttl-seconds"));
    assert_eq!(
        ratelimit::default_limits(),
        limits_from_wit(ok(b().default_limits(), "default-limits"))
    );
    let native = info::build_info();
    assert_eq!(native, build_info_from_wit(ok(b().describe(), "describe")));
    assert_eq!(native, build_info_from_wit(b().info().clone()));
}

#[test]
fn resolve_edge_cases_match() {
    let long = format!("/api/v1/scans/{}", "a".repeat(routes::MAX_PATH));
    let exact = format!(
        "/api/v1/scans/{}",
        "a".repeat(routes::MAX_PATH - "/api/v1/scans/".len())
    );
    let over = format!("{exact}a");
    let paths = [
        "",
        "/",
        "//",
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/",
        "/api/v1/v1/scans",
        "/api/api/v1/scans",
        "/api/v1/scans/%2e%2E/events",
        "/api/v1/scans/%2E",
        "/api/v1/scans/a%2fb",
        "/api/v1/scans/a%2Fb",
        "/api/v1/scans/a%5Cb",
        "/api/v1/scans/a%00",
        "/api/v1/scans/a%zz",
        "/api/v1/scans/a%2",
        "/api/v1/scans/a%20b",
        "/api/v1/scans/\u{e9}",
        "/api/v1/scans/%C3%A9",
        "/api/scans/x/events",
        "/api/keys/me",
        "/api/health",
        "/health/",
        "health",
        long.as_str(),
        exact.as_str(),
        over.as_str(),
    ];
    for p in paths {
        for m in ["GET", "HEAD", "POST", "DELETE", "get", ""] {
            assert_eq!(routes::resolve(m, p), w_resolve(m, p), "{m} {p:?}");
        }
    }
}

#[test]
fn keys_cross_verify() {
    // Minted by the component, accepted natively.
    let random = seed_bytes(42);
    let (id, prefix, key, stored) = w_mint_key(&random).expect("enough bytes");
    assert_eq!(
        keys::parse_key(&key),
        Some(keys::ParsedKey {
            id: id.clone(),
            prefix
        })
    );
    assert!(keys::verify_key(&key, &stored));
    // Minted natively, accepted by the component.
    let m = keys::mint_key(&seed_bytes(43)).unwrap();
    assert_eq!(w_parse_key(&m.key), keys::parse_key(&m.key));
    assert!(w_verify_key(&m.key, &m.stored_hash));
    // Hashed by one side, verified by the other.
    let salt = [7u8; 16];
    assert!(keys::verify_key(&m.key, &wasm_hash_key(&m.key, &salt)));
    assert!(w_verify_key(&m.key, &keys::hash_key(&m.key, &salt)));
    // A DB-key decision through the component with the native row.
    let facts = authn::Facts {
        requirement: routes::Requirement::Scopes(vec![types::Scope::Read]),
        accepts_event_token: false,
        resource_id: None,
        credential: authn::Credential::ApiKey(key.clone()),
        env_key: None,
        row: Some(authn::KeyRow {
            id: id.clone(),
            stored_hash: stored,
            scopes: vec![types::Scope::Read],
            revoked: false,
        }),
        db_key_exists: true,
        auth_required: true,
        event_secret: b"s".to_vec(),
        now: 1_700_000_000,
    };
    let p = w_authenticate(&facts).expect("valid key allowed");
    assert_eq!((p.kind, p.id), (authn::PrincipalKind::DbKey, id));
    assert_eq!(authn::authenticate(&facts), w_authenticate(&facts));
    // Every single-character change is refused on both sides alike.
    for i in 0..key.len() {
        for c in ['A', 'z', '0', '_'] {
            let k = flip_char_at(&key, i, c);
            assert_eq!(keys::parse_key(&k), w_parse_key(&k), "{k}");
            assert_eq!(
                keys::verify_key(&k, &m.stored_hash),
                w_verify_key(&k, &m.stored_hash)
            );
        }
    }
}

#[test]
fn tokens_cross_verify() {
    let secret = b"evt-secret-3b9f0c2d8e7a41f6a5d4c3b2a1908f7e";
    let now = 1_700_000_000;
    // Minted natively, verified by the component.
    let t = tokens::mint_token(secret, "scan-1", "AbCdEfGhIj", now);
    let c = w_verify_token(secret, &t, "scan-1", now + 299).expect("valid token");
    assert_eq!(
        c,
        tokens::Claims {
            scan_id: "scan-1".into(),
            key_id: "AbCdEfGhIj".into(),
            expires_at: now + 300
        }
    );
    assert_eq!(w_peek_key_id(&t).as_deref(), Some("AbCdEfGhIj"));
    assert_eq!(
        w_verify_token(secret, &t, "scan-1", now + 300).unwrap_err(),
        tokens::verify_token(secret, &t, "scan-1", now + 300).unwrap_err()
    );
    assert_eq!(
        w_verify_token(secret, &t, "scan-2", now)
            .unwrap_err()
            .detail,
        types::detail::TOKEN_SCAN
    );
    // Minted by the component, verified natively.
    let t = w_mint_token(secret, "scan-9", "env", now);
    assert_eq!(t, tokens::mint_token(secret, "scan-9", "env", now));
    assert!(tokens::verify_token(secret, &t, "scan-9", now).is_ok());
    // Expiry at the very end of time saturates identically.
    let t = w_mint_token(secret, "s", "dev", u64::MAX - 10);
    assert_eq!(
        tokens::verify_token(secret, &t, "s", u64::MAX - 1),
        w_verify_token(secret, &t, "s", u64::MAX - 1)
    );
}

#[test]
fn ratelimit_extremes_match() {
    let vals64 = [
        0,
        1,
        59_999,
        60_000,
        60_001,
        u64::MAX / 60_000,
        u64::MAX - 1,
        u64::MAX,
    ];
    let vals32 = [0, 1, 60, u32::MAX - 1, u32::MAX];
    for &pm in &vals32 {
        for &burst in &vals32 {
            let limits = ratelimit::Limits {
                per_minute: pm,
                burst,
            };
            for &now in &vals64 {
                assert_eq!(
                    ratelimit::take(None, limits, now),
                    w_take(None, limits, now)
                );
                for &level in &vals64 {
                    for updated_ms in [0, now, u64::MAX] {
                        let s = Some(ratelimit::Bucket { level, updated_ms });
                        assert_eq!(
                            ratelimit::take(s, limits, now),
                            w_take(s, limits, now),
                            "{s:?} {limits:?} {now}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn lifecycle_exhaustive_small() {
    for bits in 0u32..(1 << 4) {
        let [a, b_, c, d] = [0, 1, 2, 3].map(|i| bits & (1 << i) != 0);
        for n in [0u32, 1, 2, u32::MAX] {
            for m in [0u32, 1, 2, u32::MAX] {
                let f = lifecycle::StartupFacts {
                    auth_required: a,
                    env_key_configured: b_,
                    unrevoked_admin_keys: n,
                    unrevoked_keys: m,
                    event_secret_configured: c,
                };
                assert_eq!(lifecycle::startup(&f), w_startup(&f), "{f:?}");
            }
            for scopes in [
                vec![],
                vec![types::Scope::Admin],
                vec![types::Scope::Read, types::Scope::Write],
            ] {
                let f = lifecycle::RevokeFacts {
                    target_scopes: scopes,
                    target_revoked: d,
                    other_admin_keys: n,
                    env_key_configured: b_,
                    auth_required: a,
                };
                assert_eq!(lifecycle::may_revoke(&f), w_may_revoke(&f), "{f:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The generators are not vacuous
// ---------------------------------------------------------------------------

fn sample<T: std::fmt::Debug>(s: BoxedStrategy<T>, n: usize) -> Vec<T> {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|_| s.new_tree(&mut runner).expect("generate").current())
        .collect()
}

fn outcome_label(r: &Result<authn::Principal, types::Denial>) -> String {
    match r {
        Ok(p) => format!("ok {:?}", p.kind),
        Err(d) => format!("{} {}", d.status, d.detail),
    }
}

/// Counts labels; fails listing what was never reached.
fn assert_reached(what: &str, labels: impl Iterator<Item = String>, want: &[&str], min: usize) {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for l in labels {
        *seen.entry(l).or_default() += 1;
    }
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| seen.get(*w).copied().unwrap_or(0) < min)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: the generator reaches {missing:?} fewer than {min} times; reached: {seen:#?}"
    );
}

/// Every decision outcome (each allow kind, each denial detail, through a
/// key and through an event token) is produced by the `authenticate`
/// generator, so the differential property is not vacuous.
#[test]
fn authenticate_generator_reaches_every_outcome() {
    let labels = sample(arb_facts_input(), 10_000).into_iter().map(|i| {
        let f = facts_from_input(&i);
        let label = outcome_label(&authn::authenticate(&f));
        match f.credential {
            authn::Credential::EventToken(_) => format!("token: {label}"),
            authn::Credential::None => format!("none: {label}"),
            authn::Credential::ApiKey(_) | authn::Credential::Bearer(_) => {
                format!("key: {label}")
            }
        }
    });
    let want = [
        "key: ok Anonymous",
        "key: ok Env",
        "key: ok DbKey",
        "key: 401 Invalid API key",
        "key: 403 Requires scope: read",
        "key: 403 Requires scope: write",
        "key: 403 Requires scope: admin",
        "key: 404 Not Found",
        "key: 404 Not authenticated via DB key",
        "none: ok Dev",
        "none: ok Anonymous",
        "none: 401 X-API-Key header required",
        "none: 503 Authentication is required but no credentials are configured",
        "none: 404 Not authenticated via DB key",
        "token: ok Env",
        "token: ok DbKey",
        "token: ok Dev",
        "token: 401 Invalid event token route",
        "token: 401 Invalid or expired event token",
        "token: 401 Token does not match scan id",
        "token: 401 Bound key is revoked or missing",
        "token: 401 Env-var key no longer configured",
        "token: 401 Dev-mode token no longer valid (auth has been enabled)",
        "token: 403 Requires scope: read",
        "token: 404 Not authenticated via DB key",
    ];
    assert_reached("authenticate", labels, &want, 3);
}

#[test]
fn resolve_generator_reaches_every_route() {
    let paths = sample(arb_path(), 10_000);
    let methods = sample(arb_method().boxed(), 10_000);
    let mut labels = Vec::new();
    for (m, p) in methods.iter().zip(&paths) {
        // The method generator is sampled separately; the real method of the
        // route is tried too so every template can be reached.
        for m in [m.as_str(), "GET", "POST", "DELETE", "PATCH", "PUT"] {
            let r = routes::resolve(m, p);
            labels.push(match r.requirement {
                routes::Requirement::Unknown => format!("unknown legacy={}", r.legacy),
                _ => format!("{} {} legacy={}", m, r.template, r.legacy),
            });
        }
    }
    let mut want: Vec<String> = routes::list_routes()
        .into_iter()
        .map(|e| format!("{} {} legacy=false", e.method, e.template))
        .collect();
    want.extend(
        routes::list_routes()
            .into_iter()
            .filter(|e| e.template.starts_with("/api/v1/"))
            .map(|e| format!("{} {} legacy=true", e.method, e.template)),
    );
    want.push("unknown legacy=false".into());
    want.push("unknown legacy=true".into());
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    assert_reached("resolve", labels.into_iter(), &want, 3);
}

#[test]
fn token_and_key_generators_reach_every_outcome() {
    // verify-token: success and each of its denials.
    let strategy = (
        prop_oneof![1 => Just(Vec::new()), 6 => prop::collection::vec(any::<u8>(), 1..40)],
        arb_text(),
        arb_now(),
        arb_token_input(),
    )
        .boxed();
    let labels = sample(strategy, 5_000)
        .into_iter()
        .map(|(secret, scan, now, t)| {
            let token = token_from_input(&secret, &scan, now, &t);
            match tokens::verify_token(&secret, &token, &scan, now) {
                Ok(_) => "ok".to_string(),
                Err(d) => d.detail,
            }
        });
    assert_reached(
        "verify_token",
        labels,
        &[
            "ok",
            types::detail::TOKEN_INVALID,
            types::detail::TOKEN_SCAN,
        ],
        10,
    );
    // verify-key / parse-key: both answers.
    let strategy = (
        prop::collection::vec(any::<u8>(), 64..100),
        arb_key_input(),
        arb_hash_input(),
    )
        .boxed();
    let labels = sample(strategy, 5_000).into_iter().map(|(seed, k, h)| {
        let m = keys::mint_key(&seed).unwrap_or_else(|_| POOL[0].clone());
        let key = key_from_input(&m.key, &k);
        let stored = hash_from_input(&m.key, &m.stored_hash, &h);
        format!(
            "verify={} parse={}",
            keys::verify_key(&key, &stored),
            keys::parse_key(&key).is_some()
        )
    });
    assert_reached(
        "verify_key",
        labels,
        &[
            "verify=true parse=true",
            "verify=false parse=true",
            "verify=false parse=false",
        ],
        10,
    );
    // mint-key: success and both errors.
    let labels =
        sample(arb_random_bytes().boxed(), 2_000)
            .into_iter()
            .map(|r| match keys::mint_key(&r) {
                Ok(_) => "ok".to_string(),
                Err(e) => e,
            });
    assert_reached(
        "mint_key",
        labels,
        &[
            "ok",
            "need at least 64 random bytes",
            "not enough random bytes; call again with fresh ones",
        ],
        10,
    );
}
