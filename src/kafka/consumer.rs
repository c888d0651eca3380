//! `sink --brokers`: a consumer-group member that feeds a [`Sink`] and commits only what the store
//! holds.
//!
//! # Offsets
//!
//! Auto-commit is off. After a batch is durably stored (its rejects acknowledged by the DLQ topic
//! first), the partition's position in the sink ([`Sink::committed`]) moves past it, and this
//! driver commits exactly that position, for partitions it still owns. A crash between the store
//! write and the commit is harmless: the next owner recovers the partition from the store and skips
//! what is already there.
//!
//! # Rebalances
//!
//! librdkafka runs the rebalance callbacks inside the consumer's poll, on this task, between two
//! messages; the callbacks record what changed and the loop acts on it before the next message:
//!
//! - **Revoked**: the partition leaves the owned set at once (so no later commit names it), and its
//!   open batch is dropped unstored; the next owner reads those messages again from the committed
//!   offset.
//! - **Assigned**: before any of its messages is fed to the sink, the partition is recovered from
//!   the store (where stored batches end; orphaned DLQ objects are removed). The store, not the
//!   group, says where a partition resumes: messages the store already holds are skipped, and if
//!   the group's committed offset is past the store's position (a store restored from a backup, a
//!   new store for an old group), the consumer is moved back to it. The group's offsets are the
//!   store's position published for Kafka's tools (lag, monitoring).
//!
//! # A slow or failing store
//!
//! The sink is built with caller backpressure ([`Sink::with_caller_backpressure`]): before each
//! message the driver asks whether a batch could be flushed now without exceeding the writes in
//! flight. A short wait for the oldest write happens in place; past two seconds the driver pauses
//! its whole assignment and keeps polling, so that librdkafka's `max.poll.interval.ms` (5 minutes)
//! never expels it while its writes are retried, rebalance callbacks still run, and batches that
//! become durable are still committed. Pausing makes librdkafka drop what it had fetched but not
//! handed over and later resume after the last message it handed over, so nothing the sink took is
//! lost or read twice (a message that arrives anyway is dropped and its partition moved back to
//! it). Partitions assigned while paused are paused too. The shutdown's last writes are awaited
//! the same way. Not covered: a rebalance during an outage waits inside its callback for the
//! revoked partitions' writes (up to two minutes, then the process exits without committing
//! them), and an assignment waits for the store to list the new partitions; the consumer is not
//! polled meanwhile.
//!
//! # Shutdown
//!
//! On SIGTERM / Ctrl-C (or after `--idle-exit` without messages) every open batch is flushed, the
//! positions are committed synchronously, and the consumer leaves the group.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientConfig, ClientContext, Statistics};
use tokio::time::Instant;

use crate::metrics::SinkMetrics;
use crate::runtime::{Shutdown, publish_interval, sleep_until};
use crate::sink::{Sink, WritesInFlight, failpoint};

use super::{KafkaSettings, describe};

/// Which topic, which group, and when to stop.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub kafka: KafkaSettings,
    pub topic: String,
    pub group: String,
    /// Stop (flush, commit, exit) once no message arrived for this long after the first
    /// assignment.
    pub idle_exit: Option<Duration>,
    /// librdkafka's prefetch queue (`queued.max.messages.kbytes`; fetches are capped to it too).
    pub prefetch_kbytes: u64,
}

impl ConsumerSettings {
    /// How long a revocation may wait for writes: half the rebalance timeout, at most
    /// [`REVOKE_WAIT_MAX`].
    fn revoke_wait(&self) -> Duration {
        let max_poll_interval = self
            .kafka
            .extra
            .iter()
            .rev()
            .find(|(key, _)| key == "max.poll.interval.ms")
            .and_then(|(_, value)| value.trim().parse().ok())
            .map_or(MAX_POLL_INTERVAL_DEFAULT, Duration::from_millis);
        (max_poll_interval / 2).min(REVOKE_WAIT_MAX)
    }

