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
//! 5. Objects appear whole or not at all (staging file plus rename locally, atomic PUT on S3), and a
//!    rewritten key holds the same bytes' worth of offsets, so a retried write is harmless.
//!
//! Batch boundaries after a replay may differ from the ones a crashed run would have used; the
//! argument does not need them to match. `dt=` / `hour=` are the wall-clock time of the flush and
//! play no part in it. What it does not cover: two sinks writing the same partition at once. In
//! the Kafka mode a member that loses a partition waits, inside the rebalance callback and so
//! before the partition can be handed on, for its writes of that partition to finish
//! ([`WritesInFlight`]), and exits rather than hand it on if they do not finish in time. Not yet
//! covered: a member expelled from the group without a rebalance callback, which happens when a
//! store outage keeps it from polling past `max.poll.interval.ms` (5 minutes by default); it could
//! finish a write after the next owner recovered. Polling on while paused during an outage is the
//! fix (the S3 issue).
//!
//! # Store outages and memory
//!
//! A failed write is retried with exponential backoff (100 ms doubling to 5 s by default) until it
//! succeeds or the [`AbortSignal`] is raised, never dropped; once `flushes_in_flight` writes are
//! under way the next flush waits for the oldest, so while the store fails the driver, which is
//! awaiting that flush, stops feeding messages. If a write is abandoned the sink refuses further
//! work ([`SinkError::Abandoned`]) and nothing past the durable batches is committed: restart and
//! recovery resume from the store. Each partition buffers at most about `max_bytes` of raw
//! messages (plus one message), and each write under way holds one batch (while a flush waits for
//! the oldest, `flushes_in_flight + 1` exist), briefly with its split lines beside it before they
//! are compressed; so memory is about `(partitions + flushes_in_flight + 1) × max_bytes`, plus one
//! split copy per write being prepared and the compressed objects.

pub mod compression;
pub mod dlq;
pub mod keys;
pub mod storage;

mod batch;
mod engine;
pub(crate) mod lines;
mod recovery;
mod retry;
mod stats;
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
    #[error("could not compress a batch: {0}")]
    Compress(std::io::Error),
    #[error("could not read the input: {0}")]
    Input(std::io::Error),
    #[error("a background task failed: {0}")]
    Task(String),
}
