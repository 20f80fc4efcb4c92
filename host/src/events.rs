//! The in-process progress bus: one channel per scan, with a replay buffer.
//!
//! Every event of a scan gets the next id (1, 2, 3...). A subscriber first
//! gets the buffered events after its `Last-Event-ID`, then live ones, with
//! no gap and no duplicate between the two (both are taken under the same
//! lock as publishing). A subscriber that falls behind the live channel is
//! refilled from the buffer; only when the buffer no longer holds what it
//! missed is it told so with a `resync` item — never silently skipped ahead.
//!
//! The bus is per process. Published events also go, in order, to a sink
//! that persists them ([`crate::event_log`]); an instance streaming a scan it
//! does not run feeds its bus from those rows with [`EventBus::ingest`],
//! keeping the ids, so `Last-Event-ID` means the same on every instance.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// Where published events are sent to be persisted, in publish order.
pub type Sink = mpsc::UnboundedSender<(String, Arc<Event>)>;

/// Events kept per scan for replay.
pub const BUFFER: usize = 4096;
/// Live channel depth per scan before a subscriber counts as lagging.
const LIVE: usize = 1024;

pub const TERMINAL: [&str; 3] = ["scan.complete", "scan.failed", "scan.cancelled"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub name: String,
    /// Compact JSON.
    pub data: String,
}

impl Event {
    pub fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.name.as_str())
    }
}

struct Inner {
    buffer: VecDeque<Arc<Event>>,
    next_id: u64,
    /// Id of the terminal event, once published.
    terminal: Option<u64>,
}

struct Channel {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

#[derive(Clone, Default)]
pub struct EventBus {
    scans: Arc<Mutex<HashMap<String, Arc<Channel>>>>,
    sink: Option<Sink>,
}

/// What a subscriber receives next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Arc<Event>),
    /// Events after `after` up to `before` (exclusive) are gone for good.
    Resync {
        after: u64,
        before: u64,
    },
}

pub struct Subscription {
    replay: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    channel: Arc<Channel>,
    last: u64,
    pending_resync: Option<(u64, u64)>,
}

impl EventBus {
    /// A bus whose published events are also sent to `sink`.
    pub fn with_sink(sink: Sink) -> Self {
        EventBus {
            scans: Arc::default(),
            sink: Some(sink),
        }
    }

    fn channel(&self, scan_id: &str) -> Arc<Channel> {
        self.scans
            .lock()
            .expect("bus lock")
            .entry(scan_id.to_string())
            .or_insert_with(|| {
                Arc::new(Channel {
                    inner: Mutex::new(Inner {
                        buffer: VecDeque::new(),
                        next_id: 1,
                        terminal: None,
                    }),
                    tx: broadcast::channel(LIVE).0,
                })
            })
            .clone()
    }

    /// Publishes an event; returns its id.
    pub fn publish(&self, scan_id: &str, name: &str, data: &serde_json::Value) -> u64 {
        let ch = self.channel(scan_id);
        let mut inner = ch.inner.lock().expect("channel lock");
        let ev = Arc::new(Event {
            id: inner.next_id,
            name: name.to_string(),
            data: data.to_string(),
        });
        inner.next_id += 1;
        if ev.is_terminal() && inner.terminal.is_none() {
            inner.terminal = Some(ev.id);
        }
        inner.buffer.push_back(ev.clone());
        if inner.buffer.len() > BUFFER {
            inner.buffer.pop_front();
        }
        if let Some(sink) = &self.sink {
            // Under the channel lock, so the sink sees this scan's order.
            let _ = sink.send((scan_id.to_string(), ev.clone()));
        }
        // No receiver is fine: the buffer keeps it for later subscribers.
        let _ = ch.tx.send(ev.clone());
        ev.id
    }

