//! Reloading a policy build on `SIGHUP`, shared by the server and the edge.

use std::future::Future;
use std::path::Path;

/// The bytes of a policy build: the file, or the built-in build.
pub fn read_build(path: Option<&Path>) -> Result<Vec<u8>, String> {
    match path {
        Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
        None => Ok(super::BUILTIN_POLICY.to_vec()),
    }
}

/// Runs `reload` on every `SIGHUP`, one at a time. The handler is registered
/// before this returns, so a `SIGHUP` that arrives once the caller starts
/// serving can never hit the default action (terminate the process). A
/// no-op off Unix.
pub fn on_sighup<F, Fut>(reload: F) -> std::io::Result<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                reload().await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reload;
    Ok(())
}
