//! How the server sets up its [`PolicyRegistry`]: the runtime from the
//! configuration, the build it starts with, and `SIGHUP`.

use super::registry::{PolicyRegistry, RegistryOptions};
use super::Runtime;
use crate::app::StartError;
use crate::config::Config;
use std::path::PathBuf;
use std::sync::Arc;

/// The registry with its first build loaded. A build that fails to load is
/// not fatal: the server starts and denies every access with 503 (so
/// `/ready` can say so); the failure is logged as critical.
pub async fn start(config: &Config) -> Result<PolicyRegistry, StartError> {
    let runtime = Runtime::new(crate::app::runtime_options(config))
        .map_err(|e| StartError::Fatal(format!("policy runtime: {e}")))?;
    let registry = PolicyRegistry::new(
        runtime,
        RegistryOptions {
            public_key: config.policy_public_key,
            max_bytes: config.policy_max_bytes,
            ..RegistryOptions::default()
        },
    );
    if let Some(k) = &config.policy_public_key {
        tracing::info!(
            public_key = %super::signing::fingerprint(k),
            "policy builds must be signed; uploads are enabled"
        );
    }
    match registry.load_initial(config.policy_path.as_deref()).await {
        Ok(a) => tracing::info!(
            policy = %a.active.name,
            version = %a.active.version,
            sha256 = %a.active.sha256,
            source = %a.active.source,
            "policy build loaded"
        ),
        Err(e) => tracing::error!(
            critical = true,
            error = %e,
            "policy build could not be loaded: every access will be denied with 503 (fix SECURESCAN_POLICY_PATH)"
        ),
    }
    Ok(registry)
}

/// `SIGHUP` loads `SECURESCAN_POLICY_PATH` again through the pipeline. A
/// refused build is logged and the active one keeps serving.
pub fn reload_on_sighup(
    registry: Arc<PolicyRegistry>,
    path: Option<PathBuf>,
) -> std::io::Result<()> {
    super::reload::on_sighup(move || {
        let registry = registry.clone();
        let path = path.clone();
        async move {
            let Some(path) = path else {
                tracing::warn!("SIGHUP: SECURESCAN_POLICY_PATH is not set, nothing to reload");
                return;
            };
            match registry.reload_file(&path).await {
                Ok(_) => {}
                Err(e) => tracing::error!(
                    error = %e,
                    path = %path.display(),
                    "policy reload refused: keeping the active build"
                ),
            }
        }
    })
}
