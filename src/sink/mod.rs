//! The sink: validate, batch, compress, store, then commit. Written once and used by every mode
//! (a file or stdin, the embedded `netchaos run`, Kafka).
//!
//! # Data flow
//!
//! A [`SinkMessage`] is a payload at an offset of a partition (a file's line index in partition 0;
//! a generator lane's sequence in the embedded pipeline; a Kafka offset). [`Sink::push`] appends
//! it to its partition's open batch. A batch covers a contiguous offset range `[first, last]` and is
//! flushed when it holds max records, max bytes, or when its first message is max age old,
//! whichever comes first; the age trigger is driven by a timer ([`Sink::next_deadline`],
//! [`Sink::flush_expired`]) so that an idle partition still flushes. A flush hands the batch to a
//! write task, which validates every message with [`records::validate`](crate::records::validate)
//! (a valid payload becomes a JSON line byte for byte, an invalid one a [`dlq::DlqEntry`]),
//! compresses, and writes **first** the DLQ object (or publishes to the DLQ topic) when the batch
//! had invalid messages, **then** the data object, which is written even when it holds no record.
//! Up to `flushes_in_flight` writes run in the background while the next batches fill; their
//! outcomes are applied in flush order, and only when a batch is durable does its partition's
//! committed position ([`Sink::committed`]) move to `last + 1`; the Kafka driver commits exactly
//! that.
//!
//! # Exactly once into the store
//!
//! The claim: for every partition, each offset below the committed position appears in exactly
//! one stored object, a valid record in a data object or an invalid one in a DLQ object, however
//! often the sink crashes, restarts or is handed a partition again, provided the input can be
//! replayed from the committed position (Kafka can; a file can be re-read from the start) and
//! that one sink at a time owns a partition.
//!
//! 1. A data object's key carries its partition and offset range ([`keys`]). Data objects of a
//!    partition never overlap: a batch starts at the partition's position, which is past every
//!    stored range and every range being written. Recovery first waits for the writes under way,
//!    so that its listing sees them.
//! 2. Because a data object is written for every batch, even one with only invalid messages, the
//!    data objects of a partition tile `0..=max(last)` with no hole: the store alone says where the
//!    partition got to. [`Sink::recover`] lists them and resumes at `max(last) + 1`.
//! 3. The DLQ object of a batch is written before its data object. So a crash can leave a DLQ
//!    object without its data object (written, then the crash) but never the reverse. Such an
//!    orphan covers offsets at or past the resume point, which will be read again: recovery deletes
//!    every DLQ object of the partition whose range starts at or after the resume offset, before
//!    anything new is written. A DLQ object below the resume offset belongs to a stored data object
//!    and is kept.
//! 4. After recovery, messages below the position are skipped (counted as `skipped_replayed`):
//!    replaying from an older offset (a Kafka commit that lagged the store, a re-read file) writes
//!    nothing twice, and since the resume offset is exactly one past the last stored offset,
//!    nothing is skipped either.
//! 5. Objects appear whole or not at all (staging file plus rename locally; on S3 a PUT is atomic:
//!    an interrupted upload leaves no object), and a rewritten key holds the same offsets, so a
//!    retried write is harmless. A PUT whose acknowledgement was lost (the connection dropped after
//!    the server stored it) is retried under the same key: same range, same position, no copy.
//!
//! Batch boundaries after a replay may differ from the ones a crashed run would have used; the
//! argument does not need them to match. `dt=` / `hour=` are the wall-clock time of the flush and
//! play no part in it: the recovery listing covers every `dt=` / `hour=` of the source.
//!
//! What the argument asks of the store, and why S3 gives it: a write acknowledged is durable, and a
//! listing made after a write was acknowledged shows it. S3 has had strong read-after-write and
//! list-after-write consistency since December 2020, and S3-compatible servers (s3s-fs, MinIO)
//! have it too. Nothing needs conditional writes (`If-None-Match`) or versioning: two writers of
//! one key can only be one sink retrying its own batch, or two sinks owning one partition at once,
//! which the next paragraph rules out. Large objects would need multipart uploads, whose parts are
//! invisible until completed; batches stay far below the 5 GiB single-PUT limit. One assumption is
//! left: a PUT whose whole body reached the server before the sink died is finished by the server
//! before the restarted sink lists the store; the server needs milliseconds, a restart seconds
//! (rejoining the group alone takes longer).
//!
//! What it does not cover: two sinks writing the same partition at once. In the Kafka mode a
//! member that loses a partition waits, inside the rebalance callback and so before the partition
//! can be handed on, for its writes of that partition to finish ([`WritesInFlight`]), and exits
//! rather than hand it on if they do not finish in time. A member is only expelled without that
//! callback when it stops polling for `max.poll.interval.ms`; the driver polls on while it waits
//! for the store (see below), except while recovering newly assigned partitions during an outage
//! (at that moment none of its writes is under way, so there is nothing to overlap).
//!
//! # Store outages and memory
//!
//! A failed write is retried with exponential backoff (100 ms doubling to 5 s by default) until it
//! succeeds or the [`AbortSignal`] is raised, never dropped (the S3 client's own retries of a
//! request are kept to three quick ones, so that an outage reaches this loop and its log). The
//! store being down only ever delays the batches: positions, and the Kafka commits that follow
//! them, move only as batches become durable, in flush order, so nothing past what is stored is
//! ever committed. If a write is abandoned the sink refuses further work
//! ([`SinkError::Abandoned`]); restart and recovery resume from the store.
//!
//! Backpressure: with `flushes_in_flight` writes under way, the next flush waits for the oldest
//! (`run`, `sink --from`), so the driver stops reading. The Kafka driver instead uses
//! [`Sink::set_caller_backpressure`]: flushes never wait, and before each message it asks
//! [`Sink::has_room`]. When there is no room for more than a moment it pauses its assignment and
//! goes on polling the consumer (staying in the group, serving rebalances, committing what becomes
//! durable) while [`Sink::wait_for_room`] waits, and on shutdown while [`Sink::wait_for_idle`]
//! waits for the last writes.
//!
//! Memory: each partition buffers at most about `max_bytes` of raw messages (plus one message);
//! at most `flushes_in_flight + 1` full batches are being written, and at most that many are being
//! split and compressed at once, each held twice meanwhile (raw and split); a write being retried
//! holds only its compressed objects. So the batches take at most about
//! `(partitions + 2 × (flushes_in_flight + 1)) × max_bytes`, which `--memory-budget` fits
//! `max_bytes` to (beside librdkafka's prefetch queue in the Kafka mode). A store outage does not
//! add to it: it stops the reading.

