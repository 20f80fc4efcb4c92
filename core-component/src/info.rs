//! What this build is.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::policy::{LEGACY_SUNSET, POLICY_NAME, POLICY_SHA256, POLICY_VERSION};

/// The WIT package version this build implements.
pub const WIT_VERSION: &str = "0.1.0";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub policy_name: String,
    pub policy_version: String,
    pub policy_sha256: String,
    pub wit_version: String,
    pub legacy_sunset: String,
}

pub fn build_info() -> BuildInfo {
    BuildInfo {
        policy_name: POLICY_NAME.into(),
        policy_version: POLICY_VERSION.into(),
        policy_sha256: POLICY_SHA256.into(),
        wit_version: WIT_VERSION.into(),
        legacy_sunset: LEGACY_SUNSET.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn describes_itself() {
        let i = super::build_info();
        assert_eq!(i.policy_name, "default");
        assert_eq!(i.policy_sha256.len(), 64);
        assert_eq!(i.wit_version, "0.1.0");
        // The WIT file and this constant must agree.
        let wit = include_str!("../../wit/policy.wit");
        assert!(wit.contains("package securescan:auth@0.1.0;"));
    }
}