    /// Adds an event read back from the store, keeping its id. Events at or
    /// before the last one held are ignored (already here). Not sent to the
    /// sink: it came from there.
    pub fn ingest(&self, scan_id: &str, ev: Event) {
        let ch = self.channel(scan_id);
        let mut inner = ch.inner.lock().expect("channel lock");
        if ev.id < inner.next_id {
            return;
        }
        inner.next_id = ev.id + 1;
        let ev = Arc::new(ev);
        if ev.is_terminal() && inner.terminal.is_none() {
            inner.terminal = Some(ev.id);
        }
        inner.buffer.push_back(ev.clone());
        if inner.buffer.len() > BUFFER {
            inner.buffer.pop_front();
        }
        let _ = ch.tx.send(ev);
    }

    /// True when this process holds a channel for the scan.
    pub fn has(&self, scan_id: &str) -> bool {
        self.scans.lock().expect("bus lock").contains_key(scan_id)
    }

    /// Opens the channel of a scan that will publish (so a subscriber that
    /// comes before the first event waits for it instead of finding nothing).
    pub fn open(&self, scan_id: &str) {
        self.channel(scan_id);
    }

    /// Subscribes after `last_event_id` (0 = from the start). `None` when
    /// the bus holds nothing for this scan (never opened here, or dropped).
    pub fn subscribe(&self, scan_id: &str, last_event_id: u64) -> Option<Subscription> {
        let ch = self.scans.lock().expect("bus lock").get(scan_id).cloned()?;
        let inner = ch.inner.lock().expect("channel lock");
        let rx = ch.tx.subscribe();
        let first = inner.buffer.front().map_or(inner.next_id, |e| e.id);
        let pending_resync = (first > last_event_id + 1).then_some((last_event_id, first));
        let replay = inner
            .buffer
            .iter()
            .filter(|e| e.id > last_event_id)
            .cloned()
            .collect();
        drop(inner);
        Some(Subscription {
            replay,
            rx,
            channel: ch,
            last: last_event_id,
            pending_resync,
        })
    }

    /// Drops a scan's buffer (after its terminal event has had time to reach
    /// everyone). Later subscribers get a synthesized terminal event instead.
    pub fn forget(&self, scan_id: &str) {
        self.scans.lock().expect("bus lock").remove(scan_id);
    }
}

impl Subscription {
    fn refill(&mut self) {
        let inner = self.channel.inner.lock().expect("channel lock");
        let first = inner.buffer.front().map_or(inner.next_id, |e| e.id);
        if first > self.last + 1 {
            self.pending_resync = Some((self.last, first));
        }
        self.replay = inner
            .buffer
            .iter()
            .filter(|e| e.id > self.last)
            .cloned()
            .collect();
        // Everything up to now is in `replay`; drop what the live channel
        // still holds of it by resubscribing.
        self.rx = self.channel.tx.subscribe();
    }

