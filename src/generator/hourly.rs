//! A traffic lane's episodes on the hourly clock ([`HourlyClock`]): the kinds and forms scheduled
//! by logical time, and the benign look-alikes.
//!
//! Every lane walks the run's whole sequence of hourly starts and runs those numbered
//! `lane mod traffic lanes`. A started episode is timed by its own timetable
//! ([`Episode::next_due_ms`](crate::chaos::Episode::next_due_ms)) or, for a kind without one, by
//! its planned records spread evenly over its kind's span. Its records take the schedule's slots:
//! a record due at `t` is written in the lane's first slot at or after `t`, stamped with that
//! slot's time, so a run keeps its rate and its `--count` exactly; the time error is at most the
//! gap between two slots of the lane (10 ms at 100 records/s a lane). At a rate below an episode's
//! own (a flood at 10 records/s), its records fall behind their times and the episode stretches.
//! A conversation's further records take the next slots at once.
//!
//! Tests: `hourly_episodes_take_slots_near_their_due_times` (below), and `it::chaos_kinds` for
//! the shapes over hours of logical time.

use std::rc::Rc;

use crate::chaos::{
    ActiveEpisode, ChaosSettings, Emission, EpisodeSummary, HourlyClock, HourlyStart, HourlyWhat, KINDS, LOOKALIKES, Start, spec,
    start_episode,
};
use crate::network::baseline::Baseline;
use crate::network::random::LaneRng;
use crate::network::target::Target;
use crate::records::AnomalyKind;

/// The span over which a look-alike without its own timetable spreads its records.
const LOOKALIKE_SPAN_MS: f64 = 600_000.0;

/// One episode from the hourly clock, in progress.
#[derive(Debug)]
struct Running<'s> {
    episode: ActiveEpisode<'s>,
    /// [`Running::due_ms`] as of its last record.
    due_ms: u64,
    /// When it was due to start, ms from t0.
    at_ms: u64,
    /// Its span when it keeps no timetable of its own, ms.
    span_ms: f64,
}

impl Running<'_> {
    /// When its next record is due, ms from t0: at once in the middle of a conversation.
    fn compute_due_ms(&self) -> u64 {
        if self.episode.has_pending_records() {
            return 0;
        }
        match self.episode.shape.next_due_ms() {
            Some(after) => self.at_ms.saturating_add(after),
            None => {
                let planned = self.episode.planned.max(1) as f64;
                self.at_ms + (self.episode.emitted.min(self.episode.planned) as f64 * self.span_ms / planned) as u64
            }
        }
    }
}

/// A traffic lane's hourly episodes.
#[derive(Debug)]
pub struct HourlyEpisodes<'s> {
    clock: HourlyClock,
    settings: &'s ChaosSettings,
    running: Vec<Running<'s>>,
    lane_index: u32,
    traffic_lanes: u32,
    run_id: &'s str,
    /// The earliest of the clock's next start and the running episodes' next records: before
    /// it, a slot is the baseline's at the cost of one comparison.
    next_ms: u64,
}

impl<'s> HourlyEpisodes<'s> {
    /// The hourly episodes lane `lane_index` of `traffic_lanes` runs in a run of `settings` seeded
    /// with `seed`, whose t0 is `start_ms`.
    pub fn new(seed: u64, settings: &'s ChaosSettings, start_ms: i64, lane_index: u32, traffic_lanes: u32, run_id: &'s str) -> Self {
        HourlyEpisodes {
            clock: HourlyClock::new(seed, settings, start_ms),
            settings,
            running: Vec::new(),
            lane_index,
            traffic_lanes: traffic_lanes.max(1),
            run_id,
            next_ms: 0,
        }
    }

    /// The record of an hourly episode due at `offset_ms` (starting the episodes due by then), or
    /// `None` when none is: its kind (`None` for a look-alike's, which is normal traffic), its
    /// episode id and what to write. An episode that ends with it goes to `finished`.
    pub fn take_due(
        &mut self,
        rng: &mut LaneRng,
        baseline: &Baseline<'s>,
        offset_ms: u64,
        time_ms: i64,
        worker: u32,
        finished: &mut Vec<EpisodeSummary>,
    ) -> Option<(Option<AnomalyKind>, Rc<str>, Emission<'s>)> {
        if offset_ms < self.next_ms {
            return None;
        }
        let taken = self.take(rng, baseline, offset_ms, time_ms, worker, finished);
        let running = self.running.iter().map(|running| running.due_ms).min();
        self.next_ms = running.into_iter().chain(self.clock.peek_ms()).min().unwrap_or(u64::MAX);
        taken
    }

