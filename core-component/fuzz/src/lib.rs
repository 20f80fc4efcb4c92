//! Input generators shared by the fuzz targets.
//!
//! libFuzzer hands every target raw bytes; `arbitrary` turns them into the
//! structured inputs below. Each generator mixes "raw" cases (anything at all)
//! with cases built from real keys, real tokens and the real route table, so
//! that the fuzzer reaches the allow paths and the late checks, not only the
//! first parse error.

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use securescan_core::authn::{Credential, Facts, KeyRow};
use securescan_core::keys::{self, MintedKey};
use securescan_core::routes::{self, Requirement};
use securescan_core::tokens;
use securescan_core::types::{detail, Denial, Scope};
use sha2::Sha256;
use std::sync::LazyLock;

// ---------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ArbScope {
    Read,
    Write,
    Admin,
}

impl From<ArbScope> for Scope {
    fn from(s: ArbScope) -> Scope {
        match s {
            ArbScope::Read => Scope::Read,
            ArbScope::Write => Scope::Write,
            ArbScope::Admin => Scope::Admin,
        }
    }
}

pub fn scopes(s: &[ArbScope]) -> Vec<Scope> {
    s.iter().take(6).copied().map(Scope::from).collect()
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

fn seed_bytes(seed: u8) -> Vec<u8> {
    (0..96u32)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).rotate_left(3))
        .collect()
}

/// Three real keys minted from fixed bytes: rows, env keys and credentials
/// are drawn from this pool so that they often match each other.
pub static POOL: LazyLock<Vec<MintedKey>> = LazyLock::new(|| {
    (1..=3u8)
        .map(|s| keys::mint_key(&seed_bytes(s)).expect("fixture key"))
        .collect()
});

pub fn pool_key(i: u8) -> &'static MintedKey {
    &POOL[usize::from(i) % POOL.len()]
}

/// Replaces the byte at `pos % len` of an ASCII string by `ch`, forcing a
/// different character. `None` when the string is empty.
pub fn flip_ascii(s: &str, pos: u16, ch: u8) -> Option<String> {
    let mut b = s.as_bytes().to_vec();
    if b.is_empty() || !s.is_ascii() {
        return None;
    }
    let i = usize::from(pos) % b.len();
    // Any printable ASCII character other than the current one.
    let mut c = 0x21 + (ch % 94);
    if c == b[i] {
        c = if c == 0x7e { 0x21 } else { c + 1 };
    }
    b[i] = c;
    Some(String::from_utf8(b).expect("ASCII"))
}

/// A key to present: a pool key, a pool key with one character changed, a
/// truncated or extended one, or anything.
#[derive(Arbitrary, Clone, Debug)]
pub enum KeyInput {
    Pool(u8),
    Flipped {
        which: u8,
        pos: u16,
        ch: u8,
    },
    Truncated {
        which: u8,
        len: u8,
    },
    Extended {
        which: u8,
        tail: String,
    },
    /// A well-formed shape with arbitrary alphanumerics (checksum rarely right).
    Shaped {
        id: [u8; 10],
        secret: [u8; 32],
    },
    Raw(String),
}

const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl KeyInput {
    /// The key text, and whether it is a pool key with exactly one character
    /// changed (such a key must never verify).
    pub fn build(&self) -> (String, bool) {
        match self {
            KeyInput::Pool(i) => (pool_key(*i).key.clone(), false),
            KeyInput::Flipped { which, pos, ch } => {
                let k = &pool_key(*which).key;
                (flip_ascii(k, *pos, *ch).expect("pool key is ASCII"), true)
            }
            KeyInput::Truncated { which, len } => {
                let k = &pool_key(*which).key;
                (k[..usize::from(*len) % k.len()].to_string(), false)
            }
            KeyInput::Extended { which, tail } => {
                (format!("{}{}", pool_key(*which).key, tail), false)
            }
            KeyInput::Shaped { id, secret } => {
                let pick = |b: &u8| ALNUM[usize::from(*b) % 62] as char;
                let id: String = id.iter().map(pick).collect();
                let secret: String = secret.iter().map(pick).collect();
                (format!("ssk_{id}_{secret}"), false)
            }
            KeyInput::Raw(s) => (s.clone(), false),
        }
    }
}

