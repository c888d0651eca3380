//! Affiliation precision and recall: Huet, Navarro, Rossi, "Local Evaluation of Time Series
//! Anomaly Detection Algorithms", KDD 2022, section 3 (Definitions 1-4, Theorem 1 for the
//! closed forms).
//!
//! Time is continuous: a step `i` is the interval `[i, i + 1)`, so a range `[start, end)` is the
//! real interval from `start` to `end`. Each real anomaly `J_j` owns an *affiliation zone* `E_j`:
//! the points of the span closer to `J_j` than to any other real anomaly (cut at the midpoints
//! between neighbours, the span's ends at the edges). Within each zone:
//! - the individual precision is the mean, over the predicted points `x` in `E_j`, of
//!   `F̄(dist(x, J_j))`: the probability that a point drawn uniformly from `E_j` lies at least as
//!   far from `J_j` (1 inside `J_j`; `1 − (|J| + d + min(d, m)) / |E|` at distance `d > 0`, where
//!   `m` is the smaller gap between `J_j` and the zone's ends);
//! - the individual recall is the mean, over the points `y` of `J_j`, of the probability that a
//!   uniform point of `E_j` lies at least as far from `y` as the nearest prediction in `E_j`
//!   (1 inside a prediction; `1 − (d + min(d, m_y)) / |E|`, with `m_y` the smaller distance from
//!   `y` to the zone's ends; each point of `J_j` is matched to the prediction whose own zone,
//!   cut at midpoints between the predictions inside `E_j`, holds it).
//!
//! Precision is the mean of the individual precisions over the zones that hold a prediction;
//! recall the mean of the individual recalls over all real anomalies (0 for a zone without a
//! prediction). Both are in `[0, 1]`, and a random prediction scores about 0.5 on each.
//!
//! Reference: the authors' code as vendored by the `vus` package (0.0.6; the standalone
//! `affiliation-metrics` package is not on PyPI): `vus.affiliation.metrics.pr_from_events` over
//! `vus.affiliation.generics.convert_vector_to_events`, with `Trange = (0, n)` as
//! `vus.metrics.get_metrics` calls it. The integrals of its `_integral_interval.py` are of
//! piecewise linear functions; we integrate the same functions exactly by the trapezoidal rule
//! between their kinks, in O(1) per piece, and find the pieces by binary search: the reference's
//! partition is O(|real| · |predicted|).
//!
//! Edge cases: `None` when there is no real anomaly (the reference raises `ValueError`), when
//! there is no prediction (the reference returns precision NaN and recall 0: recall 0 is then
//! the caller's to report), when the span is empty or does not hold every range (the reference
//! raises).

use super::{Range, normalised};

/// Affiliation precision and recall, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affiliation {
    pub precision: f64,
    pub recall: f64,
}

/// A real interval `[start, end]` of continuous time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Interval {
    start: f64,
    end: f64,
}

impl Interval {
    fn of(range: Range) -> Interval {
        Interval { start: range.start as f64, end: range.end as f64 }
    }

    fn len(&self) -> f64 {
        self.end - self.start
    }

    /// The intersection, when it has a positive length.
    fn intersection(&self, other: Interval) -> Option<Interval> {
        let both = Interval { start: self.start.max(other.start), end: self.end.min(other.end) };
        (both.start < both.end).then_some(both)
    }
}

