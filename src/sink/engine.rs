//! [`Sink`]: per-partition batches, their triggers, and the flush that stores a batch and then
//! advances the partition's committed position.
//!
//! (Over 450 lines: the flush path and the invariants below are argued over this one `impl`;
//! splitting the accessors off would leave the state and the code that keeps it in two files.)
//!
//! Invariants (see the module doc of [`crate::sink`] for why they give exactly-once): a partition
//! is recovered from the store before its first message is accepted; a message below the
//! partition's position is skipped; a flush writes the DLQ object before the data object and
//! advances `committed` only after both are durable, batches of a partition in order (writes may
//! run in the background, up to `flushes_in_flight`, but their outcomes are applied in flush
//! order); after an abandoned write the sink accepts nothing more.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::SinkMetrics;
use crate::records::Rejection;
use crate::runtime::Shutdown;

use super::batch::{Batch, Spare};
use super::dlq::DeadLetterTopic;
use super::failpoint;
use super::in_flight::{Finished, InFlight, WritesInFlight};
use super::recovery::{Recovery, Removed};
use super::stats::{FlushTrigger, SinkStats};
use super::turn::{Standing, Turn};
use super::writer::{WriteJob, Writer};
use super::{SinkError, SinkMessage, SinkSettings, Storage};

/// Where one partition is.
#[derive(Debug)]
struct PartitionState {
    /// Next offset not yet durably stored.
    committed: u64,
    /// Next offset after the batches handed to a write (durable or still being written).
    flushed: u64,
    batch: Option<Batch>,
    /// This sink's epoch for the partition, taken at its recovery.
    epoch: u64,
    /// The standing of the partition's last write: the next one waits for it.
    last_write: Option<watch::Receiver<Standing>>,
    /// Batches of the partition handed to writes since it was recovered (for failpoints).
    batches_flushed: u64,
}

impl PartitionState {
    fn resumed_at(committed: u64, epoch: u64) -> Self {
        PartitionState { committed, flushed: committed, batch: None, epoch, last_write: None, batches_flushed: 0 }
    }

    /// The lowest offset still accepted: past the stored and flushing offsets and past the open
    /// batch.
    fn position(&self) -> u64 {
        self.batch.as_ref().map_or(self.flushed, |batch| batch.last + 1)
    }
}

/// Who waits for the oldest write when `flushes_in_flight` are under way (see "Backpressure" in
/// [`crate::sink`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backpressure {
    /// A flushing call waits until at most `flushes_in_flight` writes are under way.
    InFlush,
    /// Flushes never wait; the caller keeps the count down with [`Sink::has_room`].
    Caller,
}

/// The sink core: feed it messages, drive its age timer, flush it at the end.
#[derive(Debug)]
pub struct Sink {
    storage: Storage,
    settings: SinkSettings,
    /// Requested: stop retrying a failing store.
    abort: Shutdown,
    partitions: BTreeMap<u32, PartitionState>,
    stats: SinkStats,
    metrics: SinkMetrics,
    /// `stats` as last published to `metrics`.
    published: SinkStats,
    /// Where rejected messages go: `None` for DLQ objects in the store, or a topic.
    dead_letters: Option<Arc<dyn DeadLetterTopic>>,
    writes: InFlight,
    backpressure: Backpressure,
    /// Shared by the write tasks: how many split and compress at once.
    preparing: Arc<tokio::sync::Semaphore>,
    /// A written batch's buffer, for the next batch to open.
    spare: Spare,
    /// Set when a store operation was abandoned: the in-memory state no longer matches a
    /// position the store can vouch for.
    stopped: bool,
    /// The source's layout was recorded or checked ([`Recovery::claim_layout`]).
    layout_claimed: bool,
}

impl Sink {
    /// A sink that retries failing writes until they succeed; see [`Sink::with_abort_on`].
    pub fn new(storage: Storage, settings: SinkSettings) -> Self {
        let preparing = Arc::new(tokio::sync::Semaphore::new(settings.flushes_in_flight + 1));
        Sink {
            storage,
            settings,
            abort: Shutdown::new(),
            partitions: BTreeMap::new(),
            stats: SinkStats::default(),
            metrics: SinkMetrics::default(),
            published: SinkStats::default(),
            dead_letters: None,
            writes: InFlight::default(),
            backpressure: Backpressure::InFlush,
            preparing,
            spare: Spare::default(),
            stopped: false,
            layout_claimed: false,
        }
    }

