//! Range-based precision and recall: Tatbul, Lee, Zdonik, Alam, Gottschlich, "Precision and
//! Recall for Time Series", NeurIPS 2018, section 4 (equations 1-6; the δ biases of Figure 3).
//!
//! Recall is the mean, over real anomaly ranges `R`, of
//! `α · Existence(R) + (1 − α) · γ(R) · Σ_P ω(R, R ∩ P)` over the predicted ranges `P`:
//! - `Existence(R)` is 1 if any predicted range overlaps `R`, else 0;
//! - `ω(R, O)` is the share of `R`'s positional weight that the overlap `O` covers: the steps of
//!   `R` are numbered `i = 1..=|R|`, each weighs `δ(i, |R|)`, and `ω` is the weight of the steps
//!   in `O` over the weight of all of `R` (flat: every step 1; front: `|R| − i + 1`; back: `i`;
//!   middle: `i` up to `|R| / 2`, then `|R| − i + 1`);
//! - `γ(R)` is the cardinality factor: 1 (`One`), or `1 / k` when `R` overlaps `k > 1`
//!   predicted ranges (`Reciprocal`, punishing a range detected in fragments).
//!
//! Precision is the same with the roles swapped (the mean over predicted ranges, ω over the
//! predicted range's steps, γ by how many real ranges it overlaps) and `α = 0`, as the paper
//! prescribes: existence alone is too low a bar for a prediction.
//!
//! Reference: `prts` 1.0.0.3 (`prts.ts_recall` / `prts.ts_precision`,
//! `prts/base/time_series_metrics.py`), which sums ω step by step; we sum each δ in closed form,
//! exactly (integers), so an overlap costs O(1) and the whole metric O((|real| + |pred|) log).
//!
//! Edge cases: with no real ranges recall is 0, and with no predicted ranges precision is 0, as
//! the guards of prts's `_update_recall` / `_update_precision` return (its public functions raise
//! an `IndexError` on an all-zero series before reaching them). With no predictions recall is 0
//! and with no real ranges precision is 0, as the definitions give.

use super::{Range, normalised};

/// Where in a range the positional weight δ lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bias {
    /// Every step weighs the same.
    Flat,
    /// Early steps weigh more: detecting the start of an anomaly counts most.
    Front,
    /// Late steps weigh more.
    Back,
    /// The middle steps weigh more.
    Middle,
}

/// The cardinality factor γ for a range that overlaps several ranges of the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// γ = 1: fragmentation is not punished.
    One,
    /// γ = 1 / k for k > 1 overlapping ranges.
    Reciprocal,
}

/// The tunable parameters of [`range_recall`] and [`range_precision`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeParams {
    /// The weight of the existence reward in recall, in `[0, 1]` (clamped; NaN reads as 0).
    /// Ignored by precision (0 there, as in the paper).
    pub alpha: f64,
    pub bias: Bias,
    pub cardinality: Cardinality,
}

/// Range-based recall of `predicted` against `real` (Tatbul et al., equation 4).
pub fn range_recall(real: &[Range], predicted: &[Range], params: &RangeParams) -> f64 {
    let alpha = if params.alpha.is_nan() { 0.0 } else { params.alpha.clamp(0.0, 1.0) };
    mean_reward(&normalised(real), &normalised(predicted), alpha, params)
}

/// Range-based precision of `predicted` against `real` (Tatbul et al., equation 6), with α = 0.
pub fn range_precision(real: &[Range], predicted: &[Range], params: &RangeParams) -> f64 {
    mean_reward(&normalised(predicted), &normalised(real), 0.0, params)
}

/// The mean over `scored` ranges of `α · existence + (1 − α) · γ · Σ ω` against the `other`
/// ranges; both sorted and disjoint.
fn mean_reward(scored: &[Range], other: &[Range], alpha: f64, params: &RangeParams) -> f64 {
    if scored.is_empty() {
        return 0.0;
    }
    let mut total = 0.0;
    for range in scored {
        let first = other.partition_point(|candidate| candidate.end <= range.start);
        let mut omega_sum = 0.0;
        let mut overlaps = 0u64;
        for candidate in other[first..].iter().take_while(|candidate| candidate.start < range.end) {
            overlaps += 1;
            let overlap = Range { start: range.start.max(candidate.start), end: range.end.min(candidate.end) };
            omega_sum += omega(*range, overlap, params.bias);
        }
        let gamma = match params.cardinality {
            Cardinality::Reciprocal if overlaps > 1 => 1.0 / overlaps as f64,
            _ => 1.0,
        };
        let existence = if overlaps > 0 { 1.0 } else { 0.0 };
        total += alpha * existence + (1.0 - alpha) * (gamma * omega_sum);
    }
    total / scored.len() as f64
}

/// ω: the positional weight of `overlap` (a sub-range of `range`) over that of all of `range`.
fn omega(range: Range, overlap: Range, bias: Bias) -> f64 {
    let len = range.len();
    let covered = cumulative_weight(overlap.end - range.start, len, bias) - cumulative_weight(overlap.start - range.start, len, bias);
    let whole = cumulative_weight(len, len, bias);
    if whole == 0 { 0.0 } else { covered as f64 / whole as f64 }
}