/// Affiliation precision and recall of `predicted` against `real` over `span` (see the module
/// doc for the definition and the cases that give `None`).
pub fn affiliation(real: &[Range], predicted: &[Range], span: Range) -> Option<Affiliation> {
    let real = normalised(real);
    let predicted = normalised(predicted);
    let within_span = |ranges: &[Range]| {
        ranges.first().is_some_and(|first| first.start >= span.start) && ranges.last().is_some_and(|last| last.end <= span.end)
    };
    if span.is_empty() || !within_span(&real) || !within_span(&predicted) {
        return None;
    }
    let truths: Vec<Interval> = real.iter().copied().map(Interval::of).collect();
    let zones = zones_of(&truths, Interval::of(span));
    let (mut precision_sum, mut precision_count, mut recall_sum) = (0.0, 0usize, 0.0);
    let mut pieces = Vec::new();
    for (&truth, &zone) in truths.iter().zip(&zones) {
        pieces.clear();
        let first = predicted.partition_point(|range| range.end as f64 <= zone.start);
        for range in predicted[first..].iter().take_while(|range| (range.start as f64) < zone.end) {
            pieces.extend(Interval::of(*range).intersection(zone));
        }
        if !pieces.is_empty() {
            precision_sum += individual_precision(&pieces, truth, zone);
            precision_count += 1;
            recall_sum += individual_recall(&pieces, truth, zone);
        }
    }
    if precision_count == 0 {
        return None;
    }
    Some(Affiliation { precision: precision_sum / precision_count as f64, recall: recall_sum / truths.len() as f64 })
}

/// The affiliation zones of sorted disjoint `intervals` within `span`: cut at the midpoints
/// between neighbours (`_affiliation_zone.get_all_E_gt_func`).
fn zones_of(intervals: &[Interval], span: Interval) -> Vec<Interval> {
    (0..intervals.len())
        .map(|index| Interval {
            start: if index == 0 { span.start } else { (intervals[index - 1].end + intervals[index].start) / 2.0 },
            end: intervals.get(index + 1).map_or(span.end, |next| (intervals[index].end + next.start) / 2.0),
        })
        .collect()
}

/// The mean of `F̄(dist(x, truth))` over the points `x` of `pieces` (non-empty, inside `zone`).
fn individual_precision(pieces: &[Interval], truth: Interval, zone: Interval) -> f64 {
    let gap = (truth.start - zone.start).min(zone.end - truth.end);
    // For x outside the truth at distance d: F̄ = 1 − (|J| + d + min(d, gap)) / |E|.
    let spread = |x: f64| {
        let distance = (truth.start - x).max(x - truth.end).max(0.0);
        truth.len() + distance + distance.min(gap)
    };
    let kinks = [truth.start - gap, truth.start, truth.end, truth.end + gap];
    let mut integral = 0.0;
    for piece in pieces {
        integral += piece.intersection(truth).map_or(0.0, |inside| inside.len());
        for outside in outside_parts(*piece, truth) {
            integral += outside.len() - integrate_piecewise_linear(spread, outside, &kinks) / zone.len();
        }
    }
    integral / pieces.iter().map(Interval::len).sum::<f64>()
}

/// The mean over the points `y` of `truth` of `F̄_y(dist(y, nearest piece))`, each point matched
/// to the piece whose zone within `zone` holds it; `pieces` non-empty, sorted, inside `zone`.
fn individual_recall(pieces: &[Interval], truth: Interval, zone: Interval) -> f64 {
    let mut integral = 0.0;
    for (&piece, piece_zone) in pieces.iter().zip(zones_of(pieces, zone)) {
        let Some(matched) = truth.intersection(piece_zone) else {
            continue;
        };
        integral += matched.intersection(piece).map_or(0.0, |inside| inside.len());
        for outside in outside_parts(matched, piece) {
            let pivot = if outside.end <= piece.start { piece.start } else { piece.end };
            // A pivot outside the zone is farther than any random point: F̄ = 0
            // (`integral_mini_interval_Precall_CDFmethod`); pieces lie inside the zone, so this
            // guards the edges only.
            if pivot <= zone.start || pivot >= zone.end {
                continue;
            }
            // For y at distance d from the pivot: F̄ = 1 − (d + min(d, y − e_min, e_max − y)) / |E|.
            let spread = |y: f64| {
                let distance = (y - pivot).abs();
                distance + distance.min(y - zone.start).min(zone.end - y)
            };
            let kinks = [pivot, (pivot + zone.start) / 2.0, (pivot + zone.end) / 2.0, (zone.start + zone.end) / 2.0];
            integral += outside.len() - integrate_piecewise_linear(spread, outside, &kinks) / zone.len();
        }
    }
    integral / truth.len()
}

