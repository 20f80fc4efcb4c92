//! Scans: creation, the background run of the built-in scanner, cancel, and
//! the progress events they publish.

use crate::clock::now_ms;
use crate::cluster::Cluster;
use crate::event_log::Feeds;
use crate::events::EventBus;
use crate::keys::now_rfc3339;
use crate::policy::PolicyBuild;
use crate::scanner::{self, Finding, ScanEvent, ScanLimits, ScanOutcome};
use crate::store::Signal;
use crate::store::{DynStore, FindingRecord, ScanRecord, ScanUpdate, Skipped, Transition};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Scan types the reference knows; only `code` has a scanner built in here.
pub const KNOWN_TYPES: &[&str] = &["code", "dependency", "iac", "baseline", "dast", "network"];
pub const BUSY: &[&str] = &["pending", "running"];

/// Events of finished scans older than the retention are purged this often.
const PURGE: Duration = Duration::from_secs(60);

fn cancel_signal(id: &str) -> String {
    format!("cancel:{id}")
}

#[derive(Clone)]
pub struct Scans {
    store: DynStore,
    bus: EventBus,
    cluster: Cluster,
    /// Feeds the bus from the table for scans run by other instances.
    pub feeds: Feeds,
    cancels: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    /// How long a finished scan's events stay replayable.
    pub retention: Duration,
    /// A running scan's lease, renewed every sixth of it by its instance; a
    /// scan whose lease ran out is failed by whichever instance sweeps
    /// first (every third of it).
    pub lease: Duration,
    pub limits: ScanLimits,
    /// Where `scan.complete` / `scan.failed` are delivered as webhooks.
    pub webhooks: Option<crate::webhooks::Webhooks>,
}

