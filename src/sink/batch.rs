//! One partition's open batch: the raw messages of a contiguous range of offsets, validated and
//! split into JSON lines (valid) and DLQ lines (invalid) when the batch is written, off the
//! driver's thread, so that validation runs in parallel with consumption.
//!
//! Invariants: `first <= last`; every offset in `first..=last` that the partition delivered is
//! one message of the batch, in offset order, and after [`Batch::into_split`] in exactly one of the two
//! outputs; valid payloads are copied byte for byte, except that a raw `\n` (which JSON allows
//! only as whitespace between tokens) becomes a space so that one record stays one line.
//!
//! What a batch counts against `max_bytes` ([`Batch::buffered_bytes`]) is what it can cost in
//! memory once split, not its raw bytes: whether a message is valid is only known then, and a
//! rejected one becomes a DLQ entry, its bytes escaped (up to 6 for 1) inside an envelope. So each
//! message counts [`dlq::line_bound`] (which is also more than its valid line) plus what the batch
//! holds per message. The raw bytes, the split lines and the compressed objects of a batch are then
//! each at most about `max_bytes` (one message more), which the memory budget relies on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::records::{self, Rejection};

use super::SinkSettings;
use super::dlq::{self, DlqEntry};
use super::stats::FlushTrigger;

#[derive(Debug)]
pub(super) struct Batch {
    pub(super) first: u64,
    pub(super) last: u64,
    /// When the first message arrived: the age trigger counts from here.
    pub(super) opened_at: Instant,
    /// The messages' payloads, each followed by `\n`: the batch's JSON lines as they will be
    /// stored when every message is valid, so that [`Batch::into_split`] needs no second buffer.
    raw: Vec<u8>,
    messages: Vec<Message>,
    /// What the messages can cost once split, but for the source name in each DLQ entry (which
    /// [`Batch::buffered_bytes`] adds).
    cost: usize,
}

/// What the batch holds per message beside its payload.
const PER_MESSAGE: usize = std::mem::size_of::<Message>();

#[derive(Debug)]
struct Message {
    offset: u64,
    /// Where the payload ends in `raw` (its `\n` is there).
    end: usize,
    /// A verdict the driver reached already (a line cut at the size limit).
    rejected: Option<Box<Rejection>>,
}

/// A batch validated and split, ready to compress.
#[derive(Debug, Default)]
pub(super) struct Split {
    /// Valid payloads, one per line.
    pub(super) data: Vec<u8>,
    /// DLQ entries, one per line.
    pub(super) dlq: Vec<u8>,
    pub(super) valid: u64,
    pub(super) invalid: u64,
    /// Invalid messages per reject reason code.
    pub(super) reasons: BTreeMap<&'static str, u64>,
}

/// One batch buffer kept for the next batch, shared by a sink and its writes.
///
/// A fresh multi-MiB buffer is mapped from the system and faults in every page as the batch
/// fills it: about 6 % of `sink --from`'s CPU went to those page faults before this (perf). A
/// write that has compressed its batch gives the buffer back (emptied; its pages stay mapped) and
/// the next batch opened takes it. One buffer at most, whatever the number of partitions and writes, and no
/// larger than a batch once held: the memory bound counts it as one buffer more
/// (`cli::sink_args::fit_memory_budget`).
#[derive(Debug, Clone, Default)]
pub(super) struct Spare(Arc<Mutex<Option<Vec<u8>>>>);

impl Spare {
    /// The spare buffer, or a new empty one.
    pub(super) fn take(&self) -> Vec<u8> {
        self.slot().take().unwrap_or_default()
    }

