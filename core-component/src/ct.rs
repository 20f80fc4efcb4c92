//! Constant-time comparison of secrets.

#[allow(unused_imports)]
use crate::prelude::*;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Equal-length byte comparison without early exit.
pub fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares two secrets of possibly different lengths without revealing the
/// length of either: both are hashed first, then the digests compared.
pub fn eq_secret(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    bool::from(da.as_slice().ct_eq(db.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_and_unequal() {
        assert!(eq_bytes(b"abc", b"abc"));
        assert!(!eq_bytes(b"abc", b"abd"));
        assert!(!eq_bytes(b"abc", b"abcd"));
        assert!(eq_secret(b"secret", b"secret"));
        assert!(!eq_secret(b"secret", b"secreT"));
        assert!(!eq_secret(b"", b"x"));
    }
}
