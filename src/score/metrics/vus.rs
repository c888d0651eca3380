//! Volume Under the Surface: Paparrizos, Boniol, Palpanas, Tsay, Elmore, Franklin, "Volume Under
//! the Surface: A New Accuracy Evaluation Measure for Time-Series Anomaly Detection", VLDB 2022,
//! sections 4.2-4.4.
//!
//! Range-AUC first softens the labels: around each real anomaly range a buffer of `ℓ / 2` steps
//! on each side gets the label `√(1 − d / ℓ)` at distance `d` (overlapping buffers add, capped at
//! 1). At each threshold (predicted = `score >= threshold`), with the buffers counting only where
//! predicted:
//! - `TP = Σ label · predicted`, `N_labels = P + Σ_{buffer} label · predicted`, `P_new = (P +
//!   N_labels) / 2`;
//! - `TPR = min(TP / P_new, 1) · existence`, where existence is the share of anomaly segments
//!   with a predicted step (ranges with their buffers, merged where buffers overlap; buffers that
//!   only touch stay apart, as in the reference's `new_sequence`); `FPR = (N_pred − TP) / (n − P_new)`;
//!   precision `TP / N_pred`.
//!
//! Range-AUC-ROC is the trapezoidal area under (FPR, TPR) from (0, 0) to (1, 1); Range-AUC-PR is
//! `Σ (TPR_k − TPR_{k−1}) · precision_k`. VUS averages each over buffer lengths `ℓ = 0..=L`.
//! The thresholds are the authors': the scores sorted in decreasing order, read at
//! `numpy.linspace(0, n − 1, T).astype(int)` (T = 250 by default).
//!
//! Reference: `vus` 0.0.6, `vus.utils.metrics.metricor.RangeAUC_volume_opt` (called by
//! `vus.analysis.robustness_eval.generate_curve`, which `vus.metrics.get_metrics` uses for
//! `VUS_ROC` and `VUS_PR`). That code touches every step at every (ℓ, threshold) pair:
//! O(L · T · n). Here each step's first threshold is found once by binary search, each buffer
//! step's soft label is bucketed at its threshold, and prefix sums over thresholds give every
//! count: O(n log n + Σ_ℓ (ranges · ℓ + T)).
//!
//! Edge cases: no real anomaly, an empty series, no threshold, or a non-finite score: NaN (the
//! reference raises an `IndexError` without real anomalies). With every step anomalous,
//! `n − P_new` is 0 and VUS-ROC is NaN as in the reference (0 / 0); VUS-PR is still defined.

use super::{Range, ranges_of};

/// The number of thresholds of the VUS authors' `get_metrics` (`thre=250`).
pub const DEFAULT_THRESHOLDS: usize = 250;

/// VUS-PR and VUS-ROC of one score series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vus {
    pub pr: f64,
    pub roc: f64,
}

/// VUS-PR with buffer lengths `0..=max_window` and [`DEFAULT_THRESHOLDS`] thresholds.
pub fn vus_pr(labels: &[bool], scores: &[f64], max_window: usize) -> f64 {
    vus(labels, scores, max_window, DEFAULT_THRESHOLDS).pr
}

