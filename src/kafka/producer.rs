//! `generate --brokers`: generated chunks become Kafka messages.
//!
//! Each JSON line is one message, keyed by the record's source address (`srcaddr` of a flow,
//! `src_ip` of a firewall record) so that one source's records stay ordered in one partition.
//! librdkafka copies each message into its own queue and batches them per partition (linger,
//! batch size, lz4 or zstd); the producer is idempotent with `acks=all`, so a retried batch is
//! not written twice and an acknowledged one is on at least `min.insync.replicas` brokers.
//!
//! Nothing is dropped: when librdkafka's queue is full, [`KafkaOutput`] waits for room (the
//! generator's lanes wait behind it); every delivery report is counted, and a record Kafka did not
//! acknowledge is logged and its event id kept for the manifest, where `verify` excuses it. At the
//! end the producer is flushed; whatever is still undelivered after `message.timeout.ms` is purged
//! and reported as failed, so that `acknowledged + failed` is every message sent.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer};

use crate::chaos::EpisodeSummary;
use crate::generator::manifest::DeliveryReport;
use crate::generator::{Chunk, ChunkSink};
use crate::metrics::GeneratorMetrics;
use crate::records::EventType;

use super::{KafkaSettings, describe};

/// Compression of produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaCompression {
    Lz4,
    Zstd,
    Gzip,
    Snappy,
    None,
}

impl KafkaCompression {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaCompression::Lz4 => "lz4",
            KafkaCompression::Zstd => "zstd",
            KafkaCompression::Gzip => "gzip",
            KafkaCompression::Snappy => "snappy",
            KafkaCompression::None => "none",
        }
    }
}

/// What a message's key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaKey {
    /// The record's source address: one source's records stay ordered in one partition.
    Source,
    /// No key: librdkafka's sticky partitioner fills one partition's batch at a time (bigger
    /// batches, no per-source order).
    None,
}

/// What the producer sends where, and how.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub kafka: KafkaSettings,
    pub topic: String,
    /// Ground-truth episodes, one JSON message each, keyed by episode id.
    pub episodes_topic: String,
    pub compression: KafkaCompression,
    pub linger_ms: u32,
    pub key: KafkaKey,
}

impl ProducerSettings {
    /// librdkafka settings: netchaos' defaults, which `-X` overrides.
    fn client_config(&self) -> rdkafka::ClientConfig {
        let linger = self.linger_ms.to_string();
        self.kafka.client_config(&[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", &linger),
            ("compression.type", self.compression.as_str()),
            // Room for a few seconds of a fast generator; beyond it the generator waits.
            ("queue.buffering.max.messages", "500000"),
            ("queue.buffering.max.kbytes", "262144"),
        ])
    }

    /// How long librdkafka keeps trying one message before reporting it failed.
    fn message_timeout(&self) -> Duration {
        let millis = self.kafka.setting("message.timeout.ms", "300000").parse::<u64>().unwrap_or(300_000);
        Duration::from_millis(millis)
    }
}

/// Delivery counts, updated by librdkafka's delivery callbacks on the producer's poll thread
/// (`sent` by the generator's collector, once per chunk).
#[derive(Debug, Default)]
pub struct Deliveries {
    pub sent: AtomicU64,
    pub acknowledged: AtomicU64,
    pub failed: AtomicU64,
    pub episodes_sent: AtomicU64,
    pub episodes_acknowledged: AtomicU64,
    failed_ids: Mutex<Vec<String>>,
}

impl Deliveries {
    fn failed_ids(&self) -> Vec<String> {
        self.failed_ids.lock().map(|ids| ids.clone()).unwrap_or_default()
    }
}

