//! Tree-level tests of the scanner, on fixture trees built in tempdirs.

use super::*;
use std::path::PathBuf;

const SSK: &str = "ssk_AbCdEfGhIj_0123456789abcdefghijABCDEFGHIJkl";
const SSK_SECRET: &str = "0123456789abcdefghijABCDEFGHIJkl";
const SSK_DECOY: &str = "ssk_AbCdEfGhIj_0123456789abcdefghijABCDEFGHIJkm";
const AWS: &str = "AKIAQ3EGRTYU7HKL2M4P";
const PASSWORD: &str = "Zq8#vL2!pR9@xT4m";
const API_TOKEN: &str = "tK8mN3pQ9rS2vX5z";
const ENV_SECRET: &str = "h7Gk2LmP9qRs4TvW";
const PEM_BODY: &str = "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";

fn is_key(k: &str) -> bool {
    k == SSK
}

fn write(root: &Path, rel: &str, content: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p
}

struct Run {
    outcome: ScanOutcome,
    events: Vec<ScanEvent>,
}

impl Run {
    fn findings(&self) -> Vec<&Finding> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ScanEvent::Finding(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    fn progress(&self) -> Vec<(usize, usize)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ScanEvent::Progress {
                    files_done,
                    total_files,
                } => Some((*files_done, *total_files)),
                _ => None,
            })
            .collect()
    }

    fn started(&self) -> Vec<usize> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ScanEvent::Started { total_files } => Some(*total_files),
                _ => None,
            })
            .collect()
    }

    fn completed(&self) -> ScanSummary {
        match self.outcome {
            ScanOutcome::Completed(s) => s,
            ScanOutcome::Cancelled(_) => panic!("cancelled"),
        }
    }
}

fn scan_with(root: &Path, limits: &ScanLimits, cancel: &AtomicBool) -> Run {
    let mut events = Vec::new();
    let outcome = scan_tree(root, limits, cancel, &is_key, &mut |e| events.push(e)).unwrap();
    Run { outcome, events }
}

fn scan(root: &Path) -> Run {
    scan_with(root, &ScanLimits::default(), &AtomicBool::new(false))
}

/// No planted secret in any field of any finding, nor in the Debug or JSON
/// form of any event.
fn assert_no_leak(run: &Run, secrets: &[&str]) {
    for f in run.findings() {
        for field in [&f.file, &f.rule, &f.severity, &f.excerpt] {
            for s in secrets {
                assert!(!field.contains(s), "{s:?} leaked in {f:?}");
            }
        }
        let json = serde_json::to_string(f).unwrap();
        for s in secrets {
            assert!(!json.contains(s), "{s:?} leaked in {json}");
        }
    }
    let debug = format!("{:?} {:?}", run.events, run.outcome);
    for s in secrets {
        assert!(!debug.contains(s), "{s:?} leaked in the Debug output");
    }
}

fn find<'a>(run: &'a Run, file: &str, line: u32) -> Vec<&'a Finding> {
    run.findings()
        .into_iter()
        .filter(|f| f.file == file && f.line == line)
        .collect()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "README.md",
        b"# Inventory\n\nLists the machines of the lab.\nRun it with `make run`.\n",
    );
    write(
        root,
        "src/app/client.js",
        format!(
            "// Dashboard client.\nconst endpoint = \"https://scanner.internal.example/api/v1\";\n\nconnect(endpoint, \"{SSK}\");\n"
        )
        .as_bytes(),
    );
    write(
        root,
        "config/settings.py",
        format!("import os\n\nDEBUG = False\npassword = \"{PASSWORD}\"\nTIMEZONE = \"UTC\"\n")
            .as_bytes(),
    );
    write(
        root,
        "config/app.json",
        format!("{{\r\n  \"name\": \"svc\",\r\n  \"api_token\": \"{API_TOKEN}\"\r\n}}\r\n")
            .as_bytes(),
    );
    write(
        root,
        ".env",
        format!("PORT=8080\nSECRET_KEY={ENV_SECRET}\n").as_bytes(),
    );
    write(
        root,
        "deploy/aws.txt",
        format!("Deployment account notes\nidentity {AWS} in eu-west-1\n").as_bytes(),
    );
    write(
        root,
        "deploy/keys/id_rsa",
        format!("-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n")
            .as_bytes(),
    );
    write(
        root,
        "notes/todo.txt",
        format!("Rotate the credential.\nold value was {SSK_DECOY}\n").as_bytes(),
    );
    dir
}

