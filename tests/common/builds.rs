//! Policy builds other than the built-in one, made at test time with the
//! same nested cargo build as `just policy` (core-component for
//! wasm32-wasip2, `component` profile), for a `policies/*.toml` file and
//! optional core-component features.
//!
//! Every build shares one target directory (`target/policy-tests`), so the
//! component's dependencies are compiled once; only the small core crate is
//! rebuilt per policy file. A file lock serialises test binaries that build
//! at the same time, and each result is kept in `target/policy-tests/out/`
//! (and in memory per test binary).

#[path = "../../host/component_build.rs"]
mod component_build;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static BUILT: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The `.wasm` built from `policy` (relative to the workspace root, e.g.
/// `policies/strict.toml`) with `features` of core-component.
pub fn policy_build(policy: &str, features: &[&str]) -> Vec<u8> {
    let name = format!(
        "{}{}",
        Path::new(policy).file_stem().unwrap().to_string_lossy(),
        features.iter().map(|f| format!("+{f}")).collect::<String>()
    );
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(b) = built.get(&name) {
        return b.clone();
    }
    let root = workspace();
    let target = root.join("target").join("policy-tests");
    std::fs::create_dir_all(target.join("out")).unwrap();
    let lock = std::fs::File::create(target.join(".build-lock")).unwrap();
    lock.lock().expect("lock target/policy-tests");
    let mut cmd = component_build::command(&root, &target, Some(&root.join(policy)), features);
    let started = std::time::Instant::now();
    let out = cmd
        .output()
        .expect("run cargo build for a policy component");
    assert!(
        out.status.success(),
        "building {policy} {features:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = std::fs::read(component_build::output(&target)).expect("the built component");
    std::fs::write(target.join("out").join(format!("{name}.wasm")), &wasm).unwrap();
    let _ = lock.unlock();
    eprintln!(
        "policy build {name}: {} bytes in {:.1?}",
        wasm.len(),
        started.elapsed()
    );
    built.insert(name, wasm.clone());
    wasm
}

/// `policies/strict.toml`: docs admin-only, 60 s tokens, 30 scans/min.
pub fn strict() -> Vec<u8> {
    policy_build("policies/strict.toml", &[])
}

/// `policies/tests/breaks-invariants.toml`: `GET /api/v1/keys` needs only
/// `read`.
pub fn breaks_invariants() -> Vec<u8> {
    policy_build("policies/tests/breaks-invariants.toml", &[])
}

/// The default policy with the `test-trap-on-resolve` feature: every
/// `resolve` traps.
pub fn traps() -> Vec<u8> {
    policy_build("policies/default.toml", &["test-trap-on-resolve"])
}
