//! SSE event tokens, byte-compatible with the reference implementation:
//! `b64url_nopad("<scan_id>|<key_id>|<expires_at>|<b64url_nopad(sig)>")` where
//! `sig = HMAC-SHA256(secret, "<scan_id>|<key_id>|<expires_at>")`.
//! Padding is accepted on input (some encoders keep it) and never produced.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::ct;
use crate::policy::TOKEN_TTL_SECONDS;
use crate::types::{detail, Denial};
use alloc::borrow::Cow;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Longest token looked at; longer ones are refused before decoding.
pub const MAX_TOKEN: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub scan_id: String,
    pub key_id: String,
    pub expires_at: u64,
}

/// HMAC's block size for SHA-256: shorter keys are padded with zero bytes.
const HMAC_BLOCK: usize = 64;

/// The HMAC key for a secret.
///
/// HMAC pads a key shorter than its block with zero bytes, so the secrets
/// `K` and `K\0` (and the empty secret and `\0`) would be the same key and a
/// token minted under one would verify under the other (found by the
/// `tokens` fuzz target, see `regression_token_secret_with_trailing_nul`).
/// Secrets that end in a zero byte within the block, and the empty one, are
/// therefore first hashed with a domain tag and their exact bytes, which no
/// other secret maps to. Every other secret, which includes every text secret
/// a deployment can configure, is used as is: tokens stay byte-compatible
/// with the reference implementation.
///
/// What HMAC still equates by design: a secret longer than the block and
/// its SHA-256 digest. Telling them apart would change the key of long
/// secrets, and a deployment would have to configure the digest of another
/// deployment's secret to meet it.
fn hmac_key(secret: &[u8]) -> Cow<'_, [u8]> {
    let ambiguous = secret.len() <= HMAC_BLOCK && secret.last().is_none_or(|&b| b == 0);
    if !ambiguous {
        return Cow::Borrowed(secret);
    }
    let mut h = Sha256::new();
    h.update(b"securescan event-token secret with trailing NUL\0");
    h.update((secret.len() as u64).to_be_bytes());
    h.update(secret);
    Cow::Owned(h.finalize().to_vec())
}

fn sign(secret: &[u8], payload: &str) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&hmac_key(secret))
        .expect("hmac takes any key length");
    m.update(payload.as_bytes());
    m.finalize().into_bytes().into()
}

pub fn ttl_seconds() -> u32 {
    TOKEN_TTL_SECONDS
}

/// Mints a token valid until `now + ttl`.
pub fn mint_token(secret: &[u8], scan_id: &str, key_id: &str, now: u64) -> String {
    let expires_at = now.saturating_add(u64::from(TOKEN_TTL_SECONDS));
    let payload = format!("{scan_id}|{key_id}|{expires_at}");
    let sig = URL_SAFE_NO_PAD.encode(sign(secret, &payload));
    URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"))
}

fn decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Splits a decoded token into its four fields, unverified.
fn fields(token: &str) -> Option<(String, String, String, String)> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return None;
    }
    let raw = String::from_utf8(decode(token)?).ok()?;
    let mut it = raw.split('|');
    let (Some(scan), Some(key), Some(exp), Some(sig), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    Some((scan.into(), key.into(), exp.into(), sig.into()))
}

/// The key id a token names, unverified: only for choosing which database row
/// to fetch before [`verify_token`] decides.
pub fn peek_key_id(token: &str) -> Option<String> {
    fields(token).map(|(_, key, _, _)| key)
}

