//! [`Sink`]: per-partition batches, their triggers, and the flush that stores a batch and then
//! advances the partition's committed position.
//!
//! Invariants (see the module doc of [`crate::sink`] for why they give exactly-once): a partition
//! is recovered from the store before its first message is accepted; a message below the
//! partition's position is skipped; a flush writes the DLQ object before the data object and
//! advances `committed` only after both are durable; after an abandoned write the sink accepts
//! nothing more.

use std::collections::BTreeMap;
use std::time::Instant as WallInstant;

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use crate::generator::now_timestamp;
use crate::records::{self, Rejection};

use super::batch::Batch;
use super::dlq::{DeadLetterTopic, DlqEntry};
use super::keys::{self, ObjectKind};
use super::retry::{self, AbortSignal};
use super::stats::{FlushTrigger, SinkStats};
use super::{SinkError, SinkMessage, SinkSettings, Storage};

/// Where one partition is.
#[derive(Debug)]
pub(super) struct PartitionState {
    /// Next offset not yet durably stored.
    pub(super) committed: u64,
    pub(super) batch: Option<Batch>,
}

impl PartitionState {
    pub(super) fn resumed_at(committed: u64) -> Self {
        PartitionState { committed, batch: None }
    }

    /// The lowest offset still accepted: past the stored offsets and past the open batch.
    fn position(&self) -> u64 {
        self.batch.as_ref().map_or(self.committed, |batch| batch.last + 1)
    }
}

/// The sink core: feed it messages, drive its age timer, flush it at the end.
#[derive(Debug)]
pub struct Sink {
    pub(super) storage: Storage,
    pub(super) settings: SinkSettings,
    pub(super) abort: AbortSignal,
    pub(super) partitions: BTreeMap<u32, PartitionState>,
    pub(super) stats: SinkStats,
    /// Where rejected messages go: `None` for DLQ objects in the store, or a topic.
    pub(super) dead_letters: Option<Arc<dyn DeadLetterTopic>>,
    /// Set when a store operation was abandoned: the in-memory state no longer matches a
    /// position the store can vouch for.
    pub(super) stopped: bool,
}

impl Sink {
    /// A sink that retries failing writes until they succeed; see [`Sink::with_abort`].
    pub fn new(storage: Storage, settings: SinkSettings) -> Self {
        Sink {
            storage,
            settings,
            abort: AbortSignal::never(),
            partitions: BTreeMap::new(),
            stats: SinkStats::default(),
            dead_letters: None,
            stopped: false,
        }
    }

    /// Gives up retrying a failing store once `abort` is raised.
    pub fn with_abort(mut self, abort: AbortSignal) -> Self {
        self.abort = abort;
        self
    }

