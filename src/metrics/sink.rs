//! The sink's metrics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::{Label, counters};

/// Counters of stored batches, one per flush trigger (the `trigger` label).
#[derive(Debug, Clone)]
pub struct BatchCounters {
    pub records: Counter,
    pub bytes: Counter,
    pub age: Counter,
    pub shutdown: Counter,
}

impl BatchCounters {
    fn new(family: &Family<Label, Counter>) -> Self {
        let [records, bytes, age, shutdown] =
            counters(family, ["records", "bytes", "age", "shutdown"].map(|trigger| [("trigger", trigger)]));
        BatchCounters { records, bytes, age, shutdown }
    }

    fn total(&self) -> u64 {
        [&self.records, &self.bytes, &self.age, &self.shutdown].iter().map(|counter| counter.get()).sum()
    }
}

/// Buckets of the flush and upload histograms: 1 ms to about 33 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn unknown_lag() -> Gauge {
    let gauge = Gauge::default();
    gauge.set(-1);
    gauge
}

/// Labels of one partition's lag.
type PartitionLabels = [(&'static str, String); 2];

/// What the sink counts (`sink`, `run`).
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    pub consumed: Counter,
    pub valid: Counter,
    invalid: Family<Label, Counter>,
    pub skipped: Counter,
    batches_family: Family<Label, Counter>,
    /// Batches stored, by what triggered their flush.
    pub batches: BatchCounters,
    /// Bytes of the objects written, before compression.
    pub uncompressed: Counter,
    /// Bytes of the objects written, as stored.
    pub compressed: Counter,
    pub flush_duration: Histogram,
    pub upload_duration: Histogram,
    /// Failed store operations, retried: counted by the writes and the recovery as they happen
    /// (the sink keeps no other count of them).
    pub store_retries: Counter,
    lag: Family<PartitionLabels, Gauge>,
    pub paused: Gauge,
    /// Not served: the invalid records of every reason, and the lag of every partition (-1 while
    /// unknown), for the status line.
    invalid_total: Counter,
    lag_total: Gauge,
}

impl Default for SinkMetrics {
    fn default() -> Self {
        let batches_family = Family::default();
        SinkMetrics {
            batches: BatchCounters::new(&batches_family),
            batches_family,
            consumed: Counter::default(),
            valid: Counter::default(),
            invalid: Family::default(),
            skipped: Counter::default(),
            uncompressed: Counter::default(),
            compressed: Counter::default(),
            flush_duration: latency_histogram(),
            upload_duration: latency_histogram(),
            store_retries: Counter::default(),
            lag: Family::default(),
            paused: Gauge::default(),
            invalid_total: Counter::default(),
            lag_total: unknown_lag(),
        }
    }
}

impl SinkMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("netchaos_sink_records_consumed", "Messages the sink received", self.consumed.clone());
        registry.register("netchaos_sink_records_valid", "Valid records stored in data objects", self.valid.clone());
        registry.register(
            "netchaos_sink_records_invalid",
            "Invalid records sent to the dead-letter queue, by reject reason",
            self.invalid.clone(),
        );
        registry.register(
            "netchaos_sink_records_skipped",
            "Messages skipped because the store already holds them (replays)",
            self.skipped.clone(),
        );
        registry.register("netchaos_sink_batches", "Batches stored, by what triggered their flush", self.batches_family.clone());
        registry.register_with_unit(
            "netchaos_sink_uncompressed",
            "Bytes of the objects written, before compression",
            Unit::Bytes,
            self.uncompressed.clone(),
        );
        registry.register_with_unit(
            "netchaos_sink_compressed",
            "Bytes of the objects written, as stored",
            Unit::Bytes,
            self.compressed.clone(),
        );
        registry.register_with_unit(
            "netchaos_sink_flush_duration",
            "Time from a batch's flush to its last object being durable",
            Unit::Seconds,
            self.flush_duration.clone(),
        );
        registry.register_with_unit(
            "netchaos_sink_upload_duration",
            "Time to store one object, retries included",
            Unit::Seconds,
            self.upload_duration.clone(),
        );
        registry.register("netchaos_sink_store_retries", "Store writes that failed and were retried", self.store_retries.clone());
        registry.register(
            "netchaos_sink_consumer_lag_records",
            "Records in the partition not yet stored: the high watermark minus the committed offset",
            self.lag.clone(),
        );
        registry.register(
            "netchaos_sink_paused",
            "1 while consumption is paused because the store is not taking batches",
            self.paused.clone(),
        );
    }

    /// Counts `added` invalid records of one reject reason (a series per reason, made when first
    /// seen). [`SinkMetrics::count_invalid_records`] counts them all together.
    pub fn count_invalid(&self, reason: &'static str, added: u64) {
        if added > 0 {
            self.invalid.get_or_create(&[("reason", reason)]).inc_by(added);
        }
    }

    /// The invalid records of one reason so far, if that reason has a series.
    pub fn invalid_by_reason(&self, reason: &'static str) -> Option<u64> {
        let labels = [("reason", reason)];
        self.invalid.get(&labels).map(|counter| counter.get())
    }

    /// Counts `added` invalid records, all reasons (for the status line).
    pub fn count_invalid_records(&self, added: u64) {
        self.invalid_total.inc_by(added);
    }

    /// Batches stored so far, all triggers.
    pub fn batches(&self) -> u64 {
        self.batches.total()
    }

    pub fn uncompressed_bytes(&self) -> u64 {
        self.uncompressed.get()
    }

    pub fn compressed_bytes(&self) -> u64 {
        self.compressed.get()
    }

    /// Records invalid so far, all reasons.
    pub fn invalid_records(&self) -> u64 {
        self.invalid_total.get()
    }

    /// Sets a partition's lag, or drops its series when the partition is no longer assigned.
    /// [`SinkMetrics::set_total_lag`] follows a round of these.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: Option<i64>) {
        let labels = [("topic", topic.to_owned()), ("partition", partition.to_string())];
        match lag {
            Some(lag) => {
                self.lag.get_or_create(&labels).set(lag);
            }
            None => {
                self.lag.remove(&labels);
            }
        }
    }

    pub fn set_total_lag(&self, lag: i64) {
        self.lag_total.set(lag);
    }

    /// The summed lag of the partitions this member owns, once the consumer has reported it.
    pub fn total_lag(&self) -> Option<i64> {
        Some(self.lag_total.get()).filter(|lag| *lag >= 0)
    }
}
