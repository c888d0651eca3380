//! [`ActiveEpisode`]: an episode of any kind in progress, with what every episode keeps alike (its
//! id, its records so far, the times they cover, the conversation it is in the middle of).

use std::collections::VecDeque;
use std::rc::Rc;

use crate::network::baseline::Baseline;
use crate::network::random::LaneRng;
use crate::records::{AnomalyKind, Timestamp};

use super::{Emission, Episode, EpisodeSummary, Start, spec};

/// An episode in progress.
#[derive(Debug)]
pub struct ActiveEpisode<'t> {
    pub episode_id: Rc<str>,
    pub kind: AnomalyKind,
    /// The kind's own state.
    pub shape: Box<dyn Episode<'t> + 't>,
    pub planned: u64,
    pub emitted: u64,
    pub density: f64,
    /// Logical time of the first record (the port-scan lane times its probes from it).
    pub first_ms: i64,
    /// Earliest time any of its records covers (a flow's window start, a session's start): the
    /// episode's start in the ground truth, so that every record lies inside [start, end].
    pub earliest_ms: i64,
    pub last_ms: i64,
    /// Records of the episode's current conversation still to write.
    pending: VecDeque<Emission<'t>>,
    /// The form it takes (`overt`, `subtle`).
    pub difficulty: &'static str,
    /// For a benign look-alike, its name: its records carry no label.
    pub lookalike: Option<&'static str>,
}

impl<'t> ActiveEpisode<'t> {
    pub fn new(episode_id: Rc<str>, kind: AnomalyKind, shape: Box<dyn Episode<'t> + 't>, density: f64) -> Self {
        let planned = shape.planned_records().max(1);
        ActiveEpisode {
            episode_id,
            kind,
            shape,
            planned,
            emitted: 0,
            density,
            first_ms: 0,
            earliest_ms: i64::MAX,
            last_ms: 0,
            pending: VecDeque::new(),
            difficulty: "overt",
            lookalike: None,
        }
    }

    /// The next record of the episode, stamped at `time_ms`.
    pub fn emit(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, time_ms: i64) -> Emission<'t> {
        if self.emitted == 0 {
            self.first_ms = time_ms;
        }
        self.last_ms = time_ms;
        self.emitted += 1;
        if self.pending.is_empty() {
            self.shape.next(rng, baseline, time_ms, &mut self.pending);
        }
        // Every kind adds at least one record; the fallback only keeps this total.
        let emission = self.pending.pop_front().unwrap_or_else(|| Emission::NoData(baseline.random_host(rng, 0)));
        self.earliest_ms = self.earliest_ms.min(emission.start_ms(time_ms));
        emission
    }

    /// True once the planned records are out and no conversation is half written.
    pub fn is_finished(&self) -> bool {
        self.shape.is_planned_out(self.emitted) && self.pending.is_empty()
    }

    /// In the middle of a conversation: its next record comes before anything else.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// In the middle of a conversation (for schedulers outside this module).
    pub fn has_pending_records(&self) -> bool {
        self.has_pending()
    }

    /// Logical span the episode aims to cover, in seconds (drives its density).
    pub(super) fn target_span_seconds(&self) -> f64 {
        spec(self.kind).target_span_seconds
    }

    pub fn summary(&self, worker: u32) -> EpisodeSummary {
        let (parameters, actors) = self.shape.describe();
        EpisodeSummary {
            episode_id: self.episode_id.to_string(),
            kind: self.kind,
            technique: if self.lookalike.is_some() { None } else { spec(self.kind).technique },
            difficulty: self.difficulty,
            benign: self.lookalike.is_some(),
            lookalike: self.lookalike,
            worker,
            start: Timestamp::from_unix_millis(self.earliest_ms.min(self.first_ms)),
            end: Timestamp::from_unix_millis(self.last_ms),
            records: self.emitted,
            complete: self.is_finished(),
            parameters,
            actors,
            scheduled: None,
        }
    }
}

/// Starts a new episode of `kind`.
pub fn start_episode<'t>(
    kind: AnomalyKind,
    episode_id: Rc<str>,
    rng: &mut LaneRng,
    baseline: &Baseline<'t>,
    start: &Start<'_>,
    density: f64,
) -> ActiveEpisode<'t> {
    let mut episode = ActiveEpisode::new(episode_id, kind, (spec(kind).start)(rng, baseline, start), density);
    episode.difficulty = start.difficulty;
    episode
}
