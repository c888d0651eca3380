//! Recovery: where did a partition get to, according to the store?
//!
//! The resume offset of a partition is `max(last) + 1` over its data objects (0 when it has none),
//! because data objects are written for every batch and tile the offsets from 0. DLQ objects whose
//! range starts at or after the resume offset are orphans of a crash between a batch's DLQ write
//! and its data write; they are deleted before anything new is written, since their offsets are
//! about to be read again. The full argument is in the module doc of [`crate::sink`].

use std::collections::BTreeMap;

use super::SinkError;
use super::engine::{PartitionState, Sink};
use super::keys::{self, ObjectKind, ParsedKey};
use super::retry;

impl Sink {
    /// Resets `partition` to where the store says it got to and returns its resume offset.
    ///
    /// Anything buffered for the partition and not yet stored is dropped: the messages will be
    /// delivered again from the resume offset. Called on start (or lazily, on a partition's first
    /// message) and on Kafka partition assignment.
    pub async fn recover(&mut self, partition: u32) -> Result<u64, SinkError> {
        let resumed = self.recover_all([partition]).await?;
        Ok(resumed.get(&partition).copied().unwrap_or(0))
    }

    /// [`Sink::recover`] for several partitions with one listing of the store.
    pub async fn recover_all(&mut self, partitions: impl IntoIterator<Item = u32>) -> Result<BTreeMap<u32, u64>, SinkError> {
        let mut resume: BTreeMap<u32, u64> = partitions.into_iter().map(|partition| (partition, 0)).collect();
        if resume.is_empty() {
            return Ok(resume);
        }
        if self.stopped {
            return Err(SinkError::Stopped);
        }
        // Writes under way must land first: the listing below has to see every object.
        self.settle(0).await?;
        let outcome = self.find_resume_offsets(&mut resume).await;
        let outcome = match outcome {
            Ok(()) => self.delete_orphans(&resume).await,
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            self.stopped = true;
            return Err(error);
        }
        for (partition, offset) in &resume {
            self.partitions.insert(*partition, PartitionState::resumed_at(*offset));
            tracing::info!(partition, resume_offset = offset, source = %self.settings.source, "partition recovered from the store");
        }
        Ok(resume)
    }

    async fn find_resume_offsets(&mut self, resume: &mut BTreeMap<u32, u64>) -> Result<(), SinkError> {
        for (_key, parsed) in self.list_parsed(ObjectKind::Data).await? {
            if let Some(offset) = resume.get_mut(&parsed.partition) {
                *offset = (*offset).max(parsed.last + 1);
            }
        }
        Ok(())
    }

    async fn delete_orphans(&mut self, resume: &BTreeMap<u32, u64>) -> Result<(), SinkError> {
        let dlq_objects = self.list_parsed(ObjectKind::Dlq).await?;
        for (key, parsed) in self.orphans(dlq_objects, resume) {
            tracing::warn!(
                key,
                partition = parsed.partition,
                first = parsed.first,
                "deleting a DLQ object whose data object was never written"
            );
            let storage = &self.storage;
            retry::retry("delete", &key, self.settings.retry, &self.abort, &self.metrics.store_retries, || storage.delete(&key))
                .await
                .map_err(|abandoned| SinkError::Abandoned { key: key.clone(), last_error: Box::new(abandoned.last_error) })?;
            self.stats.orphans_deleted += 1;
        }
        Ok(())
    }

    /// The orphans among `dlq_objects`: those of a recovered partition starting at or past its
    /// resume offset.
    fn orphans(&self, dlq_objects: Vec<(String, ParsedKey)>, resume: &BTreeMap<u32, u64>) -> Vec<(String, ParsedKey)> {
        dlq_objects
            .into_iter()
            .filter(|(_, parsed)| resume.get(&parsed.partition).is_some_and(|resume_offset| parsed.first >= *resume_offset))
            .collect()
    }

    /// This source's objects of one kind, with their parsed keys; keys that do not parse are
    /// logged and ignored.
    async fn list_parsed(&mut self, kind: ObjectKind) -> Result<Vec<(String, ParsedKey)>, SinkError> {
        let prefix = keys::source_prefix(kind, &self.settings.source);
        let storage = &self.storage;
        let listing =
            retry::retry("list", &prefix, self.settings.retry, &self.abort, &self.metrics.store_retries, || storage.list(&prefix))
                .await
                .map_err(|abandoned| SinkError::Abandoned { key: prefix.clone(), last_error: Box::new(abandoned.last_error) })?;
        let mut parsed = Vec::with_capacity(listing.len());
        for (key, _size) in listing {
            match keys::parse_key(&key) {
                Some(object) if object.kind == kind && object.source == self.settings.source.as_str() => parsed.push((key, object)),
                _ => tracing::warn!(key, "ignoring an object whose key netchaos did not write"),
            }
        }
        Ok(parsed)
    }
}
