//! Which stored objects count: the one rule that recovery acts on and `verify` reads by.
//!
//! Per partition, from a listing of data objects, DLQ objects and fences:
//!
//! 1. **Void.** A fence `(epoch E, start S)` says that the writer of epoch `E` took the partition
//!    over at offset `S`. An object of an older epoch (`e < E`) whose range starts at or past `S`
//!    was written by a writer that had lost the partition (a zombie that woke up after its
//!    successor recovered): it is void, whatever the order in which things reached the store.
//! 2. **Chain.** The data objects that count tile the offsets from the lowest first offset
//!    upwards with no gap and no overlap: starting at the lowest `first`, take the object that
//!    starts exactly at the next offset (the newest epoch when several do), and so on. The
//!    partition's resume offset is one past the chain.
//! 3. **Dead.** Every other data object is dead: one past a gap (its batch was stored before an
//!    earlier one that never was, the hole this rule exists to close) or one overlapping the
//!    chain. Their offsets are either in the chain already or at or past the resume offset, which
//!    is read again, so deleting them loses nothing.
//! 4. **DLQ objects and piece tables.** A DLQ object, or a piece table (in a layout other than
//!    netchaos's own), counts when a data object of the chain has its exact range and epoch (a
//!    batch's DLQ object and piece table are written before its data object); any other is an
//!    orphan, and so are the pieces its table lists.
//!
//! The module doc of [`crate::sink`] argues why this gives exactly once and names the tests that
//! attack each step; the unit tests at the end of this file pin the rule itself.

use std::collections::BTreeMap;

use super::keys::{Fence, ObjectKind, ParsedKey};

/// Why a stored object does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dead {
    /// Written by an older epoch at or past a newer epoch's fence.
    Void { by_epoch: u64 },
    /// A data object starting past the first gap of the chain.
    PastGap,
    /// A data object overlapping the chain.
    Overlap,
    /// A DLQ object or piece table whose data object is not in the chain.
    OrphanDlq,
}

impl Dead {
    /// For logs and reports.
    pub fn describe(self) -> String {
        match self {
            Dead::Void { by_epoch } => format!("void: written after epoch {by_epoch} took the partition over"),
            Dead::PastGap => "past a gap: stored before an earlier batch that never was".to_owned(),
            Dead::Overlap => "overlaps objects that count".to_owned(),
            Dead::OrphanDlq => "a DLQ object or piece table whose data object does not count".to_owned(),
        }
    }
}

/// A listed object: its key and what the key says.
pub type Listed = (String, ParsedKey);

/// One partition as the store holds it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Data objects that count, in offset order: they tile `first..resume`.
    pub chain: Vec<Listed>,
    /// DLQ objects and piece tables that count (told apart by their kind).
    pub dlq: Vec<Listed>,
    /// Objects that do not count, data and DLQ, with why.
    pub dead: Vec<(Listed, Dead)>,
    /// Piece tables wholly below the chain, whose data objects are gone: not touched.
    pub expired_tables: Vec<Listed>,
    /// One past the chain (0 when the partition has no object that counts).
    pub resume: u64,
    /// The highest epoch the store knows of for the partition, in fences and keys alike.
    pub max_epoch: u64,
}

/// Data objects, DLQ objects and fences (of one source or one partition).
pub type Parts = (Vec<Listed>, Vec<Listed>, Vec<Fence>);

/// The ledger of every partition that has any object or fence.
pub fn ledgers(data: Vec<Listed>, dlq: Vec<Listed>, fences: &[Fence]) -> BTreeMap<u32, Ledger> {
    let mut by_partition: BTreeMap<u32, Parts> = BTreeMap::new();
    for object in data {
        by_partition.entry(object.1.partition).or_default().0.push(object);
    }
    for object in dlq {
        by_partition.entry(object.1.partition).or_default().1.push(object);
    }
    for fence in fences {
        by_partition.entry(fence.partition).or_default().2.push(*fence);
    }
    by_partition.into_iter().map(|(partition, (data, dlq, fences))| (partition, ledger(data, dlq, &fences))).collect()
}

