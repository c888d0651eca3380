//! [`Shutdown`]: one request to stop, seen by threads (a flag they poll) and by async loops (a
//! future they select on) alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// A request to stop, shared by clones: any clone may [`request`](Shutdown::request) it, every
/// clone sees it. Requesting is idempotent and cannot be undone.
///
/// What "stop" means is each user's: the generator's lanes stop generating, a sink driver stops
/// reading and flushes what it holds, a store operation being retried gives up
/// ([`Sink::with_abort_on`](crate::sink::Sink::with_abort_on)). One that nobody requests (a
/// fresh [`Shutdown::new`] kept private) never fires.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<Request>);

#[derive(Debug)]
struct Request {
    /// For threads: read without locking (the generator's lanes look at it for every chunk).
    flag: AtomicBool,
    /// For async loops: wakes every waiter of [`Shutdown::requested`].
    announced: watch::Sender<bool>,
}

impl Default for Request {
    fn default() -> Self {
        Request { flag: AtomicBool::new(false), announced: watch::Sender::new(false) }
    }
}

impl Shutdown {
    /// A request nobody has made yet.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Asks everyone holding a clone to stop.
    pub fn request(&self) {
        // A flag: nothing else is published through it, so no ordering is needed.
        self.0.flag.store(true, Ordering::Relaxed);
        self.0.announced.send_replace(true);
    }

    pub fn is_requested(&self) -> bool {
        self.0.flag.load(Ordering::Relaxed)
    }

    /// Resolves once a stop is requested (at once if it already was). Cancel-safe: a `select!`
    /// may drop it and call it again.
    pub async fn requested(&self) {
        let mut announced = self.0.announced.subscribe();
        if announced.wait_for(|requested| *requested).await.is_err() {
            // The sender lives in `self`, which outlives this future: unreachable, and if it were
            // reached, no request could come any more.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_reaches_every_clone_and_every_waiter() {
        let shutdown = Shutdown::new();
        let clone = shutdown.clone();
        assert!(!clone.is_requested());
        let waiting = tokio::spawn(async move { clone.requested().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "nothing was requested yet");
        shutdown.request();
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert!(shutdown.is_requested());
        // Already requested: resolves at once, however often it is asked.
        tokio::time::timeout(Duration::from_secs(5), shutdown.requested()).await.unwrap();
        shutdown.request();
        assert!(shutdown.clone().is_requested());
    }

    #[tokio::test]
    async fn a_request_nobody_makes_never_fires() {
        let shutdown = Shutdown::new();
        assert!(tokio::time::timeout(Duration::from_millis(30), shutdown.requested()).await.is_err());
        assert!(!shutdown.is_requested());
    }
}
