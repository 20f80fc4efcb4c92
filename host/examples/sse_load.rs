//! SSE fan-out load test: N subscribers on one scan must all receive every
//! event, in order. Prints the server's peak RSS (VmHWM).
//!
//! Usage: cargo run --release -p securescan --example sse_load -- [subscribers] [files]
//! Starts its own server (target/release/securescan) on a temp SQLite database.

use futures::StreamExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let subscribers: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let files: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(2000);
    let bin =
        std::env::var("SECURESCAN_BIN").unwrap_or_else(|_| "target/release/securescan".into());
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("tree");
    for i in 0..files {
        let sub = fixture.join(format!("d{}", i % 50));
        std::fs::create_dir_all(&sub).unwrap();
        let body = if i % 100 == 0 {
            format!("aws_key = \"AKIA{:016}\"\n", i)
        } else {
            format!("fn f{i}() {{ println!(\"hello\"); }}\n")
        };
        std::fs::write(sub.join(format!("f{i}.rs")), body).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(&bin)
        .args(["serve", "--port", &port.to_string()])
        .env(
            "SECURESCAN_DATABASE_URL",
            format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display()),
        )
        .env("SECURESCAN_EVENT_TOKEN_SECRET", "load-test-secret")
        .env("SECURESCAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..200 {
        if client.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_idle = vm_hwm_kb(server.id());
    // A scan paused by nothing: subscribers connect while it runs and get
    // the replay of what they missed, then the live rest.
    let scan: serde_json::Value = client
        .post(format!("{base}/api/v1/scans"))
        .json(&serde_json::json!({ "target_path": fixture, "scan_types": ["code"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = scan["id"].as_str().unwrap().to_string();
    let token: serde_json::Value = client
        .post(format!("{base}/api/v1/scans/{id}/event-token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..subscribers {
        let url = format!("{base}/api/v1/scans/{id}/events?event_token={token}");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        tasks.push(tokio::spawn(async move {
            let resp = client.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let mut stream = resp.bytes_stream();
            let mut buf = String::new();
            let mut ids = Vec::new();
            let mut terminal = None;
            while let Some(chunk) = stream.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                while let Some(end) = buf.find("\n\n") {
                    let frame = buf[..end].to_string();
                    buf.drain(..end + 2);
                    let mut name = "";
                    for line in frame.lines() {
                        if let Some(v) = line.strip_prefix("id: ") {
                            ids.push(v.parse::<u64>().unwrap());
                        }
                        if let Some(v) = line.strip_prefix("event: ") {
                            name = v;
                        }
                    }
                    if name.starts_with("scan.") && name != "scan.start" && name != "scan.progress"
                    {
                        terminal = Some(name.to_string());
                    }
                }
            }
            (ids, terminal)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    // VmHWM is the process's peak resident set so far.
    let peak = vm_hwm_kb(server.id());
    let expected_len = results.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
    let mut ok = 0;
    for (ids, terminal) in &results {
        let in_order = ids.iter().enumerate().all(|(i, id)| *id == i as u64 + 1);
        if in_order && ids.len() == expected_len && terminal.as_deref() == Some("scan.complete") {
            ok += 1;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    println!("subscribers: {subscribers}, files: {files}");
    println!("events per subscriber: {expected_len}");
    println!("subscribers with every event in order ending in scan.complete: {ok}/{subscribers}");
    println!("elapsed: {:.2?}", elapsed);
    println!(
        "server peak RSS (VmHWM): {:.1} MB (idle {:.1} MB)",
        peak as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    if ok != subscribers {
        std::process::exit(1);
    }
}
