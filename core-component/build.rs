//! Compiles a policy file (`policies/default.toml`, or the file named by
//! `SECURESCAN_POLICY_FILE`) into Rust tables, so a policy build carries its
//! policy as code: no TOML parser inside the component, and a malformed policy
//! fails the build instead of a request.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policy: Meta,
    scopes: Scopes,
    tokens: Tokens,
    rate_limit: RateLimit,
    legacy: Legacy,
    route: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scopes {
    implies: BTreeMap<String, Vec<String>>,
    default_new_key: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tokens {
    ttl_seconds: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimit {
    per_minute: u32,
    burst: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Legacy {
    prefix: String,
    current: String,
    sunset: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    methods: Vec<String>,
    path: String,
    access: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    event_token: bool,
}

fn scope_ident(s: &str) -> String {
    match s {
        "read" => "Scope::Read".into(),
        "write" => "Scope::Write".into(),
        "admin" => "Scope::Admin".into(),
        other => panic!("policy: unknown scope {other:?} (known: read, write, admin)"),
    }
}

fn scope_list(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| scope_ident(s)).collect();
    format!("&[{}]", items.join(", "))
}

fn main() {
    // The no_std component still needs memcmp/memcpy; wasi-libc's `libc.a`
    // (shipped with the wasm32-wasip2 target) provides them without pulling
    // in a single WASI import.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = std::process::Command::new(rustc)
            .args(["--print", "sysroot"])
            .output()
            .expect("rustc --print sysroot");
        let sysroot = String::from_utf8(out.stdout).expect("sysroot is UTF-8");
        let target = std::env::var("TARGET").unwrap();
        println!(
            "cargo:rustc-link-search=native={}/lib/rustlib/{target}/lib/self-contained",
            sysroot.trim()
        );
        println!("cargo:rustc-link-lib=static=c");
    }
    if std::env::var_os("CARGO_FEATURE_TEST_TRAP_ON_RESOLVE").is_some() {
        println!("cargo:warning=feature test-trap-on-resolve: this build traps on every resolve (tests only)");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=SECURESCAN_POLICY_FILE");
    let path = match std::env::var("SECURESCAN_POLICY_FILE") {
        Ok(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                manifest.join("..").join(p)
            }
        }
        _ => manifest.join("../policies/default.toml"),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let source = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("policy: cannot read {}: {e}", path.display()));
    let sha = hex(&Sha256::digest(&source));
    let text = String::from_utf8(source).expect("policy: not UTF-8");
    let policy: PolicyFile =
        toml::from_str(&text).unwrap_or_else(|e| panic!("policy {}: {e}", path.display()));

    assert!(
        !policy.route.is_empty(),
        "policy: a policy needs at least one route"
    );
    assert!(
        policy.tokens.ttl_seconds > 0 && policy.tokens.ttl_seconds <= 86_400,
        "policy: tokens.ttl_seconds must be in 1..=86400"
    );
    assert!(
        policy.rate_limit.burst > 0 && policy.rate_limit.per_minute > 0,
        "policy: rate_limit values must be positive"
    );
    assert!(
        policy.legacy.current.starts_with(&policy.legacy.prefix),
        "policy: legacy.current must start with legacy.prefix"
    );
    for s in &policy.scopes.default_new_key {
        scope_ident(s);
    }

    let mut out = String::new();
    let q = |s: &str| format!("{s:?}");
    writeln!(
        out,
        "pub const POLICY_NAME: &str = {};",
        q(&policy.policy.name)
    )
    .unwrap();
    writeln!(
        out,
        "pub const POLICY_VERSION: &str = {};",
        q(&policy.policy.version)
    )
    .unwrap();
    writeln!(out, "pub const POLICY_SHA256: &str = {};", q(&sha)).unwrap();
    writeln!(
        out,
        "pub const TOKEN_TTL_SECONDS: u32 = {};",
        policy.tokens.ttl_seconds
    )
    .unwrap();
    writeln!(
        out,
        "pub const RATE_PER_MINUTE: u32 = {};",
        policy.rate_limit.per_minute
    )
    .unwrap();
    writeln!(
        out,
        "pub const RATE_BURST: u32 = {};",
        policy.rate_limit.burst
    )
    .unwrap();
    writeln!(
        out,
        "pub const LEGACY_PREFIX: &str = {};",
        q(&policy.legacy.prefix)
    )
    .unwrap();
    writeln!(
        out,
        "pub const LEGACY_CURRENT: &str = {};",
        q(&policy.legacy.current)
    )
    .unwrap();
    writeln!(
        out,
        "pub const LEGACY_SUNSET: &str = {};",
        q(&policy.legacy.sunset)
    )
    .unwrap();
    writeln!(
        out,
        "pub const DEFAULT_NEW_KEY: &[Scope] = {};",
        scope_list(&policy.scopes.default_new_key)
    )
    .unwrap();
    out.push_str("pub const IMPLIES: &[(Scope, &[Scope])] = &[\n");
    for (from, to) in &policy.scopes.implies {
        writeln!(out, "    ({}, {}),", scope_ident(from), scope_list(to)).unwrap();
    }
    out.push_str("];\n");

    out.push_str("pub const ROUTES: &[Route] = &[\n");
    let mut seen = std::collections::BTreeSet::new();
    for r in &policy.route {
        assert!(
            r.path.starts_with('/'),
            "policy: route path {:?} must start with /",
            r.path
        );
        let segments: Vec<String> = r
            .path
            .split('/')
            .skip(1)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') {
                    "Seg::Param".to_string()
                } else {
                    assert!(
                        s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)),
                        "policy: literal segment {s:?} in {:?} must be plain ASCII",
                        r.path
                    );
                    format!("Seg::Lit({s:?})")
                }
            })
            .collect();
        let access = match r.access.as_str() {
            "public" => "Access::Public".to_string(),
            "db-key" => "Access::AnyDbKey".to_string(),
            "scopes" => {
                assert!(
                    !r.scopes.is_empty(),
                    "policy: route {} has access = \"scopes\" but no scopes",
                    r.path
                );
                format!("Access::Scopes({})", scope_list(&r.scopes))
            }
            other => panic!("policy: unknown access {other:?} on {}", r.path),
        };
        assert!(
            !r.methods.is_empty(),
            "policy: route {} has no methods",
            r.path
        );
        let methods: Vec<String> = r
            .methods
            .iter()
            .map(|m| {
                assert!(
                    m.bytes().all(|b| b.is_ascii_uppercase()),
                    "policy: method {m:?} must be upper-case"
                );
                assert!(
                    seen.insert((m.clone(), r.path.clone())),
                    "policy: duplicate route {m} {}",
                    r.path
                );
                format!("{m:?}")
            })
            .collect();
        writeln!(
            out,
            "    Route {{ methods: &[{}], template: {:?}, segments: &[{}], access: {}, event_token: {} }},",
            methods.join(", "),
            r.path,
            segments.join(", "),
            access,
            r.event_token
        )
        .unwrap();
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("policy_gen.rs");
    std::fs::write(dest, out).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
