//! [`EpisodeScheduler`]: decides, record by record, whether a traffic lane writes an episode
//! record or baseline, holding each kind to its fraction (see the [module docs](super)).

use std::rc::Rc;

use crate::network::baseline::Baseline;
use crate::network::random::{LaneRng, chance};
use crate::records::{AnomalyKind, PerKind};

use super::{ActiveEpisode, ChaosSettings, Emission, EpisodeSummary, Placement, Start, spec, start_episode};

/// An active episode emits at this multiple of its kind's fraction at least, so it always spends
/// credit faster than the credit accrues (any factor above 1 would do; larger means shorter spans).
const DENSITY_OVER_FRACTION: f64 = 2.0;

/// Decides, record by record, whether a traffic lane emits an episode record or baseline, holding
/// each kind to its fraction (see the module docs).
#[derive(Debug)]
pub struct EpisodeScheduler<'t> {
    settings: ChaosSettings,
    /// Fraction of this lane's records that belong to each kind: 0 for a kind of the dedicated
    /// lane, which never starts here.
    fractions: PerKind<f64>,
    credit: PerKind<f64>,
    active: PerKind<Option<ActiveEpisode<'t>>>,
    /// This lane's logical rate, records per second.
    lane_rate: f64,
    run_id: String,
    worker: u32,
    next_number: u64,
}

impl<'t> EpisodeScheduler<'t> {
    /// `traffic_share` is the share of all records that traffic lanes carry (1 − port-scan share).
    pub fn new(settings: ChaosSettings, traffic_share: f64, lane_rate: f64, run_id: &str, worker: u32) -> Self {
        let fractions = fractions(&settings, traffic_share);
        EpisodeScheduler {
            settings,
            fractions,
            credit: PerKind::default(),
            active: PerKind::default(),
            lane_rate,
            run_id: run_id.to_owned(),
            worker,
            next_number: 0,
        }
    }

    /// New background chaos from here on (a scenario's next phase): each kind's fraction and
    /// parameters change; episodes in progress go on as they started.
    pub fn reconfigure(&mut self, settings: &ChaosSettings, traffic_share: f64, lane_rate: f64) {
        self.fractions = fractions(settings, traffic_share);
        self.settings = settings.clone();
        self.lane_rate = lane_rate;
    }

    /// Picks what the next record is. Returns the anomaly kind when it belongs to an episode.
    /// Episodes that end with this record are pushed onto `finished`.
    pub fn next(
        &mut self,
        rng: &mut LaneRng,
        baseline: &Baseline<'t>,
        time_ms: i64,
        finished: &mut Vec<EpisodeSummary>,
    ) -> Option<(AnomalyKind, Rc<str>, Emission<'t>)> {
        for kind in AnomalyKind::ALL {
            let fraction = self.fractions[kind];
            if fraction <= 0.0 {
                continue;
            }
            self.credit[kind] += fraction;
            if self.active[kind].is_none() && self.credit[kind] > 0.0 {
                self.maybe_start(kind, rng, baseline);
            }
        }
        // The kind in the middle of a conversation first, then every kind in order.
        let continuing = AnomalyKind::ALL.into_iter().find(|kind| self.active[*kind].as_ref().is_some_and(ActiveEpisode::has_pending));
        for kind in continuing.into_iter().chain(AnomalyKind::ALL) {
            let emits = self.active[kind].as_ref().is_some_and(|episode| episode.has_pending() || chance(rng, episode.density));
            if !emits {
                continue;
            }
            let Some(episode) = self.active[kind].as_mut() else { continue };
            let emission = episode.emit(rng, baseline, time_ms);
            let episode_id = episode.episode_id.clone();
            self.credit[kind] -= 1.0;
            if episode.is_finished() {
                finished.push(episode.summary(self.worker));
                self.active[kind] = None;
            }
            return Some((kind, episode_id, emission));
        }
        None
    }

    fn maybe_start(&mut self, kind: AnomalyKind, rng: &mut LaneRng, baseline: &Baseline<'t>) {
        let fraction = self.fractions[kind];
        let mean_length = spec(kind).mean_records;
        // Starts wait a random (geometric) number of records. While active, an episode spends
        // credit at `density - fraction` per record, i.e. half its length in total; the mean wait of
        // `length / (4 × fraction)` records earns back only a quarter, so the credit drifts down
        // whenever it is positive and stays bounded. A large debt starts an episode at once.
        let gate = (4.0 * fraction / mean_length).min(1.0);
        let owed = self.credit[kind] > mean_length / 2.0;
        if !owed && !chance(rng, gate) {
            return;
        }
        let episode_id: Rc<str> = format!("{}-{}-e{}", self.run_id, self.worker, self.next_number).into();
        self.next_number += 1;
        let mut episode = start_episode(kind, episode_id, rng, baseline, &Start::background(&self.settings, spec(kind)), 1.0);
        let spread = episode.planned as f64 / (episode.target_span_seconds() * self.lane_rate);
        episode.density = spread.max(DENSITY_OVER_FRACTION * fraction).clamp(1e-6, 1.0);
        self.active[kind] = Some(episode);
    }

    /// Ends episode `id` now, if it is one of this scheduler's: its summary (incomplete) when it
    /// has written a record.
    pub fn end(&mut self, id: &str) -> Option<EpisodeSummary> {
        let kind =
            AnomalyKind::ALL.into_iter().find(|kind| self.active[*kind].as_ref().is_some_and(|episode| &*episode.episode_id == id))?;
        let episode = self.active[kind].take()?;
        (episode.emitted > 0).then(|| episode.summary(self.worker))
    }

    /// Episodes still open (when the lane stops), summarised as they stand.
    pub fn open_episodes(&self) -> Vec<EpisodeSummary> {
        self.active.values().flatten().filter(|episode| episode.emitted > 0).map(|episode| episode.summary(self.worker)).collect()
    }
}

/// Fraction of a traffic lane's records that belong to each kind: 0 for a kind of the dedicated
/// lane, which never starts here.
fn fractions(settings: &ChaosSettings, traffic_share: f64) -> PerKind<f64> {
    PerKind::from_fn(|kind| {
        let in_lane = spec(kind).placement == Placement::TrafficLanes;
        if in_lane && traffic_share > 0.0 { (settings.record_fraction(kind) / traffic_share).min(1.0) } else { 0.0 }
    })
}
