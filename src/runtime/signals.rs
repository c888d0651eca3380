//! Ctrl-C and SIGTERM: the first one requests the command's [`Shutdown`] (a clean stop: flush,
//! commit, write the manifest, exit 0); a second one exits at once with 130.

use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::Shutdown;

/// Returns the [`Shutdown`] that the first Ctrl-C / SIGTERM requests; the second one exits the
/// process with 130.
///
/// The handlers are registered before this returns, not in the task it spawns: a signal that
/// arrives right after is a clean stop too, not the default action (death by the signal).
pub fn stop_on_signals(runtime: &Runtime) -> Shutdown {
    let shutdown = Shutdown::new();
    let signals = {
        let _context = runtime.enter();
        Signals::register()
    };
    let Ok(mut signals) = signals else {
        tracing::warn!("could not register for SIGINT and SIGTERM: they stop the process at once");
        return shutdown;
    };
    let requested = shutdown.clone();
    runtime.spawn(async move {
        signals.next().await;
        tracing::info!("stopping: flushing what is buffered (press Ctrl-C again to abort)");
        requested.request();
        signals.next().await;
        std::process::exit(130);
    });
    shutdown
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
