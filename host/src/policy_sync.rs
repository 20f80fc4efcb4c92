//! One policy build for all the instances sharing a database (PostgreSQL).
//!
//! A build made active on one instance by an operator (upload, `SIGHUP`
//! reload, rollback) is stored with its signature and becomes the database's
//! active build (a new generation); `NOTIFY policy` wakes the others, which
//! load it through their own swap pipeline (signature, world, invariants:
//! nobody trusts another instance's checks) or from their compiled cache.
//! A listener that missed the notification finds the new generation on its
//! next poll. An instance that starts later adopts the database's active
//! build once it has loaded its own.

use crate::cluster::Cluster;
use crate::policy::registry::{PolicyRegistry, Publish, Published, Source};
use crate::policy::BUILTIN_POLICY;
use crate::store::{DynStore, Signal, StoredPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub const SIGNAL: &str = "policy";
/// How often an instance checks the active build without a signal.
const POLL: Duration = Duration::from_secs(5);

pub struct PolicySync {
    store: DynStore,
    cluster: Cluster,
    registry: Arc<PolicyRegistry>,
    /// The last generation this instance applied (or refused).
    seen: Mutex<u64>,
}

impl PolicySync {
    pub fn new(store: DynStore, cluster: Cluster, registry: Arc<PolicyRegistry>) -> Arc<Self> {
        Arc::new(PolicySync {
            store,
            cluster,
            registry,
            seen: Mutex::new(0),
        })
    }

    /// Brings this instance to the database's active build, if there is a
    /// newer one than it has applied.
    pub async fn catch_up(&self) {
        let active = match self.store.active_policy().await {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the active policy build");
                return;
            }
        };
        if active.generation <= *self.seen.lock().expect("seen lock") {
            return;
        }
        if self.registry.active_sha256().as_deref() != Some(active.sha256.as_str()) {
            self.adopt(&active.sha256).await;
        }
        let mut seen = self.seen.lock().expect("seen lock");
        *seen = (*seen).max(active.generation);
    }

    async fn adopt(&self, sha256: &str) {
        let stored = match self.store.get_policy(sha256).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::error!(sha256, "the active policy build is not in the database");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the active policy build");
                return;
            }
        };
        // The built-in build needs no signature anywhere; any other build
        // goes through this instance's whole pipeline.
        let builtin = crate::policy::signing::digest(BUILTIN_POLICY);
        let source = if hex::encode(builtin) == stored.sha256 {
            Source::Builtin
        } else {
            Source::Cluster(stored.source.clone())
        };
        match self
            .registry
            .accept(stored.wasm, stored.signature.as_deref(), source)
            .await
        {
            Ok(a) => tracing::info!(
                sha256 = %a.active.sha256,
                cached = a.cached,
                elapsed_ms = a.elapsed_ms,
                "adopted the policy build made active by another instance"
            ),
            Err(r) => tracing::error!(
                critical = true,
                sha256,
                refusal = %r,
                "refused the policy build made active by another instance: this instance keeps its build (check SECURESCAN_POLICY_PUBLIC_KEY on every instance)"
            ),
        }
    }

    /// Follows the other instances until `stop`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut signals = self.cluster.subscribe();
        self.catch_up().await;
        loop {
            tokio::select! {
                _ = crate::app::stopped(&mut stop) => return,
                _ = tokio::time::sleep(POLL) => self.catch_up().await,
                s = signals.recv() => match s {
                    Some(Signal::Message(m)) if m == SIGNAL => self.catch_up().await,
                    Some(Signal::Reconnected) => self.catch_up().await,
                    Some(Signal::Message(_)) => {}
                    None => return,
                },
            }
        }
    }
}

#[async_trait::async_trait]
impl Publish for PolicySync {
    async fn publish(&self, build: Published) {
        let stored = StoredPolicy {
            sha256: build.sha256.clone(),
            wasm: build.bytes.as_ref().clone(),
            signature: build.signature,
            source: build.source,
        };
        match self
            .store
            .publish_policy(&stored, &crate::keys::now_rfc3339())
            .await
        {
            Ok(generation) => {
                {
                    let mut seen = self.seen.lock().expect("seen lock");
                    *seen = (*seen).max(generation);
                }
                self.cluster.send(SIGNAL.to_string()).await;
            }
            Err(e) => tracing::error!(
                critical = true,
                sha256 = %build.sha256,
                error = %e,
                "policy build active here but not stored: other instances keep theirs"
            ),
        }
    }
}

/// Wires the registry to the database when instances share it.
pub fn start(
    store: &DynStore,
    cluster: &Cluster,
    registry: &Arc<PolicyRegistry>,
    stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !store.shared() {
        return None;
    }
    let sync = PolicySync::new(store.clone(), cluster.clone(), registry.clone());
    registry.set_publisher(sync.clone());
    Some(tokio::spawn(sync.run(stop)))
}
