//! The floor: a random detector with the same alert budget, scored exactly as the detector is.
//!
//! Each round keeps every alert (its entity, kind, technique and duration) and moves it to a time
//! drawn uniformly over the run's span; an alert by event ids draws as many event ids uniformly
//! from the run's records. A detector whose figures sit near the floor's has learnt nothing about
//! *when* (or *which records*); a metric that scores the floor high (point-adjusted F1 does) is
//! inflated. Seeded: the same input gives the same floor.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

use super::alerts::Alert;
use super::ml::Prf;
use super::{Group, Input, ScoreError, Settings, match_alerts, ml, soc};

/// The random detector's figures for one group: the mean over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Floor {
    pub rounds: u32,
    pub recall: Option<f64>,
    pub precision: Option<f64>,
    pub range_flat: Option<Prf>,
    pub affiliation: Option<Prf>,
    pub point_adjusted: Option<Prf>,
}

/// The floor for each of `groups`.
pub fn floors(groups: &[Group], input: &Input, settings: &Settings) -> Result<Vec<Floor>, ScoreError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
    let ids: Vec<&str> = input.records.map(|records| records.labels().map(|(id, _)| id).collect()).unwrap_or_default();
    let mut ids = ids;
    ids.sort_unstable();
    let round_settings = settings.clone();
    let mut sums: Vec<Sums> = vec![Sums::default(); groups.len()];
    for _ in 0..settings.random_rounds {
        let alerts: Vec<Alert> = input.alerts.iter().map(|alert| shuffled(alert, &ids, settings.span, &mut rng)).collect();
        let round = Input { alerts: &alerts, scores: None, ..*input };
        let matched = match_alerts(&round, &round_settings)?;
        for (group, sum) in groups.iter().zip(&mut sums) {
            let soc = soc::soc(group, &round, &matched, &round_settings);
            let ml = ml::ml(group, &round, &matched, &round_settings)?;
            sum.add(soc.recall, soc.precision, ml.range_based.map(|range| range.flat), ml.affiliation, ml.point_adjusted);
        }
    }
    Ok(sums.into_iter().map(|sum| sum.mean(settings.random_rounds)).collect())
}

fn shuffled(alert: &Alert, ids: &[&str], span: (i64, i64), rng: &mut Xoshiro256PlusPlus) -> Alert {
    let mut moved = alert.clone();
    if let Some((start, end)) = alert.span {
        let length = end - start;
        let latest = (span.1 - length).max(span.0);
        let at = rng.random_range(span.0..=latest);
        moved.span = Some((at, at + length));
    }
    if !alert.event_ids.is_empty() && !ids.is_empty() {
        moved.event_ids = (0..alert.event_ids.len()).map(|_| ids[rng.random_range(0..ids.len())].to_owned()).collect();
    }
    moved
}

#[derive(Debug, Clone, Default)]
struct Sums {
    recall: Mean,
    precision: Mean,
    range: [Mean; 3],
    affiliation: [Mean; 3],
    point_adjusted: [Mean; 3],
}

#[derive(Debug, Clone, Copy, Default)]
struct Mean {
    sum: f64,
    count: u32,
}

impl Mean {
    fn add(&mut self, value: Option<f64>) {
        if let Some(value) = value {
            self.sum += value;
            self.count += 1;
        }
    }

    fn get(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / f64::from(self.count))
    }
}

impl Sums {
    fn add(&mut self, recall: Option<f64>, precision: Option<f64>, range: Option<Prf>, affiliation: Option<Prf>, pa: Option<Prf>) {
        self.recall.add(recall);
        self.precision.add(precision);
        for (means, prf) in [(&mut self.range, range), (&mut self.affiliation, affiliation), (&mut self.point_adjusted, pa)] {
            means[0].add(prf.map(|prf| prf.precision));
            means[1].add(prf.map(|prf| prf.recall));
            means[2].add(prf.map(|prf| prf.f1));
        }
    }

    fn mean(self, rounds: u32) -> Floor {
        let prf = |means: [Mean; 3]| Some(Prf { precision: means[0].get()?, recall: means[1].get()?, f1: means[2].get()? });
        Floor {
            rounds,
            recall: self.recall.get(),
            precision: self.precision.get(),
            range_flat: prf(self.range),
            affiliation: prf(self.affiliation),
            point_adjusted: prf(self.point_adjusted),
        }
    }
}