/// VUS-PR and VUS-ROC with buffer lengths `0..=max_window` and `thresholds` thresholds (see the
/// module doc); both NaN where undefined.
pub fn vus(labels: &[bool], scores: &[f64], max_window: usize, thresholds: usize) -> Vus {
    let undefined = Vus { pr: f64::NAN, roc: f64::NAN };
    let len = labels.len().min(scores.len());
    let (labels, scores) = (&labels[..len], &scores[..len]);
    let real = ranges_of(labels);
    if real.is_empty() || thresholds == 0 || scores.iter().any(|score| !score.is_finite()) {
        return undefined;
    }
    let levels = ThresholdLevels::new(scores, thresholds);
    let positives = real.iter().map(Range::len).sum::<u64>() as f64;
    // Per threshold: how many steps are predicted, and how many real steps. Each bucket array
    // has a last slot, `thresholds`, for the steps no threshold predicts.
    let mut predicted_counts = vec![0u64; thresholds + 1];
    let mut real_predicted_counts = vec![0u64; thresholds + 1];
    for (&level, &label) in levels.first_level.iter().zip(labels) {
        predicted_counts[level] += 1;
        if label {
            real_predicted_counts[level] += 1;
        }
    }
    let predicted_counts = prefix_sums(&predicted_counts);
    let real_predicted_counts = prefix_sums(&real_predicted_counts);
    // The first threshold at which each real range has a predicted step.
    let range_first_level: Vec<usize> = real
        .iter()
        .map(|range| levels.first_level[range.start as usize..range.end as usize].iter().copied().min().unwrap_or(usize::MAX))
        .collect();

    let mut buffers = Buffers::new(len);
    let (mut pr_sum, mut roc_sum) = (0.0, 0.0);
    for window in 0..=max_window {
        let segments = buffers.fill(&real, labels, window);
        // Buffer steps' soft labels bucketed at their first threshold, and each segment's first
        // threshold at which it has a predicted step.
        let mut buffer_label_at = vec![0.0; thresholds + 1];
        let mut segment_first_level = vec![usize::MAX; segments.len()];
        for (segment, first) in segments.iter().zip(&mut segment_first_level) {
            *first = range_first_level[segment.ranges.clone()].iter().copied().min().unwrap_or(usize::MAX);
        }
        for &(step, segment) in &buffers.touched {
            let level = levels.first_level[step];
            buffer_label_at[level] += buffers.soft_label(step);
            segment_first_level[segment] = segment_first_level[segment].min(level);
        }
        buffers.clear();
        let mut segments_hit_at = vec![0u64; thresholds];
        for &first in &segment_first_level {
            if let Some(slot) = segments_hit_at.get_mut(first) {
                *slot += 1;
            }
        }

        let (mut buffer_true, mut segments_hit) = (0.0, 0u64);
        let (mut previous_tpr, mut previous_fpr) = (0.0, 0.0);
        let (mut pr_area, mut roc_area) = (0.0, 0.0);
        for level in 0..thresholds {
            buffer_true += buffer_label_at[level];
            segments_hit += segments_hit_at[level];
            let predicted = predicted_counts[level] as f64;
            let true_positive = real_predicted_counts[level] as f64 + buffer_true;
            let labelled = positives + buffer_true;
            let positives_new = (positives + labelled) / 2.0;
            let recall = (true_positive / positives_new).min(1.0);
            let tpr = recall * (segments_hit as f64 / segments.len() as f64);
            let fpr = (predicted - true_positive) / (len as f64 - positives_new);
            let precision = true_positive / predicted;
            pr_area += (tpr - previous_tpr) * precision;
            roc_area += (fpr - previous_fpr) * (tpr + previous_tpr) / 2.0;
            (previous_tpr, previous_fpr) = (tpr, fpr);
        }
        roc_area += (1.0 - previous_fpr) * (1.0 + previous_tpr) / 2.0;
        pr_sum += pr_area;
        roc_sum += roc_area;
    }
    let windows = (max_window + 1) as f64;
    Vus { pr: pr_sum / windows, roc: roc_sum / windows }
}

/// The thresholds, as levels `0..T` from the highest, and each step's first level.
struct ThresholdLevels {
    /// For each step, the first level whose threshold its score reaches (`score >= threshold`),
    /// or `T` when none does (only with T = 1, whose one threshold is the highest score: from
    /// T = 2 on the last threshold is the lowest score).
    first_level: Vec<usize>,
}

impl ThresholdLevels {
    fn new(scores: &[f64], thresholds: usize) -> ThresholdLevels {
        let mut sorted = scores.to_vec();
        sorted.sort_unstable_by(|left, right| right.total_cmp(left));
        let last = sorted.len() - 1;
        let values: Vec<f64> = linspace_indices(last, thresholds).map(|index| sorted[index]).collect();
        // `values` does not increase; the first level reached is the count of thresholds above.
        let first_level = scores.iter().map(|&score| values.partition_point(|&threshold| threshold > score)).collect();
        ThresholdLevels { first_level }
    }
}

/// `numpy.linspace(0, last, count).astype(int)`: `floor(k · (last / (count − 1)))`, the final one
/// exactly `last`. numpy multiplies by the step rather than dividing, and so do we, so that the
/// truncation falls on the same side.
fn linspace_indices(last: usize, count: usize) -> impl Iterator<Item = usize> {
    let step = if count > 1 { last as f64 / (count - 1) as f64 } else { 0.0 };
    (0..count).map(move |k| if k + 1 == count && count > 1 { last } else { ((k as f64 * step) as usize).min(last) })
}

fn prefix_sums(counts: &[u64]) -> Vec<u64> {
    counts
        .iter()
        .scan(0u64, |running, &count| {
            *running += count;
            Some(*running)
        })
        .collect()
}

/// The buffer-extended anomaly segments of one window and the soft labels of their buffer steps,
/// accumulated as the reference does (`metricor.sequencing`: range by range, the right buffer
/// then the left, summed, then capped at 1).
struct Buffers {
    /// The summed buffer contributions of each step; 0 outside the current buffers.
    sums: Vec<f64>,
    /// Each buffer step (not a real step) with a contribution, once, and its segment.
    touched: Vec<(usize, usize)>,
}