const ALL_SECRETS: [&str; 7] = [
    SSK, SSK_SECRET, AWS, PASSWORD, API_TOKEN, ENV_SECRET, PEM_BODY,
];

#[test]
fn every_rule_is_found_where_planted() {
    let dir = fixture();
    let run = scan(dir.path());
    let expected = [
        ("src/app/client.js", 4, "securescan-api-key", "critical"),
        ("config/settings.py", 4, "generic-secret", "medium"),
        ("config/app.json", 3, "generic-secret", "medium"),
        (".env", 2, "generic-secret", "medium"),
        ("deploy/aws.txt", 2, "aws-access-key-id", "high"),
        ("deploy/keys/id_rsa", 1, "private-key", "critical"),
    ];
    for (file, line, rule, severity) in expected {
        let at = find(&run, file, line);
        assert_eq!(at.len(), 1, "{file}:{line}: {:#?}", run.findings());
        assert_eq!(at[0].rule, rule, "{file}:{line}");
        assert_eq!(at[0].severity, severity, "{file}:{line}");
    }
    assert_eq!(
        run.findings().len(),
        expected.len(),
        "nothing else (README and the bad-checksum decoy are clean): {:#?}",
        run.findings()
    );
    let s = run.completed();
    assert_eq!(s.files_scanned, 8);
    assert_eq!(s.files_skipped, 0);
    assert_eq!(s.findings, expected.len());
    assert!(!s.timed_out);
    assert_eq!(run.started(), vec![8]);
    assert_no_leak(&run, &ALL_SECRETS);
    assert_no_leak(&run, &[SSK_DECOY]);

    let excerpt = |file: &str, line: u32| find(&run, file, line)[0].excerpt.clone();
    assert_eq!(
        excerpt("src/app/client.js", 4),
        "connect(endpoint, \"ssk_AbCdEfGhIj_****\");"
    );
    assert_eq!(
        excerpt("config/settings.py", 4),
        "password = \"[REDACTED]\""
    );
    assert_eq!(
        excerpt("config/app.json", 3),
        "\"api_token\": \"[REDACTED]\""
    );
    assert_eq!(excerpt(".env", 2), "SECRET_KEY=[REDACTED]");
    assert_eq!(
        excerpt("deploy/aws.txt", 2),
        "identity AKIA**************** in eu-west-1"
    );
    assert_eq!(
        excerpt("deploy/keys/id_rsa", 1),
        "-----BEGIN RSA PRIVATE KEY-----"
    );
}

#[test]
fn findings_serialize_with_the_expected_fields() {
    let dir = fixture();
    let run = scan(dir.path());
    let f = find(&run, "deploy/aws.txt", 2)[0];
    let v = serde_json::to_value(f).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "file": "deploy/aws.txt",
            "line": 2,
            "rule": "aws-access-key-id",
            "severity": "high",
            "excerpt": "identity AKIA**************** in eu-west-1",
        })
    );
}

#[test]
fn placeholders_give_no_generic_secret() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "config.yml",
        b"db_password: ${DB_PASSWORD}\napi_token: \"<your-token-here>\"\nsecret: xxxxxxxxxxxxxxxxxxxx\npassword: changeme-Q8z!k2\ntoken: \"https://example.com/t0k3n?q=9Z\"\nSECRET_KEY: your_secret_key_123\npassword: \"zzzzzzzzzzzzzzzzzzzzz\"\npassword: \"aaaabbbbaaaabbbb\"\npassword: \"short1!\"\n",
    );
    let run = scan(dir.path());
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
    assert_eq!(run.completed().files_scanned, 1);
}

#[test]
fn ssk_key_in_a_secret_assignment_is_one_finding() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "k.py",
        format!("API_KEY = \"{SSK}\"\n").as_bytes(),
    );
    let run = scan(dir.path());
    let f = run.findings();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].rule, "securescan-api-key");
    assert_eq!(f[0].line, 1);
    assert_no_leak(&run, &[SSK, SSK_SECRET]);
}

