//! Storing one batch: compress it, store its rejects (a DLQ object, or the DLQ topic) and then its
//! data object, each retried with backoff until durable. Runs as its own task so that the sink
//! can go on batching while earlier batches are compressed and written (up to
//! `SinkSettings::flushes_in_flight` of them); the sink applies the outcomes in flush order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use crate::records::Timestamp;
use crate::runtime::Shutdown;

use super::batch::{Batch, Spare};
use super::dlq::DeadLetterTopic;
use super::failpoint::{self, Role};
use super::in_flight::Registered;
use super::keys::{self, ObjectKind, SourceName};
use super::layout::{BatchName, Layout};
use super::pieces::{Piece, Pieces};
use super::retry;
use super::stats::{FlushTrigger, SinkStats};
use super::turn::{Turn, Waited};
use super::{Compression, SinkError, SinkSettings, Storage, StorageError};

/// Everything a write needs, cloned into each write task.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    pub(super) storage: Storage,
    pub(super) settings: SinkSettings,
    pub(super) abort: Shutdown,
    pub(super) dead_letters: Option<Arc<dyn DeadLetterTopic>>,
    /// Batches being split and compressed at once, each held at most twice meanwhile (its lines
    /// beside its DLQ lines or its compressed objects): at most `flushes_in_flight + 1`, which
    /// the memory bound counts on.
    pub(super) preparing: Arc<tokio::sync::Semaphore>,
    /// Where a batch's buffer goes once its lines are compressed.
    pub(super) spare: Spare,
    /// Counted as they happen, so that an outage shows while it lasts.
    pub(super) retries: Counter,
    pub(super) upload_duration: Histogram,
}

/// How long a failpoint's held-back write waits for its successor before aborting anyway.
const FAILPOINT_WAIT: Duration = Duration::from_secs(30);

/// One batch to store, and its place among its partition's writes.
#[derive(Debug)]
pub(super) struct WriteJob {
    pub(super) partition: u32,
    pub(super) batch: Batch,
    /// The sink's epoch for the partition, written into the keys.
    pub(super) epoch: u64,
    /// The batch's number among its partition's since the sink recovered it (for failpoints).
    pub(super) index: u64,
    /// The write's part in this process's failpoint, if any.
    pub(super) role: Role,
    pub(super) turn: Turn,
}

/// What one stored batch added to the sink's counters.
#[derive(Debug, Default)]
pub(super) struct WriteReport {
    pub(super) valid: u64,
    pub(super) invalid: u64,
    /// Invalid messages per reject reason code.
    pub(super) reasons: BTreeMap<&'static str, u64>,
    pub(super) bytes_raw: u64,
    /// Upload latency and stored size of each object written.
    pub(super) uploads: Vec<(Duration, usize)>,
    pub(super) dead_letters_published: u64,
    /// From the start of the write to its last object being durable.
    pub(super) elapsed: Duration,
}

impl WriteReport {
    /// Adds a stored batch, flushed by `trigger`, to the sink's counters.
    pub(super) fn count_into(self, stats: &mut SinkStats, trigger: FlushTrigger) {
        stats.batches += 1;
        stats.records_valid += self.valid;
        stats.records_invalid += self.invalid;
        for (reason, count) in self.reasons {
            *stats.invalid_by_reason.entry(reason).or_default() += count;
        }
        stats.flushes.count(trigger);
        stats.bytes_raw += self.bytes_raw;
        stats.dead_letters_published += self.dead_letters_published;
        for (latency, size) in self.uploads {
            stats.count_upload(latency, size);
        }
    }
}

