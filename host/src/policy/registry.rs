//! The policy builds of a running server: the active one (behind the atomic
//! pointer every request reads once), the previous one, and a small cache of
//! compiled builds, plus the pipeline a candidate build passes before it may
//! serve.
//!
//! The pipeline, each step with its own refusal ([`Step`]):
//! 1. `size`: no more than the configured limit (the built-in build, which
//!    is part of the binary, is exempt);
//! 2. `signature`: with a public key configured, an Ed25519 signature over
//!    the build's SHA-256 by that key ([`super::signing`]); the built-in
//!    build is exempt;
//! 3. `compile`: cranelift, on a blocking thread (never on an async worker);
//!    skipped when the cache holds the build (same sha256, same engine);
//! 4. `world`: it links against the `securescan:auth/policy` world and says
//!    it speaks this host's WIT version;
//! 5. `invariants` / `trap`: `policies/invariants.toml` through the
//!    candidate itself; a trap while doing so is its own refusal;
//! 6. the swap: one atomic store. Requests in flight keep the build they
//!    started with (the gate holds an `Arc` of it).
//!
//! A refused build changes nothing. [`PolicyRegistry::accept`] is the one
//! entry point for every source (the built-in build, a file, an upload, and
//! later a build distributed by the store); nothing here knows about a
//! database.

use super::invariants;
use super::runtime::LoadFailure;
use super::signing;
use super::{PolicyBuild, Runtime, BUILTIN_POLICY};
use arc_swap::ArcSwapOption;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The WIT package version this host speaks.
pub const WIT_VERSION: &str = "0.1.0";
/// Default limit on the size of a build: the default build is ~125 KB.
pub const DEFAULT_MAX_BYTES: usize = 4 << 20;
/// Compiled builds kept for instant rollback and re-upload.
const CACHE_CAPACITY: usize = 4;

/// Where a build came from, as `GET /api/v1/policy` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The build compiled into the binary.
    Builtin,
    /// A file (`SECURESCAN_POLICY_PATH`, at startup or on `SIGHUP`).
    File(PathBuf),
    /// `PUT /api/v1/policy`.
    Upload,
    /// `POST /api/v1/policy/rollback`.
    Rollback,
    /// Made active by another instance on the shared database; the label
    /// is the source it had there.
    Cluster(String),
}

impl Source {
    fn label(&self) -> String {
        match self {
            Source::Builtin => "builtin".into(),
            Source::File(p) => format!("file:{}", p.display()),
            Source::Upload => "upload".into(),
            Source::Rollback => "rollback".into(),
            Source::Cluster(label) => format!("cluster:{label}"),
        }
    }
}

/// One pipeline step, named in a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Size,
    Signature,
    Compile,
    World,
    Invariants,
    Trap,
}

impl Step {
    /// The `detail` of the 422.
    pub fn detail(self) -> &'static str {
        match self {
            Step::Size => "Policy build too large",
            Step::Signature => "Policy build signature invalid",
            Step::Compile => "Policy build is not a WebAssembly component",
            Step::World => "Policy build does not implement the policy world",
            Step::Invariants => "Policy build breaks the policy invariants",
            Step::Trap => "Policy build trapped",
        }
    }
}

/// Why a candidate build was not loaded. `failures` are safe to show to the
/// (admin) caller: they never carry a compiler's or runtime's internals
/// (those are logged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", step.detail(), failures.join("; "))]
pub struct Refusal {
    pub step: Step,
    pub failures: Vec<String>,
}

impl Refusal {
    fn new(step: Step, failure: impl Into<String>) -> Self {
        Refusal {
            step,
            failures: vec![failure.into()],
        }
    }
}

