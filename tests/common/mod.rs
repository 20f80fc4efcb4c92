//! Black-box harness for the `securescan` binary: every test starts its own
//! server process on a free port with its own SQLite database in a tempdir,
//! and talks to it over plain HTTP on 127.0.0.1.
//!
//! ```ignore
//! // a dev-mode server on an empty database
//! let app = TestApp::spawn(&[]).await;
//!
//! // a hardened server: the admin key exists before the server starts
//! let prepared = Prepared::new();
//! let admin = prepared.create_key("breakglass", &["admin"]);
//! let app = prepared.spawn(&hardened_env()).await;
//! ```
#![allow(dead_code)]

pub mod builds;
pub mod pg;
pub mod sse;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_securescan");

/// Every variable the server reads; none may leak in from the environment
/// the tests run in.
pub const KNOWN_VARS: &[&str] = &[
    "SECURESCAN_API_KEY",
    "SECURESCAN_AUTH_REQUIRED",
    "SECURESCAN_EVENT_TOKEN_SECRET",
    "SECURESCAN_DATABASE_URL",
    "SECURESCAN_RATE_LIMIT_PER_MIN",
    "SECURESCAN_RATE_LIMIT_BURST",
    "SECURESCAN_RATE_LIMIT_ENABLED",
    "SECURESCAN_LOG_FORMAT",
    "SECURESCAN_POLICY_PATH",
    "SECURESCAN_POLICY_FUEL",
    "SECURESCAN_POLICY_DEADLINE_MS",
    "SECURESCAN_EVENT_RETENTION_SECS",
    "SECURESCAN_WEBHOOK_ALLOW_PRIVATE",
    "SECURESCAN_WEBHOOK_RETRY_BASE_MS",
    "SECURESCAN_SCAN_LEASE_SECS",
    "SECURESCAN_POLICY_PUBLIC_KEY",
    "SECURESCAN_POLICY_MAX_BYTES",
    "SECURESCAN_DATABASE_POOL_SIZE",
];

/// The event-token secret used by hardened test deployments.
pub const EVENT_SECRET: &str = "evt-secret-3b9f0c2d8e7a41f6a5d4c3b2a1908f7e";

/// How long a CLI command (or a server that should refuse to start) may run.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to answer its health probe.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment of a hardened deployment without an env key:
/// `SECURESCAN_AUTH_REQUIRED=1` and an event-token secret.
pub fn hardened_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SECURESCAN_AUTH_REQUIRED", "1"),
        ("SECURESCAN_EVENT_TOKEN_SECRET", EVENT_SECRET),
    ]
}

/// A `Command` for the binary with a clean `SECURESCAN_*` environment.
fn base_command(args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for var in KNOWN_VARS {
        cmd.env_remove(var);
    }
    // Anything else in the namespace (e.g. SECURESCAN_LOG, the log filter).
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SECURESCAN_") {
            cmd.env_remove(&k);
        }
    }
    cmd
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Runs `securescan <args>` with exactly `env` (plus nothing inherited under
/// `SECURESCAN_*`), in a fresh working directory. Kills it and fails the test
/// if it has not exited within 30 s.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cwd = tempfile::tempdir().expect("tempdir");
    run_cli_in(cwd.path(), args, env)
}

/// [`run_cli`] in a given working directory.
pub fn run_cli_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let logs = tempfile::tempdir().expect("tempdir");
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let mut cmd = base_command(args, cwd);
    cmd.envs(env.iter().copied())
        .stdout(Stdio::from(File::create(&out_path).unwrap()))
        .stderr(Stdio::from(File::create(&err_path).unwrap()));
    let mut child = cmd.spawn().expect("spawn securescan");
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`securescan {}` did not exit within {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                CLI_TIMEOUT,
                read_lossy(&out_path),
                read_lossy(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}

/// stdout and stderr of a finished command, as one string.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A key as printed by `securescan keys create --json` or returned by
/// `POST /api/v1/keys`.
#[derive(Clone, Debug)]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    /// The plaintext key.
    pub key: String,
    pub raw: Value,
}

impl CreatedKey {
    pub fn from_json(v: &Value) -> CreatedKey {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("created key has no string field {k:?}: {v}"))
                .to_string()
        };
        CreatedKey {
            id: s("id"),
            name: s("name"),
            prefix: s("prefix"),
            key: s("key"),
            scopes: v
                .get("scopes")
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("created key has no scopes array: {v}"))
                .iter()
                .map(|s| s.as_str().expect("scope is a string").to_string())
                .collect(),
            raw: v.clone(),
        }
    }

    /// The secret part of the plaintext (after `ssk_<id>_`).
    pub fn secret(&self) -> &str {
        self.key
            .strip_prefix(&format!("{}_", self.prefix))
            .unwrap_or(&self.key)
    }
}