/// The ledger of one partition's objects and fences.
pub fn ledger(data: Vec<Listed>, dlq: Vec<Listed>, fences: &[Fence]) -> Ledger {
    let fences = Fences::new(fences);
    let mut ledger = Ledger { max_epoch: fences.max_epoch(), ..Ledger::default() };
    let mut candidates = Vec::with_capacity(data.len());
    for object in data {
        ledger.max_epoch = ledger.max_epoch.max(object.1.epoch);
        match fences.voided_by(&object.1) {
            Some(by_epoch) => ledger.dead.push((object, Dead::Void { by_epoch })),
            None => candidates.push(object),
        }
    }
    // Offset order; at one offset the newest epoch, then the longest range, comes first.
    candidates.sort_by(|(_, a), (_, b)| a.first.cmp(&b.first).then(b.epoch.cmp(&a.epoch)).then(b.last.cmp(&a.last)));
    let mut next = candidates.first().map(|(_, parsed)| parsed.first);
    let mut gapped = false;
    for object in candidates {
        match next {
            Some(offset) if object.1.first == offset => {
                next = object.1.last.checked_add(1);
                ledger.resume = object.1.last.saturating_add(1);
                ledger.chain.push(object);
            }
            Some(offset) if object.1.first > offset => {
                (next, gapped) = (None, true);
                ledger.dead.push((object, Dead::PastGap));
            }
            None if gapped => ledger.dead.push((object, Dead::PastGap)),
            // Below the next offset, or anything once the chain reached the last offset there is.
            _ => ledger.dead.push((object, Dead::Overlap)),
        }
    }
    let counted: std::collections::BTreeSet<(u64, u64, u64)> =
        ledger.chain.iter().map(|(_, parsed)| (parsed.first, parsed.last, parsed.epoch)).collect();
    let chain_first = ledger.chain.first().map(|(_, parsed)| parsed.first);
    for object in dlq {
        ledger.max_epoch = ledger.max_epoch.max(object.1.epoch);
        if counted.contains(&(object.1.first, object.1.last, object.1.epoch)) {
            ledger.dlq.push(object);
        } else if object.1.kind == ObjectKind::Pieces && chain_first.is_some_and(|first| object.1.last < first) {
            // Wholly below the chain: its data object expired (a lifecycle rule on `data/`), as
            // a hole before the first object is read (step 3). Its pieces may be the only copy
            // of those records: left alone, and `verify` reports them as claimed by no batch.
            ledger.expired_tables.push(object);
        } else {
            ledger.dead.push((object, Dead::OrphanDlq));
        }
    }
    ledger.dlq.sort_by_key(|(_, parsed)| parsed.first);
    ledger
}

/// A partition's fences, arranged to answer "which newer epoch voids this object".
struct Fences {
    /// By epoch, ascending.
    by_epoch: Vec<Fence>,
    /// `lowest_start[i]`: the lowest start among `by_epoch[i..]`, with its epoch.
    lowest_start: Vec<(u64, u64)>,
}

impl Fences {
    fn new(fences: &[Fence]) -> Self {
        let mut by_epoch = fences.to_vec();
        by_epoch.sort();
        let mut lowest_start = vec![(0, 0); by_epoch.len()];
        let mut lowest: Option<(u64, u64)> = None;
        for (index, fence) in by_epoch.iter().enumerate().rev() {
            let candidate = (fence.start, fence.epoch);
            lowest = Some(lowest.map_or(candidate, |current| current.min(candidate)));
            lowest_start[index] = lowest.unwrap_or(candidate);
        }
        Fences { by_epoch, lowest_start }
    }

    fn max_epoch(&self) -> u64 {
        self.by_epoch.last().map_or(0, |fence| fence.epoch)
    }

