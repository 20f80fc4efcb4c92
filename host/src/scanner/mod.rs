//! The built-in `code` secret scanner: pure blocking Rust, meant to run in
//! `tokio::task::spawn_blocking`.
//!
//! [`validate_target`] turns a client path into a canonical, non-system path;
//! [`scan_tree`] lists the regular files below it (never following symlinks,
//! skipping `.git`, `node_modules` and `target`), then scans each text file
//! line by line with the rules of [`rules`], reporting [`ScanEvent`]s as it
//! goes. A finding's excerpt never contains the secret it reports.

pub mod rules;
pub mod target;
pub mod walk;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use rules::RuleId;
pub use target::{validate_target, TargetError};

/// At most about this many `Progress` events per scan.
pub const MAX_PROGRESS_EVENTS: usize = 200;

/// Bounds of one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLimits {
    /// Larger files are skipped. Default 1 MiB.
    pub max_file_bytes: u64,
    /// The walk stops listing after this many files. Default 20 000.
    pub max_files: usize,
    /// Past this, the scan stops and reports `timed_out`. Default 60 s.
    pub time_budget: Duration,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_file_bytes: 1024 * 1024,
            max_files: 20_000,
            time_budget: Duration::from_secs(60),
        }
    }
}

/// One secret found. Every field is safe to show: the excerpt has the secret
/// replaced (`AKIA****************`, `ssk_AbCdEfGhIj_****`, `[REDACTED]`).
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct Finding {
    /// Relative to the scan root, `/`-separated.
    pub file: String,
    /// 1-based.
    pub line: u32,
    pub rule: String,
    /// `critical`, `high` or `medium`.
    pub severity: String,
    /// The line, redacted, trimmed, at most 200 chars.
    pub excerpt: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanEvent {
    /// Once, after the listing.
    Started {
        total_files: usize,
    },
    /// After each batch of files (at most ~200 per scan); the last one of a
    /// scan that ran to its end has `files_done == total_files`.
    Progress {
        files_done: usize,
        total_files: usize,
    },
    Finding(Finding),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanSummary {
    pub files_scanned: usize,
    /// Too large, binary, or unreadable.
    pub files_skipped: usize,
    pub findings: usize,
    /// The time budget ran out before every file was scanned.
    pub timed_out: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanOutcome {
    Completed(ScanSummary),
    Cancelled(ScanSummary),
}

impl ScanOutcome {
    pub fn summary(&self) -> &ScanSummary {
        match self {
            ScanOutcome::Completed(s) | ScanOutcome::Cancelled(s) => s,
        }
    }
}

/// Only about the scan root; the messages never carry file contents.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("scan root does not exist")]
    RootNotFound,
    #[error("scan root is neither a regular file nor a directory")]
    RootNotScannable,
    #[error("cannot read the scan root ({})", .0.kind())]
    RootIo(#[source] std::io::Error),
}

impl From<std::io::Error> for ScanError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => ScanError::RootNotFound,
            std::io::ErrorKind::InvalidInput => ScanError::RootNotScannable,
            _ => ScanError::RootIo(e),
        }
    }
}

/// Scans the tree at `root` (which should come from [`validate_target`]).
///
/// `is_valid_ssk` tells a real `ssk_` key (its checksum) from a look-alike;
/// `on_event` gets `Started`, then `Finding`s and `Progress` as files are
/// done. `cancel` is checked between files; when set, the scan stops and
/// returns `Cancelled`. When `limits.time_budget` runs out, the scan stops
/// and returns `Completed` with `timed_out`.
pub fn scan_tree(
    root: &Path,
    limits: &ScanLimits,
    cancel: &AtomicBool,
    is_valid_ssk: &dyn Fn(&str) -> bool,
    on_event: &mut dyn FnMut(ScanEvent),
) -> Result<ScanOutcome, ScanError> {
    let deadline = Instant::now().checked_add(limits.time_budget);
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut summary = ScanSummary::default();
    if cancel.load(Ordering::Relaxed) {
        return Ok(ScanOutcome::Cancelled(summary));
    }

    let listing = walk::list_files(root, limits.max_files, cancel, deadline)?;
    match listing.end {
        walk::WalkEnd::Cancelled => return Ok(ScanOutcome::Cancelled(summary)),
        walk::WalkEnd::TimedOut => {
            on_event(ScanEvent::Started {
                total_files: listing.files.len(),
            });
            summary.timed_out = true;
            return Ok(ScanOutcome::Completed(summary));
        }
        walk::WalkEnd::Done => {}
    }
    if listing.truncated {
        tracing::info!(
            max_files = limits.max_files,
            "scan: file limit reached, rest not listed"
        );
    }
    let total = listing.files.len();
    on_event(ScanEvent::Started { total_files: total });
    let batch = total.div_ceil(MAX_PROGRESS_EVENTS).max(1);

    for (i, entry) in listing.files.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(ScanOutcome::Cancelled(summary));
        }
        if expired() {
            summary.timed_out = true;
            break;
        }
        match walk::read_candidate(&entry.path, limits.max_file_bytes) {
            Ok(content) => {
                summary.files_scanned += 1;
                scan_content(&entry.rel, &content, is_valid_ssk, &mut |f| {
                    summary.findings += 1;
                    on_event(ScanEvent::Finding(f));
                });
            }
            Err(reason) => {
                summary.files_skipped += 1;
                tracing::debug!(file = %entry.rel, ?reason, "scan: file skipped");
            }
        }
        let done = i + 1;
        if done.is_multiple_of(batch) || done == total {
            on_event(ScanEvent::Progress {
                files_done: done,
                total_files: total,
            });
        }
    }
    Ok(ScanOutcome::Completed(summary))
}

/// Scans one file's content (`file` is only copied into the findings).
/// Lines end at `\n`; a trailing `\r` is dropped.
pub fn scan_content(
    file: &str,
    content: &[u8],
    is_valid_ssk: &dyn Fn(&str) -> bool,
    on_finding: &mut dyn FnMut(Finding),
) {
    for (idx, raw) in content.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(result) = rules::analyze_line(line, is_valid_ssk) else {
            continue;
        };
        let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        for rule in result.rules {
            on_finding(Finding {
                file: file.to_string(),
                line: line_no,
                rule: rule.name().to_string(),
                severity: rule.severity().to_string(),
                excerpt: result.excerpt.clone(),
            });
        }
    }
}

/// [`scan_content`], collected.
pub fn scan_bytes(file: &str, content: &[u8], is_valid_ssk: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let mut out = Vec::new();
    scan_content(file, content, is_valid_ssk, &mut |f| out.push(f));
    out
}

#[cfg(test)]
mod tests;