/// True when `key` looks like `ssk_<10 alnum>_<32 alnum>`.
pub fn well_formed_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("ssk_") else {
        return false;
    };
    let Some((id, secret)) = rest.split_once('_') else {
        return false;
    };
    id.len() == 10
        && secret.len() == 32
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A database (in its own tempdir) that a server has not been started on
/// yet: keys can be issued through the CLI before the server starts.
pub struct Prepared {
    pub dir: tempfile::TempDir,
    pub db_url: String,
}

impl Default for Prepared {
    fn default() -> Self {
        Self::new()
    }
}

impl Prepared {
    pub fn new() -> Prepared {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        Prepared { dir, db_url }
    }

    /// A server directory (logs, cwd) on the given database URL.
    pub fn on(db_url: &str) -> Prepared {
        Prepared {
            dir: tempfile::tempdir().expect("tempdir"),
            db_url: db_url.to_string(),
        }
    }

    /// `securescan <args>` against this database (extra env added).
    pub fn run_cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut all: Vec<(&str, &str)> = vec![("SECURESCAN_DATABASE_URL", self.db_url.as_str())];
        all.extend_from_slice(env);
        run_cli_in(self.dir.path(), args, &all)
    }

    /// `securescan keys create --name <name> [--scopes a,b] --json`.
    pub fn create_key(&self, name: &str, scopes: &[&str]) -> CreatedKey {
        create_key_cli(self.dir.path(), &self.db_url, name, scopes)
    }

    /// `securescan keys revoke <id>` (no auth-required env: no lockout).
    pub fn revoke_key(&self, id: &str) {
        let out = self.run_cli(&["keys", "revoke", id], &[]);
        assert!(
            out.status.success(),
            "keys revoke {id} failed: {:?}\n{}",
            out.status,
            output_text(&out)
        );
    }

    /// Starts the server on this database and waits for `/health` = 200.
    pub async fn spawn(self, env: &[(&str, &str)]) -> TestApp {
        self.spawn_with(env, Wait::Healthy).await
    }

    /// Starts the server on this database and waits as told.
    pub async fn spawn_with(self, env: &[(&str, &str)], wait: Wait) -> TestApp {
        TestApp::start(self, env, wait).await
    }
}

/// `securescan keys create ... --json` with `SECURESCAN_DATABASE_URL=db_url`.
/// Tolerates log lines around the JSON object (the strict one-object check
/// is a test of its own).
pub fn create_key_cli(cwd: &Path, db_url: &str, name: &str, scopes: &[&str]) -> CreatedKey {
    let joined = scopes.join(",");
    let mut args = vec!["keys", "create", "--name", name];
    if !scopes.is_empty() {
        args.push("--scopes");
        args.push(&joined);
    }
    args.push("--json");
    let out = run_cli_in(cwd, &args, &[("SECURESCAN_DATABASE_URL", db_url)]);
    assert!(
        out.status.success(),
        "`securescan {}` failed: {:?}\n{}",
        args.join(" "),
        out.status,
        output_text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v.get("key").is_some())
        .unwrap_or_else(|| panic!("no created-key JSON on stdout:\n{}", output_text(&out)));
    CreatedKey::from_json(&v)
}

/// When [`TestApp`] start is considered done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// `GET /health` answers 200.
    Healthy,
    /// `GET /health` answers anything over HTTP (the server is listening).
    Listening,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// A running server. Killed on drop.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db_url: String,
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// Dropped after the child is killed (see `Drop`).
    prepared: Prepared,
}

impl TestApp {
    /// A server on a fresh database, with `env` on top of the defaults
    /// (`SECURESCAN_DATABASE_URL`, `SECURESCAN_LOG_FORMAT=json`).
    pub async fn spawn(env: &[(&str, &str)]) -> TestApp {
        Prepared::new().spawn(env).await
    }

    /// A fresh database to prepare (issue keys by CLI) before starting.
    pub fn prepare() -> Prepared {
        Prepared::new()
    }

    async fn start(prepared: Prepared, env: &[(&str, &str)], wait: Wait) -> TestApp {
        Self::start_attempt(prepared, env, wait, 1).await
    }