    fn client_config(&self) -> ClientConfig {
        let prefetch = self.prefetch_kbytes.to_string();
        self.kafka.client_config(&[
            ("queued.max.messages.kbytes", &prefetch),
            // Once the queue is full, librdkafka postpones a partition's next fetch by this much
            // (1 s by default): with a queue sized to the memory budget that idled the sink for
            // most of each second (55k records/s; 270k with 20 ms, same machine).
            ("fetch.queue.backoff.ms", "20"),
            ("group.id", &self.group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            // A member that stops without leaving is noticed within this.
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            // The lag metric's source (see `GroupContext::stats`).
            ("statistics.interval.ms", "1000"),
        ])
    }
}

/// What the consumer did, beside the sink's own stats.
#[derive(Debug, Clone, Default)]
pub struct ConsumeReport {
    pub messages: u64,
    pub commits: u64,
    pub assignments: u64,
    pub revocations: u64,
    /// Partitions owned at the end, with the committed offset of each.
    pub committed: BTreeMap<u32, u64>,
    /// From the first message to the last (the consume rate's time base).
    pub active: Duration,
    /// Times consumption was paused because the store was not taking batches, and for how long
    /// in all.
    pub pauses: u64,
    pub paused: Duration,
}

/// A partition's lag as librdkafka's statistics show it: records between the committed offset
/// (what the store holds) and the high watermark; from the log start before anything is
/// committed. None for a partition this member does not own, or before its offsets are known
/// (librdkafka reports -1 or -1001 then).
fn partition_lag(owned: bool, high_watermark: i64, committed: i64, log_start: i64) -> Option<i64> {
    let from = if committed >= 0 { committed } else { log_start };
    (owned && high_watermark >= 0 && from >= 0).then(|| (high_watermark - from).max(0))
}

/// A rebalance the callbacks saw, for the loop to act on.
#[derive(Debug)]
enum Change {
    Assigned(Vec<u32>),
    Revoked(Vec<u32>),
}

/// How long a revocation waits at most for the revoked partitions' writes (a store outage can make
/// them slow). Past it the process exits rather than let the group hand the partitions on while a
/// write of theirs is still being retried. The callback blocks the thread that polls the consumer
/// (the `block_on` thread in `netchaos sink`), never a runtime worker, so the writes it waits for
/// keep running.
///
/// It must end well inside the rebalance timeout, which librdkafka sets to `max.poll.interval.ms`:
/// the coordinator waits that long for a member to rejoin, then drops it and hands its partitions
/// to the others, whose recovery could list the store before this member's late write lands (seen
/// with `max.poll.interval.ms=10000` and a 20 s outage: records stored twice). Hence half of it.
const REVOKE_WAIT_MAX: Duration = Duration::from_secs(120);

/// librdkafka's default `max.poll.interval.ms`.
const MAX_POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(300);

/// Rebalance callbacks: record the change, keep the owned set current.
#[derive(Debug, Default)]
struct GroupContext {
    changes: Mutex<Vec<Change>>,
    owned: Mutex<BTreeSet<u32>>,
    /// The sink's writes under way: a revocation waits for those of its partitions.
    writes: Arc<WritesInFlight>,
    /// Wakes the loop to act on a change even when no message follows it.
    changed: tokio::sync::Notify,
    topic: String,
    /// See [`REVOKE_WAIT_MAX`].
    revoke_wait: Duration,
    /// The sink's metrics: the lag per partition comes from librdkafka's statistics.
    metrics: SinkMetrics,
    /// High watermarks the driver asked the brokers for while consumption is paused (the
    /// statistics' come with fetches, which a paused partition does not make).
    watermarks: Mutex<BTreeMap<i32, i64>>,
}

impl GroupContext {
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

