//! Scheduled episodes in a traffic lane: each starts at its `at` and spreads its planned records
//! over its duration (rising linearly over its ramp first). Their records come on top of the
//! schedule's slots, at their own times, as an attack adds its traffic to a network's: a
//! ten-minute exfiltration of 10 MB at 25 records/s of baseline is 50,000 records of its own, far
//! more than the baseline's slots in that time.
//!
//! Episode *i* of the timeline runs in traffic lane `i mod workers` with the id
//! `<run_id>-s<i>`. Its record *j* is due at `at + τ(j)`, where τ inverts the ramped rate's
//! cumulative count: with rate `c · min(τ / ramp, 1)` and `c = planned / (duration − ramp / 2)`,
//! the last record falls just before `at + duration`. A conversation's further records follow its
//! first at once. The lane merges these times with its slots', so every record is written at its
//! own time, to the millisecond.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::chaos::{ActiveEpisode, ChaosSettings, Emission, EpisodeSummary, KINDS, ScheduledInfo, Start, start_episode};
use crate::network::baseline::Baseline;
use crate::network::random::LaneRng;
use crate::records::{AnomalyKind, Timestamp};

use super::timeline::ScheduledEpisode;

/// One scheduled episode in progress.
#[derive(Debug)]
struct Running<'s> {
    plan: Cow<'s, ScheduledEpisode>,
    episode: ActiveEpisode<'s>,
}

/// A traffic lane's scheduled episodes: those not yet due, and those in progress.
#[derive(Debug)]
pub struct ScheduledEpisodes<'s> {
    waiting: VecDeque<(usize, Cow<'s, ScheduledEpisode>)>,
    running: Vec<Running<'s>>,
    run_id: &'s str,
    start_ms: i64,
    worker: u32,
}

impl<'s> ScheduledEpisodes<'s> {
    /// The episodes of `timeline` that lane `lane_index` of `traffic_lanes` runs.
    pub fn new(episodes: &'s [ScheduledEpisode], lane_index: u32, traffic_lanes: u32, run_id: &'s str, start_ms: i64) -> Self {
        let mut waiting: Vec<(usize, Cow<'s, ScheduledEpisode>)> = episodes
            .iter()
            .enumerate()
            .filter(|(index, _)| *index as u32 % traffic_lanes.max(1) == lane_index)
            .map(|(index, episode)| (index, Cow::Borrowed(episode)))
            .collect();
        waiting.sort_by_key(|(index, episode)| (episode.at_ms, *index));
        ScheduledEpisodes { waiting: waiting.into(), running: Vec::new(), run_id, start_ms, worker: lane_index }
    }

    /// Adds episode `index` of the run (an injected one, numbered after the timeline's), due at
    /// its `at_ms`, which no record of the lane has reached yet.
    pub fn add(&mut self, index: usize, episode: ScheduledEpisode) {
        let position = self.waiting.partition_point(|(other, waiting)| (waiting.at_ms, *other) <= (episode.at_ms, index));
        self.waiting.insert(position, (index, Cow::Owned(episode)));
    }

    /// Ends episode `id` now: a running one's summary (incomplete), or `None` when it is not this
    /// lane's or had not started (it then never will).
    pub fn end(&mut self, id: &str) -> Option<EpisodeSummary> {
        let index: usize = id.strip_prefix(self.run_id)?.strip_prefix("-s")?.parse().ok()?;
        if let Some(position) = self.waiting.iter().position(|(other, _)| *other == index) {
            self.waiting.remove(position);
            return None;
        }
        let position = self.running.iter().position(|running| &*running.episode.episode_id == id)?;
        let running = self.running.swap_remove(position);
        (running.episode.emitted > 0).then(|| self.summary(&running))
    }

    /// Logical offset (ns) at which the next scheduled record is due: a conversation's next
    /// record at once (at its episode's last record's time), else the earliest due episode's.
    pub fn next_due_ns(&self) -> Option<u64> {
        let running = self.running.iter().map(Running::due_ns).min();
        let waiting = self.waiting.front().map(|(_, episode)| episode.at_ms.saturating_mul(1_000_000));
        running.into_iter().chain(waiting).min()
    }

    /// Writes the record [`Self::next_due_ns`] named, stamped `time_ms`, starting its episode when
    /// it is the first; an episode that ends with it goes to `finished`.
    pub fn emit_due(
        &mut self,
        rng: &mut LaneRng,
        baseline: &Baseline<'s>,
        chaos: &ChaosSettings,
        time_ms: i64,
        finished: &mut Vec<EpisodeSummary>,
    ) -> (AnomalyKind, Rc<str>, Emission<'s>) {
        let running_due = self.running.iter().enumerate().min_by_key(|(_, running)| running.due_ns());
        let waiting_due = self.waiting.front().map(|(_, episode)| episode.at_ms.saturating_mul(1_000_000));
        let index = match (running_due, waiting_due) {
            (Some((index, running)), waiting) if waiting.is_none_or(|at| running.due_ns() <= at) => index,
            _ => self.start_next(rng, baseline, chaos),
        };
        let running = &mut self.running[index];
        let emission = running.episode.emit(rng, baseline, time_ms);
        let kind = running.episode.kind;
        let id = running.episode.episode_id.clone();
        if running.episode.is_finished() {
            let running = self.running.swap_remove(index);
            finished.push(self.summary(&running));
        }
        (kind, id, emission)
    }

    /// Starts the first waiting episode; returns its index in `running`.
    fn start_next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'s>, chaos: &ChaosSettings) -> usize {
        let Some((index, plan)) = self.waiting.pop_front() else { return 0 };
        let plan_ref: &ScheduledEpisode = &plan;
        let mut settings = chaos.clone();
        for parameter in KINDS[plan_ref.kind].parameters {
            if let Some(value) = plan_ref.parameters.get(parameter.name) {
                settings = settings.with(parameter, *value);
            }
        }
        let start = Start {
            settings: &settings,
            target: &plan_ref.target,
            intensity: plan_ref.intensity,
            difficulty: plan_ref.difficulty,
            span_ms: Some(plan_ref.duration_ms),
        };
        let id: Rc<str> = format!("{}-s{index}", self.run_id).into();
        let episode = start_episode(plan_ref.kind, id, rng, baseline, &start, 1.0);
        self.running.push(Running { plan, episode });
        self.running.len() - 1
    }

