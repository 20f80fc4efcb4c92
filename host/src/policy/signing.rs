//! Ed25519 signatures of policy builds.
//!
//! A signature is detached and covers the build's SHA-256 digest (the 32 raw
//! bytes, not the hex text): `sign(private_key, sha256(wasm))`. It travels
//! as base64 (standard alphabet, padding optional) of the 64 signature
//! bytes; hex (128 digits) is accepted too.
//!
//! Key files, told apart by their content:
//! - PEM: `PRIVATE KEY` (PKCS#8, as `openssl genpkey -algorithm ed25519`
//!   writes) or `PUBLIC KEY` (SubjectPublicKeyInfo, as `openssl pkey -pubout`
//!   writes);
//! - raw: exactly 32 bytes of binary, or the 32 bytes as 64 hex digits, or as
//!   base64 (44 characters), each optionally followed by a newline. A raw
//!   value is the private seed when read as a private key and the public key
//!   when read as a public key.
//!
//! A private key also serves where a public key is expected (its public half
//! is derived), so `policy verify` can be checked with either file.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{0}: cannot read: {1}")]
    Read(String, String),
    #[error("not an Ed25519 key: {0}")]
    Format(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("no signature")]
    Missing,
    #[error("signature is not base64 or hex of 64 bytes")]
    Malformed,
    #[error("signature does not verify with the configured public key")]
    Mismatch,
}

/// The message that is signed: the build's SHA-256.
pub fn digest(wasm: &[u8]) -> [u8; 32] {
    Sha256::digest(wasm).into()
}

fn is_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN")
}

/// Raw 32 bytes: binary, hex, or base64.
fn raw32(bytes: &[u8]) -> Option<[u8; 32]> {
    if bytes.len() == 32 {
        return bytes.try_into().ok();
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        decode_base64(text)?
    };
    decoded.try_into().ok()
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(text).ok())
}

/// A private key from the content of a key file.
pub fn parse_signing_key(bytes: &[u8]) -> Result<SigningKey, KeyError> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    if is_pem(text) {
        return SigningKey::from_pkcs8_pem(text.trim())
            .map_err(|e| KeyError::Format(format!("PEM private key (PKCS#8 expected): {e}")));
    }
    raw32(bytes)
        .map(|seed| SigningKey::from_bytes(&seed))
        .ok_or_else(|| {
            KeyError::Format("expected PEM, or 32 raw bytes (binary, hex or base64)".into())
        })
}

/// A public key from the content of a key file (a private key file gives
/// its public half).
pub fn parse_verifying_key(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    if is_pem(text) {
        if text.contains("PRIVATE KEY") {
            return parse_signing_key(bytes).map(|k| k.verifying_key());
        }
        return VerifyingKey::from_public_key_pem(text.trim())
            .map_err(|e| KeyError::Format(format!("PEM public key (SPKI expected): {e}")));
    }
    let raw = raw32(bytes).ok_or_else(|| {
        KeyError::Format("expected PEM, or 32 raw bytes (binary, hex or base64)".into())
    })?;
    VerifyingKey::from_bytes(&raw)
        .map_err(|_| KeyError::Format("32 bytes that are not an Ed25519 public key".into()))
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::Read(path.display().to_string(), e.to_string()))
}

pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    parse_signing_key(&read(path)?)
}

pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    parse_verifying_key(&read(path)?)
}

/// The detached signature of a build, base64.
pub fn sign(key: &SigningKey, wasm: &[u8]) -> String {
    let sig = key.sign(&digest(wasm));
    base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
}

/// Decodes a signature as carried in the header or a `.sig` file.
pub fn parse_signature(text: &str) -> Result<Signature, SignatureError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SignatureError::Missing);
    }
    let bytes = if text.len() == 128 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        decode_base64(text)
    };
    let bytes: [u8; 64] = bytes
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed)?;
    Ok(Signature::from_bytes(&bytes))
}

/// Checks a signature over the build's SHA-256 (strict verification: no
/// weak keys, no malleable signatures).
pub fn verify_digest(
    key: &VerifyingKey,
    sha256: &[u8; 32],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let sig = parse_signature(signature.ok_or(SignatureError::Missing)?)?;
    key.verify_strict(sha256, &sig)
        .map_err(|_| SignatureError::Mismatch)
}

pub fn verify(
    key: &VerifyingKey,
    wasm: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    verify_digest(key, &digest(wasm), signature)
}

/// A new key pair from the OS random source: the key, its PKCS#8 PEM
/// (secret: never logged, wiped on drop) and its SPKI PEM.
pub fn generate() -> (SigningKey, secrecy::SecretString, String) {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    let le = ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF;
    let pem = key.to_pkcs8_pem(le).expect("an Ed25519 key encodes");
    let private = secrecy::SecretString::from(pem.as_str());
    let public = key
        .verifying_key()
        .to_public_key_pem(le)
        .expect("an Ed25519 key encodes");
    (key, private, public)
}

/// Hex of a public key, to name it in logs and `policy inspect`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_refusals() {
        let (key, private, public) = generate();
        let wasm = b"some build bytes";
        let sig = sign(&key, wasm);
        let pubkey = parse_verifying_key(public.as_bytes()).unwrap();
        assert_eq!(verify(&pubkey, wasm, Some(&sig)), Ok(()));
        // The private PEM gives the same public key.
        let private = secrecy::ExposeSecret::expose_secret(&private);
        assert_eq!(parse_verifying_key(private.as_bytes()).unwrap(), pubkey);
        assert_eq!(
            verify(&pubkey, b"other bytes", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(&pubkey, wasm, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&pubkey, wasm, Some("  ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&pubkey, wasm, Some("bm90IGEgc2lnbmF0dXJl")),
            Err(SignatureError::Malformed)
        );
        let (other, _, _) = generate();
        assert_eq!(
            verify(&other.verifying_key(), wasm, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        // Hex is accepted as well as base64.
        let hex_sig = hex::encode(parse_signature(&sig).unwrap().to_bytes());
        assert_eq!(verify(&pubkey, wasm, Some(&hex_sig)), Ok(()));
    }

    #[test]
    fn raw_key_formats() {
        let seed = [7u8; 32];
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key();
        let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
        for form in [
            seed.to_vec(),
            hex::encode(seed).into_bytes(),
            b64.into_bytes(),
        ] {
            assert_eq!(parse_signing_key(&form).unwrap(), key);
        }
        let pb = public.to_bytes();
        let pb64 = base64::engine::general_purpose::STANDARD.encode(pb);
        for form in [
            pb.to_vec(),
            format!("{}\n", hex::encode(pb)).into_bytes(),
            pb64.into_bytes(),
        ] {
            assert_eq!(parse_verifying_key(&form).unwrap(), public);
        }
        assert!(matches!(
            parse_signing_key(b"too short"),
            Err(KeyError::Format(_))
        ));
        assert!(matches!(
            parse_verifying_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(KeyError::Format(_))
        ));
    }

    #[test]
    fn openssl_style_pem() {
        // `openssl genpkey -algorithm ed25519` (RFC 8410 test vector key).
        let private = "-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
-----END PUBLIC KEY-----\n";
        let k = parse_signing_key(private.as_bytes()).unwrap();
        let p = parse_verifying_key(public.as_bytes()).unwrap();
        assert_eq!(k.verifying_key(), p);
    }
}
