//! Listing the files of a tree (never following symlinks) and reading one
//! candidate file under the size and binary limits.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Directories never descended into.
pub const SKIPPED_DIRS: [&str; 3] = [".git", "node_modules", "target"];
/// How much of a file is looked at for a NUL byte.
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// A regular file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: PathBuf,
    /// Relative to the scan root, `/`-separated.
    pub rel: String,
}

/// Why the walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// Everything listed (or `max_files` reached).
    Done,
    Cancelled,
    TimedOut,
}

#[derive(Debug)]
pub struct Listing {
    pub files: Vec<FileEntry>,
    pub end: WalkEnd,
    /// Whether `max_files` cut the listing short.
    pub truncated: bool,
}

/// Lists the regular files under `root` in a stable (sorted, depth-first)
/// order. Symlinks are never followed nor listed; unreadable subdirectories
/// are left out. `root` itself may be a directory or a regular file. Errors
/// only for the root.
pub fn list_files(
    root: &Path,
    max_files: usize,
    cancel: &AtomicBool,
    deadline: Option<Instant>,
) -> std::io::Result<Listing> {
    let meta = fs::metadata(root)?;
    let mut files = Vec::new();
    if meta.is_file() {
        if max_files > 0 {
            let rel = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(FileEntry {
                path: root.to_path_buf(),
                rel,
            });
        }
        return Ok(Listing {
            truncated: max_files == 0,
            files,
            end: WalkEnd::Done,
        });
    }
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "scan root is neither a regular file nor a directory",
        ));
    }
    // Reading the root itself must work; below it, errors just skip.
    let first = read_dir_sorted(root)?;
    let mut stack: Vec<PendingDir> = vec![(root.to_path_buf(), String::new(), first.into_iter())];
    let mut seen = 0usize;
    while let Some((dir, prefix, entries)) = stack.last_mut() {
        let Some((name, ft)) = entries.next() else {
            stack.pop();
            continue;
        };
        seen += 1;
        if seen.is_multiple_of(64) {
            if cancel.load(Ordering::Relaxed) {
                return Ok(Listing {
                    files,
                    end: WalkEnd::Cancelled,
                    truncated: false,
                });
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Listing {
                    files,
                    end: WalkEnd::TimedOut,
                    truncated: false,
                });
            }
        }
        let path = dir.join(&name);
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if ft.is_symlink() {
            continue;
        }
        if ft.is_dir() {
            if SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            match read_dir_sorted(&path) {
                Ok(children) => stack.push((path, rel, children.into_iter())),
                Err(e) => tracing::debug!(dir = %rel, error = %e, "scan: directory skipped"),
            }
        } else if ft.is_file() {
            if files.len() >= max_files {
                return Ok(Listing {
                    files,
                    end: WalkEnd::Done,
                    truncated: true,
                });
            }
            files.push(FileEntry { path, rel });
        }
        // Sockets, FIFOs, devices: never opened.
    }
    Ok(Listing {
        files,
        end: WalkEnd::Done,
        truncated: false,
    })
}

/// A directory being walked: its path, its relative prefix, and its entries
/// not visited yet.
type PendingDir = (PathBuf, String, std::vec::IntoIter<(String, fs::FileType)>);

/// The entries of one directory with their (not followed) file types, sorted
/// by name.
fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<(String, fs::FileType)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        // `symlink_metadata`, not `metadata`: a symlink stays a symlink.
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            meta.file_type(),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Why a listed file was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    TooLarge,
    Binary,
    /// Gone, replaced by a symlink or something else, or unreadable.
    Unreadable,
}

/// Reads a listed file if it is still a regular file (not a symlink), at
/// most `max_bytes` long, and not binary (no NUL in its first 8 KiB).
pub fn read_candidate(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Skip> {
    let before = fs::symlink_metadata(path).map_err(|_| Skip::Unreadable)?;
    if !before.file_type().is_file() {
        return Err(Skip::Unreadable);
    }
    if before.len() > max_bytes {
        return Err(Skip::TooLarge);
    }
    let file = fs::File::open(path).map_err(|_| Skip::Unreadable)?;
    // The file opened must be the one checked above: a swap for a symlink
    // in between would show as another inode (or a non-regular file).
    let opened = file.metadata().map_err(|_| Skip::Unreadable)?;
    if !opened.file_type().is_file() || !same_file(&before, &opened) {
        return Err(Skip::Unreadable);
    }
    let mut buf = Vec::with_capacity(usize::try_from(opened.len().min(max_bytes)).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|_| Skip::Unreadable)?;
    if buf.len() as u64 > max_bytes {
        return Err(Skip::TooLarge); // grew since the check
    }
    if buf[..buf.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(Skip::Binary);
    }
    Ok(buf)
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &fs::Metadata, _b: &fs::Metadata) -> bool {
    true
}
