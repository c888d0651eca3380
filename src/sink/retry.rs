//! Store operations that fail are retried with exponential backoff until they succeed, the
//! driver requests the sink's abort [`Shutdown`], or they have failed for
//! [`RetryPolicy::give_up_after`]; nothing is ever dropped to make progress.
//!
//! Errors that no retry can fix are not retried at all ([`StorageError::permanent_cause`]): a
//! local store
//! that is read-only, not writable by this user, has a file where a directory must be, a
//! symbolic-link loop, a name too long, or an object key that is not valid. They give up at
//! once. Every way of giving up ends the same: the operation is [`Abandoned`], the sink refuses
//! further work (`SinkError::Abandoned`), and since positions (and Kafka commits) only move as
//! batches become durable, nothing past what is stored was committed; a rerun resumes from the
//! store.
//!
//! While a write is being retried the sink's caller is awaiting it, so the driver stops feeding
//! messages (and, in the Kafka mode, stops polling): that is the backpressure, and it keeps memory
//! at what is already buffered. An operation in flight is never interrupted; the signal is looked
//! at between attempts.

use std::future::Future;
use std::time::Duration;

use crate::runtime::Shutdown;
use prometheus_client::metrics::counter::Counter;

use super::StorageError;

/// How failed store operations are retried: the first wait, doubling up to the longest, for at
/// most `give_up_after` per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Give an operation up once it has been failing this long (measured from its first
    /// failure); `None` retries until the store is back or the abort is requested.
    pub give_up_after: Option<Duration>,
}

impl RetryPolicy {
    /// How long an operation is retried by default: long enough to ride out a store restart or a
    /// network partition, short enough that a store that stays down is reported.
    pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(30 * 60);
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            give_up_after: Some(Self::DEFAULT_GIVE_UP_AFTER),
        }
    }
}

impl RetryPolicy {
    fn next_backoff(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.max_backoff)
    }
}

/// The operation was given up: it failed permanently, for longer than the policy allows, or
/// while the abort was requested.
#[derive(Debug)]
pub(super) struct Abandoned {
    pub(super) last_error: StorageError,
}

