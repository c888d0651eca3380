//! The set of event ids the manifests say were emitted, one bitset per (run, lane).
//!
//! Lane *w* of run *r* emitted `<r>-<w>-<seq>` for every `seq` in `0..records`: a bitset of
//! `records` bits per lane marks which ids were found, so a million ids cost 125 KB and a lookup is
//! a hash of the run id (as a `u64`) plus a small map lookup. The manifests are checked against
//! the bounds of `manifests.rs` first, and the bitsets are allocated fallibly: a manifest that
//! names too many ids is an error, never an allocation abort.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::generator::RunManifest;

use super::VerifyError;
use super::manifests::{MAX_EXPECTED_IDS, check_manifest};

/// One lane's expected ids and which of them were found.
#[derive(Debug)]
pub(super) struct LaneBits {
    pub(super) expected: u64,
    seen: Vec<u64>,
    pub(super) found: u64,
    /// Sequence numbers the producer sent but Kafka never acknowledged: not lost when absent.
    excused: BTreeSet<u64>,
}

/// What marking an id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// The first copy of an expected id.
    First,
    /// Another copy of an id already found.
    Duplicate,
    /// Not an id any manifest names.
    Unexpected,
}

impl LaneBits {
    fn new(expected: u64) -> Result<Self, VerifyError> {
        let words = usize::try_from(expected.div_ceil(64)).map_err(|_| VerifyError::OutOfMemory { ids: expected })?;
        let mut seen = Vec::new();
        seen.try_reserve_exact(words).map_err(|_| VerifyError::OutOfMemory { ids: expected })?;
        seen.resize(words, 0);
        Ok(LaneBits { expected, seen, found: 0, excused: BTreeSet::new() })
    }

    fn mark(&mut self, seq: u64) -> Mark {
        if seq >= self.expected {
            return Mark::Unexpected;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            return Mark::Duplicate;
        }
        self.seen[word] |= bit;
        self.found += 1;
        Mark::First
    }

    fn is_seen(&self, seq: u64) -> bool {
        self.seen[(seq / 64) as usize] & (1u64 << (seq % 64)) != 0
    }

    /// Excused ids that were not found.
    pub(super) fn unacknowledged(&self) -> u64 {
        self.excused.iter().filter(|seq| !self.is_seen(**seq)).count() as u64
    }

    pub(super) fn lost(&self) -> u64 {
        self.expected - self.found - self.unacknowledged()
    }

    /// The sequence numbers never found and not excused, in order.
    pub(super) fn missing(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.expected).filter(|seq| !self.is_seen(*seq) && !self.excused.contains(seq))
    }
}

/// Every expected id, by run id (16 hex digits read as a `u64`) and lane.
#[derive(Debug, Default)]
pub(super) struct ExpectedIds {
    runs: HashMap<u64, BTreeMap<u32, LaneBits>>,
}

impl ExpectedIds {
    /// The ids of all `manifests`. Two manifests of the same run (the same seed and instance run
    /// twice) name the same ids: the larger count per lane is kept. Fails when the manifests name
    /// more than [`MAX_EXPECTED_IDS`] ids together.
    pub(super) fn from_manifests(manifests: &[RunManifest]) -> Result<Self, VerifyError> {
        let mut counts: HashMap<u64, BTreeMap<u32, u64>> = HashMap::new();
        for manifest in manifests {
            check_manifest(manifest, &format!("of run {}", manifest.run_id))?;
            let run = parse_run_id(&manifest.run_id).ok_or_else(|| VerifyError::BadRunId(manifest.run_id.clone()))?;
            let lanes = counts.entry(run).or_default();
            for lane in &manifest.lanes {
                let records = lanes.entry(lane.worker).or_default();
                *records = (*records).max(lane.records);
            }
        }
        let total = counts.values().flat_map(BTreeMap::values).fold(0u64, |total, records| total.saturating_add(*records));
        if total > MAX_EXPECTED_IDS {
            return Err(VerifyError::ManifestOutOfBounds(format!(
                "the manifests name {total} records together, more than the {MAX_EXPECTED_IDS} verify can track: audit fewer runs at once"
            )));
        }
        let mut expected = ExpectedIds::default();
        for (run, lanes) in counts {
            let bits = expected.runs.entry(run).or_default();
            for (worker, records) in lanes {
                bits.insert(worker, LaneBits::new(records)?);
            }
        }
        for manifest in manifests {
            let unacknowledged = manifest.kafka.iter().flat_map(|kafka| &kafka.unacknowledged_event_ids);
            for id in unacknowledged {
                let Some((run, worker, seq)) = parse_event_id(id) else { continue };
                if let Some(lane) = expected.runs.get_mut(&run).and_then(|lanes| lanes.get_mut(&worker))
                    && seq < lane.expected
                {
                    lane.excused.insert(seq);
                }
            }
        }
        Ok(expected)
    }