/// The producer's context: counts delivery reports.
#[derive(Debug)]
struct DeliveryCounter {
    deliveries: Arc<Deliveries>,
    episodes_topic: String,
    metrics: GeneratorMetrics,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    /// A record's [`EventType::index`](crate::records::EventType::index).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, event_type: usize) {
        let deliveries = &self.deliveries;
        match result {
            Ok(message) if message.topic() == self.episodes_topic => {
                deliveries.episodes_acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                deliveries.acknowledged.fetch_add(1, Ordering::Relaxed);
                if let Some(delivered) = self.metrics.delivered.get(event_type) {
                    delivered.inc();
                }
            }
            Err((error, message)) if message.topic() == self.episodes_topic => {
                tracing::error!(topic = message.topic(), error = %describe(error), "Kafka did not acknowledge an episode");
            }
            Err((error, message)) => {
                let failed = deliveries.failed.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.delivery_errors.inc();
                let id = message.payload().and_then(event_id).map(|id| String::from_utf8_lossy(id).into_owned());
                // Log the first few and then every thousandth: an outage fails messages by the
                // hundred thousand, and the manifest keeps every id anyway.
                if failed <= 10 || failed.is_multiple_of(1000) {
                    tracing::error!(failed_so_far = failed, event_id = id.as_deref().unwrap_or("?"), error = %describe(error),
                        "Kafka did not acknowledge a record");
                }
                if let (Some(id), Ok(mut ids)) = (id, deliveries.failed_ids.lock()) {
                    ids.push(id);
                }
            }
        }
    }
}

/// The generator's Kafka output.
pub struct KafkaOutput {
    producer: ThreadedProducer<DeliveryCounter>,
    settings: ProducerSettings,
    partitions: u32,
    deliveries: Arc<Deliveries>,
    /// A copy of the episodes for a local file, when asked for.
    episodes_file: Option<BufWriter<File>>,
    episode_buffer: Vec<u8>,
}

impl std::fmt::Debug for KafkaOutput {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KafkaOutput").field("settings", &self.settings).field("deliveries", &self.deliveries).finish()
    }
}

impl KafkaOutput {
    /// A producer for `settings`; `partitions` is what the topic has (for the manifest).
    /// Delivery reports count into `metrics` (delivered per event type, delivery errors).
    pub fn connect(
        settings: ProducerSettings,
        partitions: u32,
        episodes_file: Option<BufWriter<File>>,
        metrics: GeneratorMetrics,
    ) -> anyhow::Result<Self> {
        let deliveries = Arc::new(Deliveries::default());
        let context = DeliveryCounter { deliveries: deliveries.clone(), episodes_topic: settings.episodes_topic.clone(), metrics };
        let producer = settings
            .client_config()
            .create_with_context(context)
            .map_err(|error| anyhow::anyhow!("cannot create the Kafka producer: {}", describe(&error)))?;
        Ok(KafkaOutput { producer, settings, partitions, deliveries, episodes_file, episode_buffer: Vec::new() })
    }

    /// Live delivery counts.
    pub fn deliveries(&self) -> Arc<Deliveries> {
        self.deliveries.clone()
    }

    /// What was acknowledged so far; complete once [`ChunkSink::finish`] has returned.
    pub fn delivery_report(&self) -> DeliveryReport {
        let deliveries = &self.deliveries;
        DeliveryReport {
            brokers: self.settings.kafka.brokers.clone(),
            topic: self.settings.topic.clone(),
            episodes_topic: self.settings.episodes_topic.clone(),
            partitions: self.partitions,
            acks: self.settings.kafka.setting("acks", "all").to_owned(),
            sent: deliveries.sent.load(Ordering::Relaxed),
            acknowledged: deliveries.acknowledged.load(Ordering::Relaxed),
            failed: deliveries.failed.load(Ordering::Relaxed),
            unacknowledged_event_ids: deliveries.failed_ids(),
            episodes_sent: deliveries.episodes_sent.load(Ordering::Relaxed),
            episodes_acknowledged: deliveries.episodes_acknowledged.load(Ordering::Relaxed),
        }
    }

    /// Hands one message to librdkafka, waiting while its queue is full.
    /// A record without a key (a NODATA record has no address) goes to any partition.
    fn send(&self, topic: &str, key: Option<&[u8]>, payload: &[u8]) -> anyhow::Result<()> {
        let event_type = if payload.starts_with(FIREWALL_PREFIX) { EventType::Firewall } else { EventType::VpcFlow };
        let mut record = BaseRecord::with_opaque_to(topic, event_type.index()).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        let mut waited = Duration::ZERO;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    // The poll thread frees room as deliveries complete; a short nap keeps this
                    // from spinning while the brokers catch up.
                    let nap = Duration::from_micros(500);
                    std::thread::sleep(nap);
                    waited += nap;
                    if waited >= Duration::from_secs(10) {
                        tracing::warn!(topic, "Kafka's send queue has been full for 10 s: waiting for the brokers");
                        waited = Duration::ZERO;
                    }
                }
                Err((error, _)) => anyhow::bail!("cannot send to the Kafka topic `{topic}`: {}", describe(&error)),
            }
        }
    }
}

