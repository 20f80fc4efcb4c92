//! Process start: configuration, policy, store, the startup decision, serving.

use crate::config::Config;
use crate::http::{self, AppState};
use crate::last_used::LastUsed;
use crate::policy::{wit, PolicyBuild, Runtime, RuntimeOptions, BUILTIN_POLICY};
use crate::store::{self, DynStore};
use secrecy::SecretBox;
use std::net::SocketAddr;
use std::sync::Arc;

/// Exit status for a configuration that must not serve.
pub const EXIT_FATAL_CONFIG: i32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The startup decision (or the environment) says this must not serve.
    #[error("{0}")]
    Fatal(String),
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

pub fn runtime_options(config: &Config) -> RuntimeOptions {
    RuntimeOptions {
        fuel_per_call: config.policy_fuel,
        deadline_ms: config.policy_deadline_ms,
        ..RuntimeOptions::default()
    }
}

/// Loads the configured policy build, or the built-in one. Compiling is
/// blocking work, kept off the async workers.
pub async fn load_policy(config: &Config) -> Result<PolicyBuild, String> {
    let runtime = Runtime::new(runtime_options(config)).map_err(|e| e.to_string())?;
    let path = config.policy_path.clone();
    tokio::task::spawn_blocking(move || {
        let bytes = match &path {
            Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
            None => BUILTIN_POLICY.to_vec(),
        };
        runtime.load(&bytes).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Applies the policy's startup decision. `Ok(None)` when no policy is
/// loaded: the server then starts, denying every access with 503.
pub async fn startup_decision(
    config: &Config,
    store: &DynStore,
    policy: Option<&PolicyBuild>,
) -> Result<(), StartError> {
    let Some(policy) = policy else { return Ok(()) };
    let counts = store.counts().await?;
    let facts = wit::lifecycle::StartupFacts {
        auth_required: config.auth_required,
        env_key_configured: config.env_key.is_some(),
        unrevoked_admin_keys: counts.unrevoked_admins,
        unrevoked_keys: counts.unrevoked,
        event_secret_configured: config.event_secret.is_some(),
    };
    match policy.startup(facts) {
        Ok(Ok(ok)) => {
            for w in ok.warnings {
                tracing::warn!("{w}");
            }
            if ok.dev_mode {
                tracing::warn!(dev_mode = true, "serving in dev mode");
            }
            Ok(())
        }
        Ok(Err(fatal)) => Err(StartError::Fatal(fatal.message)),
        Err(e) => {
            tracing::error!(error = %e, "policy failed on the startup decision; every access will be denied");
            Ok(())
        }
    }
}

pub async fn serve(config: Config, host: String, port: u16) -> Result<(), StartError> {
    let config = Arc::new(config);
    let registry = Arc::new(crate::policy::wiring::start(&config).await?);
    let policy = registry.current();
    let store = store::open_with_pool(&config.database_url, config.database_pool_size).await?;
    startup_decision(&config, &store, policy.as_deref()).await?;
    let cluster = crate::cluster::Cluster::start(store.clone()).await?;
    let event_secret = match &config.event_secret {
        Some(s) => SecretBox::new(Box::new(secrecy::ExposeSecret::expose_secret(s).clone())),
        None => {
            let mut b = vec![0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
            SecretBox::new(Box::new(b))
        }
    };
    let last_used = LastUsed::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let webhooks = crate::webhooks::Webhooks::new(
        store.clone(),
        config.webhook_allow_private,
        config.webhook_retry_base_ms,
    );
    if config.webhook_allow_private {
        tracing::warn!("SECURESCAN_WEBHOOK_ALLOW_PRIVATE is on: webhooks may reach private and loopback addresses");
    }
    let (event_sink, event_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut scans = crate::scans::Scans::new(
        store.clone(),
        crate::events::EventBus::with_sink(event_sink),
        cluster.clone(),
    );
    scans.webhooks = Some(webhooks.clone());
    scans.lease = std::time::Duration::from_secs(config.scan_lease_secs);
    if let Some(secs) = config.event_retention_secs {
        scans.set_retention(std::time::Duration::from_secs(secs));
    }
    // With one process per database (SQLite) every unfinished scan was left
    // by a previous run; with a shared database only those whose instance
    // stopped renewing their lease.
    let interrupted = scans.fail_interrupted(!store.shared()).await?;
    if interrupted > 0 {
        tracing::warn!(
            scans = interrupted,
            "scans interrupted by a stopped instance marked failed"
        );
    }
    let state = AppState {
        config: config.clone(),
        store: store.clone(),
        policy: registry.active(),
        registry: registry.clone(),
        event_secret: Arc::new(event_secret),
        last_used: last_used.clone(),
        scans,
        limiter: crate::ratelimit::RateLimiter::new(
            config.rate_limit_per_min,
            config.rate_limit_burst,
            config.rate_limit_enabled,
        ),
        shutdown: stop_rx.clone(),
        webhooks: webhooks.clone(),
    };

    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|e| StartError::Fatal(format!("invalid listen address {host}:{port}: {e}")))?;
    // SIGHUP reloads SECURESCAN_POLICY_PATH through the swap pipeline;
    // registered before listening so it can never terminate the server.
    crate::policy::wiring::reload_on_sighup(registry.clone(), config.policy_path.clone())?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");

    let flusher = tokio::spawn(last_used.run(store.clone(), {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.changed().await;
        }
    }));
    let dispatcher = tokio::spawn(webhooks.run(stop_rx.clone()));
    let event_writer = tokio::spawn(crate::event_log::writer(
        store.clone(),
        cluster.clone(),
        event_rx,
        stop_rx.clone(),
    ));
    let upkeep = tokio::spawn(state.scans.clone().maintain(stop_rx.clone()));
    let policy_sync = crate::policy_sync::start(&store, &cluster, &registry, stop_rx.clone());
    axum::serve(
        listener,
        http::app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Ends open SSE streams so the graceful shutdown can complete.
        let _ = stop_tx.send(true);
    })
    .await?;
    let _ = flusher.await;
    let _ = dispatcher.await;
    let _ = event_writer.await;
    let _ = upkeep.await;
    if let Some(t) = policy_sync {
        let _ = t.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once `stop` says so (a guard-free future, so it can sit in a
/// `select!` next to awaits).
pub async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
