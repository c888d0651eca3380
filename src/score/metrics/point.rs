//! Point-level precision, recall and F1, and the point-adjusted (PA) protocol.
//!
//! Point level counts every time step alike: a true positive is a step both labelled and
//! predicted. The PA protocol (Xu et al., "Unsupervised Anomaly Detection via Variational
//! Auto-Encoder for Seasonal KPIs in Web Applications", WWW 2018, section 4.2) first marks every
//! step of a real anomaly range as predicted as soon as one step of it is, then counts points. It
//! is the legacy protocol of many papers and is known to inflate scores badly (Kim et al.,
//! "Towards a Rigorous Evaluation of Time-Series Anomaly Detection", AAAI 2022: a random detector
//! can beat the state of the art under it); we report it only to compare with such papers.
//!
//! References: `sklearn.metrics.precision_recall_fscore_support(average="binary",
//! zero_division=0)` for the counts, and `tadpak.pak(scores, targets, thres, k=0)` (tadpak 0.3.3,
//! `tadpak/pak.py`, PA%K with K = 0 is the classic PA) for the adjustment.

use super::{normalised, ranges_of};

/// Precision, recall and their harmonic mean F1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    /// From true positives, false positives and false negatives, as scikit-learn computes them
    /// with `zero_division=0`: precision `tp / (tp + fp)`, recall `tp / (tp + fn)`,
    /// F1 `2 tp / (2 tp + fp + fn)`, each 0 where its denominator is 0.
    fn from_counts(true_positives: u64, false_positives: u64, false_negatives: u64) -> Prf {
        let ratio = |numerator: u64, denominator: u64| if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 };
        Prf {
            precision: ratio(true_positives, true_positives + false_positives),
            recall: ratio(true_positives, true_positives + false_negatives),
            f1: ratio(2 * true_positives, 2 * true_positives + false_positives + false_negatives),
        }
    }
}

/// Point-level precision, recall and F1 of `predicted` against `labels`.
///
/// Edge cases, as scikit-learn with `zero_division=0` (the convention the VUS package uses too):
/// no predictions gives precision 0, no real anomalies gives recall 0, and F1 is 0 when there is
/// neither (rather than the 1 of `zero_division=1`: a report should not credit a detector for an
/// empty period). Series of different lengths are compared over the shorter one.
pub fn point_prf(labels: &[bool], predicted: &[bool]) -> Prf {
    let (mut true_positives, mut false_positives, mut false_negatives) = (0u64, 0u64, 0u64);
    for (&label, &prediction) in labels.iter().zip(predicted) {
        match (label, prediction) {
            (true, true) => true_positives += 1,
            (false, true) => false_positives += 1,
            (true, false) => false_negatives += 1,
            (false, false) => {}
        }
    }
    Prf::from_counts(true_positives, false_positives, false_negatives)
}

/// Point-adjusted precision, recall and F1: every real anomaly range (run of `true` in
/// `labels`) with at least one predicted step counts as wholly predicted, then [`point_prf`].
/// Steps predicted outside real ranges stay false positives. Same edge cases as [`point_prf`].
pub fn point_adjusted_prf(labels: &[bool], predicted: &[bool]) -> Prf {
    let len = labels.len().min(predicted.len());
    let (labels, predicted) = (&labels[..len], &predicted[..len]);
    let (mut true_positives, mut false_positives) = (0u64, 0u64);
    let mut real_steps = 0u64;
    for range in normalised(&ranges_of(labels)).iter() {
        // Indices come from `ranges_of` over a slice, so they fit in usize.
        let (start, end) = (range.start as usize, range.end as usize);
        real_steps += range.len();
        if predicted[start..end].iter().any(|&prediction| prediction) {
            true_positives += range.len();
        }
    }
    for (&label, &prediction) in labels.iter().zip(predicted) {
        if prediction && !label {
            false_positives += 1;
        }
    }
    Prf::from_counts(true_positives, false_positives, real_steps - true_positives)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(text: &str) -> Vec<bool> {
        text.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn point_prf_counts_steps() {
        // tp 2, fp 1, fn 2.
        let prf = point_prf(&bools("0111101"), &bools("0110001"));
        assert_eq!(prf.precision, 1.0);
        let prf = point_prf(&bools("0111100"), &bools("0110001"));
        assert_eq!((prf.precision, prf.recall), (2.0 / 3.0, 2.0 / 4.0));
        assert_eq!(prf.f1, 4.0 / 7.0);
    }

    #[test]
    fn point_prf_is_zero_where_a_denominator_is() {
        let none = point_prf(&bools("0110"), &bools("0000"));
        assert_eq!(none, Prf { precision: 0.0, recall: 0.0, f1: 0.0 });
        let no_real = point_prf(&bools("0000"), &bools("0100"));
        assert_eq!(no_real, Prf { precision: 0.0, recall: 0.0, f1: 0.0 });
        assert_eq!(point_prf(&[], &[]), Prf { precision: 0.0, recall: 0.0, f1: 0.0 });
    }

    #[test]
    fn point_adjustment_credits_a_whole_range_for_one_hit() {
        // Two real ranges of 4 and 2; one step of the first predicted, plus one false positive.
        let labels = bools("0111100110");
        let predicted = bools("0001000001");
        let adjusted = point_adjusted_prf(&labels, &predicted);
        assert_eq!((adjusted.precision, adjusted.recall), (4.0 / 5.0, 4.0 / 6.0));
        let plain = point_prf(&labels, &predicted);
        assert_eq!((plain.precision, plain.recall), (1.0 / 2.0, 1.0 / 6.0));
        assert!(adjusted.f1 > plain.f1);
    }

    #[test]
    fn point_adjustment_handles_ranges_at_both_ends() {
        let adjusted = point_adjusted_prf(&bools("1100011"), &bools("0100001"));
        assert_eq!((adjusted.precision, adjusted.recall, adjusted.f1), (1.0, 1.0, 1.0));
    }

    #[test]
    fn series_of_different_lengths_are_compared_over_the_shorter() {
        assert_eq!(point_prf(&bools("0110"), &bools("01")), point_prf(&bools("01"), &bools("01")));
        assert_eq!(point_adjusted_prf(&bools("0111"), &bools("01")), point_adjusted_prf(&bools("01"), &bools("01")));
    }
}
