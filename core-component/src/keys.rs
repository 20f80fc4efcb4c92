//! The key format `ssk_<id>_<secret>` and its stored hash.
//!
//! - `id`: 10 chars of `[A-Za-z0-9]`, the database primary key.
//! - `secret`: 32 chars of `[A-Za-z0-9]`; the first 26 are uniform random
//!   (26 * log2(62) = 154 bits), the last 6 a checksum over everything before
//!   them (`ssk_<id>_<26 chars>`), so any host can reject a mistyped or forged
//!   key without a database.
//! - stored form: `v1$<b64url salt>$<hex HMAC-SHA256(salt, key)>`. A fast keyed
//!   hash, not argon2: the secret is 154 random bits, stretching adds nothing and
//!   would cost every bad request milliseconds of CPU.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::ct;
use crate::policy::{DEFAULT_NEW_KEY, IMPLIES};
use crate::types::{detail, Denial, Scope};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "ssk_";
pub const ID_LEN: usize = 10;
pub const SECRET_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;
/// Bytes of randomness `mint_key` needs at least.
pub const MIN_RANDOM: usize = 64;
pub const SALT_LEN: usize = 16;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedKey {
    pub id: String,
    pub prefix: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct MintedKey {
    pub id: String,
    pub prefix: String,
    pub key: String,
    pub stored_hash: String,
}

// The plaintext key never reaches a Debug output.
impl core::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MintedKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let d = Sha256::digest(body);
    let mut out = [0u8; CHECKSUM_LEN];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = ALPHABET[(*b % 62) as usize];
    }
    out
}

/// Parses a key and checks its checksum. `None` for anything malformed.
pub fn parse_key(key: &str) -> Option<ParsedKey> {
    let b = key.as_bytes();
    if b.len() != KEY_LEN || !key.starts_with(PREFIX) {
        return None;
    }
    let id_end = PREFIX.len() + ID_LEN;
    if b[id_end] != b'_' {
        return None;
    }
    let id = &b[PREFIX.len()..id_end];
    let secret = &b[id_end + 1..];
    if !id.iter().chain(secret).all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let body_end = KEY_LEN - CHECKSUM_LEN;
    if checksum(&b[..body_end]) != b[body_end..] {
        return None;
    }
    let id = &key[PREFIX.len()..id_end];
    Some(ParsedKey {
        id: id.to_string(),
        prefix: format!("{PREFIX}{id}"),
    })
}

/// Draws uniform alphabet characters from random bytes by rejection sampling
/// (bytes >= 248 are skipped so `% 62` has no bias).
fn draw(random: &mut impl Iterator<Item = u8>, n: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let b = random.next()?;
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize]);
        }
    }
    Some(out)
}

/// Builds a new key from CSPRNG bytes the host supplies.
pub fn mint_key(random: &[u8]) -> Result<MintedKey, String> {
    if random.len() < MIN_RANDOM {
        return Err(format!("need at least {MIN_RANDOM} random bytes"));
    }
    let (salt, rest) = random.split_at(SALT_LEN);
    let mut it = rest.iter().copied();
    let insufficient = || "not enough random bytes; call again with fresh ones".to_string();
    let id = draw(&mut it, ID_LEN).ok_or_else(insufficient)?;
    let secret = draw(&mut it, SECRET_LEN - CHECKSUM_LEN).ok_or_else(insufficient)?;
    let mut key = Vec::with_capacity(KEY_LEN);
    key.extend_from_slice(PREFIX.as_bytes());
    key.extend_from_slice(&id);
    key.push(b'_');
    key.extend_from_slice(&secret);
    let sum = checksum(&key);
    key.extend_from_slice(&sum);
    let key = String::from_utf8(key).expect("alphabet is ASCII");
    let id = String::from_utf8(id).expect("alphabet is ASCII");
    let stored_hash = hash_key(&key, salt);
    Ok(MintedKey {
        prefix: format!("{PREFIX}{id}"),
        id,
        key,
        stored_hash,
    })
}

fn mac(salt: &[u8], key: &str) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(salt).expect("hmac takes any key length");
    m.update(key.as_bytes());
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let v = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(v(p[0])? * 16 + v(p[1])?))
        .collect()
}

/// The stored form of a key.
pub fn hash_key(key: &str, salt: &[u8]) -> String {
    format!(
        "v1${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        hex(&mac(salt, key))
    )
}