#[test]
fn binary_and_oversized_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut bin = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR ".to_vec();
    bin.extend_from_slice(format!("\nidentity {AWS}\n").as_bytes());
    write(root, "logo.png", &bin);
    // Over the limit: a secret at its start is still not read.
    let mut big = format!("password = \"{PASSWORD}\"\n").into_bytes();
    big.resize(4096, b'#');
    write(root, "big.txt", &big);
    // Exactly at the limit: scanned.
    let mut edge = format!("identity {AWS}\n").into_bytes();
    edge.resize(2048, b' ');
    write(root, "edge.txt", &edge);
    let limits = ScanLimits {
        max_file_bytes: 2048,
        ..ScanLimits::default()
    };
    let run = scan_with(root, &limits, &AtomicBool::new(false));
    let f = run.findings();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].file, "edge.txt");
    let s = run.completed();
    assert_eq!((s.files_scanned, s.files_skipped), (1, 2));
    assert_eq!(run.started(), vec![3]);
    assert_eq!(run.progress().last(), Some(&(3, 3)));
}

#[test]
fn nul_after_the_first_8k_is_not_binary() {
    let dir = tempfile::tempdir().unwrap();
    let mut content = format!("identity {AWS}\n").into_bytes();
    content.resize(9000, b'a');
    content.push(0);
    write(dir.path(), "late-nul.txt", &content);
    let run = scan(dir.path());
    assert_eq!(run.findings().len(), 1);
    assert_eq!(run.completed().files_scanned, 1);
}

#[cfg(unix)]
#[test]
fn symlinks_are_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    let secret_file = write(
        outside.path(),
        "leak.txt",
        format!("identity {AWS}\npassword = \"{PASSWORD}\"\n").as_bytes(),
    );
    write(
        outside.path(),
        "dir/leak2.txt",
        format!("k {AWS}\n").as_bytes(),
    );

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "clean.txt", b"nothing here\n");
    std::os::unix::fs::symlink(&secret_file, root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("dir"), root.join("linkdir")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", root.join("environ")).unwrap();

    let run = scan(root);
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
    assert_eq!(run.started(), vec![1], "only clean.txt is listed");
    let s = run.completed();
    assert_eq!((s.files_scanned, s.files_skipped), (1, 0));
    assert_no_leak(&run, &[AWS, PASSWORD]);
}

#[cfg(unix)]
#[test]
fn a_file_swapped_for_a_symlink_after_listing_is_not_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret_file = write(outside.path(), "leak.txt", format!("k {AWS}\n").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.txt", b"fine\n");
    std::fs::remove_file(&p).unwrap();
    std::os::unix::fs::symlink(&secret_file, &p).unwrap();
    assert_eq!(
        walk::read_candidate(&p, 1 << 20),
        Err(walk::Skip::Unreadable)
    );
}

#[test]
fn skipped_directories_are_not_walked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in [".git", "node_modules/pkg", "target/debug", "src/target"] {
        write(
            root,
            &format!("{d}/config"),
            format!("token = \"{API_TOKEN}\"\n").as_bytes(),
        );
    }
    // Only exact names are skipped.
    write(root, "git/notes.txt", format!("k {AWS}\n").as_bytes());
    write(root, "targets/notes.txt", format!("k {AWS}\n").as_bytes());
    let run = scan(root);
    let mut files: Vec<&str> = run.findings().iter().map(|f| f.file.as_str()).collect();
    files.sort();
    assert_eq!(files, ["git/notes.txt", "targets/notes.txt"]);
    assert_eq!(run.started(), vec![2]);
}

#[test]
fn relative_paths_use_slashes_and_nested_dirs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a/b/c/d.txt",
        format!("\n\n\nk {AWS}\n").as_bytes(),
    );
    let run = scan(dir.path());
    let f = run.findings();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].file.as_str(), f[0].line), ("a/b/c/d.txt", 4));
}

#[test]
fn a_single_file_root_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "one.env",
        format!("SECRET_KEY={ENV_SECRET}\n").as_bytes(),
    );
    let run = scan(&p);
    let f = run.findings();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].file, "one.env");
    assert_no_leak(&run, &[ENV_SECRET]);
}