/// The parts of `interval` before and after `other`, where they have a positive length.
fn outside_parts(interval: Interval, other: Interval) -> impl Iterator<Item = Interval> {
    let before = Interval { start: interval.start, end: interval.end.min(other.start) };
    let after = Interval { start: interval.start.max(other.end), end: interval.end };
    [before, after].into_iter().filter(|part| part.start < part.end)
}

/// The exact integral over `interval` of a continuous function that is linear between `kinks`:
/// the trapezoidal rule between consecutive kinks.
fn integrate_piecewise_linear(function: impl Fn(f64) -> f64, interval: Interval, kinks: &[f64]) -> f64 {
    let mut points: Vec<f64> = Vec::with_capacity(kinks.len() + 2);
    points.push(interval.start);
    points.extend(kinks.iter().copied().filter(|&kink| interval.start < kink && kink < interval.end));
    points.push(interval.end);
    points.sort_unstable_by(f64::total_cmp);
    points.windows(2).map(|pair| (pair[1] - pair[0]) * (function(pair[0]) + function(pair[1])) / 2.0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(left: f64, right: f64) -> bool {
        (left - right).abs() < 1e-12
    }

    #[test]
    fn a_perfect_prediction_scores_one() {
        let real = [Range::new(10, 20), Range::new(50, 60)];
        let scores = affiliation(&real, &real, Range::new(0, 100)).unwrap();
        assert_eq!((scores.precision, scores.recall), (1.0, 1.0));
    }

    #[test]
    fn precision_by_hand_for_a_prediction_beside_the_truth() {
        // J = [4, 6] in E = [0, 10]: gap m = 4, |E| = 10. A prediction [6, 8] has d from 0 to 2:
        // F̄ = 1 − (2 + 2d) / 10, mean over d in [0, 2]: 1 − (2 + 2) / 10 = 0.6.
        let scores = affiliation(&[Range::new(4, 6)], &[Range::new(6, 8)], Range::new(0, 10)).unwrap();
        assert!(close(scores.precision, 0.6), "{scores:?}");
        // Recall: y in [4, 6] at distance d = 6 − y from the pivot 6, m_y = y (y <= 5) or
        // 10 − y: ∫ (d + min(d, m_y)) over [4, 6] is ∫ 2(6 − y) = 4, so recall 1 − 4 / 10 / 2 = 0.8.
        assert!(close(scores.recall, 0.8), "{scores:?}");
    }

    #[test]
    fn farther_predictions_score_lower() {
        let real = [Range::new(40, 50)];
        let span = Range::new(0, 100);
        let near = affiliation(&real, &[Range::new(52, 55)], span).unwrap();
        let far = affiliation(&real, &[Range::new(80, 83)], span).unwrap();
        assert!(near.precision > far.precision && near.recall > far.recall, "{near:?} {far:?}");
    }

    #[test]
    fn a_zone_without_prediction_has_no_precision_and_zero_recall() {
        let real = [Range::new(10, 20), Range::new(80, 90)];
        let scores = affiliation(&real, &real[..1], Range::new(0, 100)).unwrap();
        assert_eq!((scores.precision, scores.recall), (1.0, 0.5));
    }

    #[test]
    fn undefined_cases_are_none() {
        let some = [Range::new(2, 4)];
        let span = Range::new(0, 10);
        assert_eq!(affiliation(&[], &some, span), None);
        assert_eq!(affiliation(&some, &[], span), None);
        assert_eq!(affiliation(&some, &[Range::new(8, 12)], span), None);
        assert_eq!(affiliation(&some, &some, Range::new(3, 3)), None);
    }

    #[test]
    fn integration_is_exact_on_piecewise_linear_functions() {
        let interval = Interval { start: 0.0, end: 4.0 };
        let tent = |x: f64| 2.0 - (x - 2.0).abs();
        assert_eq!(integrate_piecewise_linear(tent, interval, &[2.0]), 4.0);
        assert_eq!(integrate_piecewise_linear(|x: f64| 3.0 * x, interval, &[-1.0, 9.0]), 24.0);
    }
}