impl Scans {
    pub fn new(store: DynStore, bus: EventBus, cluster: Cluster) -> Self {
        Scans {
            feeds: Feeds::new(store.clone(), bus.clone(), cluster.clone()),
            store,
            bus,
            cluster,
            cancels: Arc::default(),
            retention: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            limits: ScanLimits::default(),
            webhooks: None,
        }
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// How long finished scans' events stay replayable (memory and table).
    pub fn set_retention(&mut self, keep: Duration) {
        self.retention = keep;
        self.feeds.retention = keep;
    }

    /// True when a scan finished longer ago than the retention time: its
    /// events are gone (or going), a stream gets a synthesized end.
    pub fn events_expired(&self, scan: &ScanRecord) -> bool {
        if BUSY.contains(&scan.status.as_str()) {
            return false;
        }
        let Some(done) = scan.completed_at.as_deref().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }) else {
            return true;
        };
        time::OffsetDateTime::now_utc() - done >= self.retention
    }

    /// Records a scan (status `pending`) and starts it in the background.
    pub async fn create(
        &self,
        target: PathBuf,
        scan_types: Vec<String>,
        created_by: &str,
        policy: Arc<PolicyBuild>,
    ) -> Result<ScanRecord, crate::store::StoreError> {
        let skipped = scan_types
            .iter()
            .filter(|t| t.as_str() != "code")
            .map(|t| Skipped {
                scan_type: t.clone(),
                reason: format!("no {t} scanner is built into this server"),
            })
            .collect();
        let record = ScanRecord {
            id: crate::ids::uuid_v4(),
            target_path: target.display().to_string(),
            scan_types,
            status: "pending".into(),
            created_at: now_rfc3339(),
            started_at: None,
            completed_at: None,
            error: None,
            files_scanned: 0,
            findings_count: 0,
            skipped,
        };
        // The channel exists before anyone can learn the scan id, so a
        // subscriber that is quicker than the first event waits for it.
        self.bus.open(&record.id);
        if let Err(e) = self
            .store
            .insert_scan(&record, created_by, self.lease_until())
            .await
        {
            self.bus.forget(&record.id);
            return Err(e);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancels
            .lock()
            .expect("cancel lock")
            .insert(record.id.clone(), cancel.clone());
        let this = self.clone();
        let scan = record.clone();
        tokio::spawn(async move { this.run(scan, target, cancel, policy).await });
        Ok(record)
    }

    /// Cancels a pending or running scan. `Refused(status)` otherwise.
    pub async fn cancel(&self, id: &str) -> Result<Transition, crate::store::StoreError> {
        let t = self
            .store
            .transition_scan(
                id,
                BUSY,
                "cancelled",
                &now_rfc3339(),
                ScanUpdate {
                    completed: true,
                    ..Default::default()
                },
            )
            .await?;
        if t == Transition::Done && !self.stop_local(id) {
            // Running on another instance: tell it. (Its lease renewal would
            // notice within a few seconds anyway.)
            self.cluster.send(cancel_signal(id)).await;
        }
        Ok(t)
    }

    fn lease_until(&self) -> i64 {
        now_ms() + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Raises the cancel flag of a scan this instance runs.
    fn stop_local(&self, id: &str) -> bool {
        match self.cancels.lock().expect("cancel lock").get(id) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Fails scans whose instance is gone (lease ran out; with `everything`,
    /// every pending/running scan: a single-process store at startup) and
    /// closes their event streams with a `scan.failed` event.
    pub async fn fail_interrupted(
        &self,
        everything: bool,
    ) -> Result<usize, crate::store::StoreError> {
        let now = if everything { i64::MAX } else { now_ms() };
        let ids = self
            .store
            .fail_interrupted_scans(&now_rfc3339(), now)
            .await?;
        for id in &ids {
            let data =
                json!({ "scan_id": id, "error": "Interrupted: the instance running it stopped" });
            match self
                .store
                .append_event_next(id, "scan.failed", &data.to_string())
                .await
            {
                Ok(_) => self.cluster.send(crate::event_log::signal_for(id)).await,
                Err(e) => {
                    tracing::warn!(scan_id = %id, error = %e, "cannot close the events of an interrupted scan")
                }
            }
            self.notify_webhooks(id, "scan.failed").await;
        }
        Ok(ids.len())
    }

    /// Background upkeep until `stop`: renews the leases of the scans run
    /// here (and stops those cancelled elsewhere), fails scans whose
    /// instance is gone, purges old events, and obeys cancel signals.
    pub async fn maintain(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut signals = self.cluster.subscribe();
        let mut renew = tokio::time::interval(self.lease / 6);
        // Start-up already swept (`fail_interrupted`): the first sweep here
        // is one period later.
        let mut sweep =
            tokio::time::interval_at(tokio::time::Instant::now() + self.lease / 3, self.lease / 3);
        let mut purge = tokio::time::interval(PURGE);
        loop {
            tokio::select! {
                _ = crate::app::stopped(&mut stop) => return,
                _ = renew.tick() => self.renew().await,
                _ = sweep.tick() => {
                    if let Err(e) = self.fail_interrupted(false).await {
                        tracing::warn!(error = %e, "cannot sweep interrupted scans");
                    }
                }
                _ = purge.tick() => {
                    let cutoff = time::OffsetDateTime::now_utc() - self.retention;
                    let cutoff = cutoff
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    if let Err(e) = self.store.purge_events(&cutoff).await {
                        tracing::warn!(error = %e, "cannot purge old scan events");
                    }
                    // A bucket untouched for a day has refilled (any limit
                    // of at least one per minute, burst up to 1440).
                    if let Err(e) = self.store.purge_buckets(now_ms() - 86_400_000).await {
                        tracing::warn!(error = %e, "cannot purge old rate-limit buckets");
                    }
                }
                s = signals.recv() => match s {
                    Some(Signal::Message(m)) => {
                        if let Some(id) = m.strip_prefix("cancel:") {
                            self.stop_local(id);
                        }
                    }
                    Some(Signal::Reconnected) => self.renew().await,
                    None => return,
                },
            }
        }
    }

    async fn renew(&self) {
        let ids: Vec<String> = self
            .cancels
            .lock()
            .expect("cancel lock")
            .keys()
            .cloned()
            .collect();
        match self.store.renew_scan_leases(&ids, self.lease_until()).await {
            Ok(gone) => {
                for id in gone {
                    self.stop_local(&id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew scan leases"),
        }
    }

    fn finish(&self, id: &str, name: &str, data: serde_json::Value) {
        self.bus.publish(id, name, &data);
        self.cancels.lock().expect("cancel lock").remove(id);
        let bus = self.bus.clone();
        let id = id.to_string();
        let keep = self.retention;
        tokio::spawn(async move {
            tokio::time::sleep(keep).await;
            bus.forget(&id);
        });
    }

    /// Enqueues a webhook delivery of `event` with the stored scan record.
    async fn notify_webhooks(&self, id: &str, event: &str) {
        let Some(hooks) = &self.webhooks else { return };
        match self.store.get_scan(id).await {
            Ok(Some(record)) => {
                let data = serde_json::to_value(&record).expect("serializes");
                hooks.publish(event, &data).await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(scan_id = %id, error = %e, "cannot read scan for webhooks"),
        }
    }

    async fn run(
        self,
        scan: ScanRecord,
        target: PathBuf,
        cancel: Arc<AtomicBool>,
        policy: Arc<PolicyBuild>,
    ) {
        let id = scan.id.clone();
        let started = self
            .store
            .transition_scan(
                &id,
                &["pending"],
                "running",
                &now_rfc3339(),
                ScanUpdate {
                    started: true,
                    ..Default::default()
                },
            )
            .await;
        match started {
            Ok(Transition::Done) => {}
            Ok(_) => {
                // Cancelled before it started.
                self.finish(&id, "scan.cancelled", json!({ "scan_id": id }));
                return;
            }
            Err(e) => {
                tracing::error!(scan_id = %id, error = %e, "cannot start scan");
                self.finish(
                    &id,
                    "scan.failed",
                    json!({ "scan_id": id, "error": "internal error" }),
                );
                return;
            }
        }
        self.bus.publish(
            &id,
            "scan.start",
            &json!({ "scan_id": id, "scan_types": scan.scan_types, "skipped": scan.skipped }),
        );
        let run_code = scan.scan_types.iter().any(|t| t == "code");
        let bus = self.bus.clone();
        let limits = self.limits.clone();
        let scan_id = id.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut findings: Vec<Finding> = Vec::new();
            if !run_code {
                return Ok((ScanOutcome::Completed(Default::default()), findings));
            }
            // The ssk_ checksum is the policy's rule; a trap counts as "not a key".
            let is_key = |k: &str| matches!(policy.parse_key(k), Ok(Some(_)));
            let mut on_event = |ev: ScanEvent| match ev {
                ScanEvent::Started { total_files } => {
                    bus.publish(
                        &scan_id,
                        "scan.progress",
                        &json!({ "scan_id": scan_id, "files_done": 0, "total_files": total_files }),
                    );
                }
                ScanEvent::Progress {
                    files_done,
                    total_files,
                } => {
                    bus.publish(
                        &scan_id,
                        "scan.progress",
                        &json!({ "scan_id": scan_id, "files_done": files_done, "total_files": total_files }),
                    );
                }
                ScanEvent::Finding(f) => {
                    bus.publish(&scan_id, "finding", &json!({ "scan_id": scan_id, "finding": f }));
                    findings.push(f);
                }
            };
            let outcome = scanner::scan_tree(&target, &limits, &cancel, &is_key, &mut on_event)?;
            Ok::<_, scanner::ScanError>((outcome, findings))
        })
        .await;
        let now = now_rfc3339();
        match result {
            Ok(Ok((ScanOutcome::Completed(summary), findings))) => {
                let records: Vec<FindingRecord> = findings
                    .into_iter()
                    .map(|f| FindingRecord {
                        file: f.file,
                        line: i64::from(f.line),
                        rule: f.rule,
                        severity: f.severity,
                        excerpt: f.excerpt,
                    })
                    .collect();
                if let Err(e) = self.store.insert_findings(&id, &records).await {
                    tracing::error!(scan_id = %id, error = %e, "cannot store findings");
                }
                let t = self
                    .store
                    .transition_scan(
                        &id,
                        &["running"],
                        "completed",
                        &now,
                        ScanUpdate {
                            completed: true,
                            files_scanned: Some(summary.files_scanned as i64),
                            findings_count: Some(records.len() as i64),
                            ..Default::default()
                        },
                    )
                    .await;
                if matches!(t, Ok(Transition::Done)) {
                    self.finish(
                        &id,
                        "scan.complete",
                        json!({
                            "scan_id": id,
                            "files_scanned": summary.files_scanned,
                            "files_skipped": summary.files_skipped,
                            "findings": records.len(),
                            "timed_out": summary.timed_out,
                        }),
                    );
                    self.notify_webhooks(&id, "scan.complete").await;
                } else {
                    self.finish(&id, "scan.cancelled", json!({ "scan_id": id }));
                }
            }
            Ok(Ok((ScanOutcome::Cancelled(_), _))) => {
                self.finish(&id, "scan.cancelled", json!({ "scan_id": id }));
            }
            other => {
                let error = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "scanner crashed".to_string(),
                };
                let _ = self
                    .store
                    .transition_scan(
                        &id,
                        &["running"],
                        "failed",
                        &now,
                        ScanUpdate {
                            completed: true,
                            error: Some(error.clone()),
                            ..Default::default()
                        },
                    )
                    .await;
                self.finish(&id, "scan.failed", json!({ "scan_id": id, "error": error }));
                self.notify_webhooks(&id, "scan.failed").await;
            }
        }
    }
}
