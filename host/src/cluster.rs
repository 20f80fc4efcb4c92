//! Signals between the instances sharing one database.
//!
//! A signal is a short text (`ev:<scan>`, `cancel:<scan>`, ...) sent to every
//! instance, this one included. It only says "look again": whoever receives
//! it re-reads the tables, and after a lost connection every listener gets
//! [`Signal::Reconnected`] and re-reads everything it follows. So a missed
//! or duplicated signal costs latency, never correctness.
//!
//! With PostgreSQL signals are `NOTIFY securescan`; with SQLite (one process
//! per database file) they stay in this process.

use crate::store::{DynStore, Signal};
use tokio::sync::broadcast;

/// Signals kept for slow receivers before they count as lagging (a lagging
/// receiver is told [`Signal::Reconnected`]: it re-reads, loses nothing).
const DEPTH: usize = 4096;

#[derive(Clone)]
pub struct Cluster {
    store: DynStore,
    tx: broadcast::Sender<Signal>,
    /// True when signals travel through the database.
    remote: bool,
}

impl Cluster {
    /// Starts listening on the store's notification channel, if it has one.
    pub async fn start(store: DynStore) -> Result<Self, crate::store::StoreError> {
        let (tx, _) = broadcast::channel(DEPTH);
        let remote = match store.listen().await? {
            Some(mut rx) => {
                let fan = tx.clone();
                tokio::spawn(async move {
                    while let Some(s) = rx.recv().await {
                        let _ = fan.send(s);
                    }
                });
                true
            }
            None => false,
        };
        Ok(Cluster { store, tx, remote })
    }

    /// Sends a signal to every instance. Failure to notify is logged, not
    /// returned: receivers also poll, so it only delays them.
    pub async fn send(&self, payload: String) {
        if self.remote {
            if let Err(e) = self.store.signal(&payload).await {
                tracing::warn!(error = %e, "could not notify other instances");
            }
        } else {
            let _ = self.tx.send(Signal::Message(payload));
        }
    }

    pub fn subscribe(&self) -> Receiver {
        Receiver {
            rx: self.tx.subscribe(),
        }
    }
}

pub struct Receiver {
    rx: broadcast::Receiver<Signal>,
}

impl Receiver {
    /// The next signal; a lagging receiver gets `Reconnected` (re-read all).
    /// `None` once the cluster is gone.
    pub async fn recv(&mut self) -> Option<Signal> {
        match self.rx.recv().await {
            Ok(s) => Some(s),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Signal::Reconnected),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_signals_reach_every_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.db?mode=rwc", dir.path().display());
        let store = crate::store::open(&url).await.unwrap();
        let c = Cluster::start(store).await.unwrap();
        let mut a = c.subscribe();
        let mut b = c.subscribe();
        c.send("ev:x".into()).await;
        assert_eq!(a.recv().await, Some(Signal::Message("ev:x".into())));
        assert_eq!(b.recv().await, Some(Signal::Message("ev:x".into())));
    }

    #[tokio::test]
    async fn a_lagging_receiver_is_told_to_reread() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.db?mode=rwc", dir.path().display());
        let c = Cluster::start(crate::store::open(&url).await.unwrap())
            .await
            .unwrap();
        let mut a = c.subscribe();
        for i in 0..(DEPTH + 5) {
            c.send(format!("ev:{i}")).await;
        }
        assert_eq!(a.recv().await, Some(Signal::Reconnected));
    }
}
