//! Rejections per second at the edge vs the same garbage sent straight to
//! the origin, same run, same machine (wrk, 32 connections, 10 s each).
//!
//! Usage:
//!   cargo build --release -p securescan --bins
//!   cargo run --release -p securescan --example edge_load -- [seconds] [connections]
//!
//! Starts a hardened origin (`target/release/securescan`, auth required, one
//! admin key, temp SQLite) and `target/release/securescan-edge` in front of
//! it, both logging one JSON line per request to /dev/null. Then runs wrk
//! with `X-API-Key: ssk_garbage` on `GET /api/v1/scans` against each, and
//! `GET /health` (forwarded by the edge) for the proxy's own overhead.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "edge-load-event-secret-0123456789abcdef";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bin(name: &str) -> String {
    let var = format!("{}_BIN", name.to_ascii_uppercase().replace('-', "_"));
    std::env::var(var).unwrap_or_else(|_| format!("target/release/{name}"))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_up(url: &str) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered 200");
}

/// Runs wrk; returns (requests/s, non-2xx count, total requests, p99 latency).
fn wrk(url: &str, secs: u32, conns: u32, key: Option<&str>) -> (f64, u64, u64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    if let Some(k) = key {
        cmd.args(["-H", &format!("X-API-Key: {k}")]);
    }
    let out = cmd.arg(url).output().expect("run wrk (is it installed?)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let num = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    };
    let rps = num("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let non2xx = num("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let total = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let p99 = num("99%").unwrap_or_default();
    (rps, non2xx, total, p99)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u32 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(10);
    let conns: u32 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(32);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display());
    let out = Command::new(bin("securescan"))
        .args([
            "keys",
            "create",
            "--name",
            "load-admin",
            "--scopes",
            "admin",
        ])
        .env("SECURESCAN_DATABASE_URL", &db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("securescan keys create");
    assert!(out.success(), "keys create failed");

    let origin_port = free_port();
    let _origin = Killed(
        Command::new(bin("securescan"))
            .args(["serve", "--port", &origin_port.to_string()])
            .env("SECURESCAN_DATABASE_URL", &db)
            .env("SECURESCAN_AUTH_REQUIRED", "1")
            .env("SECURESCAN_EVENT_TOKEN_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start origin"),
    );
    let origin = format!("http://127.0.0.1:{origin_port}");
    wait_up(&format!("{origin}/health")).await;

    let edge_port = free_port();
    let _edge = Killed(
        Command::new(bin("securescan-edge"))
            .args([
                "--listen",
                &format!("127.0.0.1:{edge_port}"),
                "--upstream",
                &origin,
            ])
            .env("SECURESCAN_EVENT_TOKEN_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start edge"),
    );
    let edge = format!("http://127.0.0.1:{edge_port}");
    wait_up(&format!("{edge}/edge/metrics")).await;

    println!("wrk -t2 -c{conns} -d{secs}s, release builds, JSON request logs on (to /dev/null)\n");
    println!(
        "{:<48} {:>12} {:>10} {:>10}",
        "what", "req/s", "non-2xx", "p99"
    );
    let runs: [(&str, String, Option<&str>); 4] = [
        (
            "garbage key -> edge (401 at the edge)",
            format!("{edge}/api/v1/scans"),
            Some("ssk_garbage"),
        ),
        (
            "garbage key -> origin directly (401)",
            format!("{origin}/api/v1/scans"),
            Some("ssk_garbage"),
        ),
        (
            "GET /health -> edge -> origin (forwarded)",
            format!("{edge}/health"),
            None,
        ),
        (
            "GET /health -> origin directly",
            format!("{origin}/health"),
            None,
        ),
    ];
    for (what, url, key) in runs {
        let (rps, non2xx, total, p99) = wrk(&url, secs, conns, key);
        println!("{what:<48} {rps:>12.0} {non2xx:>10} {p99:>10}   ({total} requests)");
    }
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let m: serde_json::Value = client
        .get(format!("{edge}/edge/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("\nedge metrics: {m}");
}
