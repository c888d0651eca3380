//! The DLQ topic of the Kafka mode: one message per rejected record.
//!
//! The message's value is the rejected message exactly as it was consumed; headers say why and
//! where from: `reason` (a [`RejectReason`](crate::records::RejectReason) code), `field` (when one
//! field was at fault), `detail`, `source_topic`, `source_partition`, `source_offset`. The key is the
//! source partition, so one partition's rejects stay in order. Publication is idempotent with
//! `acks=all`; the sink awaits every acknowledgement before it stores the batch's data object and
//! commits (see [`DeadLetterTopic`] for the at-least-once caveat).

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::sink::dlq::{DeadLetterTopic, DlqEntry};

use super::{KafkaSettings, describe};

/// Publishes rejected records to a topic.
#[derive(Clone)]
pub struct DeadLetterPublisher {
    producer: FutureProducer,
    topic: String,
    /// The topic the records were consumed from.
    source_topic: String,
}

impl std::fmt::Debug for DeadLetterPublisher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("DeadLetterPublisher").field("topic", &self.topic).field("source_topic", &self.source_topic).finish()
    }
}

impl DeadLetterPublisher {
    pub fn connect(kafka: &KafkaSettings, topic: &str, source_topic: &str) -> anyhow::Result<Self> {
        let producer = kafka
            .client_config(&[("acks", "all"), ("enable.idempotence", "true"), ("linger.ms", "5"), ("compression.type", "lz4")])
            .create()
            .map_err(|error| anyhow::anyhow!("cannot create the DLQ producer: {}", describe(&error)))?;
        Ok(DeadLetterPublisher { producer, topic: topic.to_owned(), source_topic: source_topic.to_owned() })
    }

    async fn publish_lines(self, lines: Bytes) -> Result<(), String> {
        let mut pending = Vec::new();
        for line in lines.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
            let entry: DlqEntry<'_> = serde_json::from_slice(line).map_err(|error| format!("unreadable DLQ entry: {error}"))?;
            let payload = entry.payload().unwrap_or_default();
            let partition = entry.partition.to_string();
            let offset = entry.offset.to_string();
            let mut headers = OwnedHeaders::new()
                .insert(Header { key: "reason", value: Some(entry.reason.as_bytes()) })
                .insert(Header { key: "detail", value: Some(entry.detail.as_bytes()) })
                .insert(Header { key: "source_topic", value: Some(self.source_topic.as_bytes()) })
                .insert(Header { key: "source_partition", value: Some(partition.as_bytes()) })
                .insert(Header { key: "source_offset", value: Some(offset.as_bytes()) });
            if let Some(field) = &entry.field {
                headers = headers.insert(Header { key: "field", value: Some(field.as_bytes()) });
            }
            let mut record = FutureRecord::to(&self.topic).key(partition.as_bytes()).payload(&payload).headers(headers);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break pending.push(delivery),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((error, _)) => return Err(describe(&error)),
                }
            }
        }
        for outcome in futures::future::join_all(pending).await {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(describe(&error)),
                Err(_canceled) => return Err("the DLQ producer shut down before an acknowledgement".to_owned()),
            }
        }
        Ok(())
    }
}

impl DeadLetterTopic for DeadLetterPublisher {
    fn name(&self) -> &str {
        &self.topic
    }

    fn publish(&self, lines: Bytes) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(self.clone().publish_lines(lines))
    }
}
