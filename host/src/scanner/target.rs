//! Validation of a scan target path supplied by a client.
//!
//! The path is canonicalized first (symlinks resolved, `..` removed), and the
//! protected-path check runs on the canonical result, so a symlink or a
//! `../../proc` trick cannot reach a system path.

use std::path::{Path, PathBuf};

/// Canonical paths that may never be scanned, nor anything below them.
/// `/` itself is refused separately (everything is below it).
const PROTECTED: [&str; 5] = ["/proc", "/sys", "/dev", "/etc/shadow", "/root/.ssh"];

/// Why a target path was refused. The messages are fixed strings, safe to
/// return to a client (they never echo the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("Target path is required")]
    Empty,
    #[error("Target path is invalid")]
    Invalid,
    #[error("Target path does not exist")]
    NotFound,
    #[error("Target path is not accessible")]
    Inaccessible,
    #[error("Target path is a protected system path")]
    Protected,
}

impl TargetError {
    /// The client-facing message (same text as `Display`).
    pub fn message(&self) -> &'static str {
        match self {
            TargetError::Empty => "Target path is required",
            TargetError::Invalid => "Target path is invalid",
            TargetError::NotFound => "Target path does not exist",
            TargetError::Inaccessible => "Target path is not accessible",
            TargetError::Protected => "Target path is a protected system path",
        }
    }
}

/// Checks a client-supplied target and returns its canonical form, which is
/// what must be handed to [`super::scan_tree`].
pub fn validate_target(path: &str) -> Result<PathBuf, TargetError> {
    if path.is_empty() {
        return Err(TargetError::Empty);
    }
    if path.contains('\0') {
        return Err(TargetError::Invalid);
    }
    // Refuse protected paths as written too (with `.`/`..` folded), before
    // touching the file system: the answer must not reveal whether
    // `/root/.ssh/id_rsa` exists.
    if is_protected(&lexical(Path::new(path))) {
        return Err(TargetError::Protected);
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TargetError::NotFound,
        std::io::ErrorKind::InvalidInput => TargetError::Invalid,
        _ => TargetError::Inaccessible,
    })?;
    if is_protected(&canonical) {
        return Err(TargetError::Protected);
    }
    Ok(canonical)
}

/// `path` made absolute against `/` with `.` and `..` folded, without
/// reading the file system (symlinks are judged later, on the canonical path).
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// True for `/` and for the protected paths and anything below them. The
/// comparison is component-wise: `/procfoo` is not below `/proc`.
pub(crate) fn is_protected(canonical: &Path) -> bool {
    if canonical.parent().is_none() && canonical.has_root() {
        return true; // `/`
    }
    PROTECTED.iter().any(|p| canonical.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths_are_refused_whether_or_not_they_exist() {
        for p in [
            "/root/.ssh",
            "/root/.ssh/id_rsa",
            "/root/.ssh/does-not-exist-anywhere",
            "/tmp/../root/.ssh/x",
            "/etc/shadow",
            "/proc/nope/nope",
        ] {
            assert_eq!(validate_target(p), Err(TargetError::Protected), "{p}");
        }
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(validate_target(""), Err(TargetError::Empty));
        assert_eq!(TargetError::Empty.message(), "Target path is required");
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(validate_target("/tmp\0x"), Err(TargetError::Invalid));
    }

    #[test]
    fn missing_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope/not-here");
        let e = validate_target(p.to_str().unwrap()).unwrap_err();
        assert_eq!(e, TargetError::NotFound);
        assert_eq!(e.message(), "Target path does not exist");
        assert_eq!(e.to_string(), "Target path does not exist");
    }

    #[test]
    fn dangling_symlink_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("missing"), &link).unwrap();
        assert_eq!(
            validate_target(link.to_str().unwrap()),
            Err(TargetError::NotFound)
        );
    }

    #[test]
    fn ordinary_directory_is_canonicalized() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let messy = format!("{}/a/../a/.", dir.path().display());
        let got = validate_target(&messy).unwrap();
        assert_eq!(got, std::fs::canonicalize(dir.path().join("a")).unwrap());
    }

    #[test]
    fn regular_file_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.txt");
        std::fs::write(&f, "x").unwrap();
        assert!(validate_target(f.to_str().unwrap()).is_ok());
    }

    #[test]
    fn root_is_protected() {
        for p in ["/", "//", "/.", "/tmp/..", "/proc/self/root"] {
            let e = validate_target(p).unwrap_err();
            assert_eq!(e, TargetError::Protected, "{p}");
            assert_eq!(e.message(), "Target path is a protected system path");
        }
    }

    #[test]
    fn system_paths_are_protected() {
        for p in [
            "/proc",
            "/proc/1",
            "/proc/self",
            "/proc/self/environ",
            "/sys",
            "/sys/kernel",
            "/dev",
            "/dev/null",
            "/etc/shadow",
            "/etc/../proc",
        ] {
            if Path::new(p).exists() {
                assert_eq!(validate_target(p), Err(TargetError::Protected), "{p}");
            }
        }
    }

    #[test]
    fn symlink_to_system_path_is_protected_after_canonicalization() {
        let dir = tempfile::tempdir().unwrap();
        for (name, target) in [("p", "/proc"), ("d", "/dev"), ("r", "/")] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(target, &link).unwrap();
            assert_eq!(
                validate_target(link.to_str().unwrap()),
                Err(TargetError::Protected),
                "{name} -> {target}"
            );
        }
        let via_dotdot = format!("{}/../../../../../../../../proc", dir.path().display());
        assert_eq!(validate_target(&via_dotdot), Err(TargetError::Protected));
    }

    #[test]
    fn protection_is_component_wise() {
        for p in [
            "/",
            "/proc",
            "/proc/1/mem",
            "/sys",
            "/sys/fs/cgroup",
            "/dev",
            "/dev/sda",
            "/etc/shadow",
            "/root/.ssh",
            "/root/.ssh/id_rsa",
        ] {
            assert!(is_protected(Path::new(p)), "{p} should be protected");
        }
        for p in [
            "/procfoo",
            "/proc_data",
            "/system",
            "/devices",
            "/etc",
            "/etc/shadowfax",
            "/etc/shadow-",
            "/root",
            "/root/.sshx",
            "/root/project",
            "/home/user/proc",
            "/tmp/dev",
        ] {
            assert!(!is_protected(Path::new(p)), "{p} should not be protected");
        }
    }
}