/// What `GET /api/v1/policy` shows of one build.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BuildSummary {
    pub name: String,
    pub version: String,
    /// Hex SHA-256 of the `.wasm`.
    pub sha256: String,
    /// Hex SHA-256 of the policy source compiled into it.
    pub policy_sha256: String,
    pub wit_version: String,
    pub size: usize,
    pub loaded_at: String,
    /// `builtin`, `file:<path>`, `upload` or `rollback`.
    pub source: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PolicyStatus {
    pub active: Option<BuildSummary>,
    pub previous: Option<BuildSummary>,
}

/// The result of an accepted build.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub active: BuildSummary,
    pub previous: Option<BuildSummary>,
    /// The compiled build came from the cache.
    pub cached: bool,
    /// From the first check to the swap, in milliseconds.
    pub elapsed_ms: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RollbackError {
    #[error("No previous policy build to roll back to")]
    NoPrevious,
}

struct Entry {
    build: Arc<PolicyBuild>,
    loaded_at: String,
    source: Source,
    /// What it was loaded from, to hand to other instances.
    bytes: Arc<Vec<u8>>,
    signature: Option<String>,
}

/// A build that became active here by an operator's action (upload, file
/// reload, rollback), for the other instances to adopt.
#[derive(Clone, Debug)]
pub struct Published {
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
    pub signature: Option<String>,
    /// The source label (`upload`, `file:...`, `rollback`).
    pub source: String,
}

/// Where builds made active here are announced (the shared store).
#[async_trait::async_trait]
pub trait Publish: Send + Sync {
    async fn publish(&self, build: Published);
}

impl Entry {
    fn summary(&self) -> BuildSummary {
        let info = self.build.info();
        BuildSummary {
            name: info.policy_name.clone(),
            version: info.policy_version.clone(),
            sha256: self.build.sha256().to_string(),
            policy_sha256: info.policy_sha256.clone(),
            wit_version: info.wit_version.clone(),
            size: self.build.size(),
            loaded_at: self.loaded_at.clone(),
            source: self.source.label(),
        }
    }
}

#[derive(Default)]
struct History {
    active: Option<Entry>,
    previous: Option<Entry>,
}

/// How the registry is set up.
pub struct RegistryOptions {
    /// Only builds signed by this key load (uploads are refused without it).
    pub public_key: Option<VerifyingKey>,
    pub max_bytes: usize,
    /// The invariants every candidate must keep (TOML, as
    /// `policies/invariants.toml`).
    pub invariants: String,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            public_key: None,
            max_bytes: DEFAULT_MAX_BYTES,
            invariants: invariants::DEFAULT_INVARIANTS.to_string(),
        }
    }
}

pub struct PolicyRegistry {
    runtime: Runtime,
    /// What the request path reads: shared with the HTTP state.
    active: Arc<ArcSwapOption<PolicyBuild>>,
    history: Mutex<History>,
    /// (sha256 + engine fingerprint, build), most recently used last.
    cache: Mutex<Vec<(String, Arc<PolicyBuild>)>>,
    /// One swap (or rollback) at a time.
    swap: tokio::sync::Mutex<()>,
    options: RegistryOptions,
    publisher: std::sync::OnceLock<Arc<dyn Publish>>,
}

impl PolicyRegistry {
    pub fn new(runtime: Runtime, options: RegistryOptions) -> Self {
        PolicyRegistry {
            runtime,
            active: Arc::new(ArcSwapOption::empty()),
            history: Mutex::default(),
            cache: Mutex::default(),
            swap: tokio::sync::Mutex::new(()),
            options,
            publisher: std::sync::OnceLock::new(),
        }
    }

    /// From now on, builds made active by an upload, a file reload or a
    /// rollback are handed to `publisher` (set once, after the start build).
    pub fn set_publisher(&self, publisher: Arc<dyn Publish>) {
        let _ = self.publisher.set(publisher);
    }

    async fn announce(&self, entry: Option<Published>) {
        if let (Some(p), Some(build)) = (self.publisher.get(), entry) {
            p.publish(build).await;
        }
    }

