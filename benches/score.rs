//! The ML metrics of `netchaos score` at the size the lead calls them: one anomaly kind over a
//! day at 1-second bins (86,400 steps), with 300 episodes, a detector's scores and alerts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use netchaos::score::metrics::{self, Bias, Cardinality, RangeParams};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const DAY: usize = 86_400;

/// 300 episodes of 10 s to 10 min; scores raised on them; alerts where the score is high.
fn day() -> (Vec<bool>, Vec<f64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    let mut labels = vec![false; DAY];
    for _ in 0..300 {
        let start = rng.random_range(0..DAY);
        let len = rng.random_range(10..600);
        labels[start..(start + len).min(DAY)].fill(true);
    }
    let scores: Vec<f64> = labels.iter().map(|&label| rng.random::<f64>() + if label { rng.random::<f64>() } else { 0.0 }).collect();
    let predicted = scores.iter().map(|&score| score > 1.2).collect();
    (labels, scores, predicted)
}

fn score_metrics(criterion: &mut Criterion) {
    let (labels, scores, predicted) = day();
    let real = metrics::ranges_of(&labels);
    let alerts = metrics::ranges_of(&predicted);
    let mut group = criterion.benchmark_group("score_metrics_day_1s");
    group.sample_size(10);
    group.bench_function("vus_pr_window_100", |bench| bench.iter(|| black_box(metrics::vus_pr(&labels, &scores, 100))));
    group.bench_function("auc_pr", |bench| bench.iter(|| black_box(metrics::auc_pr(&labels, &scores))));
    let params = RangeParams { alpha: 0.0, bias: Bias::Front, cardinality: Cardinality::Reciprocal };
    group.bench_function("range_recall_and_precision", |bench| {
        bench.iter(|| black_box((metrics::range_recall(&real, &alerts, &params), metrics::range_precision(&real, &alerts, &params))))
    });
    let span = metrics::Range::new(0, DAY as u64);
    group.bench_function("affiliation", |bench| bench.iter(|| black_box(metrics::affiliation(&real, &alerts, span))));
    group.finish();
}

criterion_group!(benches, score_metrics);
criterion_main!(benches);
