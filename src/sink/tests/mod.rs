//! The sink end to end over a temporary local store: the flush triggers, the bad-input
//! catalogue, recovery and store failures, and the property that batching never loses, duplicates
//! or reorders.

mod batching;
mod catalogue;
mod ordering;
mod pieces;
mod recovery;
mod triggers;

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::dlq::DlqEntry;
use super::keys::{self, ObjectKind, SourceName};
use super::test_support::{lines_of, read_objects, temp_storage, valid_flow, valid_lines};
use super::*;
use crate::records::MAX_RECORD_BYTES;
use crate::records::Timestamp;
use crate::runtime::Shutdown;

fn settings(max_records: u64, max_bytes: usize, max_age: Duration) -> SinkSettings {
    SinkSettings {
        max_records: NonZeroU64::new(max_records).unwrap(),
        max_bytes: NonZeroUsize::new(max_bytes).unwrap(),
        max_age,
        retry: RetryPolicy { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(5), give_up_after: None },
        ..SinkSettings::new("test")
    }
}

fn message(partition: u32, offset: u64, payload: &[u8]) -> SinkMessage {
    SinkMessage { partition, offset, payload: Bytes::copy_from_slice(payload) }
}

fn ranges(objects: &[(keys::ParsedKey, Vec<u8>)]) -> Vec<(u32, u64, u64)> {
    objects.iter().map(|(key, _)| (key.partition, key.first, key.last)).collect()
}

fn dlq_entries(objects: &[(keys::ParsedKey, Vec<u8>)]) -> Vec<DlqEntry<'static>> {
    let lines: Vec<Vec<u8>> = objects.iter().flat_map(|(_, body)| lines_of(body)).collect();
    lines.iter().map(|line| serde_json::from_slice::<DlqEntry<'_>>(line).unwrap()).map(owned_entry).collect()
}

fn owned_entry(entry: DlqEntry<'_>) -> DlqEntry<'static> {
    let owned = |text: std::borrow::Cow<'_, str>| std::borrow::Cow::Owned(text.into_owned());
    DlqEntry {
        reason: owned(entry.reason),
        field: entry.field.map(owned),
        detail: owned(entry.detail),
        source: owned(entry.source),
        partition: entry.partition,
        offset: entry.offset,
        raw: entry.raw.map(owned),
        raw_base64: entry.raw_base64,
    }
}