    fn published(&self) -> Option<Published> {
        let h = self.history.lock().expect("history lock");
        let e = h.active.as_ref()?;
        match e.source {
            Source::Upload | Source::File(_) | Source::Rollback => Some(Published {
                sha256: e.build.sha256().to_string(),
                bytes: e.bytes.clone(),
                signature: e.signature.clone(),
                source: e.source.label(),
            }),
            Source::Builtin | Source::Cluster(_) => None,
        }
    }

    /// The sha256 of the active build, if any.
    pub fn active_sha256(&self) -> Option<String> {
        self.current().map(|b| b.sha256().to_string())
    }

    /// The pointer the request path loads the active build from.
    pub fn active(&self) -> Arc<ArcSwapOption<PolicyBuild>> {
        self.active.clone()
    }

    pub fn current(&self) -> Option<Arc<PolicyBuild>> {
        self.active.load_full()
    }

    /// Uploads need a public key to check them against.
    pub fn uploads_enabled(&self) -> bool {
        self.options.public_key.is_some()
    }

    pub fn max_bytes(&self) -> usize {
        self.options.max_bytes
    }

    pub fn requires_signature(&self) -> bool {
        self.options.public_key.is_some()
    }

    pub fn status(&self) -> PolicyStatus {
        let h = self.history.lock().expect("history lock");
        PolicyStatus {
            active: h.active.as_ref().map(Entry::summary),
            previous: h.previous.as_ref().map(Entry::summary),
        }
    }

    fn cache_key(&self, sha256: &str) -> String {
        format!("{sha256}:{:016x}", self.runtime.engine_fingerprint())
    }

    fn cached(&self, key: &str) -> Option<Arc<PolicyBuild>> {
        let mut c = self.cache.lock().expect("cache lock");
        let i = c.iter().position(|(k, _)| k == key)?;
        let hit = c.remove(i);
        let build = hit.1.clone();
        c.push(hit);
        Some(build)
    }

    fn remember(&self, key: String, build: Arc<PolicyBuild>) {
        let mut c = self.cache.lock().expect("cache lock");
        c.retain(|(k, _)| *k != key);
        c.push((key, build));
        while c.len() > CACHE_CAPACITY {
            c.remove(0);
        }
    }