/// Consecutive real ranges merged because their buffers overlap (`metricor.new_sequence`).
struct Segment {
    ranges: std::ops::Range<usize>,
}

impl Buffers {
    fn new(len: usize) -> Buffers {
        Buffers { sums: vec![0.0; len], touched: Vec::new() }
    }

    /// Accumulates the buffers of `window` around `real` and returns the merged segments.
    fn fill(&mut self, real: &[Range], labels: &[bool], window: usize) -> Vec<Segment> {
        let half = window / 2;
        let len = labels.len();
        // `new_sequence` splits two ranges when `end_i + half < start_{i+1} − half` (inclusive ends).
        let mut segments: Vec<Segment> = Vec::new();
        for (index, pair) in real.windows(2).enumerate() {
            let (left_end, right_start) = (pair[0].end as usize - 1, pair[1].start as usize);
            if left_end + half < right_start.saturating_sub(half) {
                let start = segments.last().map_or(0, |segment| segment.ranges.end);
                segments.push(Segment { ranges: start..index + 1 });
            }
        }
        let start = segments.last().map_or(0, |segment| segment.ranges.end);
        segments.push(Segment { ranges: start..real.len() });

        for (segment_index, segment) in segments.iter().enumerate() {
            for range in &real[segment.ranges.clone()] {
                let (start, last) = (range.start as usize, range.end as usize - 1);
                let right = (last + 1)..(last + half + 1).min(len);
                let left = start.saturating_sub(half)..start;
                for step in right {
                    self.add(step, (step - last) as f64, window, segment_index, labels);
                }
                for step in left {
                    self.add(step, (start - step) as f64, window, segment_index, labels);
                }
            }
        }
        segments
    }

    fn add(&mut self, step: usize, distance: f64, window: usize, segment: usize, labels: &[bool]) {
        // A real step's label is 1 whatever is added to it.
        if labels[step] {
            return;
        }
        if self.sums[step] == 0.0 {
            self.touched.push((step, segment));
        }
        self.sums[step] += (1.0 - distance / window as f64).sqrt();
    }

    fn soft_label(&self, step: usize) -> f64 {
        self.sums[step].min(1.0)
    }

