//! Key parsing, checksum, hashing and verification.
//!
//! Properties, beyond "no panic":
//! - `parse_key` accepts only the exact `ssk_<10 alnum>_<32 alnum>` shape and
//!   reports the id and prefix of the text it was given;
//! - a minted key parses and verifies against its stored hash;
//! - a minted key with any one character changed never verifies, and its
//!   checksum rejects it (a collision of the 6-character checksum has odds
//!   of 62^-6 per try; the fuzzer cannot steer SHA-256 towards one);
//! - `verify_key` is true for an arbitrary stored form only when that form is
//!   exactly what `hash_key` produces for the key and the stored salt;
//! - every answer is the same when asked twice.
#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use securescan_core::keys;
use securescan_core_fuzz::{flip_ascii, KeyInput};

#[derive(Arbitrary, Debug)]
struct Input {
    key: KeyInput,
    random: Vec<u8>,
    pos: u16,
    ch: u8,
    stored: String,
    salt: Vec<u8>,
}

fuzz_target!(|i: Input| {
    let (key, _) = i.key.build();

    // Parsing: shape and determinism.
    let parsed = keys::parse_key(&key);
    assert_eq!(parsed, keys::parse_key(&key), "parse_key is deterministic");
    if let Some(p) = &parsed {
        let b = key.as_bytes();
        assert_eq!(b.len(), keys::KEY_LEN);
        assert!(key.starts_with(keys::PREFIX));
        assert_eq!(b[keys::PREFIX.len() + keys::ID_LEN], b'_');
        assert!(b[keys::PREFIX.len()..]
            .iter()
            .enumerate()
            .all(|(j, c)| c.is_ascii_alphanumeric() || j == keys::ID_LEN));
        assert_eq!(
            p.id,
            key[keys::PREFIX.len()..keys::PREFIX.len() + keys::ID_LEN]
        );
        assert_eq!(p.prefix, format!("{}{}", keys::PREFIX, p.id));
    }

    // Verification against an arbitrary stored form.
    let ok = keys::verify_key(&key, &i.stored);
    assert_eq!(
        ok,
        keys::verify_key(&key, &i.stored),
        "verify_key is deterministic"
    );
    if ok {
        let salt_b64 = i
            .stored
            .split('$')
            .nth(1)
            .expect("verified form has a salt");
        let salt = URL_SAFE_NO_PAD
            .decode(salt_b64)
            .expect("verified salt decodes");
        assert_eq!(
            keys::hash_key(&key, &salt),
            i.stored,
            "only the canonical stored form verifies"
        );
    }

    // hash_key round trip: salts of at least SALT_LEN bytes verify, shorter never.
    let h = keys::hash_key(&key, &i.salt);
    assert_eq!(keys::verify_key(&key, &h), i.salt.len() >= keys::SALT_LEN);

    // Minting from arbitrary randomness.
    let minted = keys::mint_key(&i.random);
    if i.random.len() < keys::MIN_RANDOM {
        assert!(minted.is_err());
    }
    match minted {
        Err(_) => {}
        Ok(m) => {
            assert!(i.random.len() >= keys::MIN_RANDOM);
            let p = keys::parse_key(&m.key).expect("a minted key parses");
            assert_eq!(p.id, m.id);
            assert_eq!(p.prefix, m.prefix);
            assert!(keys::verify_key(&m.key, &m.stored_hash));
            let flipped = flip_ascii(&m.key, i.pos, i.ch).expect("keys are ASCII");
            assert_ne!(flipped, m.key);
            assert!(
                !keys::verify_key(&flipped, &m.stored_hash),
                "a key with one changed character verified"
            );
            assert!(
                keys::parse_key(&flipped).is_none(),
                "the checksum accepted a key with one changed character"
            );
            // Another key's hash never verifies this key.
            if key != m.key {
                assert!(!keys::verify_key(&key, &m.stored_hash));
            }
        }
    }
});