    /// Keeps `buffer`, emptied, unless a buffer is kept already (then it is freed).
    pub(super) fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        self.slot().get_or_insert(buffer);
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Vec<u8>>> {
        // The slot is only ever swapped whole, so a panic elsewhere cannot leave it half-made.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Batch {
    /// A batch from `offset`, its payloads going into `raw` (empty; see [`Spare`]).
    pub(super) fn open(offset: u64, now: Instant, raw: Vec<u8>) -> Self {
        debug_assert!(raw.is_empty());
        Batch { first: offset, last: offset, opened_at: now, raw, messages: Vec::new(), cost: 0 }
    }

    /// The batch's buffer, for the next batch (after [`Batch::split_with`], which reads it).
    pub(super) fn into_raw(self) -> Vec<u8> {
        self.raw
    }

    /// Adds a message, to be validated when the batch is split.
    pub(super) fn push(&mut self, offset: u64, payload: &[u8]) {
        self.push_message(offset, payload, None);
    }

    /// Adds a message already known to be invalid.
    pub(super) fn push_rejected(&mut self, offset: u64, payload: &[u8], rejection: Rejection) {
        self.push_message(offset, payload, Some(Box::new(rejection)));
    }

    fn push_message(&mut self, offset: u64, payload: &[u8], rejected: Option<Box<Rejection>>) {
        debug_assert!(offset >= self.first && (offset > self.last || self.messages.is_empty()), "offsets arrive in order");
        self.last = self.last.max(offset);
        let verdict = rejected.as_ref().map_or(0, |rejection| {
            std::mem::size_of::<Rejection>() + rejection.detail.len() + rejection.field.as_ref().map_or(0, String::len)
        });
        self.cost += dlq::line_bound(0, payload) + PER_MESSAGE + verdict;
        self.raw.reserve(payload.len() + 1);
        self.raw.extend_from_slice(payload);
        self.messages.push(Message { offset, end: self.raw.len(), rejected });
        self.raw.push(b'\n');
    }

    pub(super) fn records(&self) -> u64 {
        self.messages.len() as u64
    }

    /// What the batch can cost in memory once split, for `source`: every message counted as if it
    /// were rejected (its DLQ entry bounds its valid line too), so that a flood of invalid
    /// messages stays inside the memory bound.
    pub(super) fn buffered_bytes(&self, source: &str) -> usize {
        self.cost + self.messages.len() * source.len()
    }

    /// Validates every message and splits the batch into JSON lines and DLQ lines. The JSON lines
    /// are the batch's own buffer, the valid lines moved down over the invalid ones: no copy when
    /// every message is valid, and no second buffer of the batch's size ever.
    pub(super) fn into_split(self, source: &str, partition: u32) -> Split {
        let Batch { mut raw, messages, .. } = self;
        let mut split = Split::default();
        let mut kept = 0;
        let mut start = 0;
        for message in &messages {
            let end = message.end;
            let verdict = match &message.rejected {
                Some(rejection) => Err(rejection.as_ref().clone()),
                None => records::validate(&raw[start..end]).map(drop),
            };
            match verdict {
                Ok(()) => {
                    let line = &mut raw[start..end];
                    if memchr::memchr(b'\n', line).is_some() {
                        line.iter_mut().filter(|byte| **byte == b'\n').for_each(|byte| *byte = b' ');
                    }
                    if kept != start {
                        raw.copy_within(start..=end, kept);
                    }
                    kept += end + 1 - start;
                    split.valid += 1;
                }
                Err(rejection) => {
                    DlqEntry::new(&rejection, source, partition, message.offset, &raw[start..end]).write_line(&mut split.dlq);
                    split.invalid += 1;
                    *split.reasons.entry(rejection.reason.as_str()).or_default() += 1;
                }
            }
            start = end + 1;
        }
        raw.truncate(kept);
        split.data = raw;
        split
    }

    /// Validates every message, hands each valid one to `valid` (its payload and the record read
    /// from it) in offset order, and writes the invalid ones as DLQ lines; `data` stays empty.
    pub(super) fn split_with(&self, source: &str, partition: u32, mut valid: impl FnMut(&[u8], &records::Record<'_>)) -> Split {
        let mut split = Split::default();
        let mut start = 0;
        for message in &self.messages {
            let payload = &self.raw[start..message.end];
            start = message.end + 1;
            let verdict = match &message.rejected {
                Some(rejection) => Err(rejection.as_ref().clone()),
                None => records::validate(payload),
            };
            match verdict {
                Ok(record) => {
                    valid(payload, &record);
                    split.valid += 1;
                }
                Err(rejection) => {
                    DlqEntry::new(&rejection, source, partition, message.offset, payload).write_line(&mut split.dlq);
                    split.invalid += 1;
                    *split.reasons.entry(rejection.reason.as_str()).or_default() += 1;
                }
            }
        }
        split
    }

    /// When the age trigger fires. An age too long for the clock (the CLI allows at most ten
    /// years) means "not by age": thirty years on, as tokio's own far future, and if even that
    /// does not fit, now, which only flushes early.
    pub(super) fn deadline(&self, settings: &SinkSettings) -> Instant {
        const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(30 * 365 * 86_400);
        self.opened_at.checked_add(settings.max_age).or_else(|| self.opened_at.checked_add(FAR_FUTURE)).unwrap_or(self.opened_at)
    }

    /// The trigger that says this batch must be flushed now, if any: records, then bytes, then age.
    pub(super) fn due(&self, settings: &SinkSettings, now: Instant) -> Option<FlushTrigger> {
        if self.records() >= settings.max_records.get() {
            return Some(FlushTrigger::Records);
        }
        if self.buffered_bytes(settings.source.as_str()) >= settings.max_bytes.get() {
            return Some(FlushTrigger::Bytes);
        }
        if now >= self.deadline(settings) {
            return Some(FlushTrigger::Age);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spare_keeps_one_buffer_emptied_with_its_capacity() {
        let spare = Spare::default();
        assert_eq!(spare.take().capacity(), 0, "nothing kept yet: a new buffer");
        let mut first = Vec::with_capacity(1 << 20);
        first.extend_from_slice(b"lines\n");
        spare.give(first);
        spare.give(Vec::with_capacity(10));
        let kept = spare.take();
        assert!(kept.is_empty() && kept.capacity() >= 1 << 20, "the first buffer given, emptied");
        assert_eq!(spare.take().capacity(), 0, "the second was freed, not kept beside it");
        let batch = Batch::open(7, Instant::now(), kept);
        assert!(batch.into_raw().capacity() >= 1 << 20);
    }

    #[test]
    fn a_batch_of_escapes_counts_what_its_dlq_lines_will_cost() {
        let mut batch = Batch::open(0, Instant::now(), Vec::new());
        let escapes = vec![0x01u8; 1000];
        for offset in 0..50 {
            batch.push(offset, &escapes);
        }
        let counted = batch.buffered_bytes("stdin");
        let split = batch.into_split("stdin", 0);
        assert_eq!(split.invalid, 50);
        assert!(split.dlq.len() > 6 * 50 * 1000, "each byte became `\\u0001`: {}", split.dlq.len());
        assert!(split.dlq.len() <= counted, "{} counted, {} split", counted, split.dlq.len());
        assert!(counted < split.dlq.len() + 50 * 600, "and not much more: {counted}");
    }

    #[test]
    fn a_split_keeps_valid_payloads_one_line_each_and_rejects_the_rest_in_order() {
        let good = crate::sink::test_support::valid_lines();
        let mut spaced = good[0].clone();
        let comma = spaced.iter().position(|byte| *byte == b',').unwrap();
        spaced.insert(comma + 1, b'\n');
        let mut batch = Batch::open(4, Instant::now(), Vec::new());
        batch.push(4, &spaced);
        batch.push(5, b"not json");
        batch.push(6, &good[1]);
        let too_large = Rejection { reason: records::RejectReason::TooLarge, field: None, detail: "cut".into() };
        batch.push_rejected(7, &good[2], too_large);
        assert_eq!((batch.first, batch.last, batch.records()), (4, 7, 4));

        let bound = batch.buffered_bytes("t");
        let split = batch.into_split("t", 3);
        assert!(split.data.len() + split.dlq.len() <= bound, "the split fits what the batch counted");
        let lines: Vec<&[u8]> = split.data.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
        assert_eq!(lines.len(), 2);
        assert!(!lines[0].contains(&b'\n') && lines[0].len() == spaced.len(), "the newline became a space");
        assert_eq!(lines[1], &good[1][..]);
        let entries: Vec<DlqEntry<'_>> = split
            .dlq
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).unwrap())
            .collect();
        assert_eq!(
            entries.iter().map(|entry| (entry.offset, entry.reason.as_ref())).collect::<Vec<_>>(),
            [(5, "invalid_json"), (7, "too_large")]
        );
        assert_eq!((split.valid, split.invalid), (2, 2));
        assert_eq!(split.reasons, BTreeMap::from([("invalid_json", 1), ("too_large", 1)]));
    }
}