    fn owned(&self) -> BTreeSet<u32> {
        self.owned.lock().map(|owned| owned.clone()).unwrap_or_default()
    }
}

impl ClientContext for GroupContext {
    /// librdkafka's statistics (every `statistics.interval.ms`, delivered by the polls the driver
    /// makes anyway): the lag of each partition this member owns is its high watermark minus the
    /// committed offset (what the store holds), or minus the log start before any commit. A
    /// partition no longer owned loses its series. The high watermark comes with fetch responses;
    /// while consumption is paused the driver asks the brokers for it instead
    /// ([`Driver::refresh_watermarks`]), so that the lag keeps growing during a store outage.
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        let owned = self.owned();
        let asked = self.watermarks.lock().map(|asked| asked.clone()).unwrap_or_default();
        let mut total = 0;
        for (number, partition) in &topic.partitions {
            let Ok(id) = u32::try_from(*number) else { continue };
            let high_watermark = partition.hi_offset.max(asked.get(number).copied().unwrap_or(-1));
            let lag = partition_lag(owned.contains(&id), high_watermark, partition.committed_offset, partition.lo_offset);
            total += lag.unwrap_or(0);
            self.metrics.set_lag(&self.topic, *number, lag);
        }
        self.metrics.set_total_lag(total);
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

/// Consumes `settings.topic` into `sink` until `shutdown` is requested (or `idle_exit` passes), then
/// flushes and commits.
pub async fn consume(settings: &ConsumerSettings, sink: &mut Sink, shutdown: &Shutdown) -> anyhow::Result<ConsumeReport> {
    // The driver waits for room itself, polling the consumer meanwhile: a sink that waited inside
    // its flushes would stop the polling for as long as a store outage lasts.
    anyhow::ensure!(sink.has_caller_backpressure(), "the Kafka consumer needs a sink built with caller backpressure");
    let context = GroupContext {
        topic: settings.topic.clone(),
        writes: sink.writes_in_flight(),
        revoke_wait: settings.revoke_wait(),
        metrics: sink.metrics().clone(),
        ..GroupContext::default()
    };
    let consumer: StreamConsumer<GroupContext> = settings
        .client_config()
        .create_with_context(context)
        .map_err(|error| anyhow::anyhow!("cannot create the Kafka consumer: {}", describe(&error)))?;
    consumer
        .subscribe(&[&settings.topic])
        .map_err(|error| anyhow::anyhow!("cannot subscribe to `{}`: {}", settings.topic, describe(&error)))?;
    let mut driver = Driver {
        settings,
        consumer: &consumer,
        report: ConsumeReport::default(),
        commit_marks: BTreeMap::new(),
        batches_seen: 0,
        owned: BTreeSet::new(),
        paused: false,
        failpoint: Failpoint::from_env(),
    };
    let outcome = driver.run(sink, shutdown).await;
    let finished = match outcome {
        Ok(()) => driver.finish(sink).await,
        Err(error) => Err(error),
    };
    finished.map(|()| driver.report)
}

struct Driver<'a> {
    settings: &'a ConsumerSettings,
    consumer: &'a StreamConsumer<GroupContext>,
    report: ConsumeReport,
    /// The last offset committed per partition.
    commit_marks: BTreeMap<u32, u64>,
    /// `Sink::batches_stored` at the last commit.
    batches_seen: u64,
    /// The partitions this member owns, as of the last change applied.
    owned: BTreeSet<u32>,
    /// Whether the assignment is paused (the store is not taking batches, or shutting down).
    paused: bool,
    failpoint: Option<Failpoint>,
}

/// `NETCHAOS_FAILPOINT=abort-before-commit:N` (see [`crate::sink::failpoint`]): the process
/// aborts at the first offset commit the running loop makes once `N` batches are stored.
#[derive(Debug)]
struct Failpoint {
    after_batches: u64,
}

impl Failpoint {
    fn from_env() -> Option<Failpoint> {
        match failpoint::active()? {
            failpoint::Failpoint::AbortBeforeCommit { after_batches } => Some(Failpoint { after_batches }),
            _ => None,
        }
    }

