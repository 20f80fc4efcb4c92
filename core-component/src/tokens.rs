//! SSE event tokens, byte-compatible with the reference implementation:
//! `b64url_nopad("<scan_id>|<key_id>|<expires_at>|<b64url_nopad(sig)>")` where
//! `sig = HMAC-SHA256(secret, "<scan_id>|<key_id>|<expires_at>")`.
//! Padding is accepted on input (some encoders keep it) and never produced.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::ct;
use crate::policy::TOKEN_TTL_SECONDS;
use crate::types::{detail, Denial};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest token looked at; longer ones are refused before decoding.
pub const MAX_TOKEN: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub scan_id: String,
    pub key_id: String,
    pub expires_at: u64,
}

fn sign(secret: &[u8], payload: &str) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
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
