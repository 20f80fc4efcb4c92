//! The full authentication decision over arbitrary facts.
//!
//! Properties, beyond "no panic":
//! - an unknown route is denied 404 `Not Found`, whatever else holds;
//! - an allow satisfies the route: public -> anonymous, any-db-key -> a DB
//!   key, scopes -> every needed scope is held;
//! - an allow is backed by a credential that checks out: the env key itself,
//!   a DB key whose row matches, is unrevoked and whose hash verifies, an
//!   event token that verifies for this route's scan, or dev mode (no key
//!   of any kind, auth not required);
//! - a pool key with one character changed is never allowed (unless it is,
//!   by the input's choice, the env key itself);
//! - every denial is one the SPEC lists, with the challenge exactly on 401;
//! - the decision depends on the facts only: the same facts (and a clone of
//!   them) give the same answer, also after an unrelated decision.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securescan_core::authn::{self, Credential, PrincipalKind};
use securescan_core::keys;
use securescan_core::routes::Requirement;
use securescan_core::tokens;
use securescan_core::types::detail;
use securescan_core_fuzz::{assert_known_denial, FactsInput};

fuzz_target!(|inputs: (FactsInput, FactsInput)| {
    let (input, other) = inputs;
    let built = input.build();
    let f = &built.facts;
    let r = authn::authenticate(f);
    let _ = authn::authenticate(&other.build().facts);
    assert_eq!(
        r,
        authn::authenticate(&f.clone()),
        "decision is not a function of the facts"
    );

    let dev_mode = !f.auth_required && f.env_key.is_none() && !f.db_key_exists;
    match &r {
        Err(d) => {
            assert_known_denial(d);
            if f.requirement == Requirement::Unknown {
                assert_eq!((d.status, d.detail.as_str()), (404, detail::NOT_FOUND));
            }
        }
        Ok(p) => {
            assert_ne!(f.requirement, Requirement::Unknown, "unknown route allowed");
            match &f.requirement {
                Requirement::Public => {
                    assert_eq!(p.kind, PrincipalKind::Anonymous);
                    return;
                }
                Requirement::AnyDbKey => assert_eq!(p.kind, PrincipalKind::DbKey),
                Requirement::Scopes(need) => {
                    for s in need {
                        assert!(p.scopes.contains(s), "allowed without scope {s:?}");
                    }
                }
                Requirement::Unknown => unreachable!(),
            }
            assert_ne!(p.kind, PrincipalKind::Anonymous);
            match &f.credential {
                Credential::None => {
                    assert!(dev_mode, "no credential allowed outside dev mode");
                    assert_eq!(p.kind, PrincipalKind::Dev);
                }
                Credential::ApiKey(k) | Credential::Bearer(k) => match p.kind {
                    PrincipalKind::Env => {
                        assert_eq!(
                            f.env_key.as_deref(),
                            Some(k.as_str()),
                            "env principal without the env key"
                        )
                    }
                    PrincipalKind::DbKey => {
                        let row = f.row.as_ref().expect("DB principal without a row");
                        assert!(!row.revoked, "revoked key allowed");
                        assert_eq!(p.id, row.id);
                        let parsed = keys::parse_key(k).expect("allowed key parses");
                        assert_eq!(parsed.id, row.id);
                        assert!(
                            keys::verify_key(k, &row.stored_hash),
                            "allowed key does not verify"
                        );
                        assert!(
                            !built.flipped_key,
                            "a key with one changed character was allowed"
                        );
                    }
                    k => panic!("a key gave principal {k:?}"),
                },
                Credential::EventToken(t) => {
                    assert!(
                        f.accepts_event_token,
                        "event token allowed on a route without them"
                    );
                    let scan = f.resource_id.as_deref().unwrap_or("");
                    let c = tokens::verify_token(&f.event_secret, t, scan, f.now)
                        .expect("allowed token verifies");
                    match p.kind {
                        PrincipalKind::Env => {
                            assert_eq!(c.key_id, "env");
                            assert!(f.env_key.is_some());
                        }
                        PrincipalKind::Dev => {
                            assert_eq!(c.key_id, "dev");
                            assert!(dev_mode, "dev token outside dev mode");
                        }
                        PrincipalKind::DbKey => {
                            let row = f.row.as_ref().expect("DB principal without a row");
                            assert_eq!(c.key_id, row.id);
                            assert!(!row.revoked, "token of a revoked key allowed");
                        }
                        PrincipalKind::Anonymous => unreachable!(),
                    }
                }
            }
            if built.flipped_key && p.kind != PrincipalKind::Env {
                panic!(
                    "a key with one changed character was allowed as {:?}",
                    p.kind
                );
            }
        }
    }
});