/// Checks signature, expiry and scan binding, in that order.
pub fn verify_token(secret: &[u8], token: &str, scan_id: &str, now: u64) -> Result<Claims, Denial> {
    let invalid = || Denial::new(401, detail::TOKEN_INVALID);
    if secret.is_empty() {
        return Err(invalid());
    }
    let (scan, key, exp, sig) = fields(token).ok_or_else(invalid)?;
    let given = decode(&sig).ok_or_else(invalid)?;
    let want = sign(secret, &format!("{scan}|{key}|{exp}"));
    if !ct::eq_bytes(&given, &want) {
        return Err(invalid());
    }
    // ASCII digits only: Rust's parser would take "+300", which the reference
    // never produces.
    if exp.is_empty() || exp.len() > 20 || !exp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let expires_at: u64 = exp.parse().map_err(|_| invalid())?;
    if now >= expires_at {
        return Err(invalid());
    }
    if !ct::eq_secret(scan.as_bytes(), scan_id.as_bytes()) {
        return Err(Denial::new(401, detail::TOKEN_SCAN));
    }
    Ok(Claims {
        scan_id: scan,
        key_id: key,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8] = b"test-secret";

    fn detail_of(r: Result<Claims, Denial>) -> (u16, String) {
        let d = r.unwrap_err();
        (d.status, d.detail)
    }

    #[test]
    fn roundtrip() {
        let t = mint_token(S, "scan-1", "AbCdEfGhIj", 1_000);
        let c = verify_token(S, &t, "scan-1", 1_000).unwrap();
        assert_eq!(c.scan_id, "scan-1");
        assert_eq!(c.key_id, "AbCdEfGhIj");
        assert_eq!(c.expires_at, 1_300);
        assert_eq!(peek_key_id(&t).as_deref(), Some("AbCdEfGhIj"));
        assert!(!t.contains('='));
    }

    #[test]
    fn reference_bytes() {
        // Built independently of mint_token: the format the reference dashboard parses.
        let payload = "s1|env|1700000300";
        let sig = URL_SAFE_NO_PAD.encode(sign(b"k", payload));
        let want = URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"));
        assert_eq!(mint_token(b"k", "s1", "env", 1_700_000_000), want);
        // A padded token and a padded signature are accepted too.
        let padded_sig = base64::engine::general_purpose::URL_SAFE.encode(sign(b"k", payload));
        let padded =
            base64::engine::general_purpose::URL_SAFE.encode(format!("{payload}|{padded_sig}"));
        assert!(verify_token(b"k", &padded, "s1", 1_700_000_000).is_ok());
    }

    #[test]
    fn expiry() {
        let t = mint_token(S, "s", "dev", 100);
        assert!(verify_token(S, &t, "s", 399).is_ok());
        assert_eq!(
            detail_of(verify_token(S, &t, "s", 400)),
            (401, "Invalid or expired event token".into())
        );
    }

    #[test]
    fn wrong_scan() {
        let t = mint_token(S, "scan-a", "env", 0);
        assert_eq!(
            detail_of(verify_token(S, &t, "scan-b", 1)),
            (401, "Token does not match scan id".into())
        );
    }

    #[test]
    fn forged_and_garbage() {
        let t = mint_token(S, "s", "env", 0);
        let other = mint_token(b"other-secret", "s", "env", 0);
        for bad in [
            other.as_str(),
            "",
            "!!!!",
            "bm9wZQ",
            &"A".repeat(MAX_TOKEN + 1),
            &URL_SAFE_NO_PAD.encode("s|env|999|"),
            &URL_SAFE_NO_PAD.encode("s|env|notanumber|sig"),
            &URL_SAFE_NO_PAD.encode("s|env|1|2|3"),
        ] {
            assert_eq!(
                detail_of(verify_token(S, bad, "s", 1)),
                (401, "Invalid or expired event token".into()),
                "{bad:?}"
            );
        }
        assert!(verify_token(b"", &t, "s", 1).is_err());
        // Re-signing with a changed scan id without the secret is caught.
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(&t).unwrap()).unwrap();
        let swapped = URL_SAFE_NO_PAD.encode(raw.replacen("s|", "x|", 1));
        assert_eq!(
            detail_of(verify_token(S, &swapped, "x", 1)).1,
            "Invalid or expired event token"
        );
    }

    /// Found by the `tokens` fuzz target: a token minted under the empty
    /// secret verified under the secret `\0`, because HMAC pads short keys
    /// with zero bytes. Any `K` and `K\0` were the same key.
    #[test]
    fn regression_token_secret_with_trailing_nul() {
        let t = mint_token(b"", "s", "env", 0);
        assert!(verify_token(b"\0", &t, "s", 1).is_err());
        assert!(verify_token(b"\0\0", &t, "s", 1).is_err());
        for (a, b) in [
            (&b"k"[..], &b"k\0"[..]),
            (b"k\0", b"k\0\0"),
            (b"k\0", b"k"),
            (b"\0", b"\0\0"),
        ] {
            let t = mint_token(a, "s", "env", 0);
            assert!(verify_token(a, &t, "s", 1).is_ok(), "{a:?}");
            assert!(
                verify_token(b, &t, "s", 1).is_err(),
                "{a:?} verified under {b:?}"
            );
        }
        // A random 32-byte secret that happens to end in a zero byte still
        // works with itself.
        let mut r = [7u8; 32];
        r[31] = 0;
        let t = mint_token(&r, "s", "dev", 0);
        assert!(verify_token(&r, &t, "s", 1).is_ok());
        // Text secrets keep the reference bytes (see `reference_bytes`).
        assert!(matches!(hmac_key(b"text secret"), Cow::Borrowed(_)));
        assert!(matches!(hmac_key(&[0u8; 65]), Cow::Borrowed(_)));
    }

    #[test]
    fn non_canonical_expiry_is_refused() {
        let payload = "s|env|0999";
        let sig = URL_SAFE_NO_PAD.encode(sign(S, payload));
        let t = URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"));
        assert!(
            verify_token(S, &t, "s", 1).is_ok(),
            "leading zero still a number"
        );
        let payload = "s|env|+999";
        let sig = URL_SAFE_NO_PAD.encode(sign(S, payload));
        let t = URL_SAFE_NO_PAD.encode(format!("{payload}|{sig}"));
        assert!(verify_token(S, &t, "s", 1).is_err());
    }
}
