//! Plain counters of what the sink did, kept locally (no shared registry on the hot path); the
//! metrics exporter publishes them later.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Why a batch was flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushTrigger {
    /// It held max records (valid and invalid together).
    Records,
    /// It held max bytes.
    Bytes,
    /// Its first message was max age old.
    Age,
    /// End of input or shutdown.
    Shutdown,
}

impl FlushTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            FlushTrigger::Records => "records",
            FlushTrigger::Bytes => "bytes",
            FlushTrigger::Age => "age",
            FlushTrigger::Shutdown => "shutdown",
        }
    }
}

/// Flushes per trigger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlushCounts {
    pub records: u64,
    pub bytes: u64,
    pub age: u64,
    pub shutdown: u64,
}

impl FlushCounts {
    pub fn total(&self) -> u64 {
        self.records + self.bytes + self.age + self.shutdown
    }

    pub(super) fn count(&mut self, trigger: FlushTrigger) {
        match trigger {
            FlushTrigger::Records => self.records += 1,
            FlushTrigger::Bytes => self.bytes += 1,
            FlushTrigger::Age => self.age += 1,
            FlushTrigger::Shutdown => self.shutdown += 1,
        }
    }
}

/// What one sink has done since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SinkStats {
    /// Messages received (stored, skipped, or still buffered).
    pub consumed: u64,
    /// Valid records in stored data objects (messages are validated when their batch is
    /// written).
    pub records_valid: u64,
    /// Rejected messages stored in DLQ objects or published to the DLQ topic.
    pub records_invalid: u64,
    /// Invalid messages per [`RejectReason`](crate::records::RejectReason) code.
    pub invalid_by_reason: BTreeMap<&'static str, u64>,
    /// Messages below the partition's position (already stored or already buffered): skipped.
    pub skipped_replayed: u64,
    /// Buffered messages dropped unstored because their partition was revoked (they are read
    /// again by the partition's next owner).
    pub released: u64,
    /// Rejected messages published to the DLQ topic (the Kafka mode).
    pub dead_letters_published: u64,
    /// Uncompressed bytes of the objects written (data and DLQ).
    pub bytes_raw: u64,
    /// Stored bytes of the objects written.
    pub bytes_compressed: u64,
    /// Batches written (each is one data object and at most one DLQ object).
    pub batches: u64,
    pub objects_written: u64,
    pub flushes: FlushCounts,
    /// DLQ objects of a crashed flush, deleted by recovery.
    pub orphans_deleted: u64,
    /// Data objects that did not count (void, past a gap, overlapping), deleted by recovery.
    pub dead_deleted: u64,
    /// Time from the first attempt to the durable write, summed over objects.
    pub upload_latency_total: Duration,
    pub upload_latency_max: Duration,
}

impl SinkStats {
    pub(super) fn count_upload(&mut self, latency: Duration, stored_bytes: usize) {
        self.objects_written += 1;
        self.bytes_compressed += stored_bytes as u64;
        self.upload_latency_total += latency;
        self.upload_latency_max = self.upload_latency_max.max(latency);
    }
}
