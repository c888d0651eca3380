//! The figures ML asks of a detector, per kind and overall, on a time axis of `--bin` steps over
//! the run's span:
//!
//! - an episode is real from its start to its end plus the collar (the span in which its records
//!   carry times, as the matching rule has it); an alert predicts its own span;
//! - record-level precision, recall and F1 through the alerts' `event_ids` (with the records);
//! - range-based precision and recall (Tatbul et al. 2018), flat and front-biased;
//! - affiliation precision and recall (Huet et al. 2022);
//! - from `--scores`: AUC-PR, VUS-PR (Paparrizos et al. 2022), and P/R/F1 at `--threshold`;
//! - point-adjusted F1 only with `--legacy-pa`: it credits a whole range for one hit, which a
//!   random detector can win (Kim et al. 2022).

use std::collections::HashSet;

use serde::Serialize;

use super::alerts::{Alert, Scores};
use super::metrics::{self, Bias, Cardinality, Range, RangeParams};
use super::{Group, Input, Matched, ScoreError, Settings};

/// Precision, recall and their F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    pub fn of(precision: f64, recall: f64) -> Prf {
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Prf { precision, recall, f1 }
    }
}

impl From<metrics::Prf> for Prf {
    fn from(prf: metrics::Prf) -> Prf {
        Prf { precision: prf.precision, recall: prf.recall, f1: prf.f1 }
    }
}

