//! The writes in flight: the sink's queue of background writes, whose outcomes are applied in
//! flush order, and the per-partition count of them that a Kafka rebalance waits on
//! ([`WritesInFlight`]).
//!
//! [`InFlight`] is the one place a write is awaited. Its oldest write leaves the queue only once it
//! has finished, so a wait dropped in a `select!` loses nothing (cancel-safe); whether the caller
//! waits for it ([`InFlight::oldest_finished`]) or only takes it when it is already done
//! ([`InFlight::finished_now`]), the same code takes it off.

use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant as WallInstant};

use tokio::task::JoinHandle;

use super::SinkError;
use super::stats::FlushTrigger;
use super::writer::WriteReport;

/// The sink's writes under way, oldest first.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    queue: VecDeque<Write>,
    by_partition: Arc<WritesInFlight>,
}

/// A batch being written in the background.
#[derive(Debug)]
struct Write {
    partition: u32,
    next_offset: u64,
    trigger: FlushTrigger,
    task: JoinHandle<Result<WriteReport, SinkError>>,
}

/// A write that has finished, taken off the queue: what the sink applies.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) partition: u32,
    /// One past the batch's last offset: the partition's position once the write is applied.
    pub(super) next_offset: u64,
    pub(super) trigger: FlushTrigger,
    pub(super) outcome: Result<WriteReport, SinkError>,
}

impl InFlight {
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The per-partition view, shared with whoever must wait for a partition's writes.
    pub(super) fn by_partition(&self) -> Arc<WritesInFlight> {
        self.by_partition.clone()
    }

    /// Spawns `write` (given its registration) as the newest write. The write is registered
    /// before its task first runs, so that a rebalance callback sees it at once.
    pub(super) fn start<W, F>(&mut self, partition: u32, next_offset: u64, trigger: FlushTrigger, write: W)
    where
        W: FnOnce(Registered) -> F,
        F: Future<Output = Result<WriteReport, SinkError>> + Send + 'static,
    {
        let registered = self.by_partition.register(partition);
        let task = tokio::spawn(write(registered));
        self.queue.push_back(Write { partition, next_offset, trigger, task });
    }

    /// Waits for the oldest write to finish and takes it off; `None` when none is under way.
    pub(super) async fn oldest_finished(&mut self) -> Option<Finished> {
        poll_fn(|context| self.poll_oldest(context)).await
    }

    /// The oldest write, taken off only if it has already finished.
    pub(super) fn finished_now(&mut self) -> Option<Finished> {
        if !self.queue.front()?.task.is_finished() {
            return None;
        }
        // Finished: ready at once (unless the task budget says to yield, and then next time).
        match self.poll_oldest(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(finished) => finished,
            Poll::Pending => None,
        }
    }

    fn poll_oldest(&mut self, context: &mut Context<'_>) -> Poll<Option<Finished>> {
        let Some(oldest) = self.queue.front_mut() else { return Poll::Ready(None) };
        let outcome = match Pin::new(&mut oldest.task).poll(context) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(outcome)) => outcome,
            Poll::Ready(Err(join_error)) => Err(SinkError::Task(join_error.to_string())),
        };
        Poll::Ready(self.queue.pop_front().map(|write| Finished {
            partition: write.partition,
            next_offset: write.next_offset,
            trigger: write.trigger,
            outcome,
        }))
    }
}

/// Writes under way, per partition. A Kafka driver losing partitions waits here (in its
/// rebalance callback, before the partitions can go to another member) until their writes are
/// done, so that the next owner's recovery sees every object this sink will ever write for them.
#[derive(Debug, Default)]
pub struct WritesInFlight {
    counts: Mutex<BTreeMap<u32, usize>>,
    done: Condvar,
}

impl WritesInFlight {
    fn register(self: &Arc<Self>, partition: u32) -> Registered {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(partition).or_default() += 1;
        }
        Registered { writes: self.clone(), partition }
    }

    /// Blocks until no write of `partitions` is under way, or `limit` passes; false on timeout.
    pub fn wait_idle(&self, partitions: &[u32], limit: Duration) -> bool {
        let deadline = WallInstant::now() + limit;
        let Ok(mut counts) = self.counts.lock() else { return false };
        loop {
            if partitions.iter().all(|partition| counts.get(partition).is_none_or(|count| *count == 0)) {
                return true;
            }
            let left = deadline.saturating_duration_since(WallInstant::now());
            if left.is_zero() {
                return false;
            }
            counts = match self.done.wait_timeout(counts, left) {
                Ok((counts, _)) => counts,
                Err(_) => return false,
            };
        }
    }
}

/// One write's registration; dropping it ends the write.
pub(super) struct Registered {
    writes: Arc<WritesInFlight>,
    partition: u32,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.writes.counts.lock()
            && let Some(count) = counts.get_mut(&self.partition)
        {
            *count = count.saturating_sub(1);
        }
        self.writes.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_idle_partitions_ends_when_their_writes_do() {
        let writes = Arc::new(WritesInFlight::default());
        let first = writes.register(1);
        let other = writes.register(2);
        assert!(writes.wait_idle(&[3], Duration::ZERO), "no write of partition 3");
        assert!(!writes.wait_idle(&[1], Duration::from_millis(20)), "partition 1 is still being written");
        let waiter = {
            let writes = writes.clone();
            std::thread::spawn(move || writes.wait_idle(&[1], Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        let released = WallInstant::now();
        drop(first);
        assert!(waiter.join().unwrap());
        assert!(released.elapsed() < Duration::from_secs(5), "the end of the write woke the waiter");
        drop(other);
        assert!(writes.wait_idle(&[1, 2], Duration::ZERO));
    }
}