    async fn start_attempt(
        prepared: Prepared,
        env: &[(&str, &str)],
        wait: Wait,
        attempt: u32,
    ) -> TestApp {
        let port = free_port();
        let port_s = port.to_string();
        let stdout_path = prepared
            .dir
            .path()
            .join(format!("server-{attempt}.stdout.log"));
        let stderr_path = prepared
            .dir
            .path()
            .join(format!("server-{attempt}.stderr.log"));
        let mut cmd = base_command(
            &["serve", "--host", "127.0.0.1", "--port", &port_s],
            prepared.dir.path(),
        );
        cmd.env("SECURESCAN_DATABASE_URL", &prepared.db_url)
            .env("SECURESCAN_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdout(Stdio::from(File::create(&stdout_path).unwrap()))
            .stderr(Stdio::from(File::create(&stderr_path).unwrap()));
        let child = cmd.spawn().expect("spawn securescan serve");
        let mut app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: client(),
            db_url: prepared.db_url.clone(),
            child: Some(child),
            stdout_path,
            stderr_path,
            prepared,
        };
        match app.wait_started(wait).await {
            Ok(()) => app,
            Err(exit) => {
                let logs = app.logs();
                let port_clash = logs.contains("in use") || logs.contains("AddrInUse");
                if port_clash && attempt < 3 {
                    // Someone took the port between our probe and the bind.
                    let prepared = app.take_prepared();
                    return Box::pin(Self::start_attempt(prepared, env, wait, attempt + 1)).await;
                }
                panic!("securescan serve exited before it was up ({exit:?})\n--- log ---\n{logs}");
            }
        }
    }

    /// Stops the child and hands the database back (for a retry).
    fn take_prepared(mut self) -> Prepared {
        self.kill();
        let dummy = Prepared {
            dir: tempfile::tempdir().expect("tempdir"),
            db_url: String::new(),
        };
        std::mem::replace(&mut self.prepared, dummy)
    }

