//! `securescan-edge`: the edge proxy. Runs the same policy build as the
//! origin in front of one or more origins (see `securescan_host::edge`).

use clap::Parser;
use securescan_host::config::{truthy, LogFormat};
use securescan_host::edge::{self, Edge, EdgeOptions};
use securescan_host::logging;
use securescan_host::policy::RuntimeOptions;
use std::path::PathBuf;
use std::sync::Arc;

/// Exit status for a configuration the edge refuses to start with.
const EXIT_FATAL_CONFIG: i32 = 2;

#[derive(Parser)]
#[command(
    name = "securescan-edge",
    version,
    about = "SecureScan edge proxy: the policy build in front of the origin"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// An origin, `http://host:port`. Repeat for several.
    #[arg(long = "upstream", required = true)]
    upstreams: Vec<String>,
    /// A policy build (`.wasm`) instead of the built-in one; SIGHUP reloads it.
    /// With SECURESCAN_POLICY_PUBLIC_KEY set, `<FILE>.sig` must sign it.
    #[arg(long)]
    policy: Option<PathBuf>,
}

fn fatal(msg: &str) -> ! {
    tracing::error!(critical = true, "{msg}");
    eprintln!("securescan-edge: {msg}");
    std::process::exit(EXIT_FATAL_CONFIG);
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn number(k: &str) -> Option<u32> {
    env(k).map(|v| {
        v.trim()
            .parse::<u32>()
            .unwrap_or_else(|_| fatal(&format!("{k}: must be a non-negative integer")))
    })
}

fn main() {
    let cli = Cli::parse();
    let format = match env("SECURESCAN_LOG_FORMAT")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(_) => {
            eprintln!("securescan-edge: SECURESCAN_LOG_FORMAT: must be json or text");
            std::process::exit(EXIT_FATAL_CONFIG);
        }
    };
    logging::init(format);
    let event_secret = env("SECURESCAN_EVENT_TOKEN_SECRET").unwrap_or_else(|| {
        fatal("SECURESCAN_EVENT_TOKEN_SECRET is not set: give the edge the origins' event-token secret")
    });
    let policy_public_key = env("SECURESCAN_POLICY_PUBLIC_KEY").map(|p| {
        securescan_host::policy::signing::read_verifying_key(std::path::Path::new(&p))
            .unwrap_or_else(|e| fatal(&format!("SECURESCAN_POLICY_PUBLIC_KEY: {e}")))
    });
    let opts = EdgeOptions {
        upstreams: cli.upstreams,
        policy_path: cli.policy,
        policy_public_key,
        env_key: env("SECURESCAN_API_KEY"),
        event_secret: event_secret.into_bytes(),
        rate_limit_per_min: number("SECURESCAN_RATE_LIMIT_PER_MIN"),
        rate_limit_burst: number("SECURESCAN_RATE_LIMIT_BURST"),
        rate_limit_enabled: env("SECURESCAN_RATE_LIMIT_ENABLED").is_none_or(|v| truthy(&v)),
        runtime: RuntimeOptions::default(),
    };
    let edge = match Edge::new(opts) {
        Ok(e) => Arc::new(e),
        Err(e) => fatal(&format!("cannot start: {e:#}")),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, listen = %cli.listen, "cannot listen");
                return 1;
            }
        };
        let p = edge.policy();
        tracing::info!(
            listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            policy = %p.info().policy_name,
            sha256 = p.sha256(),
            "edge listening"
        );
        match edge::serve(edge, listener).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(error = %e, "server failed");
                1
            }
        }
    });
    std::process::exit(code);
}
