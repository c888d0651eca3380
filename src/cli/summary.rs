//! What a command reports when it finishes, one type per part: the generator's run
//! ([`GenerateSummary`]), what a sink stored ([`SinkSummary`], with its Kafka consumption when
//! it read a topic), and `run`'s whole ([`RunSummary`], those two and the audit).
//!
//! Each part's [`Display`](fmt::Display) is the summary a person reads on stderr; the same value
//! serialised is the one JSON object `--json` prints on stdout, for scripts and tests (the README
//! lists its fields, under "Summaries"). Both are built from the same fields, so they cannot
//! disagree.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use crate::generator::GenerateReport;
use crate::kafka::consumer::ConsumeReport;
use crate::metrics::human_bytes;
use crate::sink::{FlushCounts, SinkStats};
use crate::verify::VerifyReport;

/// One generator run: how many records, how fast, which anomalies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct GenerateSummary {
    pub(crate) run_id: String,
    pub(crate) seed: u64,
    pub(crate) records: u64,
    /// Wall-clock time of the generation.
    pub(crate) seconds: f64,
    /// Records per label: `normal` and each anomaly kind.
    pub(crate) by_label: BTreeMap<String, u64>,
    /// Episodes per anomaly kind.
    pub(crate) episodes: BTreeMap<String, u64>,
    /// False when the run stopped before emitting everything it was asked to.
    pub(crate) complete: bool,
    /// In the Kafka mode, what Kafka acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kafka: Option<KafkaAcknowledged>,
}

/// What Kafka acknowledged of a generator run's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct KafkaAcknowledged {
    pub(crate) topic: String,
    pub(crate) sent: u64,
    pub(crate) acknowledged: u64,
    pub(crate) failed: u64,
}

impl GenerateSummary {
    pub(crate) fn new(report: &GenerateReport) -> Self {
        let manifest = &report.manifest;
        GenerateSummary {
            run_id: manifest.run_id.clone(),
            seed: manifest.seed,
            records: manifest.records,
            seconds: report.elapsed.as_secs_f64(),
            by_label: manifest.by_label.clone(),
            episodes: manifest.episodes.clone(),
            complete: manifest.complete,
            kafka: manifest.kafka.as_ref().map(|kafka| KafkaAcknowledged {
                topic: kafka.topic.clone(),
                sent: kafka.sent,
                acknowledged: kafka.acknowledged,
                failed: kafka.failed,
            }),
        }
    }
}

impl fmt::Display for GenerateSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.seconds.max(1e-9);
        let anomalies: Vec<String> =
            self.by_label.iter().filter(|(label, _)| *label != "normal").map(|(label, count)| format!("{label} {count}")).collect();
        let episodes: u64 = self.episodes.values().sum();
        write!(
            out,
            "netchaos: {} records in {:.2}s ({:.0}/s), run {} seed {}; anomalies: {}; {} episodes{}",
            self.records,
            seconds,
            self.records as f64 / seconds,
            self.run_id,
            self.seed,
            anomalies.join(", "),
            episodes,
            if self.complete { "" } else { " (stopped early)" }
        )?;
        if let Some(kafka) = &self.kafka {
            write!(out, "; Kafka acknowledged {} of {} sent to {} ({} failed)", kafka.acknowledged, kafka.sent, kafka.topic, kafka.failed)?;
        }
        Ok(())
    }
}

/// What one sink stored, and from where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SinkSummary {
    /// The store's location, as the objects' keys are relative to.
    pub(crate) store: String,
    /// The input's name in object keys.
    pub(crate) source: String,
    /// Valid records in stored data objects.
    pub(crate) records_valid: u64,
    /// Rejected messages, stored in DLQ objects or published to the DLQ topic.
    pub(crate) records_invalid: u64,
    /// Rejected messages per reject reason code (`invalid_json`, `unknown_field`, ...).
    pub(crate) invalid_by_reason: BTreeMap<&'static str, u64>,
    /// Messages the store already held (from an earlier pass or attempt): not written again.
    pub(crate) skipped_replayed: u64,
    /// Batches stored, each one data object and at most one DLQ object.
    pub(crate) batches: u64,
    /// Uncompressed bytes of the objects written.
    pub(crate) bytes_raw: u64,
    /// Stored bytes of the objects written.
    pub(crate) bytes_compressed: u64,
    /// Batches flushed per trigger: `records`, `bytes`, `age`, `shutdown`.
    pub(crate) flushes: FlushCounts,
    /// With `--from`: what was read of the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) input: Option<InputSummary>,
    /// With `--brokers`: the consumer-group member's side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kafka: Option<KafkaSummary>,
}