    /// Runs the pipeline on a candidate and, when every step passes, makes
    /// it the active build (the active one becomes the previous one).
    /// `signature` is the detached signature (base64 or hex); it is required
    /// when a public key is configured, for every source but the built-in
    /// build. A refusal leaves everything as it was.
    ///
    /// This is also the entry point for builds distributed by a shared
    /// store (PostgreSQL, not done yet): a notifier hands it the stored
    /// bytes and signature, so every instance runs the same checks and
    /// shows the same sha256 (give `Source` a variant for it).
    pub async fn accept(
        &self,
        bytes: Vec<u8>,
        signature: Option<&str>,
        source: Source,
    ) -> Result<Accepted, Refusal> {
        let start = Instant::now();
        if bytes.len() > self.options.max_bytes && source != Source::Builtin {
            return Err(too_large(self.options.max_bytes));
        }
        let digest = signing::digest(&bytes);
        let sha256 = hex::encode(digest);
        match &self.options.public_key {
            Some(key) if source != Source::Builtin => {
                signing::verify_digest(key, &digest, signature)
                    .map_err(|e| Refusal::new(Step::Signature, e.to_string()))?;
            }
            Some(_) => {}
            None if source == Source::Upload => {
                return Err(Refusal::new(
                    Step::Signature,
                    "uploads are disabled: no public key is configured",
                ))
            }
            None => {}
        }
        let one_at_a_time = self.swap.lock().await;
        let key = self.cache_key(&sha256);
        let kept = Arc::new(bytes.clone());
        let (build, cached) = match self.cached(&key) {
            Some(b) => (b, true),
            None => {
                let runtime = self.runtime.clone();
                let compiled = tokio::task::spawn_blocking(move || runtime.load_staged(&bytes))
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "policy compile task failed");
                        Refusal::new(Step::Compile, "the compile task failed")
                    })?;
                (
                    Arc::new(compiled.map_err(|e| refusal_of_load(&sha256, e))?),
                    false,
                )
            }
        };
        check(&build, &self.options.invariants)?;
        self.remember(key, build.clone());
        let (active, previous) = self.install(build, source, kept, signature.map(str::to_string));
        let accepted = Accepted {
            active,
            previous,
            cached,
            elapsed_ms: millis(start.elapsed()),
        };
        tracing::info!(
            policy = %accepted.active.name,
            version = %accepted.active.version,
            sha256 = %accepted.active.sha256,
            source = %accepted.active.source,
            cached,
            elapsed_ms = accepted.elapsed_ms,
            "policy build active"
        );
        let announce = self.published();
        // Announced before the next swap may start, so the database sees
        // this instance's swaps in the order they happened here.
        self.announce(announce).await;
        drop(one_at_a_time);
        Ok(accepted)
    }

    /// The swap itself: the new build becomes visible to the next request
    /// in one atomic store; the history follows under its lock.
    fn install(
        &self,
        build: Arc<PolicyBuild>,
        source: Source,
        bytes: Arc<Vec<u8>>,
        signature: Option<String>,
    ) -> (BuildSummary, Option<BuildSummary>) {
        let mut h = self.history.lock().expect("history lock");
        self.active.store(Some(build.clone()));
        let entry = Entry {
            build,
            loaded_at: crate::keys::now_rfc3339(),
            source,
            bytes,
            signature,
        };
        let old = h.active.replace(entry);
        if old.is_some() {
            h.previous = old;
        }
        (
            h.active.as_ref().map(Entry::summary).expect("just set"),
            h.previous.as_ref().map(Entry::summary),
        )
    }

    /// Makes the previous build active again (and the active one previous),
    /// from memory: no compile, no checks beyond those it passed.
    pub async fn rollback(&self) -> Result<Accepted, RollbackError> {
        let start = Instant::now();
        let one_at_a_time = self.swap.lock().await;
        let accepted = self.swap_back(start)?;
        tracing::info!(sha256 = %accepted.active.sha256, policy = %accepted.active.name,
            "policy build rolled back");
        let announce = self.published();
        // Announced before the next swap may start, so the database sees
        // this instance's swaps in the order they happened here.
        self.announce(announce).await;
        drop(one_at_a_time);
        Ok(accepted)
    }

    /// The synchronous half of a rollback, under the history lock.
    fn swap_back(&self, start: Instant) -> Result<Accepted, RollbackError> {
        let mut h = self.history.lock().expect("history lock");
        let prev = h.previous.take().ok_or(RollbackError::NoPrevious)?;
        self.active.store(Some(prev.build.clone()));
        let old = h.active.replace(Entry {
            build: prev.build,
            loaded_at: crate::keys::now_rfc3339(),
            source: Source::Rollback,
            bytes: prev.bytes,
            signature: prev.signature,
        });
        h.previous = old;
        Ok(Accepted {
            active: h.active.as_ref().map(Entry::summary).expect("just set"),
            previous: h.previous.as_ref().map(Entry::summary),
            cached: true,
            elapsed_ms: millis(start.elapsed()),
        })
    }

    /// Loads the build a server starts with: the file, or the built-in one.
    /// A file needs `<file>.sig` when a public key is configured.
    pub async fn load_initial(&self, path: Option<&Path>) -> Result<Accepted, String> {
        let (bytes, sig, source) = match path {
            None => (BUILTIN_POLICY.to_vec(), None, Source::Builtin),
            Some(p) => {
                let (bytes, sig) = read_file_build(p, self.requires_signature()).await?;
                (bytes, sig, Source::File(p.to_path_buf()))
            }
        };
        self.accept(bytes, sig.as_deref(), source)
            .await
            .map_err(|r| r.to_string())
    }

    /// `SIGHUP`: loads `path` again through the pipeline. The old build
    /// keeps serving when it fails.
    pub async fn reload_file(&self, path: &Path) -> Result<Accepted, String> {
        let (bytes, sig) = read_file_build(path, self.requires_signature()).await?;
        self.accept(bytes, sig.as_deref(), Source::File(path.to_path_buf()))
            .await
            .map_err(|r| r.to_string())
    }
}