#[test]
fn cancel_before_start_and_between_files() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        write(
            dir.path(),
            &format!("f{i}.txt"),
            format!("k {AWS}\n").as_bytes(),
        );
    }
    let cancel = AtomicBool::new(true);
    let run = scan_with(dir.path(), &ScanLimits::default(), &cancel);
    assert_eq!(run.outcome, ScanOutcome::Cancelled(ScanSummary::default()));
    assert!(run.events.is_empty());

    // Cancelled from inside the event callback, after the first file.
    let cancel = AtomicBool::new(false);
    let mut events = Vec::new();
    let outcome = scan_tree(
        dir.path(),
        &ScanLimits::default(),
        &cancel,
        &is_key,
        &mut |e| {
            if matches!(e, ScanEvent::Progress { .. }) {
                cancel.store(true, Ordering::Relaxed);
            }
            events.push(e);
        },
    )
    .unwrap();
    match outcome {
        ScanOutcome::Cancelled(s) => {
            assert_eq!(s.files_scanned, 1);
            assert_eq!(s.findings, 1);
        }
        other => panic!("not cancelled: {other:?}"),
    }
    let progress = events
        .iter()
        .filter(|e| matches!(e, ScanEvent::Progress { .. }))
        .count();
    assert_eq!(progress, 1);
}

#[test]
fn progress_counts_and_ends_at_total() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        write(dir.path(), &format!("f{i}.txt"), b"x\n");
    }
    let run = scan(dir.path());
    assert_eq!(run.started(), vec![5]);
    assert_eq!(run.progress(), vec![(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]);
    assert!(matches!(
        run.events[0],
        ScanEvent::Started { total_files: 5 }
    ));
}

#[test]
fn progress_is_batched_on_big_trees() {
    let dir = tempfile::tempdir().unwrap();
    let n: usize = 450;
    for i in 0..n {
        write(dir.path(), &format!("d{}/f{i}.txt", i % 9), b"x = 1\n");
    }
    let run = scan(dir.path());
    let p = run.progress();
    assert!(p.len() <= MAX_PROGRESS_EVENTS, "{} events", p.len());
    assert_eq!(p.len(), n.div_ceil(n.div_ceil(MAX_PROGRESS_EVENTS)));
    assert_eq!(p.last(), Some(&(n, n)));
    assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(p.iter().all(|&(_, t)| t == n));
    assert_eq!(run.completed().files_scanned, n);
}

#[test]
fn max_files_stops_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        write(dir.path(), &format!("f{i}.txt"), b"x\n");
    }
    let limits = ScanLimits {
        max_files: 4,
        ..ScanLimits::default()
    };
    let run = scan_with(dir.path(), &limits, &AtomicBool::new(false));
    assert_eq!(run.started(), vec![4]);
    assert_eq!(run.progress().last(), Some(&(4, 4)));
    assert_eq!(run.completed().files_scanned, 4);
}

#[test]
fn empty_tree() {
    let dir = tempfile::tempdir().unwrap();
    let run = scan(dir.path());
    assert_eq!(run.started(), vec![0]);
    assert!(run.progress().is_empty());
    assert_eq!(run.completed(), ScanSummary::default());
}

#[test]
fn time_budget_stops_the_scan_but_completes() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        write(
            dir.path(),
            &format!("f{i}.txt"),
            format!("k {AWS}\n").as_bytes(),
        );
    }
    let limits = ScanLimits {
        time_budget: Duration::ZERO,
        ..ScanLimits::default()
    };
    let run = scan_with(dir.path(), &limits, &AtomicBool::new(false));
    let s = run.completed();
    assert!(s.timed_out);
    assert_eq!(s.files_scanned, 0);
    assert!(run.findings().is_empty());
}

#[test]
fn root_errors_do_not_leak() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let err = scan_tree(
        &dir.path().join("missing"),
        &ScanLimits::default(),
        &AtomicBool::new(false),
        &is_key,
        &mut |e| events.push(e),
    )
    .unwrap_err();
    assert!(matches!(err, ScanError::RootNotFound));
    assert_eq!(err.to_string(), "scan root does not exist");
    assert!(events.is_empty());
}

#[test]
fn defaults() {
    let l = ScanLimits::default();
    assert_eq!(l.max_file_bytes, 1024 * 1024);
    assert_eq!(l.max_files, 20_000);
    assert_eq!(l.time_budget, Duration::from_secs(60));
}

#[test]
fn rule_table() {
    let got: Vec<(&str, &str)> = RuleId::ALL
        .iter()
        .map(|r| (r.name(), r.severity()))
        .collect();
    assert_eq!(
        got,
        [
            ("securescan-api-key", "critical"),
            ("aws-access-key-id", "high"),
            ("private-key", "critical"),
            ("generic-secret", "medium"),
        ]
    );
}
