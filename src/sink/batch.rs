//! One partition's open batch: the JSON lines of its valid messages and the DLQ lines of its
//! invalid ones, over a contiguous range of offsets.
//!
//! Invariants: `first <= last`; every offset in `first..=last` that the partition delivered is
//! in exactly one of the two buffers, in offset order; valid payloads are copied byte for byte,
//! except that a raw `\n` (which JSON allows only as whitespace between tokens) becomes a space so
//! that one record stays one line.

use tokio::time::Instant;

use super::SinkSettings;
use super::dlq::DlqEntry;
use super::stats::FlushTrigger;

#[derive(Debug)]
pub(super) struct Batch {
    pub(super) first: u64,
    pub(super) last: u64,
    /// When the first message arrived: the age trigger counts from here.
    pub(super) opened_at: Instant,
    /// Valid payloads, one per line.
    pub(super) data: Vec<u8>,
    pub(super) valid: u64,
    /// DLQ entries, one per line.
    pub(super) dlq: Vec<u8>,
    pub(super) invalid: u64,
}

impl Batch {
    pub(super) fn open(offset: u64, now: Instant) -> Self {
        Batch { first: offset, last: offset, opened_at: now, data: Vec::new(), valid: 0, dlq: Vec::new(), invalid: 0 }
    }

    pub(super) fn push_valid(&mut self, offset: u64, payload: &[u8]) {
        self.extend_range(offset);
        let start = self.data.len();
        self.data.extend_from_slice(payload);
        if memchr::memchr(b'\n', payload).is_some() {
            for byte in &mut self.data[start..] {
                if *byte == b'\n' {
                    *byte = b' ';
                }
            }
        }
        self.data.push(b'\n');
        self.valid += 1;
    }

    pub(super) fn push_invalid(&mut self, offset: u64, entry: &DlqEntry<'_>) {
        self.extend_range(offset);
        entry.write_line(&mut self.dlq);
        self.invalid += 1;
    }

    fn extend_range(&mut self, offset: u64) {
        debug_assert!(offset >= self.first && (offset > self.last || self.records() == 0), "offsets arrive in order");
        self.last = self.last.max(offset);
    }

    pub(super) fn records(&self) -> u64 {
        self.valid + self.invalid
    }

    /// Bytes held in memory: valid lines plus DLQ lines. Counting the DLQ too keeps a flood of
    /// (possibly large) invalid messages inside the memory bound.
    pub(super) fn buffered_bytes(&self) -> usize {
        self.data.len() + self.dlq.len()
    }

    pub(super) fn deadline(&self, settings: &SinkSettings) -> Instant {
        self.opened_at + settings.max_age
    }

    /// The trigger that says this batch must be flushed now, if any: records, then bytes, then age.
    pub(super) fn due(&self, settings: &SinkSettings, now: Instant) -> Option<FlushTrigger> {
        if self.records() >= settings.max_records.get() {
            return Some(FlushTrigger::Records);
        }
        if self.buffered_bytes() >= settings.max_bytes.get() {
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
    fn valid_payloads_stay_one_line_each() {
        let mut batch = Batch::open(4, Instant::now());
        batch.push_valid(4, b"{\"a\":\n1}");
        batch.push_valid(5, b"{\"b\":2}");
        assert_eq!(batch.data, b"{\"a\": 1}\n{\"b\":2}\n");
        assert_eq!((batch.first, batch.last, batch.records()), (4, 5, 2));
    }
}
