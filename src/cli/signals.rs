//! Ctrl-C and SIGTERM: the first one asks the run to stop cleanly (flush, commit, write the
//! manifest, exit 0); a second one exits at once with 130.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

/// Raises `stop` (and returns a watch that turns true) on the first Ctrl-C / SIGTERM.
///
/// The handlers are registered before this returns, not in the task it spawns: a signal that
/// arrives right after is a clean stop too, not the default action (death by the signal).
pub(crate) fn install(runtime: &tokio::runtime::Runtime, stop: Arc<AtomicBool>) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    let signals = {
        let _context = runtime.enter();
        Signals::register()
    };
    let Ok(mut signals) = signals else {
        tracing::warn!("could not register for SIGINT and SIGTERM: they stop the process at once");
        return receiver;
    };
    runtime.spawn(async move {
        signals.next().await;
        tracing::info!("stopping: flushing what is buffered (press Ctrl-C again to abort)");
        stop.store(true, Ordering::SeqCst);
        // Nobody listening is fine: the flag above is the other way to learn it.
        let _ = sender.send(true);
        signals.next().await;
        std::process::exit(130);
    });
    receiver
}

/// SIGINT and SIGTERM, registered with the runtime.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn register() -> std::io::Result<Signals> {
        Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