/// Range-based precision and recall, with the parameters they were computed with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeBased {
    pub flat: Prf,
    pub front: Prf,
    pub alpha: f64,
    pub cardinality: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FromScores {
    /// Average precision (sklearn's): a constant score gets the prevalence.
    pub average_precision: f64,
    /// The trapezoidal area under the PR curve, as the VUS package reports it: a constant score
    /// gets (1 + prevalence) / 2, so read it beside average precision.
    pub auc_pr: f64,
    pub vus_pr: f64,
    pub vus_window: usize,
    pub threshold: f64,
    pub at_threshold: Prf,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ml {
    pub bin_ms: i64,
    pub bins: usize,
    /// `None` without records or without alerts that name event ids.
    pub record_level: Option<Prf>,
    /// `None` when the group has no episodes or no alerts with a time.
    pub range_based: Option<RangeBased>,
    pub affiliation: Option<Prf>,
    pub scores: Option<FromScores>,
    pub point_adjusted: Option<Prf>,
}

/// The ML figures of `group` (overall or a kind).
pub fn ml(group: &Group, input: &Input, matched: &Matched, settings: &Settings) -> Result<Ml, ScoreError> {
    let axis = Axis::new(settings);
    let mut real = Marks::new(axis.bins);
    for episode in input.episodes.iter().filter(|episode| !episode.benign && group.holds(episode)) {
        real.mark(axis.steps(episode.start_ms, episode.end_ms + settings.collar_ms));
    }
    let real = real.finish();
    let mut predicted = Marks::new(axis.bins);
    let mut timed = 0;
    for (alert, outcome) in input.alerts.iter().zip(&matched.outcomes) {
        if group.counts(alert, outcome, input.episodes)
            && let Some((start, end)) = alert_span(alert, input)
        {
            predicted.mark(axis.steps(start, end));
            timed += 1;
        }
    }
    let predicted = predicted.finish();
    let (real_ranges, predicted_ranges) = (metrics::ranges_of(&real), metrics::ranges_of(&predicted));
    let range_based = (!real_ranges.is_empty() && timed > 0).then(|| {
        let at = |bias| {
            let params = RangeParams { alpha: 0.0, bias, cardinality: Cardinality::One };
            Prf::of(
                metrics::range_precision(&real_ranges, &predicted_ranges, &params),
                metrics::range_recall(&real_ranges, &predicted_ranges, &params),
            )
        };
        RangeBased { flat: at(Bias::Flat), front: at(Bias::Front), alpha: 0.0, cardinality: "one" }
    });
    let affiliation = (timed > 0)
        .then(|| metrics::affiliation(&real_ranges, &predicted_ranges, Range { start: 0, end: axis.bins as u64 }))
        .flatten()
        .map(|found| Prf::of(found.precision, found.recall));
    let point_adjusted = (settings.legacy_pa && timed > 0).then(|| metrics::point_adjusted_prf(&real, &predicted).into());
    // Without a real anomaly in the group, AUC-PR and VUS are undefined (the references give 0.5
    // or raise): none is shown.
    let scores = match input.scores {
        None => None,
        Some(scores) => from_scores(group, input, scores, &axis, &real, settings)?,
    };
    Ok(Ml {
        bin_ms: settings.bin_ms,
        bins: axis.bins,
        record_level: record_level(group, input, matched),
        range_based,
        affiliation,
        scores,
        point_adjusted,
    })
}

/// The time axis: `bins` steps of `bin_ms` from the span's start.
struct Axis {
    start: i64,
    bin_ms: i64,
    bins: usize,
}

impl Axis {
    fn new(settings: &Settings) -> Axis {
        let bin_ms = settings.bin_ms.max(1);
        let bins = ((settings.span.1 - settings.span.0).max(0) / bin_ms + 1) as usize;
        Axis { start: settings.span.0, bin_ms, bins }
    }

    /// The steps `[start, end]` (ms) touches, clipped to the axis.
    fn steps(&self, start: i64, end: i64) -> std::ops::Range<usize> {
        let step = |ms: i64| ((ms - self.start).div_euclid(self.bin_ms)).clamp(0, self.bins as i64) as usize;
        let (first, last) = (step(start), step(end.max(start)) + 1);
        first.min(self.bins)..last.min(self.bins)
    }
}

/// Steps marked by ranges, in time linear in the ranges plus the steps however long each range
/// is (a million alerts spanning the whole run cost no more than a million points): a difference
/// array, summed once.
struct Marks {
    changes: Vec<i64>,
}

impl Marks {
    fn new(steps: usize) -> Marks {
        Marks { changes: vec![0; steps + 1] }
    }

    fn mark(&mut self, steps: std::ops::Range<usize>) {
        if !steps.is_empty() {
            self.changes[steps.start] += 1;
            self.changes[steps.end] -= 1;
        }
    }

    fn finish(self) -> Vec<bool> {
        let mut depth = 0;
        let steps = self.changes.len() - 1;
        self.changes[..steps]
            .iter()
            .map(|change| {
                depth += change;
                depth > 0
            })
            .collect()
    }
}

/// An alert's span, or for one by event ids alone, the span of its records.
fn alert_span(alert: &Alert, input: &Input) -> Option<(i64, i64)> {
    alert.span.or_else(|| {
        let records = input.records?;
        let times: Vec<i64> = alert.event_ids.iter().filter_map(|id| records.time_of(id)).collect();
        Some((*times.iter().min()?, *times.iter().max()?))
    })
}

/// Precision and recall over records: the alerts' event ids against the group's labelled records.
fn record_level(group: &Group, input: &Input, matched: &Matched) -> Option<Prf> {
    let records = input.records?;
    let predicted: HashSet<&str> = input
        .alerts
        .iter()
        .zip(&matched.outcomes)
        .filter(|(alert, outcome)| group.counts(alert, outcome, input.episodes))
        .flat_map(|(alert, _)| alert.event_ids.iter().map(String::as_str))
        .collect();
    if predicted.is_empty() {
        return None;
    }
    let in_group =
        |episode: Option<usize>| episode.is_some_and(|index| !input.episodes[index].benign && group.holds(&input.episodes[index]));
    let (mut hits, mut real) = (0u64, 0u64);
    for (id, episode) in records.labels() {
        if in_group(episode) {
            real += 1;
            hits += u64::from(predicted.contains(id));
        }
    }
    let precision = hits as f64 / predicted.len() as f64;
    let recall = if real > 0 { hits as f64 / real as f64 } else { 0.0 };
    Some(Prf::of(precision, recall))
}

/// AUC-PR, VUS-PR and P/R/F1 at the threshold, per record or per time step.
fn from_scores(
    group: &Group,
    input: &Input,
    scores: &Scores,
    axis: &Axis,
    real: &[bool],
    settings: &Settings,
) -> Result<Option<FromScores>, ScoreError> {
    let (labels, values): (Vec<bool>, Vec<f64>) = match scores {
        Scores::Records(by_record) => {
            let records =
                input.records.ok_or_else(|| ScoreError::Input("scores by event_id need the records: give --store or --records".into()))?;
            if let Some((id, _)) = by_record.iter().find(|(id, _)| records.episode_of(id).is_none()) {
                let run = id.split('-').next().unwrap_or_default();
                let why = if input.episodes.iter().any(|episode| episode.run == run) {
                    "which the records do not hold: give the store or records file of the whole run"
                } else {
                    "of another run than the episodes file's"
                };
                return Err(ScoreError::Input(format!("the scores name event id `{id}`, {why}")));
            }
            let map: std::collections::HashMap<&str, f64> = by_record.iter().map(|(id, score)| (id.as_str(), *score)).collect();
            let floor = by_record.iter().map(|(_, score)| *score).fold(f64::INFINITY, f64::min) - 1.0;
            let in_group =
                |episode: Option<usize>| episode.is_some_and(|index| !input.episodes[index].benign && group.holds(&input.episodes[index]));
            let mut pairs: Vec<(i64, &str, bool, f64)> = records
                .labels()
                .map(|(id, episode)| (records.time_of(id).unwrap_or(0), id, in_group(episode), map.get(id).copied().unwrap_or(floor)))
                .collect();
            // In time order (VUS's buffers run along it), ties by id, the same every run.
            pairs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            pairs.into_iter().map(|(_, _, label, score)| (label, score)).unzip()
        }
        Scores::Windows(windows) => {
            let floor = windows.iter().map(|(_, _, score)| *score).fold(f64::INFINITY, f64::min) - 1.0;
            let mut values = vec![floor; axis.bins];
            for (start, _entity, score) in windows {
                for value in &mut values[axis.steps(*start, start + settings.window_ms - 1)] {
                    *value = value.max(*score);
                }
            }
            (real.to_vec(), values)
        }
    };
    if !labels.contains(&true) {
        return Ok(None);
    }
    let predicted: Vec<bool> = values.iter().map(|score| *score >= settings.threshold).collect();
    Ok(Some(FromScores {
        average_precision: metrics::average_precision(&labels, &values),
        auc_pr: metrics::auc_pr(&labels, &values),
        vus_pr: metrics::vus_pr(&labels, &values, settings.vus_window),
        vus_window: settings.vus_window,
        threshold: settings.threshold,
        at_threshold: metrics::point_prf(&labels, &predicted).into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::Marks;

    #[test]
    fn marks_are_the_union_of_their_ranges() {
        let mut marks = Marks::new(10);
        for range in [1..3, 2..5, 7..7, 8..10, 9..10] {
            marks.mark(range);
        }
        let expected: Vec<bool> = "0111100011".chars().map(|c| c == '1').collect();
        assert_eq!(marks.finish(), expected);
    }
}
