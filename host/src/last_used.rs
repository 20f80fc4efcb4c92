//! `last_used_at`, coalesced: uses are recorded in memory and written at most
//! once a second per key, and flushed on clean shutdown so none is lost.

use crate::store::DynStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct LastUsed {
    pending: Arc<Mutex<HashMap<String, String>>>,
}

impl LastUsed {
    pub fn record(&self, key_id: &str) {
        let now = crate::keys::now_rfc3339();
        self.pending
            .lock()
            .expect("last_used lock")
            .insert(key_id.to_string(), now);
    }

    /// Writes what is pending. On failure the entries are put back (unless a
    /// newer use replaced them) for the next flush.
    pub async fn flush(&self, store: &DynStore) {
        let batch: Vec<(String, String)> = {
            let mut p = self.pending.lock().expect("last_used lock");
            p.drain().collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(e) = store.touch_last_used(&batch).await {
            tracing::warn!(error = %e, "could not write last_used_at; will retry");
            let mut p = self.pending.lock().expect("last_used lock");
            for (id, at) in batch {
                p.entry(id).or_insert(at);
            }
        }
    }

    /// Flushes every second until `shutdown` resolves, then once more.
    pub async fn run(self, store: DynStore, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tick.tick() => self.flush(&store).await,
                _ = &mut shutdown => break,
            }
        }
        self.flush(&store).await;
    }
}
