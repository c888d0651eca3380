//! The consumer group: the rebalance callbacks librdkafka runs inside the consumer's poll, the
//! one set of partitions this member owns, and what the loop does with a rebalance before it
//! handles the event that came with it (release the revoked, recover the assigned).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::metrics::SinkMetrics;
use crate::sink::{Sink, WritesInFlight};

use super::describe;
use super::driver::Driver;

/// A rebalance the callbacks saw, for the loop to act on.
#[derive(Debug)]
enum Change {
    Assigned(Vec<u32>),
    Revoked(Vec<u32>),
}

/// Rebalance callbacks: record the change, keep the owned set current.
#[derive(Debug)]
pub(super) struct GroupContext {
    changes: Mutex<Vec<Change>>,
    /// The partitions this member owns: a revoked one leaves at once (in the callback, before the
    /// loop acts on it), so that no commit or lag series names it afterwards. The only copy.
    owned: Mutex<BTreeSet<u32>>,
    /// The sink's writes under way: a revocation waits for those of its partitions.
    writes: Arc<WritesInFlight>,
    /// Wakes the loop to act on a change even when no message follows it.
    pub(super) changed: tokio::sync::Notify,
    pub(super) topic: String,
    /// See [`REVOKE_WAIT_MAX`](super::REVOKE_WAIT_MAX).
    revoke_wait: Duration,
    /// The sink's metrics: the lag per partition comes from librdkafka's statistics.
    pub(super) metrics: SinkMetrics,
    /// High watermarks the driver asked the brokers for while consumption is paused (the
    /// statistics' come with fetches, which a paused partition does not make).
    pub(super) watermarks: Mutex<BTreeMap<i32, i64>>,
}

impl GroupContext {
    pub(super) fn new(topic: &str, writes: Arc<WritesInFlight>, revoke_wait: Duration, metrics: SinkMetrics) -> Self {
        GroupContext {
            changes: Mutex::default(),
            owned: Mutex::default(),
            writes,
            changed: tokio::sync::Notify::new(),
            topic: topic.to_owned(),
            revoke_wait,
            metrics,
            watermarks: Mutex::default(),
        }
    }

    fn partitions(list: &TopicPartitionList, topic: &str) -> Vec<u32> {
        list.elements_for_topic(topic).iter().filter_map(|element| u32::try_from(element.partition()).ok()).collect()
    }

    fn record(&self, change: Change) {
        if let Ok(mut changes) = self.changes.lock() {
            changes.push(change);
        }
        self.changed.notify_one();
    }

    fn take_changes(&self) -> Vec<Change> {
        self.changes.lock().map(|mut changes| std::mem::take(&mut *changes)).unwrap_or_default()
    }

    /// The partitions this member owns now.
    pub(super) fn owned(&self) -> BTreeSet<u32> {
        self.owned.lock().map(|owned| owned.clone()).unwrap_or_default()
    }

    pub(super) fn owns(&self, partition: u32) -> bool {
        self.owned.lock().is_ok_and(|owned| owned.contains(&partition))
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = Self::partitions(list, &self.topic);
            if let Ok(mut owned) = self.owned.lock() {
                for partition in &revoked {
                    owned.remove(partition);
                }
            }
            tracing::info!(?revoked, "partitions revoked");
            // Their next owner recovers from the store as soon as this returns: every batch this
            // member is still writing for them must be there by then.
            if !self.writes.wait_idle(&revoked, self.revoke_wait) {
                // Handing them on now could let the next owner recover before a late write lands
                // and store those records twice. Stopping without a commit is safe: whatever is
                // not stored is read again by the next owner.
                let waited = self.revoke_wait;
                tracing::error!(?revoked, "batches of revoked partitions still being written after {waited:?}: exiting");
                eprintln!(
                    "netchaos: error: the store did not take the batches of revoked partitions {revoked:?} within {waited:?}; \
                     exiting without committing them (a restart resumes from the store)"
                );
                std::process::exit(1);
            }
            self.record(Change::Revoked(revoked));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let assigned = Self::partitions(list, &self.topic);
                if let Ok(mut owned) = self.owned.lock() {
                    owned.extend(assigned.iter().copied());
                }
                tracing::info!(?assigned, "partitions assigned");
                self.record(Change::Assigned(assigned));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::error!(error = %describe(error), "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            // Not fatal: the store is ahead, and the next commit (or the next owner's recovery)
            // covers it.
            tracing::warn!(error = %describe(&error), partitions = offsets.count(), "offset commit failed");
        }
    }
}

