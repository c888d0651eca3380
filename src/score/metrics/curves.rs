//! Threshold-free figures of a continuous score: the area under the precision-recall curve by
//! the trapezoidal rule (the VUS package's `AUC_PR`) and average precision (the step-wise sum).
//!
//! Both walk the precision-recall curve of scikit-learn's `precision_recall_curve`
//! (`sklearn/metrics/_ranking.py`): one point per distinct score, taken as a threshold from the
//! highest down (predicted = `score >= threshold`), where precision is `tp / (tp + fp)` and recall
//! `tp / P`, then the point (recall 0, precision 1) appended. Then:
//! - [`auc_pr`] is `sklearn.metrics.auc(recall, precision)`, the trapezoidal area, which is what
//!   `vus.utils.metrics.metricor.metric_PR` returns as `AUC_PR` (and `vus.metrics.get_metrics`
//!   with `metric="auc"`). Linear interpolation between PR points is optimistic (Davis and
//!   Goadrich, ICML 2006), which is why average precision exists.
//! - [`average_precision`] is `sklearn.metrics.average_precision_score`:
//!   `Σ (R_k − R_{k−1}) · P_k`, no interpolation. (The VUS package's `basic_metricor.metric_PR`,
//!   used by `get_metrics(metric="all")`, returns this under the same name `AUC_PR`.)
//!
//! Edge cases, as scikit-learn: with no real anomaly its recall is set to 1 at every threshold
//! (with a warning), so average precision is 0 and the trapezoidal area 0.5 (the segment from
//! (1, 0) to (0, 1)): neither means anything, and a report should show such a kind as undefined.
//! An empty series, or a score that is NaN or infinite, makes scikit-learn raise: we return NaN.

/// The points of the precision-recall curve, in scikit-learn's order (recall decreasing), with
/// the final (recall 0, precision 1) point; `None` when scikit-learn raises.
fn precision_recall_curve(labels: &[bool], scores: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let len = labels.len().min(scores.len());
    let (labels, scores) = (&labels[..len], &scores[..len]);
    if len == 0 || scores.iter().any(|score| !score.is_finite()) {
        return None;
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_unstable_by(|&left, &right| scores[right].total_cmp(&scores[left]));
    // Cumulative counts at the last index of each run of equal scores, highest scores first.
    let mut true_positives = Vec::new();
    let mut predicted = Vec::new();
    let mut running_true = 0u64;
    for (rank, &index) in order.iter().enumerate() {
        running_true += u64::from(labels[index]);
        let last_of_its_score = order.get(rank + 1).is_none_or(|&next| scores[next] != scores[index]);
        if last_of_its_score {
            true_positives.push(running_true);
            predicted.push(rank as u64 + 1);
        }
    }
    let positives = running_true;
    let mut precision: Vec<f64> = true_positives.iter().zip(&predicted).rev().map(|(&tp, &all)| tp as f64 / all as f64).collect();
    let mut recall: Vec<f64> =
        true_positives.iter().rev().map(|&tp| if positives == 0 { 1.0 } else { tp as f64 / positives as f64 }).collect();
    precision.push(1.0);
    recall.push(0.0);
    Some((precision, recall))
}

/// Area under the precision-recall curve by the trapezoidal rule, as the VUS package's `AUC_PR`
/// (`metricor.metric_PR`: `sklearn.metrics.auc(recall, precision)`). In `[0, 1]`; NaN for an
/// empty series or a non-finite score; 0.5 with no real anomaly (see the module doc).
pub fn auc_pr(labels: &[bool], scores: &[f64]) -> f64 {
    let Some((precision, recall)) = precision_recall_curve(labels, scores) else {
        return f64::NAN;
    };
    // Recall decreases along the curve, so sklearn's `auc` takes direction −1.
    let area: f64 = recall
        .windows(2)
        .zip(precision.windows(2))
        .map(|(recall_pair, precision_pair)| (recall_pair[1] - recall_pair[0]) * (precision_pair[1] + precision_pair[0]) / 2.0)
        .sum();
    -area
}

/// Average precision, as `sklearn.metrics.average_precision_score`: `Σ (R_k − R_{k−1}) · P_k`
/// over the thresholds. In `[0, 1]`; NaN for an empty series or a non-finite score; 0 with no
/// real anomaly (see the module doc).
pub fn average_precision(labels: &[bool], scores: &[f64]) -> f64 {
    let Some((precision, recall)) = precision_recall_curve(labels, scores) else {
        return f64::NAN;
    };
    let sum: f64 =
        recall.windows(2).zip(&precision).map(|(recall_pair, &precision_at)| (recall_pair[1] - recall_pair[0]) * precision_at).sum();
    // sklearn clips the −0.0 that rounding can leave.
    (-sum).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_scores_one() {
        let labels = [false, true, false, true];
        let scores = [0.1, 0.9, 0.2, 0.8];
        assert_eq!(average_precision(&labels, &scores), 1.0);
        assert_eq!(auc_pr(&labels, &scores), 1.0);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: 0.9 (real), 0.8 (not), 0.7 (real), 0.1 (not).
        // Thresholds hit recall 1/2 at precision 1, then recall 1 at precision 2/3.
        let labels = [true, false, true, false];
        let scores = [0.9, 0.8, 0.7, 0.1];
        let expected = 0.5 * 1.0 + 0.5 * (2.0 / 3.0);
        assert!((average_precision(&labels, &scores) - expected).abs() < 1e-15);
        // Trapezoids: (0,1)-(0.5,1): 0.5; (0.5,1)-(0.5,0.5): 0; (0.5,0.5)-(1,2/3): 0.5·(0.5+2/3)/2;
        // (1,2/3)-(1,0.5): 0.
        let trapezoid = 0.5 + 0.5 * (0.5 + 2.0 / 3.0) / 2.0;
        assert!((auc_pr(&labels, &scores) - trapezoid).abs() < 1e-15);
    }

    #[test]
    fn tied_scores_form_one_threshold() {
        // All tied: one point at recall 1, precision 1/2.
        let labels = [true, false];
        let scores = [0.5, 0.5];
        assert_eq!(average_precision(&labels, &scores), 0.5);
        assert_eq!(auc_pr(&labels, &scores), 0.75);
    }

    #[test]
    fn no_real_anomaly_gives_sklearns_conventions() {
        let labels = [false, false, false];
        let scores = [0.3, 0.1, 0.2];
        assert_eq!(average_precision(&labels, &scores), 0.0);
        assert_eq!(auc_pr(&labels, &scores), 0.5);
    }

    #[test]
    fn empty_or_non_finite_input_is_nan() {
        assert!(average_precision(&[], &[]).is_nan());
        assert!(auc_pr(&[], &[]).is_nan());
        assert!(average_precision(&[true, false], &[f64::NAN, 0.0]).is_nan());
        assert!(auc_pr(&[true, false], &[f64::INFINITY, 0.0]).is_nan());
    }
}
