//! Crashes on purpose, for the tests of the exactly-once argument (not a user setting).
//!
//! `NETCHAOS_FAILPOINT` names one, read once per process:
//!
//! - `abort-before-commit:N`: the Kafka driver aborts at the first offset commit it makes once
//!   `N` batches are stored (the store acknowledged them, the group has not heard of them).
//! - `overtake:N`: batch `N` (0-based, counted per partition from the sink's start) of the first
//!   partition to flush that many holds back its data object and lets the partition's next batch
//!   store its own first, bypassing the order in which a partition's objects become visible;
//!   once that later object is durable the process aborts. The store then holds batch `N + 1`
//!   without batch `N`: the hole the old recovery resumed past. Attacks the recovery rule
//!   ([`ledger`](super::ledger)). Take `N >= 1`: a hole before a partition's first stored object
//!   looks the same as objects a lifecycle rule expired, and recovery keeps to what is there.
//! - `stall:N`: batch `N` likewise holds back its data object until the partition's next batch is
//!   compressed and waiting for its turn, gives that batch a moment to (wrongly) overtake it, then
//!   aborts. Nothing of the partition past batch `N` may be in the store. Attacks the ordered
//!   visibility of a partition's objects (`Turn`, in `sink/turn.rs`).
//! - `pieces:N`: in a piece layout (`--layout aws`, `--format ocsf`), batch `N` stores its piece
//!   table and the first half of its pieces (none when it has one), then the process aborts
//!   before the data object that would make them count: the moment step 8 of the argument in
//!   [`sink`](super) says recovery must clean up.
//!
//! Nothing on the hot path: one look per flush at a value parsed once.

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
    Pieces { flush: u64 },
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
            "pieces" => Some(Failpoint::Pieces { flush: number }),
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
            tracing::warn!(%value, "{VARIABLE} not understood (expected abort-before-commit:N, overtake:N, stall:N or pieces:N): ignored");
        }
        parsed
    })
}

/// What batch `batch` of `partition` is to do under this process's failpoint. Called when the
/// batch is flushed, so that the held partition is known before its next flush starts.
pub(super) fn role(partition: u32, batch: u64) -> Role {
    let role = match active() {
        Some(Failpoint::Overtake { flush }) if flush == batch => Role::Overtaken,
        Some(Failpoint::Stall { flush }) if flush == batch => Role::Stalled,
        Some(Failpoint::Pieces { flush }) if flush == batch => Role::PartPieces,
        _ => return Role::Normal,
    };
    if held().set(partition).is_err() {
        return Role::Normal;
    }
    role
}

/// A write's part in a failpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Normal,
    Overtaken,
    Stalled,
    /// Stores the table and half the pieces, then aborts (`pieces`).
    PartPieces,
}

/// True when batch `batch` of `partition` comes after the write held back by `stall`.
pub(super) fn follows_stalled(partition: u32, batch: u64) -> bool {
    let Some(Failpoint::Stall { flush: target }) = active() else { return false };
    batch > target && held().get() == Some(&partition)
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
    let reached = tokio::time::timeout(limit, successor_reached().notified()).await.is_ok();
    if what == "stall" {
        // Room for a wrong overtaking write to land, for the test to see it.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let moment = match (reached, what) {
        (false, _) => "no later batch of the partition came",
        (true, "stall") => "a later batch waiting for its turn",
        (true, _) => "a later batch stored before an earlier one",
    };
    eprintln!("netchaos: {VARIABLE}: {what}: aborting with {moment}");
    std::process::abort()
}

/// Aborts at once, saying which failpoint and what it left in the store.
pub(super) fn abort_now(what: &str, moment: &str) -> ! {
    eprintln!("netchaos: {VARIABLE}: {what}: aborting with {moment}");
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
        assert_eq!(Failpoint::parse("pieces:2"), Some(Failpoint::Pieces { flush: 2 }));
        for bad in ["", "overtake", "overtake:", "overtake:-1", "stall:x", "crash:1"] {
            assert_eq!(Failpoint::parse(bad), None, "{bad}");
        }
    }
}