impl Writer {
    /// Stores `batch` of `partition` in its [`Turn`]; `registered` (taken when the flush was
    /// decided, before this task runs) ends with it, however it ends.
    pub(super) async fn write(self, job: WriteJob, registered: Registered) -> Result<WriteReport, SinkError> {
        let _registered = registered;
        let started = WallInstant::now();
        let mut report = WriteReport::default();
        self.write_batch(job, &mut report).await?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn write_batch(&self, job: WriteJob, report: &mut WriteReport) -> Result<(), SinkError> {
        let WriteJob { partition, batch, epoch, index, role, mut turn } = job;
        let compression = self.settings.compression;
        let flushed_at = Timestamp::now();
        let (first, last) = (batch.first, batch.last);
        let name = keys::FileName { partition, first, last, epoch, compression };
        let key_of = |kind| keys::object_key(kind, &self.settings.source, flushed_at, name);
        let (dlq_key, data_key, table_key) = (key_of(ObjectKind::Dlq), key_of(ObjectKind::Data), key_of(ObjectKind::Pieces));
        let dlq_to_topic = self.dead_letters.clone();
        let prepared = {
            let _permit = self.preparing.acquire().await.map_err(|closed| SinkError::Task(closed.to_string()))?;
            let how = Preparing {
                source: self.settings.source.clone(),
                partition,
                epoch,
                compression,
                level: self.settings.compression_level,
                plain_dlq: dlq_to_topic.is_some(),
                layout: (!self.settings.layout.is_netchaos()).then(|| self.settings.layout.clone()),
            };
            prepare_off_thread(batch, how, self.spare.clone()).await?
        };
        report.valid = prepared.valid;
        report.invalid = prepared.invalid;
        report.reasons = prepared.reasons;
        report.bytes_raw = prepared.bytes_raw;
        match role {
            Role::Normal => {}
            Role::Overtaken => {
                turn.step_aside();
                failpoint::abort_after_successor("overtake", FAILPOINT_WAIT).await
            }
            Role::Stalled => failpoint::abort_after_successor("stall", FAILPOINT_WAIT).await,
            Role::PartPieces => {}
        }
        if failpoint::follows_stalled(partition, index) {
            failpoint::successor_reached().notify_one();
        }
        let waited = turn.wait().await;
        if waited == Waited::EarlierFailed {
            return Err(SinkError::EarlierWriteFailed { partition });
        }
        self.check_fences(partition, epoch).await?;
        if prepared.invalid > 0 {
            match &dlq_to_topic {
                Some(topic) => {
                    self.publish_durably(topic.as_ref(), prepared.dlq_body).await?;
                    report.dead_letters_published += prepared.invalid;
                }
                None => self.put_durably(&dlq_key, prepared.dlq_body, report).await?,
            }
        }
        // Pieces: the table first, so that no piece is ever stored that recovery cannot find; then
        // the pieces; the data object (the ground truth) last, which makes them count.
        if let Some(pieced) = &prepared.pieces {
            self.put_durably(&table_key, pieced.table.clone(), report).await?;
            for (stored, piece) in pieced.pieces.iter().enumerate() {
                if role == Role::PartPieces && stored == pieced.pieces.len() / 2 {
                    failpoint::abort_now("pieces", "the table and some pieces stored, not the data object");
                }
                self.put_durably(&piece.key, piece.body.clone(), report).await?;
            }
        }
        self.put_durably(&data_key, prepared.data_body, report).await?;
        let newer = self.newer_fences(partition, epoch).await?;
        if let Some(newest) = newer.iter().map(|fence| fence.epoch).max() {
            // Taken over while the write was under way. What was just stored is void when its
            // range starts at or past a newer fence: remove it, so that no reader sees it twice.
            if newer.iter().any(|fence| fence.start <= first) {
                let mut stored = vec![data_key.as_str()];
                // The pieces, but not their table: it stays until the next recovery, which
                // deletes what it names, so that a piece this withdrawal fails to delete is
                // still found.
                if let Some(pieced) = &prepared.pieces {
                    stored.extend(pieced.pieces.iter().map(|piece| piece.key.as_str()));
                }
                if prepared.invalid > 0 && dlq_to_topic.is_none() {
                    stored.push(dlq_key.as_str());
                }
                self.withdraw(&stored).await;
            }
            return Err(SinkError::Fenced { partition, epoch, newer: newest });
        }
        turn.stored();
        if waited == Waited::Overtaking {
            failpoint::successor_reached().notify_one();
        }
        tracing::debug!(partition, first, last, epoch, valid = prepared.valid, invalid = prepared.invalid, key = %data_key, "batch stored");
        Ok(())
    }

    /// Fails with [`SinkError::Fenced`] when a newer writer has taken the partition over: this
    /// one lost it (a consumer-group member expelled while it stalled, a second sink started on
    /// the same store) and must not write it. The check narrows the window; what closes it is
    /// that anything the old writer stores past the fence is void ([`ledger`](super::ledger)).
    async fn check_fences(&self, partition: u32, epoch: u64) -> Result<(), SinkError> {
        match self.newer_fences(partition, epoch).await?.iter().map(|fence| fence.epoch).max() {
            Some(newer) => Err(SinkError::Fenced { partition, epoch, newer }),
            None => Ok(()),
        }
    }

    /// The partition's fences of epochs newer than `epoch`.
    async fn newer_fences(&self, partition: u32, epoch: u64) -> Result<Vec<keys::Fence>, SinkError> {
        let prefix = keys::partition_fence_prefix(&self.settings.source, partition);
        let storage = &self.storage;
        let listing = retry::retry("list", &prefix, self.settings.retry, &self.abort, &self.retries, || storage.list(&prefix))
            .await
            .map_err(|abandoned| SinkError::Abandoned { key: prefix.clone(), last_error: Box::new(abandoned.last_error) })?;
        Ok(listing.iter().filter_map(|(key, _)| keys::parse_fence_key(key)).filter(|fence| fence.epoch > epoch).collect())
    }

    /// Deletes objects this writer stored after losing its partition; a failure is only logged:
    /// the objects are void, and the next recovery deletes them (a piece through the table this
    /// writer leaves in place).
    async fn withdraw(&self, keys: &[&str]) {
        for key in keys {
            match self.storage.delete(key).await {
                Ok(()) => tracing::warn!(key, "deleted an object stored after this sink lost its partition"),
                Err(error) => tracing::warn!(key, %error, "could not delete a void object; the next recovery does"),
            }
        }
    }

    async fn publish_durably(&self, topic: &dyn DeadLetterTopic, lines: Bytes) -> Result<(), SinkError> {
        let target = topic.name().to_owned();
        let attempt = || {
            let publishing = topic.publish(lines.clone());
            let target = target.clone();
            async move { publishing.await.map_err(|detail| StorageError::Publish { target, detail }) }
        };
        retry::retry("publish", &target, self.settings.retry, &self.abort, &self.retries, attempt)
            .await
            .map_err(|abandoned| SinkError::Abandoned { key: target.clone(), last_error: Box::new(abandoned.last_error) })
    }

    async fn put_durably(&self, key: &str, body: Bytes, report: &mut WriteReport) -> Result<(), SinkError> {
        let started = WallInstant::now();
        let size = body.len();
        let storage = &self.storage;
        let attempt = || storage.put(key, body.clone());
        retry::retry("write", key, self.settings.retry, &self.abort, &self.retries, attempt)
            .await
            .map_err(|abandoned| SinkError::Abandoned { key: key.to_owned(), last_error: Box::new(abandoned.last_error) })?;
        let latency = started.elapsed();
        self.upload_duration.observe(latency.as_secs_f64());
        report.uploads.push((latency, size));
        Ok(())
    }
}

/// A batch validated, split and compressed.
struct Prepared {
    /// The JSON lines, or in a piece layout the ground-truth lines, compressed.
    data_body: Bytes,
    /// Compressed, or the plain DLQ lines when they go to a topic.
    dlq_body: Bytes,
    /// In a piece layout: the pieces and their table.
    pieces: Option<Pieced>,
    valid: u64,
    invalid: u64,
    reasons: BTreeMap<&'static str, u64>,
    bytes_raw: u64,
}

/// A batch's pieces and their table, ready to store.
struct Pieced {
    pieces: Vec<Piece>,
    table: Bytes,
}

/// How to prepare a batch.
struct Preparing {
    source: SourceName,
    partition: u32,
    epoch: u64,
    compression: Compression,
    level: Option<i32>,
    /// DLQ lines go to a topic, uncompressed.
    plain_dlq: bool,
    /// `None` for netchaos's own layout.
    layout: Option<Layout>,
}

/// Validates, splits and compresses a batch on the blocking pool: the CPU-heavy part of a flush,
/// kept off the driver's thread so that it runs beside consumption.
async fn prepare_off_thread(batch: Batch, how: Preparing, spare: Spare) -> Result<Prepared, SinkError> {
    let work = move || -> std::io::Result<Prepared> {
        let Preparing { source, partition, epoch, compression, level, plain_dlq, layout } = how;
        let (mut split, pieces) = match &layout {
            None => (batch.into_split(source.as_str(), partition), None),
            Some(layout) => {
                let mut pieces = Pieces::new(layout);
                let mut split = batch.split_with(source.as_str(), partition, |payload, record| pieces.push(payload, record));
                let name = BatchName { source: &source, partition, first: batch.first, last: batch.last, epoch };
                // Gzip pieces take the gzip level asked for; with another codec, gzip's default.
                let gzip_level = if compression == Compression::Gzip { level } else { None };
                let finished = pieces.finish(name, gzip_level)?;
                split.data = finished.truth;
                spare.give(batch.into_raw());
                (split, Some((Pieced { pieces: finished.pieces, table: finished.table }, finished.raw_bytes)))
            }
        };
        // Bytes of the objects stored: DLQ lines published to a topic are not an object.
        let piece_bytes = pieces.as_ref().map_or(0, |(_, raw)| *raw);
        let bytes_raw = (split.data.len() + if plain_dlq { 0 } else { split.dlq.len() }) as u64 + piece_bytes;
        let data_body = Bytes::from(compression.compress_at(&split.data, level)?);
        // The batch's own buffer (its lines, split in place), for the next batch.
        spare.give(std::mem::take(&mut split.data));
        let dlq_body = match (split.dlq.is_empty(), plain_dlq) {
            (true, _) => Bytes::new(),
            (false, true) => Bytes::from(split.dlq),
            (false, false) => Bytes::from(compression.compress_at(&split.dlq, level)?),
        };
        Ok(Prepared {
            data_body,
            dlq_body,
            pieces: pieces.map(|(pieced, _)| pieced),
            valid: split.valid,
            invalid: split.invalid,
            reasons: split.reasons,
            bytes_raw,
        })
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome.map_err(SinkError::Compress),
        Err(join_error) => Err(SinkError::Task(join_error.to_string())),
    }
}
