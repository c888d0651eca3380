//! What every command's event loop stands on: the tokio runtime, the one [`Shutdown`] request,
//! the signals that raise it, and the timers the drivers' `select!` loops share.
//!
//! A leaf: it uses nothing else of the crate, so that the sink, the Kafka consumer, the
//! generator and the CLI can all use it.
//!
//! - [`start`]: the runtime a command runs on (a few worker threads; the command's own thread
//!   drives it with `block_on`).
//! - [`Shutdown`]: a request to stop, shared by everyone who must hear it (the generator's lanes,
//!   the sink's drivers, the retries of a failing store).
//! - [`stop_on_signals`]: the first SIGINT / SIGTERM requests a [`Shutdown`]; a second one exits
//!   at once with 130.
//! - [`publish_interval`], [`sleep_until`]: the metrics timer and the optional deadline of a
//!   driver's loop.

mod shutdown;
mod signals;

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::time::Instant;

pub use shutdown::Shutdown;
pub use signals::stop_on_signals;

/// The runtime could not be started (the system refused threads or an event queue).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the runtime: {0}")]
pub struct StartError(#[from] std::io::Error);

/// A multi-threaded runtime with `worker_threads` workers, timers and I/O enabled: what every
/// command runs its async work on. The calling thread drives it with `block_on` (the Kafka
/// consumer's rebalance callbacks block that thread, never a worker, so writes keep running).
pub fn start(worker_threads: usize) -> Result<Runtime, StartError> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(worker_threads).enable_all().build()?)
}

/// How often a driver adds the sink's counts to its metrics (stored batches publish at once).
pub const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// The timer of [`PUBLISH_EVERY`]: one for the whole run, not one per message; a tick missed
/// while the driver was busy is not made up for.
pub fn publish_interval() -> tokio::time::Interval {
    let mut interval = tokio::time::interval(PUBLISH_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Sleeps until `deadline`; forever when there is none (a `select!` branch that never fires).
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
