//! `netchaos::score::metrics` against the metrics' reference implementations from PyPI, on shared
//! fixtures: hand-made edge cases plus a few hundred seeded random series of varied lengths and
//! densities. Each test writes the fixtures as JSON, runs `reference.py` (beside this file) once
//! in the test tools' Python (`NETCHAOS_TEST_PYTHON`, set up by scripts/test from
//! scripts/test-requirements*.txt), and compares every figure.
//!
//! Tolerance: 1e-9 absolute everywhere. The figures are the same arithmetic in another order
//! (closed-form sums for prts's step-by-step ones, trapezoids for the affiliation's expanded
//! integrals, prefix sums for VUS's per-threshold dot products), so they agree to rounding.

use std::path::Path;
use std::process::Command;

use netchaos::score::metrics::{self, Bias, Cardinality, RangeParams};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

#[derive(Debug, Clone, Serialize)]
struct Fixture {
    name: String,
    labels: Vec<u8>,
    predicted: Vec<u8>,
    scores: Vec<f64>,
    span: [u64; 2],
    max_window: usize,
    thresholds: usize,
    /// The range-based parameters to compare on this fixture (prts is slow: two per random
    /// fixture, rotating so that they cover every bias, cardinality and α many times).
    range_cases: Vec<RangeCase>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct RangeCase {
    bias: &'static str,
    cardinality: &'static str,
    alpha: f64,
}

impl RangeCase {
    const BIASES: [(&'static str, Bias); 4] =
        [("flat", Bias::Flat), ("front", Bias::Front), ("back", Bias::Back), ("middle", Bias::Middle)];
    const CARDINALITIES: [(&'static str, Cardinality); 2] = [("one", Cardinality::One), ("reciprocal", Cardinality::Reciprocal)];
    const ALPHAS: [f64; 3] = [0.0, 0.25, 1.0];

    /// The `index`th of the 24 combinations (modulo 24).
    fn nth(index: usize) -> RangeCase {
        RangeCase {
            bias: Self::BIASES[index % 4].0,
            cardinality: Self::CARDINALITIES[(index / 4) % 2].0,
            alpha: Self::ALPHAS[(index / 8) % 3],
        }
    }

    fn params(&self) -> RangeParams {
        let bias = Self::BIASES.iter().find(|(name, _)| *name == self.bias).map(|(_, bias)| *bias).unwrap();
        let cardinality =
            Self::CARDINALITIES.iter().find(|(name, _)| *name == self.cardinality).map(|(_, cardinality)| *cardinality).unwrap();
        RangeParams { alpha: self.alpha, bias, cardinality }
    }
}

impl Fixture {
    fn new(name: &str, labels: &str, predicted: &str) -> Fixture {
        let bits = |text: &str| text.bytes().map(|byte| u8::from(byte == b'1')).collect::<Vec<u8>>();
        let labels = bits(labels);
        let predicted = bits(predicted);
        // A score that ranks the predicted steps first, with ties.
        let scores = predicted.iter().zip(&labels).map(|(&predicted, &label)| f64::from(predicted) + 0.25 * f64::from(label)).collect();
        let span = [0, labels.len() as u64];
        let max_window = 4;
        Fixture {
            name: name.to_owned(),
            labels,
            predicted,
            scores,
            span,
            max_window,
            thresholds: metrics::DEFAULT_THRESHOLDS,
            range_cases: Vec::new(),
        }
    }

    fn labels(&self) -> Vec<bool> {
        self.labels.iter().map(|&bit| bit == 1).collect()
    }

    fn predicted(&self) -> Vec<bool> {
        self.predicted.iter().map(|&bit| bit == 1).collect()
    }
}

/// Edge cases by hand: empty sides, whole series, runs at the edges, single steps, fragments.
fn hand_made() -> Vec<Fixture> {
    [
        ("single true step", "1", "1"),
        ("single step missed", "1", "0"),
        ("single step, no anomaly", "0", "1"),
        ("nothing at all", "0000", "0000"),
        ("no prediction", "0110", "0000"),
        ("no anomaly", "0000", "0110"),
        ("everything real and predicted", "1111", "1111"),
        ("everything predicted", "0110010", "1111111"),
        ("everything real", "1111111", "0110010"),
        ("exact", "0011100111", "0011100111"),
        ("shifted by one", "0011100111", "0001110011"),
        ("runs at both edges", "1100000011", "1000000001"),
        ("alternating", "0101010101", "1010101010"),
        ("alternating, exact", "1010101010", "1010101010"),
        ("one prediction over three anomalies", "0101011100", "1111111110"),
        ("fragments inside one anomaly", "0111111110", "0101010100"),
        ("far false positives", "0000011000000000", "1000000000000001"),
        ("long anomaly, point hits", "0111111111111111111110", "0000000001000000000000"),
    ]
    .into_iter()
    .map(|(name, labels, predicted)| Fixture::new(name, labels, predicted))
    .collect()
}

/// Random runs: `count` runs of lengths `1..=longest` at uniform starts (they may merge).
fn runs(rng: &mut Xoshiro256PlusPlus, len: usize, count: usize, longest: usize) -> Vec<u8> {
    let mut bits = vec![0u8; len];
    for _ in 0..count {
        let start = rng.random_range(0..len);
        let run = rng.random_range(1..=longest.max(1));
        bits[start..(start + run).min(len)].fill(1);
    }
    bits
}

fn random_fixture(rng: &mut Xoshiro256PlusPlus, index: usize) -> Fixture {
    let len = match rng.random_range(0..4) {
        0 => rng.random_range(1..=20),
        1 => rng.random_range(20..=200),
        2 => rng.random_range(200..=1000),
        _ => rng.random_range(1000..=3000),
    };
    let longest = [1, 5, 30, (len / 4).max(1)][rng.random_range(0..4)];
    let run_count = if rng.random_bool(0.05) { 0 } else { rng.random_range(1..=(len / 40).max(1)) };
    let labels = runs(rng, len, run_count, longest);
    let predicted: Vec<u8> = match rng.random_range(0..6) {
        // A detector: each real step's neighbourhood predicted with some slack, plus false alarms.
        0 | 1 => {
            let slack = rng.random_range(0..=4usize);
            let mut predicted = vec![0u8; len];
            for (step, &label) in labels.iter().enumerate() {
                if label == 1 && rng.random_bool(0.6) {
                    let from = step.saturating_sub(rng.random_range(0..=slack));
                    let to = (step + rng.random_range(0..=slack) + 1).min(len);
                    predicted[from..to].fill(1);
                }
            }
            let alarm_count = rng.random_range(0..=(len / 100).max(1));
            let false_alarms = runs(rng, len, alarm_count, 6);
            predicted.iter().zip(&false_alarms).map(|(&hit, &alarm)| hit | alarm).collect()
        }
        // Independent noise.
        2 => {
            let density = [0.01, 0.1, 0.5][rng.random_range(0..3)];
            (0..len).map(|_| u8::from(rng.random_bool(density))).collect()
        }
        // Runs of their own, unrelated to the truth.
        3 => {
            let count = rng.random_range(1..=(len / 30).max(1));
            runs(rng, len, count, longest)
        }
        // Fragments inside the real runs only.
        4 => labels.iter().map(|&label| label & u8::from(rng.random_bool(0.5))).collect(),
        _ => vec![0; len],
    };
    // Scores: noise, raised on and near real steps; a third quantised to tenths (ties).
    let strength = rng.random_range(0.0..2.0);
    let quantised = rng.random_bool(0.3);
    let scores = labels
        .iter()
        .map(|&label| {
            let score: f64 = rng.random::<f64>() + strength * f64::from(label) * rng.random::<f64>();
            if quantised { (score * 10.0).round() / 10.0 } else { score }
        })
        .collect();
    let extra = if rng.random_bool(0.2) { rng.random_range(1..=50) } else { 0 };
    let max_window = [0, 1, 2, 3, 5, 8, 13, 20][rng.random_range(0..8)];
    let thresholds = if rng.random_bool(0.8) { metrics::DEFAULT_THRESHOLDS } else { [1, 2, 7, 40, 400][rng.random_range(0..5)] };
    Fixture {
        name: format!("random #{index}, length {len}"),
        labels,
        predicted,
        scores,
        span: [0, len as u64 + extra],
        max_window,
        thresholds,
        range_cases: Vec::new(),
    }
}

/// The shared fixtures: the hand-made ones and 300 seeded random ones.
fn fixtures() -> Vec<Fixture> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    let mut fixtures = hand_made();
    fixtures.extend((0..300).map(|index| random_fixture(&mut rng, index)));
    for (index, fixture) in fixtures.iter_mut().enumerate() {
        // The hand-made fixtures get all 24 combinations; the random ones two each, rotating.
        fixture.range_cases = if fixture.name.starts_with("random") {
            vec![RangeCase::nth(2 * index), RangeCase::nth(2 * index + 13)]
        } else {
            (0..24).map(RangeCase::nth).collect()
        };
    }
    fixtures
}

/// `reference.py MODE` over `fixtures`, in the test tools' Python: one result per fixture.
fn reference(mode: &str, fixtures: &[Fixture]) -> Vec<Value> {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with prts, vus, scikit-learn and tadpak (scripts/test sets it up)");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("fixtures.json");
    let output = dir.path().join("results.json");
    std::fs::write(&input, serde_json::to_vec(fixtures).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/score/reference.py");
    let started = std::time::Instant::now();
    let run = Command::new(python).arg(script).arg(mode).arg(&input).arg(&output).output().expect("run the test tools' Python");
    eprintln!("reference.py {mode}: {} fixtures in {:.1} s", fixtures.len(), started.elapsed().as_secs_f64());
    assert!(run.status.success(), "reference.py {mode}: {}", String::from_utf8_lossy(&run.stderr));
    let results: Vec<Value> = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(results.len(), fixtures.len(), "reference.py {mode}: one result per fixture");
    results
}

/// Compares figures and keeps the largest difference.
#[derive(Default)]
struct Comparison {
    figures: usize,
    undefined: usize,
    largest_difference: f64,
}

impl Comparison {
    /// `ours` against the reference's figure: equal within [`TOLERANCE`], or both undefined
    /// (reference null, ours NaN).
    fn check(&mut self, ours: f64, reference: &Value, what: &str) {
        match reference.as_f64() {
            Some(expected) => {
                let difference = (ours - expected).abs();
                assert!(difference <= TOLERANCE, "{what}: ours {ours}, reference {expected}");
                self.largest_difference = self.largest_difference.max(difference);
                self.figures += 1;
            }
            None => {
                assert!(reference.is_null() && ours.is_nan(), "{what}: ours {ours}, reference {reference}");
                self.undefined += 1;
            }
        }
    }

    fn report(&self, area: &str, fixtures: usize, against: &str) {
        eprintln!(
            "{area}: {fixtures} fixtures, {} figures equal to {against} within {TOLERANCE:e} (largest difference {:e}), {} undefined in both",
            self.figures, self.largest_difference, self.undefined
        );
        assert!(self.figures > fixtures, "{area}: compared {} figures over {fixtures} fixtures", self.figures);
    }
}

#[test]
fn point_and_point_adjusted_figures_match_sklearn_and_tadpak() {
    let fixtures = fixtures();
    let results = reference("point", &fixtures);
    let mut comparison = Comparison::default();
    for (fixture, result) in fixtures.iter().zip(&results) {
        let (labels, predicted) = (fixture.labels(), fixture.predicted());
        for (ours, key) in
            [(metrics::point_prf(&labels, &predicted), "point"), (metrics::point_adjusted_prf(&labels, &predicted), "adjusted")]
        {
            let expected = &result[key];
            comparison.check(ours.precision, &expected["precision"], &format!("{}: {key} precision", fixture.name));
            comparison.check(ours.recall, &expected["recall"], &format!("{}: {key} recall", fixture.name));
            comparison.check(ours.f1, &expected["f1"], &format!("{}: {key} f1", fixture.name));
        }
    }
    comparison.report("point and point-adjusted P/R/F1", fixtures.len(), "sklearn (after tadpak.pak)");
}

#[test]
fn range_based_precision_and_recall_match_prts() {
    let fixtures = fixtures();
    let results = reference("range", &fixtures);
    let mut comparison = Comparison::default();
    let mut combinations = std::collections::BTreeSet::new();
    for (fixture, result) in fixtures.iter().zip(&results) {
        let real = metrics::ranges_of(&fixture.labels());
        let predicted = metrics::ranges_of(&fixture.predicted());
        for (case, expected) in fixture.range_cases.iter().zip(result.as_array().unwrap()) {
            let params = case.params();
            let what = format!("{}: {}/{} α {}", fixture.name, case.bias, case.cardinality, case.alpha);
            comparison.check(metrics::range_recall(&real, &predicted, &params), &expected["recall"], &format!("{what} recall"));
            comparison.check(metrics::range_precision(&real, &predicted, &params), &expected["precision"], &format!("{what} precision"));
            combinations.insert((case.bias, case.cardinality, case.alpha.to_string()));
        }
    }
    assert_eq!(combinations.len(), 24, "every bias, cardinality and α compared");
    comparison.report("range-based P/R", fixtures.len(), "prts");
}

#[test]
fn affiliation_matches_the_authors_code_vendored_in_vus() {
    let fixtures = fixtures();
    let results = reference("affiliation", &fixtures);
    let mut comparison = Comparison::default();
    let mut without_prediction = 0;
    for (fixture, result) in fixtures.iter().zip(&results) {
        let real = metrics::ranges_of(&fixture.labels());
        let predicted = metrics::ranges_of(&fixture.predicted());
        let span = metrics::Range::new(fixture.span[0], fixture.span[1]);
        let ours = metrics::affiliation(&real, &predicted, span);
        let what = format!("{}: affiliation", fixture.name);
        match ours {
            Some(ours) => {
                comparison.check(ours.precision, &result["precision"], &format!("{what} precision"));
                comparison.check(ours.recall, &result["recall"], &format!("{what} recall"));
            }
            None => {
                // The reference raises (no real anomaly) or has no precision (no prediction).
                assert!(result["precision"].is_null(), "{what}: ours undefined, reference {result}");
                assert!(real.is_empty() || predicted.is_empty(), "{what}: undefined with both sides present");
                if !real.is_empty() {
                    assert_eq!(result["recall"].as_f64(), Some(0.0), "{what}: the reference's recall without prediction");
                    without_prediction += 1;
                }
                comparison.undefined += 1;
            }
        }
    }
    assert!(without_prediction > 0, "the fixtures hold a case with real anomalies and no prediction");
    comparison.report("affiliation P/R", fixtures.len(), "vus.affiliation");
}

#[test]
fn auc_pr_and_average_precision_match_vus_and_sklearn() {
    let fixtures = fixtures();
    let results = reference("curves", &fixtures);
    let mut comparison = Comparison::default();
    for (fixture, result) in fixtures.iter().zip(&results) {
        let labels = fixture.labels();
        comparison.check(metrics::auc_pr(&labels, &fixture.scores), &result["auc_pr"], &format!("{}: AUC-PR", fixture.name));
        comparison.check(
            metrics::average_precision(&labels, &fixture.scores),
            &result["average_precision"],
            &format!("{}: AP", fixture.name),
        );
    }
    comparison.report("AUC-PR and average precision", fixtures.len(), "vus metric_PR and sklearn");
}

#[test]
fn vus_matches_range_auc_volume_opt() {
    // The reference is O(windows · thresholds · n) in Python: a subset of the shortest series.
    let fixtures: Vec<Fixture> = fixtures().into_iter().filter(|fixture| fixture.labels.len() <= 1000).take(120).collect();
    let results = reference("vus", &fixtures);
    let mut comparison = Comparison::default();
    for (fixture, result) in fixtures.iter().zip(&results) {
        let ours = metrics::vus(&fixture.labels(), &fixture.scores, fixture.max_window, fixture.thresholds);
        let what = format!("{}: VUS (window {}, {} thresholds)", fixture.name, fixture.max_window, fixture.thresholds);
        comparison.check(ours.pr, &result["pr"], &format!("{what} PR"));
        comparison.check(ours.roc, &result["roc"], &format!("{what} ROC"));
    }
    comparison.report("VUS-PR and VUS-ROC", fixtures.len(), "vus RangeAUC_volume_opt");
}