    fn before_commit(&self, batches_stored: u64) {
        if batches_stored >= self.after_batches {
            eprintln!("netchaos: {}: {batches_stored} batches stored, their offsets not committed: aborting", failpoint::VARIABLE);
            std::process::abort();
        }
    }
}

/// Messages taken from librdkafka's queue in one go, between two looks at the timers.
const BURST: usize = 1024;

/// What [`Driver::apply_changes`] did.
#[derive(Debug, Default)]
struct Rebalanced {
    /// Partitions were assigned.
    assigned: bool,
    /// Every partition revoked or assigned.
    touched: BTreeSet<u32>,
}

/// How long the driver waits in place for room in the sink before it pauses consumption.
const PAUSE_AFTER: Duration = Duration::from_secs(2);

/// While paused, how often the high watermarks are asked for, and how long each answer may take.
const WATERMARKS_WHILE_PAUSED: Duration = Duration::from_secs(2);
const WATERMARK_TIMEOUT: Duration = Duration::from_millis(500);

/// What [`Driver::poll_paused`] waits for.
#[derive(Debug, Clone, Copy)]
enum Goal {
    /// Room for another batch.
    Room,
    /// Every write durable.
    Idle,
}

enum Paused<'m> {
    Message(Result<BorrowedMessage<'m>, KafkaError>),
    Reached(Result<(), crate::sink::SinkError>),
    Rebalanced,
    /// Time to ask the brokers for the high watermarks (for the lag metric).
    Watermarks,
    Shutdown,
}

enum Step<'m> {
    Message(Result<BorrowedMessage<'m>, KafkaError>),
    Rebalanced,
    /// Time to publish the metrics, even while no message comes.
    Publish,
    Stored(Result<(), crate::sink::SinkError>),
    Expired,
    Idle,
    Shutdown,
}

impl Driver<'_> {
    async fn run(&mut self, sink: &mut Sink, shutdown: &Shutdown) -> anyhow::Result<()> {
        let consumer = self.consumer;
        let mut last_activity: Option<Instant> = None;
        let mut first_message: Option<Instant> = None;
        let mut publish = publish_interval();
        loop {
            if !sink.has_room()? {
                if self.make_room(sink, shutdown).await? {
                    tracing::info!("shutdown requested: flushing and committing");
                    return Ok(());
                }
                // Waiting for the store is not being idle.
                last_activity = Some(Instant::now());
            }
            let deadline = sink.next_deadline();
            let idle_at = match (self.settings.idle_exit, last_activity) {
                (Some(idle), Some(last)) => Some(last + idle),
                _ => None,
            };
            let step = tokio::select! {
                biased;
                () = shutdown.requested() => Step::Shutdown,
                () = sleep_until(deadline) => Step::Expired,
                () = sleep_until(idle_at) => Step::Idle,
                _ = publish.tick() => Step::Publish,
                () = consumer.context().changed.notified() => Step::Rebalanced,
                stored = sink.wait_for_next_stored() => Step::Stored(stored),
                received = consumer.recv() => Step::Message(received),
            };
            // Rebalances happen inside recv: act on them before anything else.
            if self.apply_changes(sink).await?.assigned && last_activity.is_none() {
                last_activity = Some(Instant::now());
            }
            match step {
                Step::Message(received) => {
                    self.receive(sink, received).await?;
                    // Take what librdkafka has already fetched without going through the timers
                    // for each message; they are looked at again after a burst.
                    for _ in 0..BURST {
                        if !sink.has_room()? {
                            break;
                        }
                        let Some(received) = consumer.recv().now_or_never() else { break };
                        self.apply_changes(sink).await?;
                        self.receive(sink, received).await?;
                    }
                    let now = Instant::now();
                    last_activity = Some(now);
                    self.report.active = now - *first_message.get_or_insert(now);
                }
                Step::Rebalanced => {}
                Step::Publish => sink.publish_metrics(),
                // Committed below, even when no message follows.
                Step::Stored(stored) => stored?,
                Step::Expired => sink.flush_expired().await?,
                Step::Idle => {
                    tracing::info!(idle = ?self.settings.idle_exit, "no message for the idle limit: stopping");
                    return Ok(());
                }
                Step::Shutdown => {
                    tracing::info!("shutdown requested: flushing and committing");
                    return Ok(());
                }
            }
            self.commit_if_stored(sink)?;
        }
    }