/// What [`Driver::apply_changes`] did.
#[derive(Debug, Default)]
pub(super) struct Rebalanced {
    /// Partitions were assigned.
    pub(super) assigned: bool,
    /// Every partition revoked or assigned.
    pub(super) touched: BTreeSet<u32>,
}

impl Driver<'_> {
    /// Acts on the rebalances seen since the last call; returns what changed.
    pub(super) async fn apply_changes(&mut self, sink: &mut Sink) -> anyhow::Result<Rebalanced> {
        let changes = self.consumer.context().take_changes();
        let mut rebalanced = Rebalanced::default();
        for change in changes {
            match change {
                Change::Revoked(partitions) => {
                    self.report.revocations += 1;
                    for partition in partitions {
                        sink.release(partition);
                        self.commit_marks.remove(&partition);
                        rebalanced.touched.insert(partition);
                    }
                }
                Change::Assigned(partitions) => {
                    self.report.assignments += 1;
                    rebalanced.assigned = true;
                    rebalanced.touched.extend(partitions.iter().copied());
                    self.start_partitions(sink, &partitions).await?;
                    // librdkafka keeps a partition paused across a rebalance: make the new ones
                    // follow the driver's state (resuming a partition not paused does nothing).
                    let mut list = TopicPartitionList::new();
                    for partition in &partitions {
                        list.add_partition(&self.settings.topic, *partition as i32);
                    }
                    self.pause_or_resume(&list)?;
                }
            }
        }
        Ok(rebalanced)
    }

    /// Recovers newly assigned partitions from the store, which, not the group, says where each
    /// one resumes. The consumer starts at the group's committed offset: normally the store's
    /// position, or behind it after a crash between a store write and its commit (the sink skips
    /// what is stored). Where the group is ahead of the store (the store was restored from a
    /// backup, or is a new store for an old group), the consumer is moved back to the store's
    /// position, so that nothing the store lacks is skipped.
    async fn start_partitions(&mut self, sink: &mut Sink, partitions: &[u32]) -> anyhow::Result<()> {
        let owned = self.consumer.context().owned();
        let partitions: Vec<u32> = partitions.iter().copied().filter(|partition| owned.contains(partition)).collect();
        if partitions.is_empty() {
            return Ok(());
        }
        let resume = sink.recover_all(partitions.iter().copied()).await?;
        let mut asked = TopicPartitionList::new();
        for partition in resume.keys() {
            asked.add_partition(&self.settings.topic, *partition as i32);
        }
        let committed = self
            .consumer
            .committed_offsets(asked, Duration::from_secs(30))
            .map_err(|error| anyhow::anyhow!("cannot read the group's committed offsets: {}", describe(&error)))?;
        for (partition, store_offset) in &resume {
            let group_offset = committed.find_partition(&self.settings.topic, *partition as i32).map(|element| element.offset());
            if let Some(Offset::Offset(group_offset)) = group_offset
                && group_offset > *store_offset as i64
            {
                tracing::warn!(
                    partition,
                    group_offset,
                    store_offset,
                    "the consumer group is ahead of the store: moving back to the store's position"
                );
                self.seek(*partition, *store_offset).await?;
            }
        }
        tracing::info!(?resume, "partitions recovered from the store");
        // The group may lag the store (a crash between a store write and its commit): catch up.
        self.commit(sink, CommitMode::Async)
    }

    /// Moves the consumer to `offset` of `partition`. librdkafka refuses a seek until the newly
    /// assigned partition has started fetching, so it is retried for a while.
    pub(super) async fn seek(&self, partition: u32, offset: u64) -> anyhow::Result<()> {
        let position = if offset == 0 { Offset::Beginning } else { Offset::Offset(offset as i64) };
        let mut attempts = 0;
        loop {
            match self.consumer.seek(&self.settings.topic, partition as i32, position, Duration::from_secs(5)) {
                Ok(()) => return Ok(()),
                Err(error) if attempts < 200 => {
                    attempts += 1;
                    tracing::debug!(partition, error = %describe(&error), "seek refused; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => anyhow::bail!("cannot move partition {partition} to offset {offset}: {}", describe(&error)),
            }
        }
    }
}
