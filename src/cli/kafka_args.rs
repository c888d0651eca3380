//! Flags shared by the commands that talk to Kafka (`generate --brokers`, `sink --brokers`).

use clap::Args;

use crate::kafka::admin::TopicSpec;
use crate::kafka::{KafkaSettings, parse_setting};

use super::UsageError;

/// The topic both ends use unless told otherwise.
pub(crate) const DEFAULT_TOPIC: &str = "netchaos-telemetry";

#[derive(Debug, Clone, Args)]
pub(crate) struct KafkaArgs {
    /// Kafka bootstrap servers (`host:port,host:port`): produce to / consume from Kafka.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub(crate) brokers: Option<String>,

    /// The records' topic.
    #[arg(long, env = "KAFKA_TOPIC", default_value = DEFAULT_TOPIC)]
    pub(crate) topic: String,

    /// Replication factor of topics netchaos creates (`min.insync.replicas` is 2, or 1 when this is 1).
    #[arg(long, env = "KAFKA_REPLICATION_FACTOR", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub(crate) replication_factor: u32,

    /// A librdkafka setting, passed through after netchaos' own (repeat): security
    /// (`-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 ...`) or tuning.
    #[arg(short = 'X', long = "kafka-setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub(crate) settings: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The cluster settings, when `--brokers` was given.
    pub(crate) fn kafka(&self) -> Result<Option<KafkaSettings>, UsageError> {
        let Some(brokers) = &self.brokers else {
            if !self.settings.is_empty() {
                return Err(UsageError("-X settings need --brokers (or KAFKA_BROKERS)".into()));
            }
            return Ok(None);
        };
        if brokers.trim().is_empty() {
            return Err(UsageError("--brokers is empty: give host:port[,host:port...]".into()));
        }
        if self.topic.trim().is_empty() {
            return Err(UsageError("--topic is empty: name a Kafka topic".into()));
        }
        Ok(Some(KafkaSettings { brokers: brokers.trim().to_owned(), extra: self.settings.clone() }))
    }

    pub(crate) fn topic_spec(&self, partitions: u32) -> TopicSpec {
        TopicSpec { partitions, replication_factor: self.replication_factor }
    }
}