// ---------------------------------------------------------------------------
// Event tokens
// ---------------------------------------------------------------------------

/// The event secret the facts carry, and alternatives to it.
pub const SECRET: &[u8] = b"fuzz-event-secret";

fn sign(secret: &[u8], payload: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    m.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// A token built by hand and correctly signed, with any field contents.
pub fn crafted_token(secret: &[u8], scan: &str, key: &str, exp: &str) -> String {
    let payload = format!("{scan}|{key}|{exp}");
    let sig = sign(secret, &payload);
    URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"))
}

#[derive(Arbitrary, Clone, Debug)]
pub enum KeyIdInput {
    Env,
    Dev,
    Pool(u8),
    Raw(String),
}

impl KeyIdInput {
    pub fn build(&self) -> String {
        match self {
            KeyIdInput::Env => "env".into(),
            KeyIdInput::Dev => "dev".into(),
            KeyIdInput::Pool(i) => pool_key(*i).id.clone(),
            KeyIdInput::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Clone, Debug)]
pub enum TokenInput {
    /// Minted by the real code for this scan, `age` seconds ago.
    Minted {
        key: KeyIdInput,
        age: i32,
        other_scan: Option<String>,
        other_secret: Option<Vec<u8>>,
    },
    /// Hand-built and signed with the facts' secret, any field contents.
    Crafted {
        scan: Option<String>,
        key: KeyIdInput,
        exp: String,
        padded: bool,
    },
    /// A minted token with one byte changed.
    Mutated {
        key: KeyIdInput,
        pos: u16,
        ch: u8,
    },
    Raw(String),
}

impl TokenInput {
    /// The token text for `scan` at `now`.
    pub fn build(&self, secret: &[u8], scan: &str, now: u64) -> String {
        match self {
            TokenInput::Minted {
                key,
                age,
                other_scan,
                other_secret,
            } => {
                let minted_at = now.saturating_add_signed(-i64::from(*age));
                let scan = other_scan.as_deref().unwrap_or(scan);
                let secret = other_secret.as_deref().unwrap_or(secret);
                tokens::mint_token(secret, scan, &key.build(), minted_at)
            }
            TokenInput::Crafted {
                scan: s,
                key,
                exp,
                padded,
            } => {
                let t = crafted_token(secret, s.as_deref().unwrap_or(scan), &key.build(), exp);
                if *padded {
                    format!("{t}==")
                } else {
                    t
                }
            }
            TokenInput::Mutated { key, pos, ch } => {
                let t = tokens::mint_token(secret, scan, &key.build(), now);
                flip_ascii(&t, *pos, *ch).expect("tokens are ASCII")
            }
            TokenInput::Raw(s) => s.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Paths and methods
// ---------------------------------------------------------------------------

const LITERALS: &[&str] = &[
    "api",
    "v1",
    "v2",
    "keys",
    "me",
    "scans",
    "findings",
    "events",
    "event-token",
    "cancel",
    "webhooks",
    "deliveries",
    "test",
    "policy",
    "rollback",
    "health",
    "ready",
    "docs",
    "redoc",
    "openapi.json",
    "x1",
    "abc",
];

const TRICKY: &[&str] = &[
    ".", "..", "%2e", "%2E", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "a%2fb", "a%2Fb", "a%5cb", "a%5C",
    "%00", "a%00b", "%", "%2", "%zz", "%25", "%252e", "a\\b", "a;b", "a?b", "a#b", "%20", " ",
    "\t", "é", "%c3%a9", "~", "..;", "API", "V1",
];

#[derive(Arbitrary, Clone, Debug)]
pub enum SegInput {
    Lit(u8),
    Tricky(u8),
    Empty,
    Long(u16),
    Raw(String),
}

#[derive(Arbitrary, Clone, Debug)]
pub enum PrefixInput {
    Root,
    Api,
    ApiV1,
    None,
}

#[derive(Arbitrary, Clone, Debug)]
pub enum PathInput {
    Built {
        prefix: PrefixInput,
        segs: Vec<SegInput>,
        trailing_slash: bool,
        double_slash_at: Option<u8>,
    },
    /// A real template with its parameter filled in.
    Template {
        route: u8,
        param: SegInput,
        legacy: bool,
    },
    Raw(String),
}

fn seg_text(s: &SegInput) -> String {
    match s {
        SegInput::Lit(i) => LITERALS[usize::from(*i) % LITERALS.len()].to_string(),
        SegInput::Tricky(i) => TRICKY[usize::from(*i) % TRICKY.len()].to_string(),
        SegInput::Empty => String::new(),
        // Long enough to cross MAX_PATH on its own.
        SegInput::Long(n) => "a".repeat(usize::from(*n) % (routes::MAX_PATH + 64)),
        SegInput::Raw(s) => s.clone(),
    }
}

pub static TEMPLATES: LazyLock<Vec<String>> = LazyLock::new(routes::templates);

impl PathInput {
    pub fn build(&self) -> String {
        match self {
            PathInput::Built {
                prefix,
                segs,
                trailing_slash,
                double_slash_at,
            } => {
                let mut p = match prefix {
                    PrefixInput::Root => String::new(),
                    PrefixInput::Api => "/api".into(),
                    PrefixInput::ApiV1 => "/api/v1".into(),
                    PrefixInput::None => String::from("x"),
                };
                for (i, s) in segs.iter().take(12).enumerate() {
                    p.push('/');
                    if Some(i as u8) == *double_slash_at {
                        p.push('/');
                    }
                    p.push_str(&seg_text(s));
                }
                if *trailing_slash || p.is_empty() {
                    p.push('/');
                }
                p
            }
            PathInput::Template {
                route,
                param,
                legacy,
            } => {
                let t = &TEMPLATES[usize::from(*route) % TEMPLATES.len()];
                let p = t.replace("{id}", &seg_text(param));
                if *legacy {
                    p.replacen("/api/v1", "/api", 1)
                } else {
                    p
                }
            }
            PathInput::Raw(s) => s.clone(),
        }
    }
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "get", "Get",
    "", " GET", "GET ",
];

#[derive(Arbitrary, Clone, Debug)]
pub enum MethodInput {
    Known(u8),
    Raw(String),
}

impl MethodInput {
    pub fn build(&self) -> String {
        match self {
            MethodInput::Known(i) => METHODS[usize::from(*i) % METHODS.len()].to_string(),
            MethodInput::Raw(s) => s.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Authentication facts
// ---------------------------------------------------------------------------

#[derive(Arbitrary, Clone, Debug)]
pub enum RequirementInput {
    /// Whatever a generated request resolves to.
    Resolved {
        method: MethodInput,
        path: PathInput,
    },
    Public,
    AnyDbKey,
    Scopes(Vec<ArbScope>),
    Unknown,
}

#[derive(Arbitrary, Clone, Debug)]
pub enum CredentialInput {
    None,
    ApiKey(KeyInput),
    Bearer(KeyInput),
    EventToken(TokenInput),
}

#[derive(Arbitrary, Clone, Debug)]
pub enum EnvInput {
    None,
    Pool(u8),
    Raw(String),
}

#[derive(Arbitrary, Clone, Debug)]
pub struct RowInput {
    pub which: u8,
    /// Use another pool key's hash (a row that does not match the key).
    pub other_hash: Option<u8>,
    pub raw_hash: Option<String>,
    pub raw_id: Option<String>,
    pub scopes: Vec<ArbScope>,
    pub revoked: bool,
}

#[derive(Arbitrary, Clone, Debug)]
pub struct FactsInput {
    pub requirement: RequirementInput,
    pub accepts_event_token: Option<bool>,
    pub resource_id: Option<Option<String>>,
    pub credential: CredentialInput,
    pub env: EnvInput,
    pub row: Option<RowInput>,
    pub db_key_exists: bool,
    pub auth_required: bool,
    pub secret: Option<Vec<u8>>,
    pub now: u64,
}

/// What the generator knows about the facts it built.
pub struct Built {
    pub facts: Facts,
    /// The credential is a pool key with exactly one character changed.
    pub flipped_key: bool,
}

impl FactsInput {
    pub fn build(&self) -> Built {
        let (requirement, accepts, resource) = match &self.requirement {
            RequirementInput::Resolved { method, path } => {
                let r = routes::resolve(&method.build(), &path.build());
                (r.requirement, r.accepts_event_token, r.resource_id)
            }
            RequirementInput::Public => (Requirement::Public, false, None),
            RequirementInput::AnyDbKey => (Requirement::AnyDbKey, false, None),
            RequirementInput::Scopes(s) => (Requirement::Scopes(scopes(s)), false, None),
            RequirementInput::Unknown => (Requirement::Unknown, false, None),
        };
        let accepts_event_token = self.accepts_event_token.unwrap_or(accepts);
        let resource_id = match &self.resource_id {
            Some(r) => r.clone(),
            None => resource.or_else(|| Some("scan-1".into())),
        };
        let secret = self.secret.clone().unwrap_or_else(|| SECRET.to_vec());
        // Clamp `now` to a realistic range half the time so tokens minted
        // relative to it do not all saturate.
        let now = if self.now & 1 == 0 {
            1_700_000_000 + (self.now >> 40)
        } else {
            self.now
        };
        let mut flipped_key = false;
        let credential = match &self.credential {
            CredentialInput::None => Credential::None,
            CredentialInput::ApiKey(k) => {
                let (k, f) = k.build();
                flipped_key = f;
                Credential::ApiKey(k)
            }
            CredentialInput::Bearer(k) => {
                let (k, f) = k.build();
                flipped_key = f;
                Credential::Bearer(k)
            }
            CredentialInput::EventToken(t) => {
                let scan = resource_id.as_deref().unwrap_or("");
                Credential::EventToken(t.build(&secret, scan, now))
            }
        };
        let env_key = match &self.env {
            EnvInput::None => None,
            EnvInput::Pool(i) => Some(pool_key(*i).key.clone()),
            EnvInput::Raw(s) => Some(s.clone()),
        };
        let row = self.row.as_ref().map(|r| {
            let k = pool_key(r.which);
            let stored_hash = match (&r.raw_hash, r.other_hash) {
                (Some(h), _) => h.clone(),
                (None, Some(o)) => pool_key(o).stored_hash.clone(),
                (None, None) => k.stored_hash.clone(),
            };
            KeyRow {
                id: r.raw_id.clone().unwrap_or_else(|| k.id.clone()),
                stored_hash,
                scopes: scopes(&r.scopes),
                revoked: r.revoked,
            }
        });
        Built {
            facts: Facts {
                requirement,
                accepts_event_token,
                resource_id,
                credential,
                env_key,
                db_key_exists: self.db_key_exists || row.is_some(),
                row,
                auth_required: self.auth_required,
                event_secret: secret,
                now,
            },
            flipped_key,
        }
    }
}

// ---------------------------------------------------------------------------
// Denials
// ---------------------------------------------------------------------------

/// A denial the SPEC knows: status, exact detail, and the challenge flag
/// exactly on 401.
pub fn assert_known_denial(d: &Denial) {
    assert_eq!(d.challenge, d.status == 401, "challenge flag: {d:?}");
    let ok = match d.status {
        401 => [
            detail::KEY_REQUIRED,
            detail::INVALID_KEY,
            detail::TOKEN_INVALID,
            detail::TOKEN_SCAN,
            detail::TOKEN_KEY_GONE,
            detail::TOKEN_ENV_GONE,
            detail::TOKEN_DEV_GONE,
            detail::TOKEN_ROUTE,
        ]
        .contains(&d.detail.as_str()),
        403 => Scope::ALL
            .iter()
            .any(|s| d.detail == format!("{}{}", detail::REQUIRES_SCOPE_PREFIX, s.as_str())),
        404 => d.detail == detail::NOT_FOUND || d.detail == detail::NOT_DB_KEY,
        503 => d.detail == detail::NO_CREDENTIALS,
        _ => false,
    };
    assert!(ok, "unexpected denial {d:?}");
}