    fn take(
        &mut self,
        rng: &mut LaneRng,
        baseline: &Baseline<'s>,
        offset_ms: u64,
        time_ms: i64,
        worker: u32,
        finished: &mut Vec<EpisodeSummary>,
    ) -> Option<(Option<AnomalyKind>, Rc<str>, Emission<'s>)> {
        while self.clock.peek_ms().is_some_and(|at| at <= offset_ms) {
            let Some(start) = self.clock.next_start() else { break };
            if start.number % u64::from(self.traffic_lanes) == u64::from(self.lane_index) {
                self.start(start, rng, baseline);
            }
        }
        let (index, _) = self
            .running
            .iter()
            .enumerate()
            .map(|(index, running)| (index, running.due_ms))
            .filter(|(_, due)| *due <= offset_ms)
            // A conversation in progress first, then an episode's first record (so that a start keeps
            // its time however far behind a long episode has fallen), then the earliest due.
            .min_by_key(|(index, due)| {
                let episode = &self.running[*index].episode;
                (!episode.has_pending_records(), episode.emitted > 0, *due)
            })?;
        let running = &mut self.running[index];
        let emission = running.episode.emit(rng, baseline, time_ms);
        running.due_ms = running.compute_due_ms();
        let id = running.episode.episode_id.clone();
        let kind = running.episode.lookalike.is_none().then_some(running.episode.kind);
        if running.episode.is_finished() {
            finished.push(self.running.swap_remove(index).episode.summary(worker));
        }
        Some((kind, id, emission))
    }

    fn start(&mut self, start: HourlyStart, rng: &mut LaneRng, baseline: &Baseline<'s>) {
        let (episode, span_ms) = match start.what {
            HourlyWhat::Kind(kind, difficulty) => {
                let id: Rc<str> = format!("{}-h{}", self.run_id, start.number).into();
                let begin = Start { settings: self.settings, target: &Target::Any, intensity: 1.0, difficulty, span_ms: None };
                (start_episode(kind, id, rng, baseline, &begin, 1.0), KINDS[kind].target_span_seconds * 1_000.0)
            }
            HourlyWhat::Lookalike(index) => {
                let lookalike = LOOKALIKES[index];
                let id: Rc<str> = format!("{}-b{}", self.run_id, start.number).into();
                let begin = Start { difficulty: "benign", ..Start::background(self.settings, spec(lookalike.resembles)) };
                let mut episode = ActiveEpisode::new(id, lookalike.resembles, (lookalike.start)(rng, baseline, &begin), 1.0);
                episode.difficulty = "benign";
                episode.lookalike = Some(lookalike.name);
                (episode, LOOKALIKE_SPAN_MS)
            }
        };
        let mut running = Running { episode, due_ms: 0, at_ms: start.at_ms, span_ms };
        running.due_ms = running.compute_due_ms();
        self.running.push(running);
    }

    /// Ends episode `id` now, if it is one of this lane's: its summary (incomplete) when it has
    /// written a record.
    pub fn end(&mut self, id: &str, worker: u32) -> Option<EpisodeSummary> {
        let position = self.running.iter().position(|running| &*running.episode.episode_id == id)?;
        let running = self.running.swap_remove(position);
        (running.episode.emitted > 0).then(|| running.episode.summary(worker))
    }

    /// Episodes in progress when the lane stops, summarised as they stand.
    pub fn open_episodes(&self, worker: u32) -> Vec<EpisodeSummary> {
        self.running.iter().filter(|running| running.episode.emitted > 0).map(|running| running.episode.summary(worker)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::chaos::Difficulty;
    use crate::network::random::rng_for;
    use crate::network::topology::Topology;
    use crate::records::PerKind;

    #[test]
    fn hourly_episodes_take_slots_near_their_due_times() {
        let topology = Topology::new(3);
        let baseline = Baseline::new(&topology);
        let mut settings = ChaosSettings::new(PerKind::default());
        settings.per_hour[AnomalyKind::ConnectionReset] = 6.0;
        settings.difficulty[AnomalyKind::ConnectionReset] = Difficulty::Subtle;
        let mut rng = rng_for(3, 1);
        // Two lanes; this is lane 1 of 2.
        let mut lane = HourlyEpisodes::new(11, &settings, 0, 1, 2, "run");
        let mut clock = HourlyClock::new(11, &settings, 0);
        let mut finished = Vec::new();
        let mut taken = 0u64;
        let mut first_ms: BTreeMap<String, u64> = BTreeMap::new();
        // A slot every 50 ms for two hours.
        for slot in 0..(2 * 3_600_000 / 50) {
            let offset_ms = slot * 50;
            if let Some((kind, id, _)) = lane.take_due(&mut rng, &baseline, offset_ms, offset_ms as i64, 1, &mut finished) {
                assert_eq!(kind, Some(AnomalyKind::ConnectionReset));
                first_ms.entry(id.to_string()).or_insert(offset_ms);
                taken += 1;
            }
        }
        // The lane ran exactly the starts numbered 1 mod 2, each from the first slot at or after
        // its due time (the clock's own starts, walked again here).
        // The lane ran only the starts numbered 1 mod 2 (the clock's own starts, walked again
        // here), never a record before its start.
        let mut expected = BTreeMap::new();
        while let Some(start) = clock.next_start().filter(|start| start.at_ms < 2 * 3_600_000) {
            if start.number % 2 == 1 {
                expected.insert(format!("run-h{}", start.number), start.at_ms);
            }
        }
        assert!(first_ms.len() >= 3, "{first_ms:?}");
        for (id, first) in &first_ms {
            let at_ms = expected.get(id).unwrap_or_else(|| panic!("{id} is not this lane's"));
            assert!(first >= at_ms, "{id} due at {at_ms}, first written at {first}");
        }
        let counted: u64 = finished.iter().map(|summary| summary.records).sum::<u64>()
            + lane.open_episodes(1).iter().map(|summary| summary.records).sum::<u64>();
        assert_eq!(counted, taken, "every record taken belongs to a summarised episode");
    }
}
