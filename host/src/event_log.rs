//! Progress events across instances: the table is the truth.
//!
//! - The instance running a scan publishes to its in-process bus, whose sink
//!   is the [`writer`]: it appends the events, in order, to `scan_events`
//!   and then signals `ev:<scan>`.
//! - Any other instance asked to stream that scan starts one [`Feeds`] task
//!   per scan: it reads the rows after the last one it has, puts them on its
//!   own bus with their ids (subscribers there see exactly what subscribers
//!   on the running instance see), and waits for the next `ev:<scan>` signal,
//!   or a poll interval, whichever comes first. A lost notification or a
//!   reconnected listener therefore only delays events; they are read from
//!   the table all the same.

use crate::cluster::Cluster;
use crate::events::{Event, EventBus, TERMINAL};
use crate::store::{DynStore, Signal, StoredEvent};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Rows read per query by a feed.
const PAGE: u32 = 1000;
/// A feed re-reads at least this often, signal or not.
const POLL: Duration = Duration::from_millis(1000);
/// How long a feed waits for the terminal event of a scan whose record is
/// already final before it closes the stream itself.
const TERMINAL_GRACE: Duration = Duration::from_secs(10);

pub fn signal_for(scan_id: &str) -> String {
    format!("ev:{scan_id}")
}

/// Persists what the bus publishes, in order, until `stop`; then drains
/// what is queued. A failed write is retried (events are never dropped
/// while the database comes back).
pub async fn writer(
    store: DynStore,
    cluster: Cluster,
    mut rx: mpsc::UnboundedReceiver<(String, Arc<Event>)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, 512) => if n == 0 { return },
            _ = crate::app::stopped(&mut stop) => {
                while let Ok(item) = rx.try_recv() {
                    batch.push(item);
                }
                write(&store, &cluster, std::mem::take(&mut batch), true).await;
                return;
            }
        }
        write(&store, &cluster, std::mem::take(&mut batch), false).await;
    }
}

async fn write(
    store: &DynStore,
    cluster: &Cluster,
    batch: Vec<(String, Arc<Event>)>,
    stopping: bool,
) {
    // Per scan, in publish order (a BTreeMap keeps the scans' order stable).
    let mut per_scan: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
    for (scan, ev) in batch {
        per_scan.entry(scan).or_default().push(StoredEvent {
            id: ev.id,
            name: ev.name.clone(),
            data: ev.data.clone(),
        });
    }
    for (scan, events) in per_scan {
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        while let Err(e) = store.append_events(&scan, &events).await {
            tries += 1;
            tracing::warn!(scan_id = %scan, error = %e, "could not persist scan events; retrying");
            if stopping && tries >= 5 {
                tracing::error!(scan_id = %scan, "scan events not persisted at shutdown");
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        cluster.send(signal_for(&scan)).await;
    }
}

/// Feeds this instance's bus from the table for scans it does not run.
#[derive(Clone)]
pub struct Feeds {
    store: DynStore,
    bus: EventBus,
    cluster: Cluster,
    active: Arc<Mutex<HashSet<String>>>,
    /// How long the bus keeps a finished scan's events after its feed ends.
    pub retention: Duration,
}

impl Feeds {
    pub fn new(store: DynStore, bus: EventBus, cluster: Cluster) -> Self {
        Feeds {
            store,
            bus,
            cluster,
            active: Arc::default(),
            retention: Duration::from_secs(300),
        }
    }

    /// Makes sure the bus holds, or will hold, the events of `scan_id`.
    /// The channel is open when this returns, so a subscriber taken right
    /// after waits for the feed instead of finding nothing.
    pub fn follow(&self, scan_id: &str) {
        if !self
            .active
            .lock()
            .expect("feeds lock")
            .insert(scan_id.to_string())
        {
            return;
        }
        self.bus.open(scan_id);
        let this = self.clone();
        let id = scan_id.to_string();
        tokio::spawn(async move {
            this.feed(&id).await;
            this.active.lock().expect("feeds lock").remove(&id);
            tokio::time::sleep(this.retention).await;
            // Unless someone started following it again meanwhile.
            if !this.active.lock().expect("feeds lock").contains(&id) {
                this.bus.forget(&id);
            }
        });
    }

    async fn feed(&self, scan_id: &str) {
        // Subscribed before the first read: a signal sent in between is
        // not lost.
        let mut signals = self.cluster.subscribe();
        let wanted = signal_for(scan_id);
        let mut last = 0u64;
        let mut final_since: Option<tokio::time::Instant> = None;
        loop {
            match self.store.events_after(scan_id, last, PAGE).await {
                Ok(rows) => {
                    let full = rows.len() == PAGE as usize;
                    for r in rows {
                        last = r.id;
                        let terminal = TERMINAL.contains(&r.name.as_str());
                        self.bus.ingest(
                            scan_id,
                            Event {
                                id: r.id,
                                name: r.name,
                                data: r.data,
                            },
                        );
                        if terminal {
                            return;
                        }
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(scan_id = %scan_id, error = %e, "cannot read scan events"),
            }
            // Nothing more for now. A scan whose record is final gets its
            // terminal event soon (the running instance writes it right
            // after the status); if it never comes (that instance died
            // between the two), close the stream from the record.
            match self.store.get_scan(scan_id).await {
                Ok(None) => return,
                Ok(Some(scan)) if !crate::scans::BUSY.contains(&scan.status.as_str()) => {
                    let since = *final_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= TERMINAL_GRACE {
                        self.bus
                            .ingest(scan_id, synthesized_terminal(&scan, last + 1));
                        return;
                    }
                }
                Ok(Some(_)) => final_since = None,
                Err(e) => tracing::warn!(scan_id = %scan_id, error = %e, "cannot read scan"),
            }
            let wait = async {
                loop {
                    match signals.recv().await {
                        Some(Signal::Message(m)) if m == wanted => return,
                        Some(Signal::Reconnected) | None => return,
                        Some(Signal::Message(_)) => continue,
                    }
                }
            };
            let _ = tokio::time::timeout(POLL, wait).await;
        }
    }
}

/// The terminal event a stream ends with when the scan's own terminal
/// event is not available (gone with the retention time, or never written).
pub fn synthesized_terminal(scan: &crate::store::ScanRecord, id: u64) -> Event {
    let name = match scan.status.as_str() {
        "completed" => "scan.complete",
        "cancelled" => "scan.cancelled",
        _ => "scan.failed",
    };
    Event {
        id,
        name: name.to_string(),
        data: serde_json::json!({
            "scan_id": scan.id,
            "status": scan.status,
            "findings": scan.findings_count,
            "synthesized": true,
        })
        .to_string(),
    }
}
