//! Topic creation: a topic netchaos writes to is created when it does not exist, with the
//! partitions asked for, replication factor 3 and `min.insync.replicas=2` by default (with
//! `acks=all`, a write survives the loss of any one broker and is refused rather than kept on one).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use super::{KafkaSettings, describe};

/// How a topic is created when missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    pub partitions: u32,
    pub replication_factor: u32,
}

impl TopicSpec {
    /// `min.insync.replicas`: 2, or 1 on a single-replica topic.
    pub fn min_insync_replicas(&self) -> u32 {
        self.replication_factor.clamp(1, 2)
    }
}

/// What [`ensure_topics`] found or did, per topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicState {
    pub name: String,
    pub created: bool,
    /// Partitions the topic has now.
    pub partitions: u32,
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates the topics that do not exist yet and returns each one's partition count.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[(&str, TopicSpec)]) -> anyhow::Result<Vec<TopicState>> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config(&[])
        .create()
        .map_err(|error| anyhow::anyhow!("cannot create a Kafka admin client: {}", describe(&error)))?;
    let settings_text: Vec<String> = topics.iter().map(|(_, spec)| spec.min_insync_replicas().to_string()).collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(&settings_text)
        .map(|((name, spec), min_insync)| {
            NewTopic::new(name, spec.partitions as i32, TopicReplication::Fixed(spec.replication_factor as i32))
                .set("min.insync.replicas", min_insync)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT)).request_timeout(Some(TIMEOUT));
    let results = admin.create_topics(&new_topics, &options).await.map_err(|error| {
        anyhow::anyhow!("cannot reach Kafka at {} to create topics: {}; check --brokers", settings.brokers, describe(&error))
    })?;
    let mut created = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(name) => created.push((name, true)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => created.push((name, false)),
            Err((name, code)) => anyhow::bail!("cannot create the Kafka topic `{name}`: {code}"),
        }
    }
    let mut states = Vec::with_capacity(created.len());
    for (name, was_created) in created {
        let partitions = partition_count(&admin, &name).await?;
        if was_created {
            tracing::info!(topic = %name, partitions, "created the Kafka topic");
        }
        states.push(TopicState { name, created: was_created, partitions });
    }
    Ok(states)
}

/// The partition count of an existing topic; `None` when the cluster does not know the topic.
pub async fn existing_partitions(settings: &KafkaSettings, topic: &str) -> anyhow::Result<Option<u32>> {
    // A metadata request from a producer-type client would have a broker with
    // `auto.create.topics.enable` create the topic (one partition, the broker's defaults).
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config(&[("allow.auto.create.topics", "false")])
        .create()
        .map_err(|error| anyhow::anyhow!("cannot create a Kafka admin client: {}", describe(&error)))?;
    let metadata = admin.inner().fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(|error| {
        anyhow::anyhow!("cannot reach Kafka at {} to read the topic `{topic}`: {}; check --brokers", settings.brokers, describe(&error))
    })?;
    let Some(entry) = metadata.topics().iter().find(|entry| entry.name() == topic) else { return Ok(None) };
    match entry.error() {
        None => Ok(Some(entry.partitions().len() as u32).filter(|partitions| *partitions > 0)),
        Some(code) if RDKafkaErrorCode::from(code) == RDKafkaErrorCode::UnknownTopicOrPartition => Ok(None),
        Some(code) => anyhow::bail!("cannot read the Kafka topic `{topic}`: {}", RDKafkaErrorCode::from(code)),
    }
}

/// The topic's partition count, waiting briefly for a just-created topic's metadata to spread.
async fn partition_count(admin: &AdminClient<DefaultClientContext>, topic: &str) -> anyhow::Result<u32> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let client = admin.inner();
        let metadata = client.fetch_metadata(Some(topic), Duration::from_secs(5));
        let found = match &metadata {
            Ok(metadata) => metadata
                .topics()
                .iter()
                .find(|entry| entry.name() == topic && entry.error().is_none())
                .map(|entry| entry.partitions().len() as u32)
                .filter(|partitions| *partitions > 0),
            Err(_) => None,
        };
        match (found, metadata) {
            (Some(partitions), _) => return Ok(partitions),
            (None, Err(error)) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("cannot read the metadata of the Kafka topic `{topic}`: {}", describe(&error))
            }
            (None, _) if tokio::time::Instant::now() >= deadline => anyhow::bail!("the Kafka topic `{topic}` has no partitions"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