    fn clear(&mut self) {
        for &(step, _) in &self.touched {
            self.sums[step] = 0.0;
        }
        self.touched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// `metricor.RangeAUC_volume_opt` step by step: every step at every (window, threshold).
    // Indexed loops, to read like the reference's index arithmetic.
    #[allow(clippy::needless_range_loop)]
    fn vus_by_steps(labels: &[bool], scores: &[f64], max_window: usize, thresholds: usize) -> Vus {
        let len = labels.len();
        let real = ranges_of(labels);
        let positives = real.iter().map(Range::len).sum::<u64>() as f64;
        let mut sorted = scores.to_vec();
        sorted.sort_by(|left, right| right.total_cmp(left));
        let levels: Vec<f64> = linspace_indices(len - 1, thresholds).map(|index| sorted[index]).collect();
        let (mut pr_sum, mut roc_sum) = (0.0, 0.0);
        for window in 0..=max_window {
            let half = window / 2;
            let mut soft: Vec<f64> = labels.iter().map(|&label| f64::from(u8::from(label))).collect();
            for range in &real {
                let (start, last) = (range.start as usize, range.end as usize - 1);
                for step in (last + 1)..(last + half + 1).min(len) {
                    soft[step] += (1.0 - (step - last) as f64 / window as f64).sqrt();
                }
                for step in start.saturating_sub(half)..start {
                    soft[step] += (1.0 - (start - step) as f64 / window as f64).sqrt();
                }
            }
            soft.iter_mut().for_each(|value| *value = value.min(1.0));
            // `new_sequence`: ranges whose buffers overlap merge (buffers that only touch do not).
            let mut segments: Vec<Range> = Vec::new();
            for range in &real {
                let (start, end) = (range.start.saturating_sub(half as u64), (range.end + half as u64).min(len as u64));
                match segments.last_mut() {
                    Some(last) if last.end > start => last.end = end,
                    _ => segments.push(Range { start, end }),
                }
            }
            let (mut previous_tpr, mut previous_fpr, mut pr_area, mut roc_area) = (0.0, 0.0, 0.0, 0.0);
            for &threshold in &levels {
                let predicted: Vec<bool> = scores.iter().map(|&score| score >= threshold).collect();
                let true_positive: f64 = (0..len).filter(|&step| predicted[step]).map(|step| soft[step]).sum();
                let labelled: f64 = (0..len)
                    .map(|step| {
                        if labels[step] {
                            1.0
                        } else if predicted[step] {
                            soft[step]
                        } else {
                            0.0
                        }
                    })
                    .sum();
                let hit = segments.iter().filter(|segment| (segment.start..segment.end).any(|step| predicted[step as usize])).count();
                let predicted_count = predicted.iter().filter(|&&value| value).count() as f64;
                let positives_new = (positives + labelled) / 2.0;
                let tpr = (true_positive / positives_new).min(1.0) * hit as f64 / segments.len() as f64;
                let fpr = (predicted_count - true_positive) / (len as f64 - positives_new);
                pr_area += (tpr - previous_tpr) * (true_positive / predicted_count);
                roc_area += (fpr - previous_fpr) * (tpr + previous_tpr) / 2.0;
                (previous_tpr, previous_fpr) = (tpr, fpr);
            }
            roc_area += (1.0 - previous_fpr) * (1.0 + previous_tpr) / 2.0;
            pr_sum += pr_area;
            roc_sum += roc_area;
        }
        Vus { pr: pr_sum / (max_window + 1) as f64, roc: roc_sum / (max_window + 1) as f64 }
    }

    #[test]
    fn prefix_sums_equal_the_step_by_step_definition() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for case in 0..200 {
            let len = rng.random_range(1..300);
            let density = [0.02, 0.1, 0.4, 0.9][case % 4];
            let labels: Vec<bool> = (0..len).map(|_| rng.random_bool(density)).collect();
            if !labels.contains(&true) {
                continue;
            }
            let scores: Vec<f64> =
                labels.iter().map(|&label| ((rng.random::<f64>() + f64::from(u8::from(label)) * 0.5) * 10.0).round() / 10.0).collect();
            let (max_window, thresholds) = (rng.random_range(0..12), [1, 3, 50, 250][case % 4]);
            let fast = vus(&labels, &scores, max_window, thresholds);
            let slow = vus_by_steps(&labels, &scores, max_window, thresholds);
            assert!((fast.pr - slow.pr).abs() < 1e-12, "case {case}: PR {} vs {}", fast.pr, slow.pr);
            let both_nan = fast.roc.is_nan() && slow.roc.is_nan();
            assert!(both_nan || (fast.roc - slow.roc).abs() < 1e-12, "case {case}: ROC {} vs {}", fast.roc, slow.roc);
        }
    }

    #[test]
    fn a_perfect_score_beats_a_random_one() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let labels: Vec<bool> = (0..2000).map(|step| (step / 100) % 5 == 2).collect();
        let perfect: Vec<f64> = labels.iter().map(|&label| f64::from(u8::from(label))).collect();
        let random: Vec<f64> = (0..2000).map(|_| rng.random::<f64>()).collect();
        let (good, bad) = (vus(&labels, &perfect, 20, 250), vus(&labels, &random, 20, 250));
        assert!(good.pr > 0.9 && good.roc > 0.9, "{good:?}");
        assert!(bad.pr < 0.4 && (0.3..0.7).contains(&bad.roc), "{bad:?}");
    }

    #[test]
    fn undefined_inputs_are_nan() {
        assert!(vus_pr(&[false, false], &[0.1, 0.2], 4).is_nan());
        assert!(vus_pr(&[], &[], 4).is_nan());
        assert!(vus_pr(&[true, false], &[f64::NAN, 0.2], 4).is_nan());
        assert!(vus(&[true, false], &[0.3, 0.2], 4, 0).pr.is_nan());
        // Every step anomalous: ROC is 0 / 0 as in the reference, PR still defined.
        let all = vus(&[true, true, true], &[0.3, 0.2, 0.1], 2, 250);
        assert!(all.roc.is_nan() && all.pr == 1.0, "{all:?}");
    }

    #[test]
    fn linspace_indices_truncate_as_numpy() {
        // numpy.linspace(0, 9, 4).astype(int) == [0, 3, 6, 9]; linspace(0, 10, 4) == [0, 3, 6, 10].
        assert_eq!(linspace_indices(9, 4).collect::<Vec<_>>(), vec![0, 3, 6, 9]);
        assert_eq!(linspace_indices(10, 4).collect::<Vec<_>>(), vec![0, 3, 6, 10]);
        assert_eq!(linspace_indices(5, 1).collect::<Vec<_>>(), vec![0]);
        assert_eq!(linspace_indices(2, 5).collect::<Vec<_>>(), vec![0, 0, 1, 1, 2]);
    }
}
