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
//! one stored object that counts, a valid record in a data object or an invalid one in a DLQ
//! object, however often the sink crashes, restarts, is handed a partition again, or stalls while
//! another sink takes its partition over, provided the input can be replayed from the committed
//! position (Kafka can; a file can be re-read from the start). Which objects count is one rule,
//! [`ledger`], that recovery acts on and `verify` reads by. Each step names the tests that attack
//! it.
//!
//! 1. **Keys tile.** A data object's key carries its partition, offset range and writer epoch
//!    ([`keys`]). A batch opens at the partition's position (not at its first message's offset,
//!    so that a Kafka log's gaps leave no gap in the keys) and ends at its last message: one
//!    writer's batches of a partition tile its offsets from its resume offset on.
//!    *Attacked by* `keys::tests::any_key_round_trips`, the batching property in
//!    `sink::tests::batching`.
//! 2. **A partition's objects become visible in flush order.** Batches are split and compressed
//!    in parallel, but a write stores its objects only once the write flushed before it in the
//!    same partition has its data object durable (`turn.rs`); a write whose predecessor failed or
//!    was abandoned stores nothing. So at any crash, SIGKILL or abandoned retry, one writer's
//!    data objects of a partition are a prefix of its flushes: never batch `k + 1` without `k`.
//!    *Attacked by* `sink::tests::ordering::a_later_batch_is_never_visible_before_an_earlier_one`
//!    (a store that holds the first write), `…::a_failed_write_stores_nothing_after_it_and_the_restart_resumes_at_it`,
//!    and through the binary by `tests/it/ordered_writes.rs::sink_from_a_file_never_shows_a_batch_before_the_one_held_back`
//!    (`NETCHAOS_FAILPOINT=stall:N` holds a batch until the next one waits for its turn, then
//!    aborts), and the crash campaign (`scripts/crash-campaign`, RELIABILITY.md).
//! 3. **Recovery resumes at the first hole.** [`Sink::recover`] lists the source's objects and
//!    fences once and builds each partition's chain: from the lowest first offset, the object
//!    that starts exactly at the next offset, and so on. The resume offset is one past the
//!    chain. Objects past a hole or overlapping the chain are removed before anything new is
//!    written: their offsets are in the chain or at or past the resume offset, which is read
//!    again. (They are moved under `quarantine/`, not deleted: a store written by an older
//!    netchaos may have a hole whose records a Kafka log past its retention can no longer give
//!    back, and what lies past that hole is then the only copy.) By step 2 a hole cannot arise from this sink; it
//!    can from a store written by an older netchaos (whose recovery resumed at `max(last) + 1`
//!    and lost the hole's records) or by the `overtake` failpoint, which bypasses step 2 on
//!    purpose. A hole before a partition's first object is not one: it looks the same as
//!    objects a lifecycle rule expired, and recovery keeps to what is there.
//!    *Attacked by* `sink::ledger::tests`, `sink::tests::ordering::recovery_resumes_at_the_first_hole_and_deletes_what_lies_past_it`,
//!    and `tests/it/ordered_writes.rs`: `NETCHAOS_FAILPOINT=overtake:N` stores batch `N + 1` before
//!    batch `N` and aborts, then a restart loses and duplicates nothing, for `sink --from`,
//!    `run` and `sink --brokers`, into S3.
//! 4. **DLQ objects.** A batch's DLQ object is written just before its data object; it counts
//!    only beside the data object of the same range and epoch. A crash between the two leaves an
//!    orphan, which recovery deletes (its offsets are read again).
//!    *Attacked by* `sink::ledger::tests::a_dlq_object_counts_only_beside_its_data_object`,
//!    `sink::tests::recovery::recovery_deletes_an_orphan_dlq_object_and_keeps_the_others`.
//! 5. **Replays are skipped.** After recovery, messages below the position are skipped (counted
//!    as `skipped_replayed`): replaying from an older offset (a Kafka commit that lagged the
//!    store, a re-read file) writes nothing twice, and since the resume offset is exactly one
//!    past the chain, nothing unstored is skipped either.
//!    *Attacked by* `sink::tests::recovery::a_full_replay_after_a_restart_writes_nothing_twice`,
//!    `…::a_crash_with_a_buffered_batch_resumes_where_the_store_got_to`, and
//!    `tests/it/s3_sink.rs::a_crash_after_an_upload_and_before_its_offset_commit_duplicates_nothing`
//!    (`NETCHAOS_FAILPOINT=abort-before-commit:N`).
//! 6. **Objects appear whole or not at all** (staging file plus rename locally; on S3 a PUT is
//!    atomic: an interrupted upload leaves no object), and a retried write rewrites the same key
//!    with the same bytes, so a PUT whose acknowledgement was lost is harmless.
//!    *Attacked by* `tests/it/storage_conformance.rs`, `tests/it/s3_sink.rs::a_sink_killed_three_times_into_s3_writes_every_record_exactly_once`.
//! 7. **A writer that lost its partition cannot overlap its successor.** Each recovery takes a
//!    new epoch (one past any the store knows for the partition) and first stores its fence,
//!    `(epoch, resume offset)`, created only if absent. An object of an older epoch whose range
//!    starts at or past a newer fence's start is void: it does not count, recovery deletes it,
//!    `verify` reports it. Why that covers every timing: when epoch `e + 1` lists the store, the
//!    store's newest epoch is `e`, so the partition's chain ends where the visible prefix of
//!    epoch `e`'s writes ends (step 2), and epoch `e + 1`'s fence starts there; any write of
//!    epoch `e` that lands later starts at or past that point, so it is void whatever it holds
//!    and whenever it lands (a SIGSTOPped consumer-group member, a second sink started on the
//!    same store, a PUT delayed in the network). To keep readers other than netchaos from seeing
//!    such an object at all, a writer checks the partition's fences before each batch (and stops
//!    with [`SinkError::Fenced`] when a newer one exists) and again after it, deleting what it
//!    just stored if it turned out void; and a recovery lists the store a second time once its
//!    fences are stored, deleting what turned void meanwhile (a write acknowledged before the
//!    fence existed, whose own check came too early to see it). A crash of the old writer
//!    between its write and its check, or a PUT of it that the network delivers late, still
//!    leaves a void object until the next recovery: `verify` reports it.
//!    *Attacked by* `sink::ledger::tests::a_zombie_write_after_its_successor_took_over_is_void_whatever_its_range`,
//!    `sink::tests::ordering::a_sink_whose_partition_was_taken_over_stops_writing_it`,
//!    `…::a_zombie_write_that_lands_after_the_takeover_is_void_and_deleted_by_the_next_recovery`,
//!    `verify::tests::an_object_stored_by_a_writer_after_its_takeover_is_void_not_a_duplicate`,
//!    and `tests/it/kafka_reliability.rs` (a member SIGSTOPped past its session timeout, then
//!    resumed, while its successor writes; a rebalance storm).
//!
//! 8. **Pieces (the AWS and OCSF layouts) are claimed by their batch, or removed.** AWS's keys
//!    carry no offsets, so in a layout other than netchaos's own the offsets stay where steps
//!    1–7 keep them: each batch still stores its data object under `data/`, named by its range
//!    and epoch, and that object now holds the batch's *ground truth* (one line per valid
//!    record: event id, kind, label, and where it went: [`pieces`]), which `verify` counts
//!    exactly as it counts records. The records themselves go to pieces, one per group (a flow
//!    log and a 5-minute window of `end`, [`layout`]), whose names, `hash8` included, are a pure
//!    function of the source, partition, offset range, epoch and group: a retried write
//!    rewrites the same keys with the same bytes (step 6), and two batches share a key only if their
//!    32-bit `hash8` collide (about n²/2³³ for `n` batches of one group; `verify` reports it). A
//!    batch stores, in this order, its DLQ object, its *piece table* (`pieces/…`, the pieces'
//!    keys and row counts, under the batch's name), the pieces, and last the data object. So a
//!    piece is never stored before a table that names it, and the table is a sidecar like a
//!    DLQ object (step 4): it counts only beside the data object of its range and epoch. Every
//!    batch that does not count (a crash after some pieces and before the data object; void,
//!    past a hole or overlapping, steps 3 and 7) leaves a table that does not count, and
//!    recovery deletes the pieces that table names, then the table, before anything new is
//!    written; their offsets are read again and land in pieces of another name. A writer that
//!    finds it was taken over withdraws its data object and pieces (step 7) but leaves the
//!    table, so that a piece it fails to delete is still named; the second listing of a
//!    recovery removes the tables of the batches it finds void, and their pieces. Tables
//!    wholly below a partition's first counting object are left alone: their data objects were
//!    expired (step 3), and their pieces may be the only copy. What is left is what readers
//!    other than netchaos read: the pieces of the counting batches, once each. Between a crash
//!    and the next recovery a reader can see the pieces of a batch that will not count (there
//!    is no rename on S3); `verify` reports them as claimed by no batch. A source's layout is
//!    recorded on its first use (`meta/source=…/layout.json`), and a restart with other layout
//!    flags is refused, so one source's batches are all in one layout.
//!    *Not covered:* a writer taken over while it writes a batch, whose table the new writer's
//!    recovery deletes (it does not count yet), and which then stores more pieces and crashes
//!    before it withdraws them: those pieces are named by no table, and `verify` reports them.
//!    *Attacked by* `sink::tests::pieces::a_crash_before_the_data_object_leaves_pieces_that_recovery_removes`
//!    (in every piece layout, a crash after the table and the pieces, before the data object:
//!    the restart removes them and resumes exactly; a damaged table naming another batch's
//!    pieces removes none of them), `tests/it/aws_layout.rs`'s
//!    `a_sink_aborted_between_its_pieces_and_its_data_object_resumes_exactly` (the `pieces`
//!    failpoint: the binary aborts after the table and half the pieces, in text, Parquet and
//!    OCSF), `a_restart_with_other_layout_flags_is_refused`,
//!    `sink::ledger::tests::piece_tables_below_the_chain_are_left_alone_and_others_without_data_are_orphans`,
//!    `sink::tests::pieces::a_writer_taken_over_stores_no_piece_past_the_fence`,
//!    `sink::layout::tests::the_hash_is_a_pure_function_of_batch_and_group`,
//!    `verify::pieces_tests::a_stray_a_missing_and_a_short_piece_each_fail`, and through the
//!    binary by `tests/it/aws_layout.rs`: a sink killed three times mid-run into S3 with
//!    `--layout aws`, text and Parquet (`a_sink_killed_three_times_into_s3_with_aws_*`), then
//!    `verify` passes and pyarrow's S3 client reads every flow exactly once.
//!
//! Batch boundaries after a replay may differ from the ones a crashed run would have used; the
//! argument does not need them to match. `dt=` / `hour=` are the wall-clock time of the flush and
//! play no part in it: the recovery listing covers every `dt=` / `hour=` of the source.
//!
//! What the argument asks of the store, and why S3 gives it: a write acknowledged is durable, and a
//! listing made after a write was acknowledged shows it. S3 has had strong read-after-write and
//! list-after-write consistency since December 2020, and S3-compatible servers (s3s-fs, MinIO)
//! have it too. Epochs are unique when the store honours `If-None-Match: *` on a PUT (AWS S3 since
//! 2024, MinIO, R2, s3s-fs; a local disk through a hard link: `tests/it/storage_conformance.rs`
//! checks both backends); on one that ignores it, two recoveries of
//! one partition at the same instant could share an epoch, which a Kafka group (one owner per
//! partition per generation) never asks for. Large objects would need multipart uploads, whose
//! parts are invisible until completed; batches stay far below the 5 GiB single-PUT limit.
//!
//! In the Kafka mode the group adds a first line of defence before the epochs: a member that
//! loses a partition waits, inside the rebalance callback and so before the partition can be
//! handed on, for its writes of that partition to finish ([`WritesInFlight`]), and exits rather
//! than hand it on if they do not finish in time. A member expelled without that callback (it
//! stopped polling for `max.poll.interval.ms`, or was SIGSTOPped past its session) is what step
//! 7 fences.
//!
//! # Store outages
//!
//! A failed write is retried with exponential backoff (100 ms doubling to 5 s by default) until it
//! succeeds or the sink's abort [`Shutdown`](crate::runtime::Shutdown) is requested, never
//! dropped (the S3 client's own retries of a request are kept to three quick ones, so that an
//! outage reaches this loop and its log). The
//! store being down only ever delays the batches: positions, and the Kafka commits that follow
//! them, move only as batches become durable, in flush order, so nothing past what is stored is
//! ever committed. If a write is abandoned the sink refuses further work
//! ([`SinkError::Abandoned`]); restart and recovery resume from the store.
//!
//! # Backpressure: who waits for the oldest write
//!
//! The bound is one: a message is taken only while at most `flushes_in_flight` writes are under
//! way, so that it flushes at most one more. Who waits for the oldest write to keep it is chosen
//! when the sink is built, because the two kinds of driver need two answers:
//!
//! - **In the flush** (the default: `run`, `sink --from`, the tests). A flushing call returns
//!   with at most `flushes_in_flight` writes under way (with 0, a flushed batch is durable when
//!   the call returns), so the driver stops reading while the store is slow. It has nothing else
//!   to do meanwhile: stopping it there is the simplest correct thing.
//! - **By the caller** ([`Sink::with_caller_backpressure`]: the Kafka driver, which must go on
//!   polling its consumer, or the group expels it after `max.poll.interval.ms` while its writes
//!   are still being retried). Flushes never wait, and before each message the driver asks
//!   [`Sink::has_room`]. When there is no room for more than a moment it pauses its assignment
//!   and goes on polling the consumer (staying in the group, serving rebalances, committing what
//!   becomes durable) while [`Sink::wait_for_room`] waits, and on shutdown while
//!   [`Sink::wait_for_idle`] waits for the last writes.
//!
//! Either way one wait applies the writes, oldest first (`in_flight.rs`).
//!
//! # Memory
//!
//!
//! Each partition buffers at most about `max_bytes` of raw messages (plus one message);
//! at most `flushes_in_flight + 1` full batches are being written, and at most that many are being
//! split and compressed at once, each held at most twice meanwhile (its raw buffer, which becomes
//! its JSON lines in place, beside its DLQ lines or its compressed objects); a write being retried
//! holds only its compressed objects. So the batches take at most about
//! `(partitions + 2 × (flushes_in_flight + 1)) × max_bytes`, and one buffer more that a written
//! batch leaves for the next to fill (`batch::Spare`). `--memory-budget` fits `max_bytes` to that
//! (beside librdkafka's prefetch queue in the Kafka mode). A store outage does not add to it: it
//! stops the reading.