    /// Flushes never wait for older writes: the caller asks [`Sink::has_room`] before each message
    /// and, when there is none, waits with [`Sink::wait_for_room`] while doing what it must meanwhile
    /// (the Kafka driver keeps polling its consumer, so that a store outage does not get it expelled
    /// from the group). Memory stays bounded as long as the caller does so: one message flushes at
    /// most one batch, so at most `flushes_in_flight + 1` writes come from full batches, and the
    /// age trigger only hands open batches, already counted, to writes.
    pub fn with_caller_backpressure(mut self) -> Self {
        self.backpressure = Backpressure::Caller;
        self
    }

    /// Whether the sink was built [with caller backpressure](Sink::with_caller_backpressure).
    pub fn has_caller_backpressure(&self) -> bool {
        self.backpressure == Backpressure::Caller
    }

    /// Gives up retrying a failing store once `abort` is requested (`sink --from FILE` passes its
    /// shutdown: a file can be read again, so a stop need not wait for the store).
    pub fn with_abort_on(mut self, abort: Shutdown) -> Self {
        self.abort = abort;
        self
    }

    /// Publishes rejected messages to `topic` instead of storing DLQ objects (the Kafka mode).
    pub fn with_dead_letter_topic(mut self, topic: Arc<dyn DeadLetterTopic>) -> Self {
        self.dead_letters = Some(topic);
        self
    }

    /// Counts into `metrics` (handles a caller registered to serve) instead of private ones.
    pub fn with_metrics(mut self, metrics: SinkMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &SinkMetrics {
        &self.metrics
    }

    /// Adds what was counted since the last call to the metrics. Drivers call it every half second
    /// or so; every stored batch calls it too.
    pub fn publish_metrics(&mut self) {
        self.stats.publish(&self.published, &self.metrics);
        self.published.clone_from(&self.stats);
    }

    pub fn settings(&self) -> &SinkSettings {
        &self.settings
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }

    /// Next offset to read, per partition seen so far: everything below it is durably stored.
    pub fn committed(&self) -> BTreeMap<u32, u64> {
        self.partitions.iter().map(|(partition, state)| (*partition, state.committed)).collect()
    }

    /// Resets `partition` to where the store says it got to and returns its resume offset.
    ///
    /// Anything buffered for the partition and not yet stored is dropped: the messages will be
    /// delivered again from the resume offset. Called on start (or lazily, on a partition's first
    /// message) and on Kafka partition assignment.
    pub async fn recover(&mut self, partition: u32) -> Result<u64, SinkError> {
        let resumed = self.recover_all([partition]).await?;
        Ok(resumed.get(&partition).copied().unwrap_or(0))
    }

    /// [`Sink::recover`] for several partitions with one listing of the store ([`Recovery`]).
    pub async fn recover_all(&mut self, partitions: impl IntoIterator<Item = u32>) -> Result<BTreeMap<u32, u64>, SinkError> {
        let wanted: Vec<u32> = partitions.into_iter().collect();
        if wanted.is_empty() {
            return Ok(BTreeMap::new());
        }
        // Writes under way must land first: the listing has to see every object.
        self.wait_for_idle().await?;
        if !self.layout_claimed {
            self.recovery().claim_layout().await.inspect_err(|_| self.stopped = true)?;
            self.layout_claimed = true;
        }
        let mut removed = Removed::default();
        let recovered = self.recovery().recover(&wanted, &mut removed).await;
        self.stats.dead_deleted += removed.dead;
        self.stats.orphans_deleted += removed.orphans;
        let recovered = recovered.inspect_err(|_| self.stopped = true)?;
        for (partition, resumed) in &recovered {
            self.partitions.insert(*partition, PartitionState::resumed_at(resumed.offset, resumed.epoch));
        }
        Ok(recovered.into_iter().map(|(partition, resumed)| (partition, resumed.offset)).collect())
    }

    /// Where each partition of the source stands in the store (one past its chain), without
    /// recovering it: `run` uses it so that a graceful stop of a resumed run still emits at least
    /// what an earlier attempt of the same run stored.
    pub async fn stored_positions(&self) -> Result<BTreeMap<u32, u64>, SinkError> {
        self.recovery().stored_positions().await
    }

    fn recovery(&self) -> Recovery<'_> {
        Recovery { storage: &self.storage, settings: &self.settings, abort: &self.abort, retries: &self.metrics.store_retries }
    }

    /// Validates a message and adds it to its partition's batch, flushing the batch when it is
    /// full. A partition not seen before is first recovered from the store.
    pub async fn push(&mut self, message: SinkMessage) -> Result<(), SinkError> {
        self.push_slice(message.partition, message.offset, &message.payload).await
    }