/// The signature file that goes with a build file: `<file>.sig`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

async fn read_file_build(
    path: &Path,
    with_signature: bool,
) -> Result<(Vec<u8>, Option<String>), String> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let sig = if with_signature {
        let sp = signature_path(path);
        match tokio::fs::read_to_string(&sp).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(path = %sp.display(), error = %e, "no signature file for the policy build");
                None
            }
        }
    } else {
        None
    };
    Ok((bytes, sig))
}

fn too_large(max: usize) -> Refusal {
    Refusal::new(Step::Size, format!("the limit is {max} bytes"))
}

/// The refusal for a body read that went over the limit.
pub fn refusal_too_large(max: usize) -> Refusal {
    too_large(max)
}

fn refusal_of_load(sha256: &str, e: LoadFailure) -> Refusal {
    tracing::warn!(sha256, error = %e, "policy build refused");
    match e {
        LoadFailure::Compile(_) => Refusal::new(
            Step::Compile,
            "the bytes are not a valid WebAssembly component",
        ),
        LoadFailure::World(_) => Refusal::new(
            Step::World,
            format!("the component does not export the securescan:auth/policy@{WIT_VERSION} world"),
        ),
        LoadFailure::Call(_) => Refusal::new(Step::Trap, "the build trapped on `describe`"),
    }
}

/// Steps 4 and 5 on a linked build.
/// The checks after compiling: WIT version, then the invariants through the
/// build itself (a trap there is its own refusal). Also used by the edge.
pub fn check(build: &PolicyBuild, invariant_file: &str) -> Result<(), Refusal> {
    let wit = &build.info().wit_version;
    if wit != WIT_VERSION {
        return Err(Refusal::new(
            Step::World,
            format!("the build speaks WIT {wit}, this server {WIT_VERSION}"),
        ));
    }
    match invariants::check(build, invariant_file) {
        Ok(failures) if failures.is_empty() => Ok(()),
        Ok(failures) => Err(Refusal {
            step: Step::Invariants,
            failures,
        }),
        Err(e) => {
            tracing::warn!(sha256 = build.sha256(), error = %e, "policy build failed during the invariant checks");
            Err(Refusal::new(
                Step::Trap,
                "the build trapped while the invariants were checked",
            ))
        }
    }
}

