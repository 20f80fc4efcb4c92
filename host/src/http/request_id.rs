//! `X-Request-ID`: kept when it is 1-128 chars of `[A-Za-z0-9._-]`, else replaced.

use axum::http::HeaderMap;

pub const HEADER: &str = "x-request-id";

pub fn valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn generate() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The request's id if acceptable, else a new one.
pub fn from_headers(headers: &HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid(v))
        .map(str::to_string)
        .unwrap_or_else(generate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        assert!(valid("abc-123_x.y"));
        assert!(valid(&"a".repeat(128)));
        assert!(!valid(&"a".repeat(129)));
        assert!(!valid(""));
        assert!(!valid("a b"));
        assert!(!valid("a<b"));
        assert!(!valid("ü"));
        assert!(valid(&generate()));
    }

    #[test]
    fn header_handling() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, "keep.me".parse().unwrap());
        assert_eq!(from_headers(&h), "keep.me");
        h.insert(HEADER, "bad value".parse().unwrap());
        assert_ne!(from_headers(&h), "bad value");
        h.insert(
            HEADER,
            axum::http::HeaderValue::from_bytes(&[0xC3, 0xA9]).unwrap(),
        );
        assert!(valid(&from_headers(&h)));
    }
}