/// Constant-time check of a key against its stored form. Unknown versions
/// and malformed hashes never verify.
pub fn verify_key(key: &str, stored_hash: &str) -> bool {
    let mut parts = stored_hash.split('$');
    let (Some("v1"), Some(salt), Some(digest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Some(want)) = (URL_SAFE_NO_PAD.decode(salt), unhex(digest)) else {
        return false;
    };
    if salt.len() < SALT_LEN || want.len() != 32 {
        return false;
    }
    ct::eq_bytes(&mac(&salt, key), &want)
}

/// Scopes for a new key: the policy default when none are asked for. An empty
/// list is taken as asked-for-nothing and refused: a key that can do nothing
/// is a mistake, not a choice.
pub fn scopes_for_new_key(requested: Option<&[String]>) -> Result<Vec<Scope>, Denial> {
    let Some(requested) = requested else {
        return Ok(DEFAULT_NEW_KEY.to_vec());
    };
    if requested.is_empty() {
        return Err(Denial::new(422, "scopes must not be empty"));
    }
    let mut out = Vec::new();
    for s in requested {
        let scope = Scope::parse(s).ok_or_else(|| {
            let shown: String = s.chars().take(32).collect();
            Denial::new(422, format!("{}{shown}", detail::UNKNOWN_SCOPE_PREFIX))
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out.sort();
    Ok(out)
}

/// Scopes after the policy's implications, sorted and without repeats.
pub fn effective_scopes(scopes: &[Scope]) -> Vec<Scope> {
    let mut out: Vec<Scope> = scopes.to_vec();
    for s in scopes {
        for (from, to) in IMPLIES {
            if from == s {
                out.extend_from_slice(to);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: u8) -> Vec<u8> {
        (0..96u32)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn mint_parse_verify_roundtrip() {
        let k = mint_key(&random(1)).unwrap();
        assert_eq!(k.key.len(), KEY_LEN);
        assert!(k.key.starts_with("ssk_"));
        assert_eq!(k.prefix, format!("ssk_{}", k.id));
        assert_eq!(k.id.len(), ID_LEN);
        let p = parse_key(&k.key).expect("fresh key parses");
        assert_eq!(p.id, k.id);
        assert_eq!(p.prefix, k.prefix);
        assert!(verify_key(&k.key, &k.stored_hash));
        assert!(k.stored_hash.starts_with("v1$"));
        assert!(!k.stored_hash.contains(&k.key));
    }

    #[test]
    fn mint_is_deterministic_in_its_input() {
        assert_eq!(mint_key(&random(7)).unwrap(), mint_key(&random(7)).unwrap());
        assert_ne!(
            mint_key(&random(7)).unwrap().key,
            mint_key(&random(8)).unwrap().key
        );
    }

    #[test]
    fn mint_needs_enough_randomness() {
        assert!(mint_key(&[0u8; 10]).is_err());
        // All bytes rejected by the sampler: an error, never a biased key.
        assert!(mint_key(&[255u8; 200]).is_err());
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let k = mint_key(&random(3)).unwrap();
        let bytes = k.key.as_bytes();
        for i in 0..bytes.len() {
            for c in [b'A', b'z', b'0', b'_'] {
                if bytes[i] == c {
                    continue;
                }
                let mut m = bytes.to_vec();
                m[i] = c;
                let m = String::from_utf8(m).unwrap();
                assert!(!verify_key(&m, &k.stored_hash), "pos {i}");
                // Outside the prefix, the checksum catches it without a database
                // (a change in the checksum itself included).
                if i >= PREFIX.len() {
                    assert!(parse_key(&m).is_none(), "pos {i} char {c}");
                }
            }
        }
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for k in [
            "",
            "ssk_",
            "ssk_abc",
            "nope",
            "ssk_ABCDEFGHIJ-abcdefghijklmnopqrstuvwxyz012345",
            &"x".repeat(KEY_LEN),
            &"ssk_\u{e9}".repeat(10),
        ] {
            assert!(parse_key(k).is_none(), "{k:?}");
        }
    }

    #[test]
    fn malformed_hashes_never_verify() {
        let k = mint_key(&random(5)).unwrap();
        let parts: Vec<&str> = k.stored_hash.split('$').collect();
        for h in [
            String::new(),
            "v1$".into(),
            format!("v2${}${}", parts[1], parts[2]),
            format!("v1${}", parts[1]),
            format!("v1${}${}$x", parts[1], parts[2]),
            format!("v1$!!${}", parts[2]),
            format!("v1${}${}", parts[1], &parts[2][1..]),
            format!("v1${}${}", parts[1], parts[2].to_uppercase()),
            format!("v1$AAAA${}", parts[2]),
        ] {
            assert!(!verify_key(&k.key, &h), "{h}");
        }
    }

    #[test]
    fn hash_is_salted() {
        let k = "ssk_AAAAAAAAAA_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        assert_ne!(hash_key(k, &[1; 16]), hash_key(k, &[2; 16]));
        assert!(verify_key(k, &hash_key(k, &[9; 16])));
    }

    #[test]
    fn new_key_scopes() {
        assert_eq!(
            scopes_for_new_key(None).unwrap(),
            vec![Scope::Read, Scope::Write]
        );
        assert_eq!(
            scopes_for_new_key(Some(&["admin".into()])).unwrap(),
            vec![Scope::Admin]
        );
        assert_eq!(
            scopes_for_new_key(Some(&["write".into(), "read".into(), "read".into()])).unwrap(),
            vec![Scope::Read, Scope::Write]
        );
        let d = scopes_for_new_key(Some(&["root".into()])).unwrap_err();
        assert_eq!((d.status, d.detail.as_str()), (422, "Unknown scope: root"));
        let d = scopes_for_new_key(Some(&[])).unwrap_err();
        assert_eq!(
            (d.status, d.detail.as_str()),
            (422, "scopes must not be empty")
        );
    }

    #[test]
    fn implications() {
        use Scope::*;
        assert_eq!(effective_scopes(&[Admin]), vec![Read, Write, Admin]);
        assert_eq!(effective_scopes(&[Read]), vec![Read]);
        assert_eq!(effective_scopes(&[Write]), vec![Write]);
        assert_eq!(effective_scopes(&[]), Vec::<Scope>::new());
    }

    #[test]
    fn debug_hides_plaintext() {
        let k = mint_key(&random(2)).unwrap();
        assert!(!format!("{k:?}").contains(&k.key));
    }
}