/// What `sink --from` read of its file or stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct InputSummary {
    /// The path given, or `-` for stdin.
    pub(crate) from: String,
    /// Lines handed to the sink (stored, or skipped as already stored).
    pub(crate) lines: u64,
    /// Bytes of an unterminated last line left unread for a rerun; null when there was none.
    pub(crate) held_back_bytes: Option<u64>,
    /// Bytes of a line a stop came in the middle of, read and not stored; null when none.
    pub(crate) cut_by_stop_bytes: Option<u64>,
}

/// A consumer-group member's consumption, from its first message to its exit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct KafkaSummary {
    pub(crate) topic: String,
    pub(crate) group: String,
    /// Messages consumed (stored, rejected, skipped, or dropped on revocation).
    pub(crate) messages: u64,
    /// From the first message to the last: the consume rate's time base.
    pub(crate) active_seconds: f64,
    pub(crate) commits: u64,
    pub(crate) assignments: u64,
    pub(crate) revocations: u64,
    /// Buffered records dropped when their partition was revoked (the next owner reads them again).
    pub(crate) released: u64,
    /// Times consumption paused because the store was not taking batches, and for how long in all.
    pub(crate) pauses: u64,
    pub(crate) paused_seconds: f64,
    /// The committed offset (the next to read) of each partition owned at the end, by partition.
    pub(crate) committed: BTreeMap<u32, u64>,
    pub(crate) dlq_topic: String,
    /// Rejected messages published to the DLQ topic.
    pub(crate) dead_letters_published: u64,
}

impl SinkSummary {
    pub(crate) fn new(stats: &SinkStats, store: &str, source: &str) -> Self {
        SinkSummary {
            store: store.to_owned(),
            source: source.to_owned(),
            records_valid: stats.records_valid,
            records_invalid: stats.records_invalid,
            invalid_by_reason: stats.invalid_by_reason.clone(),
            skipped_replayed: stats.skipped_replayed,
            batches: stats.batches,
            bytes_raw: stats.bytes_raw,
            bytes_compressed: stats.bytes_compressed,
            flushes: stats.flushes,
            input: None,
            kafka: None,
        }
    }
}

impl KafkaSummary {
    /// The member's report beside what its sink counted of the same consumption.
    pub(crate) fn new(report: &ConsumeReport, stats: &SinkStats, topic: &str, group: &str, dlq_topic: &str) -> Self {
        KafkaSummary {
            topic: topic.to_owned(),
            group: group.to_owned(),
            messages: report.messages,
            active_seconds: report.active.as_secs_f64(),
            commits: report.commits,
            assignments: report.assignments,
            revocations: report.revocations,
            released: stats.released,
            pauses: report.pauses,
            paused_seconds: report.paused.as_secs_f64(),
            committed: report.committed.clone(),
            dlq_topic: dlq_topic.to_owned(),
            dead_letters_published: stats.dead_letters_published,
        }
    }
}

impl fmt::Display for SinkSummary {
    /// With Kafka, the consumption's line first; then what was stored.
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kafka) = &self.kafka {
            writeln!(out, "{kafka}")?;
        }
        let ratio = if self.bytes_compressed > 0 { self.bytes_raw as f64 / self.bytes_compressed as f64 } else { 0.0 };
        write!(
            out,
            "netchaos: stored {} valid and {} invalid records in {} batches under {} ({} -> {}, {ratio:.1}x)",
            self.records_valid,
            self.records_invalid,
            self.batches,
            self.store,
            human_bytes(self.bytes_raw),
            human_bytes(self.bytes_compressed),
        )?;
        if self.skipped_replayed > 0 {
            write!(out, "; skipped {} records the store already holds", self.skipped_replayed)?;
        }
        let flushes = &self.flushes;
        write!(out, "; flushes by records {}, bytes {}, age {}, shutdown {}", flushes.records, flushes.bytes, flushes.age, flushes.shutdown)
    }
}

