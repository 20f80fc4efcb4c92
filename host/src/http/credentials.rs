//! Reading the presented credential off a request. Pure parsing: what the
//! credential is worth is the policy component's decision.
//!
//! Precedence: `X-API-Key`, then `Authorization: Bearer` (scheme in any case),
//! then the `event_token` query parameter. Other `Authorization` schemes are
//! not API keys and are ignored.

use crate::policy::wit::authn::Credential;
use axum::http::{header, HeaderMap};

/// Header bytes as a string. Non-UTF-8 bytes become U+FFFD, so a key with
/// them still reaches the policy and is refused there (401), never dropped
/// into dev mode.
fn text(v: &axum::http::HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

pub fn from_request(headers: &HeaderMap, query: Option<&str>) -> Credential {
    if let Some(v) = headers.get("x-api-key") {
        return Credential::ApiKey(text(v));
    }
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = text(v);
        let (scheme, rest) = v.split_once(' ').unwrap_or((v.as_str(), ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Credential::Bearer(rest.trim().to_string());
        }
    }
    if let Some(token) = query.and_then(event_token) {
        return Credential::EventToken(token);
    }
    Credential::None
}

/// The `event_token` query parameter, percent-decoded. The first one wins.
pub fn event_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "event_token")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cred(pairs: &[(&str, &[u8])], query: Option<&str>) -> Credential {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        from_request(&h, query)
    }

    #[test]
    fn precedence_and_schemes() {
        assert!(matches!(cred(&[], None), Credential::None));
        assert!(matches!(cred(&[("x-api-key", b"k")], None), Credential::ApiKey(k) if k == "k"));
        assert!(
            matches!(cred(&[("authorization", b"bearer  k2 ")], None), Credential::Bearer(k) if k == "k2")
        );
        assert!(
            matches!(cred(&[("authorization", b"BEARER k3")], None), Credential::Bearer(k) if k == "k3")
        );
        assert!(matches!(
            cred(&[("authorization", b"Basic dXNlcjpwYXNz")], None),
            Credential::None
        ));
        assert!(matches!(
            cred(&[("x-api-key", b"a"), ("authorization", b"Bearer b")], Some("event_token=t")),
            Credential::ApiKey(k) if k == "a"
        ));
        assert!(
            matches!(cred(&[], Some("x=1&event_token=a%2Bb")), Credential::EventToken(t) if t == "a+b")
        );
        assert!(matches!(
            cred(&[], Some("event_tokens=1")),
            Credential::None
        ));
    }

    #[test]
    fn odd_bytes_are_kept_as_a_presented_key() {
        match cred(&[("x-api-key", &[0xC3, 0x28, 0xFF])], None) {
            Credential::ApiKey(k) => assert!(k.contains('\u{fffd}')),
            other => panic!("{other:?}"),
        }
        assert!(matches!(cred(&[("x-api-key", b"")], None), Credential::ApiKey(k) if k.is_empty()));
    }
}