    /// The next item; `None` when the channel is gone.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some((after, before)) = self.pending_resync.take() {
                self.last = self.last.max(before - 1);
                return Some(Item::Resync { after, before });
            }
            if let Some(ev) = self.replay.pop_front() {
                if ev.id > self.last {
                    self.last = ev.id;
                    return Some(Item::Event(ev));
                }
                continue;
            }
            // A subscriber that already has the terminal event (a reconnect
            // with its id as Last-Event-ID) gets nothing more: end.
            let terminal = self.channel.inner.lock().expect("channel lock").terminal;
            if terminal.is_some_and(|t| self.last >= t) {
                return None;
            }
            match self.rx.recv().await {
                Ok(ev) if ev.id > self.last => {
                    if ev.id > self.last + 1 {
                        // Should not happen (ids are dense), but never skip.
                        self.refill();
                        continue;
                    }
                    self.last = ev.id;
                    return Some(Item::Event(ev));
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => self.refill(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(items: &[Item]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some(e.id),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn replay_then_live_without_gap_or_duplicate() {
        let bus = EventBus::default();
        bus.publish("s", "scan.start", &json!({}));
        bus.publish("s", "scan.progress", &json!({"files_done": 1}));
        let mut sub = bus.subscribe("s", 0).unwrap();
        bus.publish("s", "scan.complete", &json!({}));
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(sub.next().await.unwrap());
        }
        assert_eq!(ids(&got), vec![1, 2, 3]);
        match &got[2] {
            Item::Event(e) => assert!(e.is_terminal()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn last_event_id_resumes() {
        let bus = EventBus::default();
        for i in 0..5 {
            bus.publish("s", "scan.progress", &json!({ "i": i }));
        }
        let mut sub = bus.subscribe("s", 3).unwrap();
        assert_eq!(ids(&[sub.next().await.unwrap()]), vec![4]);
        assert_eq!(ids(&[sub.next().await.unwrap()]), vec![5]);
    }

    #[tokio::test]
    async fn a_subscriber_past_the_terminal_event_ends_at_once() {
        let bus = EventBus::default();
        bus.publish("s", "scan.start", &json!({}));
        bus.publish("s", "scan.complete", &json!({}));
        let mut sub = bus.subscribe("s", 2).unwrap();
        assert_eq!(sub.next().await, None);
    }

    #[tokio::test]
    async fn an_opened_channel_waits_for_its_first_event() {
        let bus = EventBus::default();
        bus.open("s");
        let mut sub = bus.subscribe("s", 0).unwrap();
        let b2 = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            b2.publish("s", "scan.start", &json!({}));
        });
        assert_eq!(ids(&[sub.next().await.unwrap()]), vec![1]);
    }

    #[tokio::test]
    async fn ingested_events_keep_their_ids_and_skip_duplicates() {
        let bus = EventBus::default();
        let ev = |id: u64, name: &str| Event {
            id,
            name: name.into(),
            data: "{}".into(),
        };
        bus.ingest("s", ev(1, "scan.start"));
        bus.ingest("s", ev(1, "scan.start"));
        bus.ingest("s", ev(2, "scan.progress"));
        let mut sub = bus.subscribe("s", 1).unwrap();
        bus.ingest("s", ev(3, "scan.complete"));
        assert_eq!(ids(&[sub.next().await.unwrap()]), vec![2]);
        assert_eq!(ids(&[sub.next().await.unwrap()]), vec![3]);
        assert_eq!(sub.next().await, None, "ends after the terminal event");
    }

    #[tokio::test]
    async fn published_events_reach_the_sink_in_order() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let bus = EventBus::with_sink(tx);
        bus.publish("a", "scan.start", &json!({}));
        bus.publish("b", "scan.start", &json!({}));
        bus.publish("a", "scan.complete", &json!({}));
        let mut got = Vec::new();
        while let Ok((scan, ev)) = rx.try_recv() {
            got.push((scan, ev.id, ev.name.clone()));
        }
        assert_eq!(
            got,
            vec![
                ("a".to_string(), 1, "scan.start".to_string()),
                ("b".to_string(), 1, "scan.start".to_string()),
                ("a".to_string(), 2, "scan.complete".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn unknown_scan_has_no_subscription() {
        assert!(EventBus::default().subscribe("nope", 0).is_none());
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_refilled_from_the_buffer() {
        let bus = EventBus::default();
        bus.publish("s", "scan.start", &json!({}));
        let mut sub = bus.subscribe("s", 0).unwrap();
        // Far more than the live channel holds, less than the buffer.
        for i in 0..(LIVE * 2) {
            bus.publish("s", "scan.progress", &json!({ "i": i }));
        }
        let mut last = 0;
        for _ in 0..(LIVE * 2 + 1) {
            match sub.next().await.unwrap() {
                Item::Event(e) => {
                    assert_eq!(e.id, last + 1, "no event skipped");
                    last = e.id;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn events_gone_from_the_buffer_are_announced() {
        let bus = EventBus::default();
        for i in 0..(BUFFER + 10) {
            bus.publish("s", "scan.progress", &json!({ "i": i }));
        }
        let mut sub = bus.subscribe("s", 0).unwrap();
        assert_eq!(
            sub.next().await.unwrap(),
            Item::Resync {
                after: 0,
                before: 11
            }
        );
        assert_eq!(ids(&[sub.next().await.unwrap()]), vec![11]);
    }
}