    fn summary(&self, running: &Running<'_>) -> EpisodeSummary {
        let plan = &running.plan;
        let mut summary = running.episode.summary(self.worker);
        summary.scheduled = Some(ScheduledInfo {
            at: Timestamp::from_unix_millis(self.start_ms + plan.at_ms as i64),
            duration_ms: plan.duration_ms,
            ramp_ms: plan.ramp_ms,
            target: plan.target.to_string(),
            intensity: plan.intensity,
            difficulty: plan.difficulty,
            occurrence: plan.occurrence,
            file: plan.origin.as_ref().map(|origin| origin.file.clone()),
            line: plan.origin.as_ref().map(|origin| origin.line),
        });
        summary
    }

    /// Episodes in progress when the lane stops, summarised as they stand.
    pub fn open_episodes(&self) -> Vec<EpisodeSummary> {
        self.running.iter().filter(|running| running.episode.emitted > 0).map(|running| self.summary(running)).collect()
    }
}

impl Running<'_> {
    /// Logical offset (ns) at which the episode's next record is due: at once in the middle of a
    /// conversation (its last record's time), else where its rate puts it.
    fn due_ns(&self) -> u64 {
        let plan = &self.plan;
        // An episode with a timetable of its own keeps it (fitted to the duration when it started).
        if !self.episode.has_pending_records()
            && let Some(after) = self.episode.shape.next_due_ms()
        {
            return (plan.at_ms.saturating_add(after)).saturating_mul(1_000_000);
        }
        // A conversation's further records follow its first at once; and records past the plan
        // (the end of its last conversation) stay at the plan's last time, inside the duration.
        let j = if self.episode.has_pending_records() { self.episode.emitted.saturating_sub(1) } else { self.episode.emitted };
        let j = j.min(self.episode.planned.saturating_sub(1));
        let due_ms = plan.at_ms as f64 + due_after_ms(j, self.episode.planned, plan.duration_ms as f64, plan.ramp_ms as f64);
        (due_ms * 1e6) as u64
    }
}

/// When record `j` of `planned` is due, ms after the episode's start, for a rate that rises
/// linearly over `ramp` ms and then holds, placing `planned` records in `duration` ms.
fn due_after_ms(j: u64, planned: u64, duration: f64, ramp: f64) -> f64 {
    let ramp = ramp.min(duration);
    let rate = planned as f64 / (duration - ramp / 2.0).max(f64::MIN_POSITIVE);
    let j = j as f64;
    if ramp > 0.0 && j <= rate * ramp / 2.0 { (2.0 * ramp * j / rate).sqrt() } else { j / rate + ramp / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_spread_evenly_over_the_duration_without_a_ramp() {
        assert_eq!(due_after_ms(0, 100, 60_000.0, 0.0), 0.0);
        assert!((due_after_ms(50, 100, 60_000.0, 0.0) - 30_000.0).abs() < 1e-6);
        assert!(due_after_ms(99, 100, 60_000.0, 0.0) < 60_000.0);
    }

    #[test]
    fn a_ramp_starts_slow_and_still_ends_within_the_duration() {
        let (planned, duration, ramp) = (1_000, 600_000.0, 300_000.0);
        let times: Vec<f64> = (0..planned).map(|j| due_after_ms(j, planned, duration, ramp)).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(*times.last().unwrap() < duration && *times.last().unwrap() > duration * 0.99);
        // A quarter of the way into the ramp, the rate is a quarter of the full one.
        let early_gap = times[11] - times[10];
        let late_gap = times[900] - times[899];
        assert!(early_gap > 3.0 * late_gap, "{early_gap} vs {late_gap}");
        // Continuous at the ramp's end.
        let at_ramp_end = (planned as f64 / (duration - ramp / 2.0)) * ramp / 2.0;
        let j = at_ramp_end.floor() as u64;
        assert!((due_after_ms(j, planned, duration, ramp) - ramp).abs() < 1_000.0);
    }
}
