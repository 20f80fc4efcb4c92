//! Builds the policy component (core-component for wasm32-wasip2) as part of
//! the normal workspace build, and embeds it as the server's built-in policy.
//!
//! - The wasm target is installed here when missing: `RUSTUP_AUTO_INSTALL=0`
//!   means `rust-toolchain.toml` alone does not install it on a fresh machine.
//! - The nested cargo uses its own target directory (`target/component`), so
//!   it never waits on the lock held by the outer build.
//! - Flags meant for the host build (RUSTFLAGS from a fuzzer or coverage tool,
//!   clippy's wrapper) are not passed down: the component is always the same
//!   `component` profile build.

#[path = "component_build.rs"]
mod component_build;

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    for p in [
        "core-component/src",
        "core-component/build.rs",
        "core-component/Cargo.toml",
        "wit",
        "policies",
        "Cargo.toml",
        "Cargo.lock",
        "host/component_build.rs",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=SECURESCAN_POLICY_FILE");

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    ensure_wasm_target(&rustc);

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace.join(p)
            }
        })
        .unwrap_or_else(|| workspace.join("target"))
        .join("component");

    let mut cmd = component_build::command(&workspace, &target_dir, None, &[]);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the policy component: {e}"));
    assert!(
        status.success(),
        "building the policy component (core-component, wasm32-wasip2) failed"
    );
    let wasm = component_build::output(&target_dir);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("policy.wasm");
    std::fs::copy(&wasm, &out)
        .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", wasm.display(), out.display()));
}

fn ensure_wasm_target(rustc: &str) {
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc --print sysroot");
    let sysroot = String::from_utf8(sysroot.stdout).expect("sysroot is UTF-8");
    let lib = Path::new(sysroot.trim()).join("lib/rustlib/wasm32-wasip2");
    if lib.exists() {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target with rustup (first build on this machine)");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(tc) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &tc]);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("the wasm32-wasip2 target is missing and rustup could not be run: {e}")
    });
    assert!(
        status.success() && lib.exists(),
        "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed"
    );
}