    /// The epoch of a newer fence at or below the object's first offset, if any.
    fn voided_by(&self, object: &ParsedKey) -> Option<u64> {
        let newer = self.by_epoch.partition_point(|fence| fence.epoch <= object.epoch);
        let (start, epoch) = *self.lowest_start.get(newer)?;
        (start <= object.first).then_some(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Compression;
    fn object(kind: ObjectKind, first: u64, last: u64, epoch: u64) -> Listed {
        let parsed = ParsedKey { kind, source: "s".into(), partition: 0, first, last, epoch, compression: Compression::Gzip };
        (format!("{kind:?}-{first}-{last}-e{epoch}"), parsed)
    }

    fn data(first: u64, last: u64, epoch: u64) -> Listed {
        object(ObjectKind::Data, first, last, epoch)
    }

    fn fence(epoch: u64, start: u64) -> Fence {
        Fence { partition: 0, epoch, start }
    }

    fn ranges(objects: &[Listed]) -> Vec<(u64, u64, u64)> {
        objects.iter().map(|(_, parsed)| (parsed.first, parsed.last, parsed.epoch)).collect()
    }

    fn dead(ledger: &Ledger) -> Vec<((u64, u64, u64), Dead)> {
        let mut dead: Vec<_> = ledger.dead.iter().map(|((_, parsed), why)| ((parsed.first, parsed.last, parsed.epoch), *why)).collect();
        dead.sort();
        dead
    }

    #[test]
    fn piece_tables_below_the_chain_are_left_alone_and_others_without_data_are_orphans() {
        let tables = vec![
            object(ObjectKind::Pieces, 0, 99, 1),    // its data object expired
            object(ObjectKind::Pieces, 100, 199, 1), // counts
            object(ObjectKind::Pieces, 200, 299, 1), // a crash before its data object
            object(ObjectKind::Pieces, 50, 149, 2),  // overlaps the chain: not below it
        ];
        let ledger = ledger(vec![data(100, 199, 1)], tables, &[fence(1, 0)]);
        assert_eq!(ranges(&ledger.expired_tables), vec![(0, 99, 1)]);
        assert_eq!(ranges(&ledger.dlq), vec![(100, 199, 1)]);
        assert_eq!(dead(&ledger), vec![((50, 149, 2), Dead::OrphanDlq), ((200, 299, 1), Dead::OrphanDlq)]);
        // With no data object at all, nothing is below the chain: a first batch's crash.
        let ledger = ledger_of_tables_only();
        assert!(ledger.expired_tables.is_empty() && ledger.dead.len() == 1);
    }

    fn ledger_of_tables_only() -> Ledger {
        ledger(vec![], vec![object(ObjectKind::Pieces, 0, 99, 1)], &[fence(1, 0)])
    }

    #[test]
    fn a_tiling_counts_whole_and_resumes_past_it() {
        let ledger = ledger(vec![data(100, 199, 1), data(0, 99, 1), data(200, 200, 2)], vec![], &[fence(1, 0), fence(2, 200)]);
        assert_eq!(ranges(&ledger.chain), vec![(0, 99, 1), (100, 199, 1), (200, 200, 2)]);
        assert_eq!(ledger.resume, 201);
        assert_eq!(ledger.max_epoch, 2);
        assert!(ledger.dead.is_empty());
    }

    #[test]
    fn a_later_batch_stored_before_an_earlier_one_is_dead_and_recovery_resumes_at_the_hole() {
        // Batch 100..=199 never landed; 200..=299 did (the hole of issue 11).
        let ledger = ledger(vec![data(0, 99, 1), data(200, 299, 1), data(300, 399, 1)], vec![], &[fence(1, 0)]);
        assert_eq!(ranges(&ledger.chain), vec![(0, 99, 1)]);
        assert_eq!(ledger.resume, 100);
        assert_eq!(dead(&ledger), vec![((200, 299, 1), Dead::PastGap), ((300, 399, 1), Dead::PastGap)]);
    }

    #[test]
    fn a_zombie_write_after_its_successor_took_over_is_void_whatever_its_range() {
        // Epoch 1 stored 0..=99, then stalled holding 100..=249; epoch 2 recovered at 100 and
        // stored 100..=149; the zombie's write landed after that.
        let data = vec![data(0, 99, 1), data(100, 149, 2), data(100, 249, 1), data(150, 300, 2)];
        let ledger = ledger(data, vec![], &[fence(1, 0), fence(2, 100)]);
        assert_eq!(ranges(&ledger.chain), vec![(0, 99, 1), (100, 149, 2), (150, 300, 2)]);
        assert_eq!(dead(&ledger), vec![((100, 249, 1), Dead::Void { by_epoch: 2 })]);
        assert_eq!(ledger.resume, 301);
    }

    #[test]
    fn a_void_object_leaves_no_gap_behind_when_nothing_newer_was_stored_yet() {
        // The successor recovered at 100 and crashed before storing anything; the zombie's
        // object is still void, and the next recovery resumes at 100.
        let ledger = ledger(vec![data(0, 99, 1), data(100, 249, 1)], vec![], &[fence(1, 0), fence(2, 100)]);
        assert_eq!(ledger.resume, 100);
        assert_eq!(ledger.max_epoch, 2);
    }

    #[test]
    fn an_older_fence_voids_only_older_epochs() {
        let fences = [fence(1, 0), fence(3, 50), fence(2, 500)];
        let ledger = ledger(vec![data(0, 49, 1), data(50, 99, 1), data(50, 99, 3), data(100, 600, 3)], vec![], &fences);
        assert_eq!(ranges(&ledger.chain), vec![(0, 49, 1), (50, 99, 3), (100, 600, 3)]);
        assert_eq!(dead(&ledger), vec![((50, 99, 1), Dead::Void { by_epoch: 3 })]);
    }

    #[test]
    fn overlapping_copies_count_once_the_newest_epoch_first() {
        let ledger = ledger(vec![data(0, 99, 0), data(0, 49, 0), data(50, 99, 0), data(100, 120, 0)], vec![], &[]);
        assert_eq!(ranges(&ledger.chain), vec![(0, 99, 0), (100, 120, 0)]);
        assert_eq!(dead(&ledger), vec![((0, 49, 0), Dead::Overlap), ((50, 99, 0), Dead::Overlap)]);
        let newer = ledger_of(vec![data(0, 99, 1), data(0, 49, 2)]);
        assert_eq!(ranges(&newer.chain), vec![(0, 49, 2)]);
        assert_eq!(newer.resume, 50);
    }

    fn ledger_of(data: Vec<Listed>) -> Ledger {
        ledger(data, vec![], &[])
    }

    #[test]
    fn a_dlq_object_counts_only_beside_its_data_object() {
        let dlq = vec![object(ObjectKind::Dlq, 0, 99, 1), object(ObjectKind::Dlq, 100, 199, 1), object(ObjectKind::Dlq, 0, 99, 2)];
        let ledger = ledger(vec![data(0, 99, 1)], dlq, &[fence(1, 0)]);
        assert_eq!(ranges(&ledger.dlq), vec![(0, 99, 1)]);
        assert_eq!(dead(&ledger), vec![((0, 99, 2), Dead::OrphanDlq), ((100, 199, 1), Dead::OrphanDlq)]);
        assert_eq!(ledger.max_epoch, 2, "a DLQ object's epoch is known too");
    }

    #[test]
    fn an_empty_partition_resumes_at_zero_past_its_fences_epoch() {
        let ledger = ledger(vec![], vec![], &[fence(4, 0)]);
        assert_eq!((ledger.resume, ledger.max_epoch), (0, 4));
        let all = ledgers(vec![], vec![], &[Fence { partition: 9, epoch: 1, start: 0 }]);
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn a_range_ending_at_the_last_offset_ends_the_chain() {
        let ledger = ledger_of(vec![data(0, u64::MAX, 1), data(5, 6, 1)]);
        assert_eq!(ranges(&ledger.chain), vec![(0, u64::MAX, 1)]);
        assert_eq!(dead(&ledger), vec![((5, 6, 1), Dead::Overlap)]);
    }
}