    /// Commits when batches were stored since the last commit.
    fn commit_if_stored(&mut self, sink: &Sink) -> anyhow::Result<()> {
        if sink.batches_stored() == self.batches_seen {
            return Ok(());
        }
        if let Some(failpoint) = &self.failpoint {
            failpoint.before_commit(sink.batches_stored());
        }
        self.commit(sink, CommitMode::Async)
    }

    /// Waits until the sink has room for another batch. A short wait (the oldest write finishing)
    /// happens in place; past [`PAUSE_AFTER`] the store is failing or slow, and the driver pauses
    /// the assignment and goes on polling ([`Driver::poll_paused`]) until there is room. Returns
    /// true when a shutdown was requested meanwhile.
    async fn make_room(&mut self, sink: &mut Sink, shutdown: &Shutdown) -> anyhow::Result<bool> {
        if let Ok(room) = tokio::time::timeout(PAUSE_AFTER, sink.wait_for_room()).await {
            room?;
            return Ok(false);
        }
        self.report.pauses += 1;
        let paused_at = Instant::now();
        tracing::warn!(
            waited = ?PAUSE_AFTER,
            "the store has not taken a batch for a while (failing or slow): consumption paused, the consumer keeps polling"
        );
        let metrics = &self.consumer.context().metrics;
        metrics.paused.set(1);
        let (stop, rewind) = self.poll_paused(sink, Some(shutdown), Goal::Room).await?;
        metrics.paused.set(0);
        // Defensive: pausing makes librdkafka discard what it had fetched and not yet handed over,
        // and resume from the last message it handed over, so nothing should have arrived.
        for (partition, offset) in &rewind {
            tracing::warn!(partition, offset, "a message arrived while paused: moving back to it");
            self.seek(*partition, *offset).await?;
        }
        self.set_paused(false)?;
        self.report.paused += paused_at.elapsed();
        tracing::info!(paused = ?paused_at.elapsed(), "the store takes batches again: consumption resumed");
        Ok(stop)
    }

    /// Pauses the assignment and polls the consumer (so that librdkafka's `max.poll.interval.ms`
    /// never sees a stalled member, which would be expelled from the group without a rebalance
    /// callback while its writes are still being retried; rebalances are served, durable batches
    /// committed) until the sink reaches `goal` or, when `shutdown` is given, a shutdown is
    /// requested (true). Leaves the assignment paused. Returns, per partition, the first message
    /// that arrived anyway (and was dropped).
    async fn poll_paused(
        &mut self,
        sink: &mut Sink,
        shutdown: Option<&Shutdown>,
        goal: Goal,
    ) -> anyhow::Result<(bool, BTreeMap<u32, u64>)> {
        let consumer = self.consumer;
        self.set_paused(true)?;
        let mut rewind: BTreeMap<u32, u64> = BTreeMap::new();
        let mut watermarks = tokio::time::interval(WATERMARKS_WHILE_PAUSED);
        let stop = loop {
            let step = tokio::select! {
                biased;
                () = async {
                    match shutdown {
                        Some(shutdown) => shutdown.requested().await,
                        None => std::future::pending().await,
                    }
                } => Paused::Shutdown,
                reached = async {
                    match goal {
                        Goal::Room => sink.wait_for_room().await,
                        Goal::Idle => sink.wait_for_idle().await,
                    }
                } => Paused::Reached(reached),
                () = consumer.context().changed.notified() => Paused::Rebalanced,
                _ = watermarks.tick() => Paused::Watermarks,
                received = consumer.recv() => Paused::Message(received),
            };
            // A rebalance inside recv comes before the message it returned. A partition revoked
            // (and maybe assigned again) starts afresh from the group's offset and the store:
            // what arrived for it before no longer counts.
            let rebalanced = self.apply_changes(sink).await?;
            rewind.retain(|partition, _| !rebalanced.touched.contains(partition));
            match step {
                Paused::Reached(reached) => {
                    reached?;
                    break false;
                }
                Paused::Shutdown => break true,
                Paused::Rebalanced => {}
                Paused::Watermarks => self.refresh_watermarks(),
                Paused::Message(Ok(message)) => {
                    if let (Ok(partition), Ok(offset)) = (u32::try_from(message.partition()), u64::try_from(message.offset()))
                        && self.owned.contains(&partition)
                    {
                        rewind.entry(partition).or_insert(offset);
                    }
                }
                Paused::Message(Err(error)) => self.consumer_error(&error)?,
            }
            self.commit_if_stored(sink)?;
        };
        if let Ok(mut asked) = consumer.context().watermarks.lock() {
            // Fetches bring them again once consumption resumes.
            asked.clear();
        }
        Ok((stop, rewind))
    }