impl ChunkSink for KafkaOutput {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        let mut sent = 0;
        let mut outcome = Ok(());
        for line in chunk.lines() {
            let key = match self.settings.key {
                KafkaKey::Source => source_address(line),
                KafkaKey::None => None,
            };
            outcome = self.send(&self.settings.topic, key, line);
            if outcome.is_err() {
                break;
            }
            sent += 1;
        }
        // Once per chunk: the delivery callbacks update the neighbouring counters per message.
        self.deliveries.sent.fetch_add(sent, Ordering::Relaxed);
        outcome
    }

    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()> {
        self.episode_buffer.clear();
        serde_json::to_writer(&mut self.episode_buffer, episode)?;
        if let Some(file) = &mut self.episodes_file {
            file.write_all(&self.episode_buffer)?;
            file.write_all(b"\n")?;
        }
        self.send(&self.settings.episodes_topic, Some(episode.episode_id.as_bytes()), &self.episode_buffer)?;
        self.deliveries.episodes_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A live command goes on the episodes topic beside the episodes, keyed `command-<n>`: the
    /// ground truth of a live session says what was done to it, and when.
    fn write_command(&mut self, entry: &crate::generator::control::Entry) -> anyhow::Result<()> {
        self.episode_buffer.clear();
        serde_json::to_writer(&mut self.episode_buffer, entry)?;
        let key = format!("command-{}", entry.command);
        self.send(&self.settings.episodes_topic, Some(key.as_bytes()), &self.episode_buffer)?;
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(file) = &mut self.episodes_file {
            file.flush()?;
        }
        // Every message gets its delivery report within message.timeout.ms; wait a little longer.
        let patience = self.settings.message_timeout() + Duration::from_secs(10);
        if self.producer.flush(patience).is_err() {
            let left = self.producer.in_flight_count();
            tracing::error!(in_flight = left, "Kafka did not acknowledge everything in time: purging, the rest count as failed");
            self.producer.purge(PurgeConfig::default().queue().inflight());
            // Purged messages get (failed) delivery reports; let the poll thread deliver them.
            let _ = self.producer.flush(Duration::from_secs(5));
        }
        Ok(())
    }
}

/// How a firewall record's line starts (netchaos writes `event_type` first).
const FIREWALL_PREFIX: &[u8] = b"{\"event_type\":\"firewall\"";

/// The partition key of a record line: its source address (`srcaddr` or `src_ip`).
pub fn source_address(line: &[u8]) -> Option<&[u8]> {
    string_field(line, b"\"srcaddr\":\"").or_else(|| string_field(line, b"\"src_ip\":\""))
}

/// The `event_id` of a record line.
pub fn event_id(line: &[u8]) -> Option<&[u8]> {
    string_field(line, b"\"event_id\":\"")
}

/// The string after `prefix` (a key, its colon and the opening quote) up to the closing quote.
/// Good for values netchaos writes, which hold no escapes.
fn string_field<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let start = memchr::memmem::find(line, prefix)? + prefix.len();
    let length = memchr::memchr(b'"', &line[start..])?;
    Some(&line[start..start + length])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_source_addresses() {
        let flow = br#"{"event_type":"vpc_flow","version":5,"srcaddr":"10.0.1.7","dstaddr":"1.2.3.4","event_id":"00ff-1-2"}"#;
        assert_eq!(source_address(flow), Some(&b"10.0.1.7"[..]));
        assert_eq!(event_id(flow), Some(&b"00ff-1-2"[..]));
        let firewall = br#"{"event_type":"firewall","src_ip":"203.0.113.9","dst_ip":"10.0.0.1"}"#;
        assert_eq!(source_address(firewall), Some(&b"203.0.113.9"[..]));
        assert_eq!(source_address(b"{\"srcaddr\":\"unterminated"), None);
        assert_eq!(event_id(b"{}"), None);
    }
}