/// Runs `attempt` until it succeeds, sleeping `policy`'s backoff between failures, until `abort`
/// is requested, or until it has been failing for `policy.give_up_after`; an error that
/// [`StorageError::permanent_cause`] names gives up at once. Counts every retry in `retries`.
pub(super) async fn retry<T, Attempt, Fut>(
    operation: &str,
    key: &str,
    policy: RetryPolicy,
    abort: &Shutdown,
    retries: &Counter,
    mut attempt: Attempt,
) -> Result<T, Abandoned>
where
    Attempt: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
{
    let mut backoff = policy.initial_backoff;
    let mut first_failure: Option<tokio::time::Instant> = None;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if abort.is_requested() || error.permanent_cause().is_some() {
            return Err(Abandoned { last_error: error });
        }
        let failing_for = first_failure.get_or_insert_with(tokio::time::Instant::now).elapsed();
        let wait = match policy.give_up_after {
            Some(limit) if failing_for >= limit => {
                tracing::error!(operation, key, error = %error, failing_for = ?failing_for, "store operation still failing after --give-up-after: giving up");
                return Err(Abandoned { last_error: error });
            }
            // The last wait ends at the limit, so that the last attempt is made right then.
            Some(limit) => backoff.min(limit - failing_for),
            None => backoff,
        };
        retries.inc();
        tracing::warn!(operation, key, error = %error, retry_in_ms = wait.as_millis() as u64, "store operation failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = abort.requested() => return Err(Abandoned { last_error: error }),
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
        let policy = RetryPolicy { initial_backoff: Duration::from_millis(4), max_backoff: Duration::from_millis(16), give_up_after: None };
        let attempts = Cell::new(0u32);
        let started = tokio::time::Instant::now();
        let retries = Counter::default();
        let outcome = retry("write", "k", policy, &Shutdown::new(), &retries, || {
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
        let abort = Shutdown::new();
        let retries = Counter::default();
        let policy = RetryPolicy { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(2), give_up_after: None };
        let retrying = retry("write", "k", policy, &abort, &retries, || async { Err::<(), _>(failure()) });
        let raising = async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            abort.request();
        };
        let (outcome, ()) = tokio::join!(retrying, raising);
        assert!(outcome.is_err());
        assert!(retries.get() >= 3, "it kept retrying until the signal: {}", retries.get());
    }

    #[tokio::test]
    async fn an_already_requested_abort_stops_after_one_attempt() {
        let abort = Shutdown::new();
        abort.request();
        let retries = Counter::default();
        let outcome = retry("write", "k", RetryPolicy::default(), &abort, &retries, || async { Err::<(), _>(failure()) }).await;
        assert!(outcome.is_err());
        assert_eq!(retries.get(), 0);
    }

    fn io_failure(kind: std::io::ErrorKind) -> StorageError {
        StorageError::Sync { key: "data/x.json".into(), source: std::io::Error::from(kind) }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_once_failing_for_longer_than_the_policy_allows() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            give_up_after: Some(Duration::from_secs(60)),
        };
        let started = tokio::time::Instant::now();
        let retries = Counter::default();
        let outcome = retry("write", "k", policy, &Shutdown::new(), &retries, || async { Err::<(), _>(failure()) }).await;
        assert!(outcome.is_err());
        // The last wait is cut to end at the limit: the last attempt is made at 60 s, not later.
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert!(retries.get() > 10, "{}", retries.get());
    }

    #[tokio::test(start_paused = true)]
    async fn an_operation_that_recovers_before_the_limit_succeeds() {
        let policy = RetryPolicy { give_up_after: Some(Duration::from_secs(10)), ..RetryPolicy::default() };
        let attempts = Cell::new(0u32);
        let outcome = retry("write", "k", policy, &Shutdown::new(), &Counter::default(), || {
            attempts.set(attempts.get() + 1);
            let succeed = attempts.get() == 4;
            async move { if succeed { Ok(()) } else { Err(failure()) } }
        })
        .await;
        assert!(outcome.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_local_errors_give_up_at_once_without_retrying() {
        use std::io::ErrorKind;
        for kind in [ErrorKind::ReadOnlyFilesystem, ErrorKind::PermissionDenied, ErrorKind::NotADirectory, ErrorKind::InvalidFilename] {
            let retries = Counter::default();
            let started = tokio::time::Instant::now();
            let outcome =
                retry("write", "k", RetryPolicy { give_up_after: None, ..RetryPolicy::default() }, &Shutdown::new(), &retries, || async {
                    Err::<(), _>(io_failure(kind))
                })
                .await;
            let abandoned = outcome.expect_err("given up");
            assert!(abandoned.last_error.permanent_cause().is_some(), "{kind:?}");
            assert_eq!((retries.get(), started.elapsed()), (0, Duration::ZERO), "{kind:?}");
        }
        let symlink_loop = StorageError::Sync { key: "k".into(), source: std::io::Error::from_raw_os_error(libc::ELOOP) };
        assert_eq!(symlink_loop.permanent_cause(), Some(crate::sink::storage::PermanentCause::SymlinkLoop));
    }

    #[test]
    fn transient_errors_are_not_permanent() {
        use std::io::ErrorKind;
        for kind in [ErrorKind::ConnectionRefused, ErrorKind::TimedOut, ErrorKind::StorageFull, ErrorKind::NotFound, ErrorKind::Other] {
            assert_eq!(io_failure(kind).permanent_cause(), None, "{kind:?}");
        }
        assert_eq!(failure().permanent_cause(), None);
    }

    #[tokio::test]
    async fn an_abort_nobody_requests_never_stops_the_retries() {
        let policy = RetryPolicy { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(2), give_up_after: None };
        let retries = Counter::default();
        let abort = Shutdown::new();
        let retrying = retry("write", "k", policy, &abort, &retries, || async { Err::<(), _>(failure()) });
        assert!(tokio::time::timeout(Duration::from_millis(40), retrying).await.is_err(), "still retrying");
        assert!(retries.get() >= 3, "{}", retries.get());
    }
}
