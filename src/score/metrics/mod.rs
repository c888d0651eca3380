//! The ML metrics of `netchaos score`, as pure functions over labels, ranges and scores.
//!
//! The caller discretises time into steps (e.g. 1-second bins) and, per anomaly kind, builds the
//! ground truth (`labels`, or its [`Range`]s) and the detector's output (binary `predicted` or
//! its ranges, or continuous `scores`). Every function here is a faithful re-implementation of a
//! published definition and is checked against that definition's reference implementation from
//! PyPI by `tests/it/score/reference.rs`:
//!
//! | family | file | source | reference |
//! |---|---|---|---|
//! | point P/R/F1, point-adjusted | [`point`] | Xu et al., WWW 2018 (PA) | scikit-learn, `tadpak.pak(k=0)` |
//! | range-based P/R | [`range_based`] | Tatbul et al., NeurIPS 2018 | `prts` 1.0.0.3 |
//! | affiliation P/R | [`affiliation`] | Huet et al., KDD 2022 | `vus.affiliation` (vus 0.0.6) |
//! | AUC-PR, average precision | [`curves`] | - | `vus.utils.metrics.metricor.metric_PR`, scikit-learn |
//! | VUS-PR, VUS-ROC | [`vus`] | Paparrizos et al., VLDB 2022 | `metricor.RangeAUC_volume_opt` |
//!
//! Conventions shared by every function:
//! - Series of different lengths are compared over the shorter one (the caller builds both from
//!   the same bins, so this does not arise in practice; it keeps every input panic-free).
//! - Ranges given by the caller need not be sorted or disjoint: they are read as the set of steps
//!   they cover, i.e. as [`ranges_of`] of their union, which is how every reference reads a 0/1
//!   vector. Empty ranges (`start >= end`) cover nothing.
//! - Where a reference returns a value for a degenerate input (possibly with a warning), we
//!   return the same value and say so; where it raises, we return `NaN` (or `None`).
//! - Nothing is quadratic: ranges are swept in order with binary searches, scores sorted once.

mod affiliation;
mod curves;
mod point;
mod range_based;
mod vus;

pub use affiliation::{Affiliation, affiliation};
pub use curves::{auc_pr, average_precision};
pub use point::{Prf, point_adjusted_prf, point_prf};
pub use range_based::{Bias, Cardinality, RangeParams, range_precision, range_recall};
pub use vus::{DEFAULT_THRESHOLDS, Vus, vus, vus_pr};

use std::borrow::Cow;

/// A half-open range `[start, end)` of time steps (the caller discretises time, e.g. into
/// 1-second bins). A range with `start >= end` is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    /// The range `[start, end)`.
    pub fn new(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    /// How many steps the range covers.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True when the range covers no step.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// The runs of `true` in `labels`, in order, as half-open ranges of indices: `[F, T, T, F, T]`
/// gives `[1, 3)` and `[4, 5)`. The inverse of [`labels_of`].
pub fn ranges_of(labels: &[bool]) -> Vec<Range> {
    let mut ranges = Vec::new();
    let mut open: Option<u64> = None;
    for (index, &label) in (0u64..).zip(labels) {
        match (label, open) {
            (true, None) => open = Some(index),
            (false, Some(start)) => {
                ranges.push(Range { start, end: index });
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        ranges.push(Range { start, end: labels.len() as u64 });
    }
    ranges
}

/// A 0/1 series of `len` steps that is `true` exactly on `ranges` (the parts of them past `len`
/// are dropped). The inverse of [`ranges_of`].
pub fn labels_of(ranges: &[Range], len: usize) -> Vec<bool> {
    let mut labels = vec![false; len];
    for range in ranges {
        let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(len);
        let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(len);
        if start < end {
            labels[start..end].fill(true);
        }
    }
    labels
}

/// `ranges` as sorted, disjoint, non-touching, non-empty ranges covering the same steps: borrowed
/// when they already are (as [`ranges_of`] returns them), else sorted and merged.
pub(crate) fn normalised(ranges: &[Range]) -> Cow<'_, [Range]> {
    let already = ranges.iter().all(|range| !range.is_empty()) && ranges.windows(2).all(|pair| pair[0].end < pair[1].start);
    if already {
        return Cow::Borrowed(ranges);
    }
    let mut sorted: Vec<Range> = ranges.iter().copied().filter(|range| !range.is_empty()).collect();
    sorted.sort_unstable();
    let mut merged: Vec<Range> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    Cow::Owned(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(text: &str) -> Vec<bool> {
        text.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn ranges_of_finds_every_run_including_at_the_edges() {
        assert_eq!(ranges_of(&bools("")), vec![]);
        assert_eq!(ranges_of(&bools("000")), vec![]);
        assert_eq!(ranges_of(&bools("111")), vec![Range::new(0, 3)]);
        assert_eq!(ranges_of(&bools("1001101")), vec![Range::new(0, 1), Range::new(3, 5), Range::new(6, 7)]);
    }

    #[test]
    fn labels_of_inverts_ranges_of() {
        for text in ["", "0", "1", "0110", "1001101", "111000111"] {
            let labels = bools(text);
            assert_eq!(labels_of(&ranges_of(&labels), labels.len()), labels, "{text}");
        }
        assert_eq!(labels_of(&[Range::new(2, 9)], 4), bools("0011"));
    }

    #[test]
    fn normalised_merges_overlapping_touching_and_unsorted_ranges_and_drops_empty_ones() {
        let given = [Range::new(8, 10), Range::new(0, 2), Range::new(2, 4), Range::new(3, 5), Range::new(6, 6)];
        assert_eq!(normalised(&given).as_ref(), &[Range::new(0, 5), Range::new(8, 10)]);
        let clean = [Range::new(0, 2), Range::new(3, 4)];
        assert!(matches!(normalised(&clean), Cow::Borrowed(_)));
    }
}