pub mod compression;
pub mod dlq;
pub mod failpoint;
pub mod keys;
pub mod ledger;
pub mod storage;

mod batch;
mod engine;
pub(crate) mod lines;
mod recovery;
mod retry;
mod stats;
mod turn;
mod writer;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use bytes::Bytes;

pub use compression::Compression;
pub use engine::Sink;
pub use keys::SourceName;
pub use lines::run_lines;
pub use retry::{AbortSignal, RetryPolicy};
pub use stats::{FlushCounts, FlushTrigger, SinkStats};
pub use storage::{S3Options, Storage, StorageError};
pub use writer::WritesInFlight;

/// One message for the sink: a payload at an offset of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkMessage {
    pub partition: u32,
    /// Position in the partition: a line index, a lane sequence, a Kafka offset.
    pub offset: u64,
    pub payload: Bytes,
}

/// Validated sink settings (the CLI turns flags into these).
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSettings {
    /// Names the key space: `stdin`, a file stem, `run`, a Kafka topic.
    pub source: SourceName,
    /// Flush a batch once it holds this many messages, valid and invalid together.
    pub max_records: NonZeroU64,
    /// Flush a batch once it buffers this many bytes (valid lines plus DLQ lines).
    pub max_bytes: NonZeroUsize,
    /// Flush a batch this long after its first message arrived.
    pub max_age: Duration,
    pub compression: Compression,
    /// Codec level (gzip 0–9, zstd 1–22); `None` for the codec's default.
    pub compression_level: Option<i32>,
    pub retry: RetryPolicy,
    /// Batches compressed and written in the background while the sink goes on batching; 0 writes
    /// each batch before the flushing call returns. Positions still move only as batches become
    /// durable, in flush order.
    pub flushes_in_flight: usize,
}

impl SinkSettings {
    pub const DEFAULT_MAX_RECORDS: NonZeroU64 = NonZeroU64::new(100_000).unwrap();
    /// 32 MiB: about 40,000 records, a ~4 MB gzip object.
    pub const DEFAULT_MAX_BYTES: NonZeroUsize = NonZeroUsize::new(32 * 1024 * 1024).unwrap();
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

    /// Settings with the default limits, gzip, and the default retry policy.
    pub fn new(source: &str) -> Self {
        SinkSettings {
            source: SourceName::new(source),
            max_records: Self::DEFAULT_MAX_RECORDS,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_age: Self::DEFAULT_MAX_AGE,
            compression: Compression::default(),
            compression_level: None,
            retry: RetryPolicy::default(),
            flushes_in_flight: 0,
        }
    }
}

/// Why the sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "gave up on `{key}` because the sink was told to abort while the store kept failing ({last_error}); \
         nothing past the last durable batch was committed: restart to resume from the store"
    )]
    Abandoned { key: String, last_error: Box<StorageError> },
    #[error("the sink stopped after an abandoned store operation; restart it to resume from the store")]
    Stopped,
    #[error("not storing a batch of partition {partition}: an earlier batch of it was not stored")]
    EarlierWriteFailed { partition: u32 },
    #[error(
        "partition {partition} was taken over by a newer writer (epoch {newer}, this one is {epoch}): \
         another sink recovered it, so this one stops writing it; nothing of it past the store was committed"
    )]
    Fenced { partition: u32, epoch: u64, newer: u64 },
    #[error("could not compress a batch: {0}")]
    Compress(std::io::Error),
    #[error("could not read the input: {0}")]
    Input(std::io::Error),
    #[error("a background task failed: {0}")]
    Task(String),
}
