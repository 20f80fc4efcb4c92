//! Event tokens: minting, verification, peeking.
//!
//! Properties, beyond "no panic":
//! - a token minted for (secret, scan) verifies there until it expires, with
//!   the claims it was minted with (when its fields hold no `|`);
//! - no token verifies under another secret, nor for another scan id (which
//!   gets the scan-binding detail);
//! - a token with one character changed never verifies;
//! - an accepted arbitrary token names the scan asked for and is unexpired;
//! - every denial is 401 with one of the two token details; answers are the
//!   same when asked twice.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use securescan_core::tokens;
use securescan_core::types::detail;
use securescan_core_fuzz::flip_ascii;

#[derive(Arbitrary, Debug)]
struct Input {
    secret: Vec<u8>,
    other_secret: Vec<u8>,
    scan: String,
    other_scan: String,
    key: String,
    now: u64,
    later: u32,
    raw: String,
    pos: u16,
    ch: u8,
}

fn check_denial(r: &Result<tokens::Claims, securescan_core::Denial>) {
    if let Err(d) = r {
        assert_eq!(d.status, 401);
        assert!(d.challenge);
        assert!(
            d.detail == detail::TOKEN_INVALID || d.detail == detail::TOKEN_SCAN,
            "{d:?}"
        );
    }
}

fuzz_target!(|i: Input| {
    // Arbitrary text as a token.
    let r = tokens::verify_token(&i.secret, &i.raw, &i.scan, i.now);
    assert_eq!(r, tokens::verify_token(&i.secret, &i.raw, &i.scan, i.now));
    check_denial(&r);
    if let Ok(c) = &r {
        assert_eq!(c.scan_id, i.scan);
        assert!(i.now < c.expires_at);
        assert!(!i.secret.is_empty());
        assert_eq!(
            tokens::peek_key_id(&i.raw).as_deref(),
            Some(c.key_id.as_str())
        );
    }
    let _ = tokens::peek_key_id(&i.raw);

    // A minted token.
    let t = tokens::mint_token(&i.secret, &i.scan, &i.key, i.now);
    let expires_at = i.now.saturating_add(u64::from(tokens::ttl_seconds()));
    let at = i.now.saturating_add(u64::from(i.later));
    let clean = !i.scan.contains('|') && !i.key.contains('|');
    let r = tokens::verify_token(&i.secret, &t, &i.scan, at);
    check_denial(&r);
    let should_verify =
        clean && !i.secret.is_empty() && at < expires_at && t.len() <= tokens::MAX_TOKEN;
    match &r {
        Ok(c) => {
            assert!(should_verify, "verified when it should not: {r:?}");
            assert_eq!(c.scan_id, i.scan);
            assert_eq!(c.key_id, i.key);
            assert_eq!(c.expires_at, expires_at);
        }
        Err(_) => assert!(!should_verify, "a fresh minted token was refused: {r:?}"),
    }
    if clean && t.len() <= tokens::MAX_TOKEN {
        assert_eq!(tokens::peek_key_id(&t).as_deref(), Some(i.key.as_str()));
    }

    // Another secret: never.
    if i.other_secret != i.secret {
        let r = tokens::verify_token(&i.other_secret, &t, &i.scan, i.now);
        assert!(
            r.is_err(),
            "token verified under another secret: {:?} vs {:?}",
            i.secret,
            i.other_secret
        );
    }
    // Another scan id: never, and with the scan-binding detail when the
    // token is otherwise good.
    if i.other_scan != i.scan {
        let r = tokens::verify_token(&i.secret, &t, &i.other_scan, i.now);
        let d = r.expect_err("token verified for another scan id");
        if clean && !i.secret.is_empty() && t.len() <= tokens::MAX_TOKEN && i.now < expires_at {
            assert_eq!(d.detail, detail::TOKEN_SCAN);
        }
    }
    // One changed character: never.
    if let Some(m) = flip_ascii(&t, i.pos, i.ch) {
        assert!(
            tokens::verify_token(&i.secret, &m, &i.scan, i.now).is_err(),
            "token with one changed character verified: {m}"
        );
    }
});
