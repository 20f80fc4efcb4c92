//! The nested cargo build of the policy component (core-component for
//! wasm32-wasip2, `component` profile), shared by `host/build.rs` (the
//! built-in build) and `tests/common/builds.rs` (test-time builds of other
//! policy files). Included with `#[path]` by both: a build script cannot
//! depend on a crate of its own workspace. `just policy` runs the same
//! command.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Flags meant for the outer build (a fuzzer's or a coverage tool's
/// RUSTFLAGS, clippy's wrapper, the outer target dir): never passed down, so
/// the component is always the same `component` profile build.
const OUTER_BUILD_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_LLVM_COV",
    "RUSTDOCFLAGS",
];

/// `cargo build` of the component into `target_dir`, for `policy_file`
/// (default: `policies/default.toml`, or whatever `SECURESCAN_POLICY_FILE`
/// already says) with core-component `features`.
pub fn command(
    workspace: &Path,
    target_dir: &Path,
    policy_file: Option<&Path>,
    features: &[&str],
) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--package",
            "securescan-core",
            "--lib",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "component",
            "--target-dir",
        ])
        .arg(target_dir);
    if let Some(p) = policy_file {
        cmd.env("SECURESCAN_POLICY_FILE", p);
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    for var in OUTER_BUILD_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Where [`command`] leaves the component.
pub fn output(target_dir: &Path) -> PathBuf {
    target_dir.join("wasm32-wasip2/component/securescan_core.wasm")
}