    /// Polls `/health` every 50 ms. `Err(status)` when the child exits first;
    /// panics after 60 s.
    async fn wait_started(&mut self, wait: Wait) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = self.url("/health");
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                return Err(status);
            }
            let probe = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(resp) = probe {
                if wait == Wait::Listening || resp.status() == StatusCode::OK {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let logs = self.logs();
                self.kill();
                panic!(
                    "securescan serve did not become ready ({wait:?}) within {START_TIMEOUT:?}\n--- log ---\n{logs}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Sends SIGTERM and waits (up to 30 s) for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server already stopped");
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + CLI_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not exit within {CLI_TIMEOUT:?} of SIGTERM\n--- log ---\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `securescan <args>` against this server's database.
    pub fn run_cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.prepared.run_cli(args, env)
    }

    /// A second server process on the same database (its own port and
    /// logs), as a second instance behind a load balancer would be.
    pub async fn spawn_sibling(&self, env: &[(&str, &str)]) -> TestApp {
        let prepared = Prepared {
            dir: tempfile::tempdir().expect("tempdir"),
            db_url: self.db_url.clone(),
        };
        prepared.spawn(env).await
    }

    /// `securescan keys list --json` on this server's database.
    pub fn cli_list_keys(&self) -> Vec<Value> {
        let out = self.run_cli(&["keys", "list", "--json"], &[]);
        assert!(
            out.status.success(),
            "keys list --json: {}",
            output_text(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .find_map(|v| v.as_array().cloned())
            .unwrap_or_else(|| panic!("no JSON array from keys list --json: {}", output_text(&out)))
    }

    /// Everything the server wrote so far: stdout, then stderr.
    pub fn logs(&self) -> String {
        format!(
            "{}{}",
            read_lossy(&self.stdout_path),
            read_lossy(&self.stderr_path)
        )
    }

    pub fn stdout_log(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Every log line (stdout and stderr) that is a JSON object.
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// The `securescan.request` log lines.
    pub fn request_lines(&self) -> Vec<Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l.get("target").and_then(Value::as_str) == Some("securescan.request"))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request with `X-API-Key: key` when a key is given.
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match key {
            Some(k) => rb.header("X-API-Key", k),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        send(self.request(Method::GET, path, key)).await
    }

    pub async fn delete(&self, path: &str, key: Option<&str>) -> Response {
        send(self.request(Method::DELETE, path, key)).await
    }

    pub async fn post_json(&self, path: &str, key: Option<&str>, body: &Value) -> Response {
        send(self.request(Method::POST, path, key).json(body)).await
    }

    /// `POST /api/v1/keys` as `admin`; asserts 201.
    pub async fn create_key_api(
        &self,
        admin: Option<&str>,
        name: &str,
        scopes: &[&str],
    ) -> CreatedKey {
        let body = serde_json::json!({ "name": name, "scopes": scopes });
        let resp = self.post_json("/api/v1/keys", admin, &body).await;
        let (status, _, v) = json_of(resp).await;
        assert_eq!(status, 201, "POST /api/v1/keys {body}: {v}");
        CreatedKey::from_json(&v)
    }

    /// `GET /api/v1/keys` as `admin`; asserts 200, returns the array.
    pub async fn list_keys(&self, admin: Option<&str>) -> Vec<Value> {
        let (status, _, v) = json_of(self.get("/api/v1/keys", admin).await).await;
        assert_eq!(status, 200, "GET /api/v1/keys: {v}");
        v.as_array()
            .unwrap_or_else(|| panic!("GET /api/v1/keys is not an array: {v}"))
            .clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends, panicking on a transport error.
pub async fn send(rb: RequestBuilder) -> Response {
    let (client, req) = rb.build_split();
    let req = req.expect("build request");
    let what = format!("{} {}", req.method(), req.url());
    client
        .execute(req)
        .await
        .unwrap_or_else(|e| panic!("{what}: transport error: {e:?}"))
}

/// Status, headers and body parsed as JSON (`Value::Null` when the body is
/// empty; a string value when it is not JSON).
pub async fn json_of(resp: Response) -> (StatusCode, HeaderMap, Value) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("read body");
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, v)
}

/// Asserts the status and that the body is exactly `{"detail": detail}`;
/// a 401 must also carry `WWW-Authenticate`. Returns the headers.
pub async fn assert_detail(resp: Response, status: u16, detail: &str, ctx: &str) -> HeaderMap {
    let (got, headers, body) = json_of(resp).await;
    assert_eq!(
        got.as_u16(),
        status,
        "{ctx}: expected {status} {{\"detail\":{detail:?}}}, got {got} {body}"
    );
    assert_eq!(
        body,
        serde_json::json!({ "detail": detail }),
        "{ctx}: expected body {{\"detail\":{detail:?}}} with status {status}"
    );
    if status == 401 {
        assert!(
            headers.contains_key("www-authenticate"),
            "{ctx}: 401 without a WWW-Authenticate header: {headers:?}"
        );
    }
    headers
}

/// A log line's field: top level, or nested under `fields`.
pub fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name)
        .or_else(|| line.get("fields").and_then(|f| f.get(name)))
}

/// A numeric log field, also accepted when written as a string.
pub fn field_u64(line: &Value, name: &str) -> Option<u64> {
    match field(line, name)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub fn field_str<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    field(line, name).and_then(Value::as_str)
}

/// A hardened deployment (`SECURESCAN_AUTH_REQUIRED=1`, event-token secret,
/// no env key) whose only credential is one admin key issued by the CLI.
pub struct Hardened {
    pub app: TestApp,
    pub admin: CreatedKey,
}

pub async fn hardened() -> Hardened {
    hardened_with(&[]).await
}

/// [`hardened`] with extra environment.
pub async fn hardened_with(extra: &[(&str, &str)]) -> Hardened {
    let prepared = Prepared::new();
    let admin = prepared.create_key("breakglass-admin", &["admin"]);
    let mut env = hardened_env();
    env.extend_from_slice(extra);
    let app = prepared.spawn(&env).await;
    Hardened { app, admin }
}

/// A syntactically valid key (`ssk_<10>_<32>`) that no server issued.
pub const FORGED_KEY: &str = "ssk_AbCdEf1234_ZyXwVuTsRqPoNmLkJiHgFeDcBa98765432";

/// `key` with its last character (part of the checksum) changed.
pub fn with_bad_checksum(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let last = chars.last_mut().expect("non-empty key");
    *last = if *last == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// `key` with the first character of its secret changed (the checksum no
/// longer matches what precedes it).
pub fn with_altered_secret(key: &str) -> String {
    let idx = "ssk_".len() + 10 + 1;
    let mut chars: Vec<char> = key.chars().collect();
    chars[idx] = if chars[idx] == 'x' { 'y' } else { 'x' };
    chars.into_iter().collect()
}