    /// Asks the brokers for the high watermark of each owned partition, for the lag metric while
    /// paused. A blocking round trip per partition, with a short timeout, every few seconds of a
    /// pause, on the driver's thread (the writes it waits for run on the runtime's workers).
    fn refresh_watermarks(&self) {
        let context = self.consumer.context();
        for partition in &self.owned {
            let Ok(partition) = i32::try_from(*partition) else { continue };
            match self.consumer.fetch_watermarks(&self.settings.topic, partition, WATERMARK_TIMEOUT) {
                Ok((_, high)) => {
                    if let Ok(mut asked) = context.watermarks.lock() {
                        asked.insert(partition, high);
                    }
                }
                Err(error) => tracing::debug!(partition, error = %describe(&error), "cannot read the high watermark"),
            }
        }
    }

    /// Pauses or resumes every partition currently assigned; partitions assigned later follow
    /// (see [`Driver::apply_changes`]): librdkafka keeps a partition paused across a rebalance.
    fn set_paused(&mut self, paused: bool) -> anyhow::Result<()> {
        self.paused = paused;
        let assignment = self.consumer.assignment().map_err(|error| anyhow::anyhow!("cannot read the assignment: {}", describe(&error)))?;
        self.pause_or_resume(&assignment)
    }

    fn pause_or_resume(&self, partitions: &TopicPartitionList) -> anyhow::Result<()> {
        let outcome = if self.paused { self.consumer.pause(partitions) } else { self.consumer.resume(partitions) };
        outcome.map_err(|error| anyhow::anyhow!("cannot pause or resume consumption: {}", describe(&error)))
    }

    /// A consumer error: fatal ones end the run, others are librdkafka's to retry.
    fn consumer_error(&self, error: &KafkaError) -> anyhow::Result<()> {
        if let Some((code, reason)) = self.consumer.client().fatal_error() {
            anyhow::bail!("the Kafka consumer failed for good: {code}: {reason}");
        }
        tracing::warn!(error = %describe(error), "Kafka consumer error; librdkafka retries");
        Ok(())
    }

    /// Feeds one received message to the sink (unless its partition is no longer owned), or
    /// reports a consumer error.
    async fn receive(&mut self, sink: &mut Sink, received: Result<BorrowedMessage<'_>, KafkaError>) -> anyhow::Result<()> {
        let message = match received {
            Ok(message) => message,
            Err(error) => return self.consumer_error(&error),
        };
        let (Ok(partition), Ok(offset)) = (u32::try_from(message.partition()), u64::try_from(message.offset())) else {
            return Ok(());
        };
        if !self.owned.contains(&partition) {
            return Ok(());
        }
        self.report.messages += 1;
        sink.push_slice(partition, offset, message.payload().unwrap_or_default()).await?;
        Ok(())
    }

