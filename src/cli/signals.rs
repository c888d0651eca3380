//! Ctrl-C and SIGTERM: the first one asks the run to stop cleanly (flush, commit, write the
//! manifest, exit 0); a second one exits at once with 130.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Raises `stop` (and returns a watch that turns true) on the first Ctrl-C / SIGTERM.
pub(crate) fn install(runtime: &tokio::runtime::Runtime, stop: Arc<AtomicBool>) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    runtime.spawn(async move {
        if wait_for_signal().await.is_err() {
            return;
        }
        tracing::info!("stopping: flushing what is buffered (press Ctrl-C again to abort)");
        stop.store(true, Ordering::SeqCst);
        // Nobody listening is fine: the flag above is the other way to learn it.
        let _ = sender.send(true);
        if wait_for_signal().await.is_ok() {
            std::process::exit(130);
        }
    });
    receiver
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