impl fmt::Display for KafkaSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "netchaos: consumed {} messages of {} in {:.2}s ({:.0}/s, first to last message) as group {}: {} commits, {} assignments, \
             {} revocations, {} buffered records dropped on revocation (read again by the next owner); paused {} times ({:.1}s) \
             while the store was not taking batches; ",
            self.messages,
            self.topic,
            self.active_seconds,
            self.messages as f64 / self.active_seconds.max(1e-3),
            self.group,
            self.commits,
            self.assignments,
            self.revocations,
            self.released,
            self.pauses,
            self.paused_seconds,
        )?;
        if self.committed.is_empty() {
            out.write_str("no partitions owned at the end")?;
        } else {
            let offsets: Vec<String> =
                self.committed.iter().map(|(partition, offset)| format!("{offset} in partition {partition}")).collect();
            write!(out, "committed offset {}", offsets.join(", "))?;
        }
        write!(out, "; {} rejects published to {}", self.dead_letters_published, self.dlq_topic)
    }
}

/// `netchaos run`: the generator's run, what the sink stored, and the audit of the store.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunSummary {
    pub(crate) generator: GenerateSummary,
    pub(crate) sink: SinkSummary,
    /// The report `netchaos verify --json` prints for the run's store.
    pub(crate) verify: VerifyReport,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "{}\n{}\n{}", self.generator, self.sink, self.verify)
    }
}

/// Prints `summary` as one line of JSON on stdout. A reader that closed the pipe has had what it
/// wanted: not an error.
pub(crate) fn print_json(summary: &impl Serialize) -> anyhow::Result<()> {
    let line = serde_json::to_string(summary).context("encoding the summary")?;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the summary"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> SinkStats {
        SinkStats {
            records_valid: 990,
            records_invalid: 10,
            invalid_by_reason: BTreeMap::from([("invalid_json", 10)]),
            batches: 3,
            bytes_raw: 4 << 20,
            bytes_compressed: 1 << 19,
            flushes: FlushCounts { records: 2, bytes: 0, age: 0, shutdown: 1 },
            released: 7,
            dead_letters_published: 10,
            ..SinkStats::default()
        }
    }

    #[test]
    fn the_stored_line_reads_as_before() {
        let summary = SinkSummary::new(&stats(), "file:///lake", "flows");
        assert_eq!(
            summary.to_string(),
            "netchaos: stored 990 valid and 10 invalid records in 3 batches under file:///lake (4.0 MiB -> 512.0 KiB, 8.0x); \
             flushes by records 2, bytes 0, age 0, shutdown 1"
        );
        let skipped = SinkSummary { skipped_replayed: 5, ..summary };
        assert!(skipped.to_string().contains("8.0x); skipped 5 records the store already holds; flushes by"), "{skipped}");
    }

    fn consumption(committed: BTreeMap<u32, u64>) -> KafkaSummary {
        let report = ConsumeReport {
            messages: 1000,
            commits: 4,
            assignments: 1,
            revocations: 0,
            committed,
            active: std::time::Duration::from_secs(2),
            pauses: 1,
            paused: std::time::Duration::from_millis(1500),
        };
        KafkaSummary::new(&report, &stats(), "flows", "lake", "flows-dlq")
    }

    #[test]
    fn the_committed_offsets_read_as_text_not_as_a_map() {
        let kafka = consumption(BTreeMap::from([(0, 600), (3, 400)]));
        assert_eq!(
            kafka.to_string(),
            "netchaos: consumed 1000 messages of flows in 2.00s (500/s, first to last message) as group lake: 4 commits, \
             1 assignments, 0 revocations, 7 buffered records dropped on revocation (read again by the next owner); \
             paused 1 times (1.5s) while the store was not taking batches; committed offset 600 in partition 0, \
             400 in partition 3; 10 rejects published to flows-dlq"
        );
        assert!(consumption(BTreeMap::new()).to_string().contains("; no partitions owned at the end; 10 rejects"));
    }

    #[test]
    fn with_kafka_the_consumption_line_comes_first_and_the_json_nests_it() {
        let summary = SinkSummary { kafka: Some(consumption(BTreeMap::from([(1, 5)]))), ..SinkSummary::new(&stats(), "s3://b/p", "flows") };
        let text = summary.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("netchaos: consumed 1000") && lines[1].starts_with("netchaos: stored 990"), "{text}");

        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["records_valid"], 990);
        assert_eq!(json["invalid_by_reason"]["invalid_json"], 10);
        assert_eq!(json["flushes"]["shutdown"], 1);
        assert_eq!(json["kafka"]["committed"]["1"], 5);
        assert_eq!(json["kafka"]["paused_seconds"], 1.5);
        assert!(json.get("input").is_none(), "no input section without --from: {json}");
    }
}