    /// Publishes rejected messages to `topic` instead of storing DLQ objects (the Kafka mode).
    pub fn with_dead_letter_topic(mut self, topic: Arc<dyn DeadLetterTopic>) -> Self {
        self.dead_letters = Some(topic);
        self
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

    /// Validates a message and adds it to its partition's batch, flushing the batch when it is
    /// full. A partition not seen before is first recovered from the store.
    pub async fn push(&mut self, message: SinkMessage) -> Result<(), SinkError> {
        self.push_slice(message.partition, message.offset, &message.payload).await
    }

    /// [`Sink::push`] of a payload the caller keeps (a Kafka message, borrowed from librdkafka):
    /// it is copied once, into the batch.
    pub async fn push_slice(&mut self, partition: u32, offset: u64, payload: &[u8]) -> Result<(), SinkError> {
        if !self.admit(partition, offset).await? {
            return Ok(());
        }
        match records::validate(payload) {
            Ok(_) => self.buffer_valid(partition, offset, payload),
            Err(rejection) => self.buffer_invalid(partition, offset, payload, &rejection),
        }
        self.flush_if_due(partition).await
    }

    /// Adds a message the driver already knows is invalid (a line cut at the size limit) to the
    /// DLQ with `rejection`.
    pub async fn push_rejected(&mut self, message: SinkMessage, rejection: Rejection) -> Result<(), SinkError> {
        if !self.admit(message.partition, message.offset).await? {
            return Ok(());
        }
        self.buffer_invalid(message.partition, message.offset, &message.payload, &rejection);
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
        Ok(())
    }

    /// Forgets `partition`'s open batch without storing it and without moving its position: the
    /// partition was revoked, and its next owner reads the messages again from the committed
    /// offset. The partition is recovered from the store if it comes back.
    pub fn release(&mut self, partition: u32) {
        if let Some(state) = self.partitions.remove(&partition)
            && let Some(batch) = state.batch
        {
            self.stats.released += batch.valid + batch.invalid;
        }
    }

    /// The number of batches stored so far: a driver commits offsets when it moves.
    pub fn batches_stored(&self) -> u64 {
        self.stats.batches
    }

    /// Flushes every open batch (end of input, shutdown).
    pub async fn flush_all(&mut self) -> Result<(), SinkError> {
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
        if offset < position {
            self.stats.skipped_replayed += 1;
            return Ok(false);
        }
        Ok(true)
    }

    fn open_batch(&mut self, partition: u32, offset: u64) -> &mut Batch {
        let state = self.partitions.entry(partition).or_insert_with(|| PartitionState::resumed_at(0));
        state.batch.get_or_insert_with(|| Batch::open(offset, Instant::now()))
    }

    fn buffer_valid(&mut self, partition: u32, offset: u64, payload: &[u8]) {
        self.open_batch(partition, offset).push_valid(offset, payload);
        self.stats.records_valid += 1;
    }

    fn buffer_invalid(&mut self, partition: u32, offset: u64, payload: &[u8], rejection: &Rejection) {
        let source = self.settings.source.as_str().to_owned();
        let entry = DlqEntry::new(rejection, &source, partition, offset, payload);
        self.open_batch(partition, offset).push_invalid(offset, &entry);
        self.stats.count_invalid(rejection.reason);
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

    async fn flush_partition(&mut self, partition: u32, trigger: FlushTrigger) -> Result<(), SinkError> {
        if self.stopped {
            return Err(SinkError::Stopped);
        }
        let Some(batch) = self.partitions.get_mut(&partition).and_then(|state| state.batch.take()) else {
            return Ok(());
        };
        let next_offset = batch.last + 1;
        let (valid, invalid) = (batch.valid, batch.invalid);
        if let Err(error) = self.write_batch(partition, batch).await {
            self.stopped = true;
            return Err(error);
        }
        if let Some(state) = self.partitions.get_mut(&partition) {
            state.committed = next_offset;
        }
        self.stats.batches += 1;
        self.stats.stored_valid += valid;
        self.stats.stored_invalid += invalid;
        self.stats.flushes.count(trigger);
        Ok(())
    }

    /// Compresses a batch, stores its rejected messages (a DLQ object, or the DLQ topic) and then
    /// its data object.
    async fn write_batch(&mut self, partition: u32, mut batch: Batch) -> Result<(), SinkError> {
        let compression = self.settings.compression;
        let flushed_at = now_timestamp();
        let key_of = |kind| keys::object_key(kind, &self.settings.source, flushed_at, partition, batch.first, batch.last, compression);
        let (dlq_key, data_key) = (key_of(ObjectKind::Dlq), key_of(ObjectKind::Data));
        let has_invalid = batch.invalid > 0;
        self.stats.bytes_raw += (batch.data.len() + batch.dlq.len()) as u64;
        let to_topic = match &self.dead_letters {
            Some(topic) if has_invalid => Some((topic.clone(), Bytes::from(std::mem::take(&mut batch.dlq)))),
            _ => None,
        };
        let (data_body, dlq_body) = compress_off_thread(compression, self.settings.compression_level, batch.data, batch.dlq).await?;
        if let Some((topic, lines)) = to_topic {
            self.publish_durably(topic.as_ref(), lines).await?;
            self.stats.dead_letters_published += batch.invalid;
        } else if has_invalid {
            self.put_durably(&dlq_key, dlq_body).await?;
        }
        self.put_durably(&data_key, data_body).await?;
        tracing::debug!(partition, first = batch.first, last = batch.last, valid = batch.valid, invalid = batch.invalid, key = %data_key, "batch stored");
        Ok(())
    }

    /// Publishes a batch's DLQ lines to the topic, retrying like a store write until every one is
    /// acknowledged.
    async fn publish_durably(&mut self, topic: &dyn DeadLetterTopic, lines: Bytes) -> Result<(), SinkError> {
        let target = topic.name().to_owned();
        let attempt = || {
            let publishing = topic.publish(lines.clone());
            let target = target.clone();
            async move { publishing.await.map_err(|detail| super::StorageError::Publish { target, detail }) }
        };
        retry::retry("publish", &target, self.settings.retry, &self.abort, &mut self.stats.store_retries, attempt)
            .await
            .map_err(|abandoned| SinkError::Abandoned { key: target.clone(), last_error: abandoned.last_error })
    }

    async fn put_durably(&mut self, key: &str, body: Bytes) -> Result<(), SinkError> {
        let started = WallInstant::now();
        let size = body.len();
        let storage = &self.storage;
        let attempt = || storage.put(key, body.clone());
        retry::retry("write", key, self.settings.retry, &self.abort, &mut self.stats.store_retries, attempt)
            .await
            .map_err(|abandoned| SinkError::Abandoned { key: key.to_owned(), last_error: abandoned.last_error })?;
        self.stats.count_upload(started.elapsed(), size);
        Ok(())
    }
}

/// Compresses the data and DLQ buffers on the blocking pool, so that a large batch does not stall
/// the runtime's other tasks.
async fn compress_off_thread(
    compression: super::Compression,
    level: Option<i32>,
    data: Vec<u8>,
    dlq: Vec<u8>,
) -> Result<(Bytes, Bytes), SinkError> {
    let work = move || -> std::io::Result<(Bytes, Bytes)> {
        let data_body = compression.compress_at(&data, level)?;
        let dlq_body = if dlq.is_empty() { Vec::new() } else { compression.compress_at(&dlq, level)? };
        Ok((Bytes::from(data_body), Bytes::from(dlq_body)))
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome.map_err(SinkError::Compress),
        Err(join_error) => Err(SinkError::Task(join_error.to_string())),
    }
}