    pub(super) fn mark(&mut self, run: u64, worker: u32, seq: u64) -> Mark {
        match self.runs.get_mut(&run).and_then(|lanes| lanes.get_mut(&worker)) {
            Some(lane) => lane.mark(seq),
            None => Mark::Unexpected,
        }
    }

    pub(super) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Every lane, ordered by run id then worker.
    pub(super) fn lanes(&self) -> Vec<(u64, u32, &LaneBits)> {
        let mut lanes: Vec<(u64, u32, &LaneBits)> =
            self.runs.iter().flat_map(|(run, lanes)| lanes.iter().map(|(worker, bits)| (*run, *worker, bits))).collect();
        lanes.sort_by_key(|(run, worker, _)| (*run, *worker));
        lanes
    }
}

/// A run id (exactly 16 lower-case hex digits) as a number.
pub(super) fn parse_run_id(text: &str) -> Option<u64> {
    let is_run_id =
        text.len() == crate::records::RUN_ID_LEN && text.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if !is_run_id {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// `<run>-<worker>-<seq>` as numbers.
fn parse_event_id(id: &str) -> Option<(u64, u32, u64)> {
    let mut parts = id.splitn(3, '-');
    let run = parse_run_id(parts.next()?)?;
    let worker = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((run, worker, seq))
}

/// The textual run id of a number.
pub(super) fn run_id_text(run: u64) -> String {
    format!("{run:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_first_copies_duplicates_and_strangers() {
        let mut lane = LaneBits::new(130).unwrap();
        assert_eq!(lane.mark(0), Mark::First);
        assert_eq!(lane.mark(129), Mark::First);
        assert_eq!(lane.mark(129), Mark::Duplicate);
        assert_eq!(lane.mark(130), Mark::Unexpected);
        assert_eq!(lane.lost(), 128);
        assert_eq!(lane.missing().take(3).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(lane.missing().last(), Some(128));
    }

    #[test]
    fn unacknowledged_ids_are_excused_only_when_absent() {
        let mut lane = LaneBits::new(10).unwrap();
        lane.excused.extend([3, 4]);
        for seq in (0..10).filter(|seq| *seq != 3 && *seq != 5) {
            lane.mark(seq);
        }
        assert_eq!(lane.unacknowledged(), 1, "4 was found after all; 3 was not");
        assert_eq!(lane.lost(), 1, "5 is lost");
        assert_eq!(lane.missing().collect::<Vec<_>>(), vec![5]);
        assert_eq!(parse_event_id("00000000000000ff-2-17"), Some((255, 2, 17)));
        assert_eq!(parse_event_id("00000000000000ff-2"), None);
    }

    #[test]
    fn run_ids_are_16_hex_digits() {
        assert_eq!(parse_run_id("00000000000000ff"), Some(255));
        assert_eq!(run_id_text(255), "00000000000000ff");
        for bad in ["ff", "00000000000000FF", "00000000000000fg", "000000000000000ff"] {
            assert_eq!(parse_run_id(bad), None, "{bad}");
        }
    }
}
