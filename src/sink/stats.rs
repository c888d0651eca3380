//! Plain counters of what the sink did, kept locally (no shared registry on the hot path), and
//! their publication to the [`SinkMetrics`] handles.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::metrics::SinkMetrics;

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

    /// Adds to `metrics` what `self` counts beyond `before` (the statistics at the last
    /// publication). Retries and upload times are counted live by the writes themselves.
    pub fn publish(&self, before: &SinkStats, metrics: &SinkMetrics) {
        metrics.consumed.inc_by(self.consumed - before.consumed);
        metrics.valid.inc_by(self.records_valid - before.records_valid);
        metrics.skipped.inc_by(self.skipped_replayed - before.skipped_replayed);
        metrics.uncompressed.inc_by(self.bytes_raw - before.bytes_raw);
        metrics.compressed.inc_by(self.bytes_compressed - before.bytes_compressed);
        let (now, then, batches) = (&self.flushes, &before.flushes, &metrics.batches);
        batches.records.inc_by(now.records - then.records);
        batches.bytes.inc_by(now.bytes - then.bytes);
        batches.age.inc_by(now.age - then.age);
        batches.shutdown.inc_by(now.shutdown - then.shutdown);
        metrics.count_invalid_records(self.records_invalid - before.records_invalid);
        for (reason, count) in &self.invalid_by_reason {
            metrics.count_invalid(reason, count - before.invalid_by_reason.get(reason).copied().unwrap_or(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_publishes_the_difference_since_its_last_publication() {
        let metrics = SinkMetrics::default();
        let mut before = SinkStats::default();
        let mut now = SinkStats {
            consumed: 10,
            records_valid: 7,
            records_invalid: 2,
            skipped_replayed: 1,
            bytes_raw: 1000,
            bytes_compressed: 100,
            ..SinkStats::default()
        };
        now.invalid_by_reason.insert("invalid_json", 2);
        now.flushes.age = 1;
        now.publish(&before, &metrics);
        before = now.clone();
        now.consumed = 25;
        now.records_valid = 20;
        now.records_invalid = 3;
        now.invalid_by_reason.insert("tcp_flags_on_non_tcp", 1);
        now.flushes.records = 2;
        now.publish(&before, &metrics);
        now.publish(&now, &metrics);
        assert_eq!(metrics.consumed.get(), 25);
        assert_eq!(metrics.valid.get(), 20);
        assert_eq!(metrics.skipped.get(), 1);
        assert_eq!((metrics.batches.age.get(), metrics.batches.records.get(), metrics.batches.shutdown.get()), (1, 2, 0));
        assert_eq!(metrics.batches(), 3);
        assert_eq!((metrics.uncompressed_bytes(), metrics.compressed_bytes()), (1000, 100));
        assert_eq!(metrics.invalid_records(), 3);
        assert_eq!(metrics.invalid_by_reason("invalid_json"), Some(2));
        assert_eq!(metrics.invalid_by_reason("tcp_flags_on_non_tcp"), Some(1));
        assert_eq!(metrics.invalid_by_reason("bad_port"), None, "a series only for a reason seen");
    }
}
