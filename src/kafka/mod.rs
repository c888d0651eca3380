//! Apache Kafka through librdkafka (the `rdkafka` crate): the producer behind `generate --brokers`,
//! the consumer-group member behind `sink --brokers`, the DLQ topic, and topic creation.
//!
//! Kafka is the distributed engine: partitions, replication, consumer groups and rebalances are
//! Kafka's; netchaos only decides what to send, what to commit and when.
//!
//! - [`producer`]: generated chunks become keyed messages (key = the record's source address);
//!   `acks=all`, idempotence, linger batching, lz4 / zstd; every delivery report is counted, and
//!   the ids of records Kafka did not acknowledge go into the run manifest.
//! - [`consumer`]: drives a [`Sink`](crate::sink::Sink) from a consumer group; offsets are
//!   committed only for what the store holds, revoked partitions drop their buffers, assigned ones
//!   are recovered from the store first.
//! - [`dead_letters`]: the DLQ topic, one message per rejected record with its reason and origin in
//!   headers.
//! - [`admin`]: creates missing topics (replication factor 3, `min.insync.replicas=2` by default).

pub mod admin;
pub mod consumer;
pub mod dead_letters;
pub mod producer;

use rdkafka::ClientConfig;

/// Where the cluster is and any librdkafka settings the user passed through (`-X key=value`):
/// security (SASL, TLS), tuning, anything librdkafka accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`
    pub brokers: String,
    /// Passed to librdkafka after netchaos' own settings, so they win.
    pub extra: Vec<(String, String)>,
}

impl KafkaSettings {
    pub fn new(brokers: &str) -> Self {
        KafkaSettings { brokers: brokers.to_owned(), extra: Vec::new() }
    }

    /// A client configuration: the brokers, then `defaults` (netchaos' choices for this client),
    /// then the user's `-X` settings.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }

    /// The value a setting will have: the user's, else `default`.
    pub fn setting<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.extra.iter().rev().find(|(name, _)| name == key).map_or(default, |(_, value)| value.as_str())
    }
}

/// Parses one `-X key=value`.
pub fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not key=value (for example -X security.protocol=SASL_SSL)")),
    }
}

/// Turns an rdkafka error into a sentence a user can act on.
pub(crate) fn describe(error: &rdkafka::error::KafkaError) -> String {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    match error {
        KafkaError::ClientCreation(detail) => format!("bad Kafka client settings: {detail}"),
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut) => {
            "Kafka did not acknowledge in time (message.timeout.ms): are the brokers up and in sync?".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_user_settings_win() {
        assert_eq!(parse_setting("linger.ms=5"), Ok(("linger.ms".into(), "5".into())));
        assert_eq!(parse_setting("sasl.password=a=b"), Ok(("sasl.password".into(), "a=b".into())));
        assert!(parse_setting("linger.ms").is_err());
        assert!(parse_setting("=5").is_err());

        let mut settings = KafkaSettings::new("127.0.0.1:19092");
        settings.extra.push(("linger.ms".into(), "5".into()));
        let config = settings.client_config(&[("linger.ms", "20"), ("acks", "all")]);
        assert_eq!(config.get("linger.ms"), Some("5"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:19092"));
        assert_eq!(settings.setting("linger.ms", "20"), "5");
        assert_eq!(settings.setting("acks", "all"), "all");
    }
}