/// Milliseconds with microsecond precision (what an operator reads; no
/// float noise such as `0.026084999999999997` in the JSON).
fn millis(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RuntimeOptions;

    #[test]
    fn elapsed_ms_has_no_float_noise() {
        let ms = millis(std::time::Duration::from_nanos(26_085));
        assert_eq!(serde_json::json!(ms).to_string(), "0.026");
        assert_eq!(millis(std::time::Duration::from_millis(147)), 147.0);
    }

    fn registry(public_key: Option<VerifyingKey>) -> PolicyRegistry {
        PolicyRegistry::new(
            Runtime::new(RuntimeOptions::default()).unwrap(),
            RegistryOptions {
                public_key,
                ..RegistryOptions::default()
            },
        )
    }

    fn file() -> Source {
        Source::File("/tmp/x.wasm".into())
    }

    #[tokio::test]
    async fn builtin_loads_then_cached_reload_and_rollback() {
        let r = registry(None);
        assert!(r.current().is_none());
        assert_eq!(r.rollback().await.unwrap_err(), RollbackError::NoPrevious);
        let a = r.load_initial(None).await.unwrap();
        assert!(!a.cached);
        assert_eq!(a.active.name, "default");
        assert_eq!(a.active.source, "builtin");
        assert!(a.previous.is_none());
        assert_eq!(r.current().unwrap().sha256(), a.active.sha256);
        // The same bytes again: from the cache.
        let b = r
            .accept(BUILTIN_POLICY.to_vec(), None, file())
            .await
            .unwrap();
        assert!(b.cached);
        assert_eq!(b.active.source, "file:/tmp/x.wasm");
        assert_eq!(b.previous.unwrap().source, "builtin");
        let c = r.rollback().await.unwrap();
        assert_eq!(c.active.source, "rollback");
        assert_eq!(c.previous.unwrap().source, "file:/tmp/x.wasm");
        assert_eq!(r.status().active.unwrap().source, "rollback");
    }

    #[tokio::test]
    async fn refusals_leave_the_active_build() {
        let r = registry(None);
        r.load_initial(None).await.unwrap();
        let before = r.current().unwrap().sha256().to_string();
        let e = r
            .accept(b"not wasm".to_vec(), None, file())
            .await
            .unwrap_err();
        assert_eq!(e.step, Step::Compile);
        let empty = wat::parse_str("(component)").unwrap();
        let e = r.accept(empty, None, file()).await.unwrap_err();
        assert_eq!(e.step, Step::World);
        let e = r
            .accept(BUILTIN_POLICY.to_vec(), None, Source::Upload)
            .await
            .unwrap_err();
        assert_eq!(e.step, Step::Signature);
        let big = vec![0u8; DEFAULT_MAX_BYTES + 1];
        let e = r.accept(big, None, file()).await.unwrap_err();
        assert_eq!(e.step, Step::Size);
        assert_eq!(r.current().unwrap().sha256(), before);
        assert!(r.status().previous.is_none());
    }

    #[tokio::test]
    async fn invariants_are_checked_on_the_candidate() {
        let r = PolicyRegistry::new(
            Runtime::new(RuntimeOptions::default()).unwrap(),
            RegistryOptions {
                invariants:
                    "[[route]]\nmethod = \"GET\"\npath = \"/health\"\nexpect = \"scopes:admin\"\n"
                        .into(),
                ..RegistryOptions::default()
            },
        );
        let e = r.load_initial(None).await.unwrap_err();
        assert!(e.contains("invariants"), "{e}");
        assert!(r.current().is_none());
    }

    #[tokio::test]
    async fn with_a_key_only_signed_builds_load() {
        let (key, _, _) = signing::generate();
        let r = registry(Some(key.verifying_key()));
        // The built-in build needs no signature.
        r.load_initial(None).await.unwrap();
        let e = r
            .accept(BUILTIN_POLICY.to_vec(), None, Source::Upload)
            .await
            .unwrap_err();
        assert_eq!(e.step, Step::Signature);
        assert_eq!(e.failures, vec!["no signature".to_string()]);
        let (other, _, _) = signing::generate();
        let wrong = signing::sign(&other, BUILTIN_POLICY);
        let e = r
            .accept(BUILTIN_POLICY.to_vec(), Some(&wrong), Source::Upload)
            .await
            .unwrap_err();
        assert_eq!(
            e.failures,
            vec!["signature does not verify with the configured public key".to_string()]
        );
        let good = signing::sign(&key, BUILTIN_POLICY);
        let a = r
            .accept(BUILTIN_POLICY.to_vec(), Some(&good), Source::Upload)
            .await
            .unwrap();
        assert_eq!(a.active.source, "upload");
        // A file needs its signature too.
        let e = r
            .accept(BUILTIN_POLICY.to_vec(), None, file())
            .await
            .unwrap_err();
        assert_eq!(e.step, Step::Signature);
    }
}
