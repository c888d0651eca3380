//! Store operations that fail are retried with exponential backoff until they succeed or the
//! driver raises the [`AbortSignal`]; nothing is ever dropped to make progress.
//!
//! While a write is being retried the sink's caller is awaiting it, so the driver stops feeding
//! messages (and, in the Kafka mode, stops polling): that is the backpressure, and it keeps memory
//! at what is already buffered. An operation in flight is never interrupted; the signal is looked
//! at between attempts.

use std::future::Future;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;

use super::StorageError;

/// How failed store operations are retried: the first wait, doubling up to the longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { initial_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    fn next_backoff(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.max_backoff)
    }
}

/// Makes the sink stop retrying a failing store: `netchaos sink --from FILE` raises it on the first
/// Ctrl-C (nothing past the durable batches is committed, and a rerun resumes from the store);
/// `run` and `sink --from -` retry until the store is back or a second Ctrl-C exits.
///
/// Built from a `watch` channel: retries stop once the value is `true`. A signal whose sender is
/// dropped without raising it never fires.
#[derive(Debug, Clone, Default)]
pub struct AbortSignal(Option<watch::Receiver<bool>>);

impl AbortSignal {
    /// A signal that is never raised: retry until the store recovers.
    pub fn never() -> Self {
        AbortSignal(None)
    }

    pub fn from_watch(receiver: watch::Receiver<bool>) -> Self {
        AbortSignal(Some(receiver))
    }

    pub fn is_raised(&self) -> bool {
        self.0.as_ref().is_some_and(|receiver| *receiver.borrow())
    }

    /// Resolves once the signal is raised; never, if it cannot be.
    async fn raised(&self) {
        let Some(receiver) = &self.0 else {
            return std::future::pending().await;
        };
        let mut receiver = receiver.clone();
        if receiver.wait_for(|raised| *raised).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The operation was still failing when the abort signal was raised.
#[derive(Debug)]
pub(super) struct Abandoned {
    pub(super) last_error: StorageError,
}

/// Runs `attempt` until it succeeds, sleeping `policy`'s backoff between failures, or until
/// `abort` is raised. Counts every retry in `retries`.
pub(super) async fn retry<T, Attempt, Fut>(
    operation: &str,
    key: &str,
    policy: RetryPolicy,
    abort: &AbortSignal,
    retries: &Counter,
    mut attempt: Attempt,
) -> Result<T, Abandoned>
where
    Attempt: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
{
    let mut backoff = policy.initial_backoff;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if abort.is_raised() {
            return Err(Abandoned { last_error: error });
        }
        retries.inc();
        tracing::warn!(operation, key, error = %error, retry_in_ms = backoff.as_millis() as u64, "store operation failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = abort.raised() => return Err(Abandoned { last_error: error }),
        }
        backoff = policy.next_backoff(backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn failure() -> StorageError {
        StorageError::NoBucket("s3://".into())
    }

    #[tokio::test]
    async fn backs_off_exponentially_until_success() {
        let policy = RetryPolicy { initial_backoff: Duration::from_millis(4), max_backoff: Duration::from_millis(16) };
        let attempts = Cell::new(0u32);
        let started = tokio::time::Instant::now();
        let retries = Counter::default();
        let outcome = retry("write", "k", policy, &AbortSignal::never(), &retries, || {
            attempts.set(attempts.get() + 1);
            let succeed = attempts.get() == 5;
            async move { if succeed { Ok(7) } else { Err(failure()) } }
        })
        .await;
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(retries.get(), 4);
        // 4 + 8 + 16 + 16 (capped) ms at least.
        assert!(started.elapsed() >= Duration::from_millis(44), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn gives_up_when_aborted() {
        let (raise, receiver) = watch::channel(false);
        let abort = AbortSignal::from_watch(receiver);
        let retries = Counter::default();
        let policy = RetryPolicy { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(2) };
        let retrying = retry("write", "k", policy, &abort, &retries, || async { Err::<(), _>(failure()) });
        let raising = async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            raise.send_replace(true);
        };
        let (outcome, ()) = tokio::join!(retrying, raising);
        assert!(outcome.is_err());
        assert!(retries.get() >= 3, "it kept retrying until the signal: {}", retries.get());
    }

    #[tokio::test]
    async fn an_already_raised_signal_stops_after_one_attempt() {
        let (_raise, receiver) = watch::channel(true);
        let retries = Counter::default();
        let outcome =
            retry("write", "k", RetryPolicy::default(), &AbortSignal::from_watch(receiver), &retries, || async { Err::<(), _>(failure()) })
                .await;
        assert!(outcome.is_err());
        assert_eq!(retries.get(), 0);
    }

    #[tokio::test]
    async fn a_dropped_sender_never_aborts() {
        let (raise, receiver) = watch::channel(false);
        drop(raise);
        let abort = AbortSignal::from_watch(receiver);
        assert!(!abort.is_raised());
        let waited = tokio::time::timeout(Duration::from_millis(20), abort.raised()).await;
        assert!(waited.is_err());
    }
}