pub mod compression;
pub mod dlq;
pub mod failpoint;
pub mod gzip;
pub mod keys;
pub mod layout;
mod layout_record;
pub mod ledger;
pub mod pieces;
pub mod storage;

mod batch;
mod engine;
mod in_flight;
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
pub use in_flight::WritesInFlight;
pub use keys::SourceName;
pub use lines::run_lines;
pub use retry::RetryPolicy;
pub use stats::{FlushCounts, FlushTrigger, SinkStats};
pub use storage::{S3Options, Storage, StorageError};

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
    /// Codec level (gzip 0–9, clamped; zstd 1–22); `None` for the codec's default.
    pub compression_level: Option<i32>,
    pub retry: RetryPolicy,
    /// Batches compressed and written in the background while the sink goes on batching; 0 writes
    /// each batch before the flushing call returns. Positions still move only as batches become
    /// durable, in flush order.
    pub flushes_in_flight: usize,
    /// Where and in what form the records land: netchaos's own objects, or pieces as AWS (or
    /// OCSF) lays them out.
    pub layout: layout::Layout,
}

impl SinkSettings {
    pub const DEFAULT_MAX_RECORDS: NonZeroU64 = NonZeroU64::new(100_000).unwrap();
    /// 32 MiB: about 40,000 records, a ~2 MB gzip object at the default level.
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
            layout: layout::Layout::default(),
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
    /// The store holds the source in another layout than the sink's (a usage error).
    #[error("{0}")]
    Layout(String),
}
