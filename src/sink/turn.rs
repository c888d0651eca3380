//! A partition's objects become visible in flush order.
//!
//! Batches of one partition are compressed in parallel, but each one's objects are stored only
//! once the batch flushed before it has its data object durable: a [`Turn`] links each write to
//! the one before it. So at any moment, and at any crash, the data objects of a partition in the
//! store are a prefix of its flushes: a later batch is never durable while an earlier one is not.
//! When a write fails or is abandoned, the ones after it store nothing.
//!
//! Attacked by `NETCHAOS_FAILPOINT=stall:N` ([`failpoint`](super::failpoint)) and by the unit test
//! `a_later_batch_is_never_visible_before_an_earlier_one` in `sink::tests::ordering`.

use tokio::sync::watch;

/// Where a write stands, as the next write of its partition sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// Not stored yet.
    Pending,
    /// Its data object is durable.
    Stored,
    /// It held back on purpose (the `overtake` failpoint): go ahead without it.
    Overtaken,
}

/// One write's place in its partition's order: the standing of the write before it, and the
/// means to announce its own.
#[derive(Debug)]
pub(super) struct Turn {
    before: Option<watch::Receiver<Standing>>,
    mine: watch::Sender<Standing>,
}

/// How the wait for the previous write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waited {
    /// The previous write is durable (or there was none).
    Go,
    /// The previous write was held back by a failpoint.
    Overtaking,
    /// The previous write failed or was abandoned: this one must store nothing.
    EarlierFailed,
}

impl Turn {
    /// The turn after `before` (the partition's previous write, if any is still tracked), and
    /// what the write after this one will wait on.
    pub(super) fn after(before: Option<watch::Receiver<Standing>>) -> (Turn, watch::Receiver<Standing>) {
        let (mine, next) = watch::channel(Standing::Pending);
        (Turn { before, mine }, next)
    }

    /// Waits until the previous write of the partition is durable.
    pub(super) async fn wait(&mut self) -> Waited {
        let Some(before) = self.before.as_mut() else { return Waited::Go };
        loop {
            match *before.borrow_and_update() {
                Standing::Stored => return Waited::Go,
                Standing::Overtaken => return Waited::Overtaking,
                Standing::Pending => {}
            }
            if before.changed().await.is_err() {
                // The sender is gone: look at its last word once more.
                return match *before.borrow() {
                    Standing::Stored => Waited::Go,
                    Standing::Overtaken => Waited::Overtaking,
                    Standing::Pending => Waited::EarlierFailed,
                };
            }
        }
    }

    /// This write's data object is durable: the next one may go.
    pub(super) fn stored(&self) {
        self.mine.send_replace(Standing::Stored);
    }

    /// Lets the next write go first (the `overtake` failpoint).
    pub(super) fn step_aside(&self) {
        self.mine.send_replace(Standing::Overtaken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_turn_waits_for_the_one_before_and_stops_when_it_fails() {
        let (mut first, after_first) = Turn::after(None);
        assert_eq!(first.wait().await, Waited::Go);
        let (mut second, after_second) = Turn::after(Some(after_first));
        let waiting = tokio::spawn(async move { second.wait().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second waits while the first is pending");
        first.stored();
        assert_eq!(waiting.await.unwrap(), Waited::Go);

        let (mut third, _) = Turn::after(Some(after_second));
        // The second write ended (dropped) without storing: the third stores nothing.
        assert_eq!(third.wait().await, Waited::EarlierFailed);
    }

    #[tokio::test]
    async fn a_stored_turn_dropped_before_the_next_looks_still_counts() {
        let (first, after_first) = Turn::after(None);
        first.stored();
        drop(first);
        let (mut second, _) = Turn::after(Some(after_first));
        assert_eq!(second.wait().await, Waited::Go);
        let (aside, after_aside) = Turn::after(None);
        aside.step_aside();
        let (mut next, _) = Turn::after(Some(after_aside));
        assert_eq!(next.wait().await, Waited::Overtaking);
    }
}