/// `Σ δ(i, len)` for `i` in `1..=k`, exactly. Sums stay below 2^53 (so convert to f64 exactly,
/// as prts's float sums are exact) for ranges up to ~10^8 steps.
fn cumulative_weight(k: u64, len: u64, bias: Bias) -> u128 {
    let triangle = |x: u64| u128::from(x) * (u128::from(x) + 1) / 2;
    match bias {
        Bias::Flat => u128::from(k),
        Bias::Back => triangle(k),
        // δ(i) = len − i + 1 sums to T(len) − T(len − k).
        Bias::Front => triangle(len) - triangle(len - k),
        Bias::Middle => {
            // δ(i) = i while i <= len / 2 (prts: `t <= anomaly_length / 2.0`), then len − i + 1.
            let half = len / 2;
            if k <= half { triangle(k) } else { triangle(half) + triangle(len - half) - triangle(len - k) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ranges_of;
    use super::*;

    const FLAT_ONE: RangeParams = RangeParams { alpha: 0.0, bias: Bias::Flat, cardinality: Cardinality::One };

    fn ranges(text: &str) -> Vec<Range> {
        ranges_of(&text.chars().map(|c| c == '1').collect::<Vec<_>>())
    }

    /// δ summed step by step, as prts does.
    fn weight_by_steps(k: u64, len: u64, bias: Bias) -> u128 {
        (1..=k)
            .map(|i| match bias {
                Bias::Flat => 1,
                Bias::Front => len - i + 1,
                Bias::Back => i,
                Bias::Middle if 2 * i <= len => i,
                Bias::Middle => len - i + 1,
            } as u128)
            .sum()
    }

    #[test]
    fn closed_form_weights_equal_the_step_by_step_sums() {
        for bias in [Bias::Flat, Bias::Front, Bias::Back, Bias::Middle] {
            for len in 1..40 {
                for k in 0..=len {
                    assert_eq!(cumulative_weight(k, len, bias), weight_by_steps(k, len, bias), "{bias:?} len {len} k {k}");
                }
            }
        }
    }

    #[test]
    fn flat_recall_is_the_covered_share_of_each_real_range() {
        // Real [1,5) half covered, [7,9) fully covered: recall (0.5 + 1) / 2.
        let real = ranges("0111100110");
        let predicted = ranges("0110000111");
        assert_eq!(range_recall(&real, &predicted, &FLAT_ONE), 0.75);
        // Predicted [1,3) all inside, [7,10) two thirds inside: precision (1 + 2/3) / 2.
        assert!((range_precision(&real, &predicted, &FLAT_ONE) - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn alpha_rewards_existence_in_recall_only() {
        let real = ranges("0111100000");
        let predicted = ranges("0001000011");
        let params = RangeParams { alpha: 1.0, ..FLAT_ONE };
        assert_eq!(range_recall(&real, &predicted, &params), 1.0);
        assert_eq!(range_precision(&real, &predicted, &params), range_precision(&real, &predicted, &FLAT_ONE));
        assert_eq!(range_precision(&real, &predicted, &params), 0.5);
    }

    #[test]
    fn front_bias_rewards_detecting_the_start() {
        let real = ranges("11110000");
        let early = ranges("11000000");
        let late = ranges("00110000");
        let front = RangeParams { bias: Bias::Front, ..FLAT_ONE };
        // Weights 4,3,2,1 of 10: the first half holds 7, the second 3.
        assert_eq!(range_recall(&real, &early, &front), 0.7);
        assert_eq!(range_recall(&real, &late, &front), 0.3);
        let back = RangeParams { bias: Bias::Back, ..FLAT_ONE };
        assert_eq!(range_recall(&real, &late, &back), 0.7);
    }

    #[test]
    fn reciprocal_cardinality_punishes_fragments() {
        let real = ranges("11111100");
        let fragments = ranges("11011000");
        let reciprocal = RangeParams { cardinality: Cardinality::Reciprocal, ..FLAT_ONE };
        assert_eq!(range_recall(&real, &fragments, &FLAT_ONE), 4.0 / 6.0);
        assert_eq!(range_recall(&real, &fragments, &reciprocal), 2.0 / 6.0);
    }

    #[test]
    fn empty_sides_give_zero() {
        let some = ranges("0110");
        for params in [FLAT_ONE, RangeParams { alpha: 0.5, bias: Bias::Middle, cardinality: Cardinality::Reciprocal }] {
            assert_eq!(range_recall(&[], &some, &params), 0.0);
            assert_eq!(range_recall(&some, &[], &params), 0.0);
            assert_eq!(range_precision(&some, &[], &params), 0.0);
            assert_eq!(range_precision(&[], &some, &params), 0.0);
        }
    }

    #[test]
    fn unsorted_or_overlapping_ranges_read_as_their_union() {
        let real = [Range::new(5, 8), Range::new(0, 3), Range::new(2, 4)];
        let predicted = [Range::new(1, 6)];
        let union = [Range::new(0, 4), Range::new(5, 8)];
        let params = RangeParams { alpha: 0.2, bias: Bias::Middle, cardinality: Cardinality::Reciprocal };
        assert_eq!(range_recall(&real, &predicted, &params), range_recall(&union, &predicted, &params));
        assert_eq!(range_precision(&real, &predicted, &params), range_precision(&union, &predicted, &params));
    }

    #[test]
    fn out_of_range_alpha_is_clamped() {
        let real = ranges("0110");
        let predicted = ranges("0100");
        let clamped = range_recall(&real, &predicted, &RangeParams { alpha: 7.0, ..FLAT_ONE });
        assert_eq!(clamped, 1.0);
        assert_eq!(range_recall(&real, &predicted, &RangeParams { alpha: f64::NAN, ..FLAT_ONE }), 0.5);
    }
}