    /// [`Sink::push`] of a payload the caller keeps (a Kafka message, borrowed from librdkafka):
    /// it is copied once, into the batch.
    pub async fn push_slice(&mut self, partition: u32, offset: u64, payload: &[u8]) -> Result<(), SinkError> {
        self.collect_finished()?;
        if !self.admit(partition, offset).await? {
            return Ok(());
        }
        self.open_batch(partition, offset).push(offset, payload);
        self.flush_if_due(partition).await
    }

    /// Adds a message the driver already knows is invalid (a line cut at the size limit) to the
    /// DLQ with `rejection`.
    pub async fn push_rejected(&mut self, message: SinkMessage, rejection: Rejection) -> Result<(), SinkError> {
        if !self.admit(message.partition, message.offset).await? {
            return Ok(());
        }
        self.open_batch(message.partition, message.offset).push_rejected(message.offset, &message.payload, rejection);
        self.flush_if_due(message.partition).await
    }

    /// When the oldest open batch reaches max age; `None` when nothing is buffered.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.partitions.values().filter_map(|state| state.batch.as_ref()).map(|batch| batch.deadline(&self.settings)).min()
    }

    /// Flushes every batch that has reached max age.
    pub async fn flush_expired(&mut self) -> Result<(), SinkError> {
        self.flush_expired_at(Instant::now()).await
    }

    /// [`Sink::flush_expired`] as of `now` (tests move time this way).
    pub(super) async fn flush_expired_at(&mut self, now: Instant) -> Result<(), SinkError> {
        let expired: Vec<u32> = self
            .partitions
            .iter()
            .filter(|(_, state)| state.batch.as_ref().is_some_and(|batch| batch.deadline(&self.settings) <= now))
            .map(|(partition, _)| *partition)
            .collect();
        for partition in expired {
            self.flush_partition(partition, FlushTrigger::Age).await?;
        }
        self.collect_finished()
    }

    /// Forgets `partition`'s open batch without storing it and without moving its position: the
    /// partition was revoked, and its next owner reads the messages again from the committed
    /// offset. The partition is recovered from the store if it comes back.
    pub fn release(&mut self, partition: u32) {
        if let Some(state) = self.partitions.remove(&partition)
            && let Some(batch) = state.batch
        {
            self.stats.released += batch.records();
        }
    }

    /// The writes under way, per partition (a Kafka driver waits on them before giving partitions
    /// up).
    pub fn writes_in_flight(&self) -> Arc<WritesInFlight> {
        self.writes.by_partition()
    }

    /// True when fewer than `flushes_in_flight + 1` writes are under way (finished ones are
    /// applied first), so that the next message may flush a batch without exceeding the bound;
    /// see [`Sink::with_caller_backpressure`].
    pub fn has_room(&mut self) -> Result<bool, SinkError> {
        self.collect_finished()?;
        Ok(self.writes.len() <= self.settings.flushes_in_flight)
    }

    /// Waits for the oldest writes, applying each as it finishes, until [`Sink::has_room`].
    ///
    /// Cancel-safe: a write is taken off the queue only once it has finished, so dropping this
    /// future (in a `select!`) loses nothing.
    pub async fn wait_for_room(&mut self) -> Result<(), SinkError> {
        self.wait_until_under_way(self.settings.flushes_in_flight).await
    }

    /// Waits until every write handed out so far is durable (or failed); cancel-safe like
    /// [`Sink::wait_for_room`].
    pub async fn wait_for_idle(&mut self) -> Result<(), SinkError> {
        self.wait_until_under_way(0).await
    }

    /// Waits until the oldest write under way is durable (or failed) and applies it; never
    /// returns while no write is under way. Cancel-safe like [`Sink::wait_for_room`]. A driver
    /// that waits for messages selects on it too, so that it commits what was stored without
    /// waiting for the next message.
    pub async fn wait_for_next_stored(&mut self) -> Result<(), SinkError> {
        match self.writes.len() {
            0 => std::future::pending().await,
            under_way => self.wait_until_under_way(under_way - 1).await,
        }
    }

    /// True when no write is under way (finished ones are applied first).
    pub fn is_idle(&mut self) -> Result<bool, SinkError> {
        self.collect_finished()?;
        Ok(self.writes.is_empty())
    }

    /// Waits for the oldest writes, applying each as it finishes (and any finished after it),
    /// until at most `keep` are under way. Cancel-safe: see [`InFlight`].
    async fn wait_until_under_way(&mut self, keep: usize) -> Result<(), SinkError> {
        self.collect_finished()?;
        while self.writes.len() > keep {
            let Some(finished) = self.writes.oldest_finished().await else { break };
            self.apply(finished)?;
            self.collect_finished()?;
        }
        Ok(())
    }

    /// Applies the writes that have finished, oldest first, without waiting.
    fn collect_finished(&mut self) -> Result<(), SinkError> {
        if self.stopped {
            // A failed write's successors must not move the position past it.
            return Err(SinkError::Stopped);
        }
        while let Some(finished) = self.writes.finished_now() {
            self.apply(finished)?;
        }
        Ok(())
    }

    /// The number of batches stored so far: a driver commits offsets when it moves.
    pub fn batches_stored(&self) -> u64 {
        self.stats.batches
    }

    /// Flushes every open batch (end of input, shutdown) and waits until all are durable.
    pub async fn flush_all(&mut self) -> Result<(), SinkError> {
        self.flush_open().await?;
        self.wait_for_idle().await
    }

    /// Hands every open batch to a write; with caller backpressure this does not wait for them
    /// ([`Sink::wait_for_idle`] does).
    pub async fn flush_open(&mut self) -> Result<(), SinkError> {
        let open: Vec<u32> = self.partitions.iter().filter(|(_, state)| state.batch.is_some()).map(|(partition, _)| *partition).collect();
        for partition in open {
            self.flush_partition(partition, FlushTrigger::Shutdown).await?;
        }
        Ok(())
    }

    /// True when the message is to be buffered; false when it was already stored or buffered.
    async fn admit(&mut self, partition: u32, offset: u64) -> Result<bool, SinkError> {
        if self.stopped {
            return Err(SinkError::Stopped);
        }
        if !self.partitions.contains_key(&partition) {
            self.recover(partition).await?;
        }
        let position = self.partitions.get(&partition).map_or(0, PartitionState::position);
        self.stats.consumed += 1;
        if offset < position {
            self.stats.skipped_replayed += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// The partition's open batch, opened at the partition's position (not at the message's
    /// offset) so that a partition's batches tile its offsets even where the input skips some (a
    /// Kafka log's gaps), which the recovery rule relies on.
    fn open_batch(&mut self, partition: u32, offset: u64) -> &mut Batch {
        let state = self.partitions.entry(partition).or_insert_with(|| PartitionState::resumed_at(0, 0));
        let start = state.flushed.min(offset);
        let spare = &self.spare;
        state.batch.get_or_insert_with(|| Batch::open(start, Instant::now(), spare.take()))
    }

    async fn flush_if_due(&mut self, partition: u32) -> Result<(), SinkError> {
        let due = self
            .partitions
            .get(&partition)
            .and_then(|state| state.batch.as_ref())
            .and_then(|batch| batch.due(&self.settings, Instant::now()));
        match due {
            Some(trigger) => self.flush_partition(partition, trigger).await,
            None => Ok(()),
        }
    }

    /// Hands the partition's open batch to a write task; then, with the default backpressure,
    /// waits for the oldest writes while more than `flushes_in_flight` are under way.
    async fn flush_partition(&mut self, partition: u32, trigger: FlushTrigger) -> Result<(), SinkError> {
        if self.stopped {
            return Err(SinkError::Stopped);
        }
        let Some(state) = self.partitions.get_mut(&partition) else { return Ok(()) };
        let Some(batch) = state.batch.take() else { return Ok(()) };
        let next_offset = batch.last + 1;
        state.flushed = next_offset;
        let (turn, this_write) = Turn::after(state.last_write.take());
        state.last_write = Some(this_write);
        let index = state.batches_flushed;
        state.batches_flushed += 1;
        let job = WriteJob { partition, batch, epoch: state.epoch, index, role: failpoint::role(partition, index), turn };
        let writer = Writer {
            storage: self.storage.clone(),
            settings: self.settings.clone(),
            abort: self.abort.clone(),
            dead_letters: self.dead_letters.clone(),
            preparing: self.preparing.clone(),
            spare: self.spare.clone(),
            retries: self.metrics.store_retries.clone(),
            upload_duration: self.metrics.upload_duration.clone(),
        };
        self.writes.start(partition, next_offset, trigger, |registered| writer.write(job, registered));
        match self.backpressure {
            Backpressure::InFlush => self.wait_for_room().await,
            Backpressure::Caller => self.collect_finished(),
        }
    }

    /// A write's outcome: its partition's committed position moves past it (unless the partition
    /// was released meanwhile), or the sink stops.
    fn apply(&mut self, finished: Finished) -> Result<(), SinkError> {
        let Finished { partition, next_offset, trigger, outcome } = finished;
        let report = match outcome {
            Ok(report) => report,
            Err(error) => {
                self.stopped = true;
                return Err(error);
            }
        };
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.committed = state.committed.max(next_offset);
        }
        self.metrics.flush_duration.observe(report.elapsed.as_secs_f64());
        report.count_into(&mut self.stats, trigger);
        self.publish_metrics();
        Ok(())
    }
}
