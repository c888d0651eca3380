//! Ctrl-C and SIGTERM: the first one asks the run to stop cleanly (flush, write the manifest,
//! exit 0); a second one exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Spawns a task that raises `stop` on the first Ctrl-C / SIGTERM and exits with 130 on the second.
pub(crate) fn install(runtime: &tokio::runtime::Runtime, stop: Arc<AtomicBool>) {
    runtime.spawn(async move {
        if wait_for_signal().await.is_err() {
            return;
        }
        tracing::info!("stopping: flushing what is buffered (press Ctrl-C again to abort)");
        stop.store(true, Ordering::SeqCst);
        if wait_for_signal().await.is_ok() {
            std::process::exit(130);
        }
    });
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
