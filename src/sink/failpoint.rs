//! Crashes on purpose, for the tests of the exactly-once argument (not a user setting).
//!
//! `NETCHAOS_FAILPOINT` names one, read once per process:
//!
//! - `abort-before-commit:N`: the Kafka driver aborts at the first offset commit it makes once
//!   `N` batches are stored (the store acknowledged them, the group has not heard of them).
//! - `overtake:N`: flush number `N` (0-based, in flush order across partitions) holds back its
//!   data object and lets the partition's next batch store its own first, bypassing the order in
//!   which a partition's objects become visible; once that later object is durable the process
//!   aborts. The store then holds batch `N + 1` of the partition without batch `N`: the hole the
//!   old recovery resumed past. Attacks the recovery rule ([`ledger`](super::ledger)).
//! - `stall:N`: flush number `N` holds back its data object until the partition's next batch is
//!   compressed and waiting for its turn, gives that batch a moment to (wrongly) overtake it, then
//!   aborts. Nothing of the partition past batch `N` may be in the store. Attacks the ordered
//!   visibility of a partition's objects ([`Turn`](super::turn::Turn)).
//!
//! Nothing on the hot path: one lookup per flush of a value parsed once.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Notify;

/// The variable that names the failpoint.
pub const VARIABLE: &str = "NETCHAOS_FAILPOINT";

/// A failpoint of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    AbortBeforeCommit { after_batches: u64 },
    Overtake { flush: u64 },
    Stall { flush: u64 },
}

impl Failpoint {
    /// Reads a failpoint's text; `None` (with a warning) when it is not one.
    pub fn parse(value: &str) -> Option<Failpoint> {
        let (name, number) = value.trim().split_once(':')?;
        let number: u64 = number.trim().parse().ok()?;
        match name {
            "abort-before-commit" => Some(Failpoint::AbortBeforeCommit { after_batches: number }),
            "overtake" => Some(Failpoint::Overtake { flush: number }),
            "stall" => Some(Failpoint::Stall { flush: number }),
            _ => None,
        }
    }
}

/// This process's failpoint, if `NETCHAOS_FAILPOINT` names one.
pub fn active() -> Option<Failpoint> {
    static ACTIVE: OnceLock<Option<Failpoint>> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let value = std::env::var(VARIABLE).ok()?;
        let parsed = Failpoint::parse(&value);
        if parsed.is_none() {
            tracing::warn!(%value, "{VARIABLE} not understood (expected abort-before-commit:N, overtake:N or stall:N): ignored");
        }
        parsed
    })
}

/// What flush number `flush` is to do under this process's failpoint.
pub(super) fn role(flush: u64) -> Role {
    match active() {
        Some(Failpoint::Overtake { flush: target }) if target == flush => Role::Overtaken,
        Some(Failpoint::Stall { flush: target }) if target == flush => Role::Stalled,
        _ => Role::Normal,
    }
}

/// A write's part in a failpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Normal,
    Overtaken,
    Stalled,
}

/// The partition of the write held back by `stall`, set when it is flushed (before the next
/// flush of the partition can start).
pub(super) fn hold(partition: u32) {
    let _ = held().set(partition);
}

/// True when `partition`'s write is held back by `stall`.
pub(super) fn is_held(partition: u32) -> bool {
    held().get() == Some(&partition)
}

fn held() -> &'static OnceLock<u32> {
    static HELD: OnceLock<u32> = OnceLock::new();
    &HELD
}

/// Raised by the batch after the held-back one: its data object is durable (`overtake`), or it is
/// waiting for its turn (`stall`).
pub(super) fn successor_reached() -> &'static Notify {
    static REACHED: OnceLock<Notify> = OnceLock::new();
    REACHED.get_or_init(Notify::new)
}

/// Waits for the successor (at most `limit`, so that a run without one still ends), then aborts.
pub(super) async fn abort_after_successor(what: &str, limit: Duration) -> ! {
    let _ = tokio::time::timeout(limit, successor_reached().notified()).await;
    if what == "stall" {
        // Room for a wrong overtaking write to land, for the test to see it.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!(
        "netchaos: {VARIABLE}: {what}: aborting with a later batch {}",
        match what {
            "stall" => "waiting for its turn",
            _ => "stored before an earlier one",
        }
    );
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_failpoint_and_nothing_else() {
        assert_eq!(Failpoint::parse("abort-before-commit:4"), Some(Failpoint::AbortBeforeCommit { after_batches: 4 }));
        assert_eq!(Failpoint::parse(" overtake:0 "), Some(Failpoint::Overtake { flush: 0 }));
        assert_eq!(Failpoint::parse("stall: 7"), Some(Failpoint::Stall { flush: 7 }));
        for bad in ["", "overtake", "overtake:", "overtake:-1", "stall:x", "crash:1"] {
            assert_eq!(Failpoint::parse(bad), None, "{bad}");
        }
    }
}