    /// Acts on the rebalances seen since the last call; returns what changed.
    async fn apply_changes(&mut self, sink: &mut Sink) -> anyhow::Result<Rebalanced> {
        let changes = self.consumer.context().take_changes();
        let mut rebalanced = Rebalanced::default();
        if changes.is_empty() {
            return Ok(rebalanced);
        }
        self.owned = self.consumer.context().owned();
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
    async fn seek(&self, partition: u32, offset: u64) -> anyhow::Result<()> {
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

    /// Commits the sink's position of every owned partition that moved since the last commit.
    fn commit(&mut self, sink: &Sink, mode: CommitMode) -> anyhow::Result<()> {
        self.batches_seen = sink.batches_stored();
        let owned = self.consumer.context().owned();
        let mut list = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (partition, position) in sink.committed() {
            // Position 0 means nothing stored: leave the group's offset alone.
            if position == 0 || !owned.contains(&partition) || self.commit_marks.get(&partition) == Some(&position) {
                continue;
            }
            list.add_partition_offset(&self.settings.topic, partition as i32, Offset::Offset(position as i64))
                .map_err(|error| anyhow::anyhow!("bad partition list: {}", describe(&error)))?;
            moved.push((partition, position));
        }
        if moved.is_empty() {
            return Ok(());
        }
        match self.consumer.commit(&list, mode) {
            Ok(()) => {
                self.report.commits += 1;
                self.commit_marks.extend(moved);
            }
            // The store holds the batches; the next commit or the next owner's recovery covers it.
            Err(error) => tracing::warn!(error = %describe(&error), "offset commit failed"),
        }
        Ok(())
    }

    /// Flushes what is buffered for owned partitions and commits it.
    async fn finish(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        // Revocations seen in the last poll are applied first, so that nothing revoked is flushed.
        self.apply_changes(sink).await?;
        sink.flush_open().await?;
        // The last writes may meet a store outage: keep polling meanwhile, as while running, so
        // that the group does not hand the partitions on while they are being written.
        if !sink.is_idle()? {
            self.poll_paused(sink, None, Goal::Idle).await?;
        }
        self.commit(sink, CommitMode::Sync)?;
        sink.publish_metrics();
        let owned = self.consumer.context().owned();
        self.report.committed = sink.committed().into_iter().filter(|(partition, _)| owned.contains(partition)).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> ConsumerSettings {
        ConsumerSettings {
            kafka: KafkaSettings {
                brokers: "127.0.0.1:9".into(),
                extra: extra.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
            },
            topic: "t".into(),
            group: "g".into(),
            idle_exit: None,
            prefetch_kbytes: 1024,
        }
    }

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_log_start_for_owned_partitions_only() {
        assert_eq!(partition_lag(true, 1_000, 400, 0), Some(600));
        assert_eq!(partition_lag(true, 1_000, -1001, 250), Some(750), "nothing committed yet: from the log start");
        assert_eq!(partition_lag(true, 1_000, 1_000, 0), Some(0));
        assert_eq!(partition_lag(true, 900, 1_000, 0), Some(0), "a watermark older than the commit is no lag");
        assert_eq!(partition_lag(false, 1_000, 400, 0), None, "not owned: no series");
        assert_eq!(partition_lag(true, -1, 400, 0), None, "watermark unknown");
        assert_eq!(partition_lag(true, 1_000, -1001, -1), None, "log start unknown");
    }

    #[test]
    fn a_revocation_waits_at_most_half_the_rebalance_timeout() {
        assert_eq!(settings(&[]).revoke_wait(), Duration::from_secs(120), "300 s by default: capped at 120 s");
        assert_eq!(settings(&[("max.poll.interval.ms", "10000")]).revoke_wait(), Duration::from_secs(5));
        let twice = settings(&[("max.poll.interval.ms", "10000"), ("max.poll.interval.ms", "60000")]);
        assert_eq!(twice.revoke_wait(), Duration::from_secs(30), "the last setting wins, as in librdkafka");
    }
}
