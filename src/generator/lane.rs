//! A worker lane: one thread, one RNG, one slice of the schedule at a time.
//!
//! (Over 450 lines: the lane's loop and the live commands it applies at slice boundaries read as
//! one, and splitting them would scatter the boundary argument of `control`.)
//!
//! Nothing on the hot path is shared or locked: the lane owns its RNG, its baseline sampler, its
//! episode schedulers, its walk through the arrival times and its output buffer, and hands a
//! finished [`Chunk`] to the collector once per slice. When paced, it sleeps until its slice is
//! due (`slice start / speed` on the wall clock): once per slice, never per event, and against the
//! absolute schedule, so a late lane catches up instead of drifting. Unpaced, it skips the slices
//! it has nothing for.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::sync::mpsc::SyncSender;

use crate::chaos::{ActiveEpisode, ChaosSettings, Emission, EpisodeScheduler, EpisodeSummary, Start, spec, start_episode};
use crate::records::{AnomalyKind, EventId, Label, PerKind, Record};
use crate::runtime::Shutdown;

use super::control::{Action, Control, Entry, RateCurve};
use super::hourly::HourlyEpisodes;
use super::schedule::{LaneRole, LaneSchedule, Schedule};
use super::scheduled::ScheduledEpisodes;
use super::timeline::Timeline;
use super::{Chunk, StartedEpisode};
use crate::network::baseline::{Baseline, Draw};
use crate::network::random::{LaneRng, chance};
use crate::network::session::{RecordContext, render_firewall, render_flow, render_no_data, render_skip_data};
use crate::network::topology::Topology;

/// A generous size of one JSON line (records are 600–900 bytes).
const EXPECTED_RECORD_BYTES: usize = 1_024;

/// Most chunks, and records, an unpaced lane hands over at once.
const BATCH_CHUNKS: usize = 256;
pub const BATCH_RECORDS: u64 = 2_048;

/// What a lane needs to know, shared read-only by all lanes.
#[derive(Debug)]
pub struct LaneShared<'s> {
    pub topology: &'s Topology,
    pub run_id: &'s str,
    pub chaos: ChaosSettings,
    pub firewall_ratio: f64,
    pub start_ms: i64,
    pub schedule: &'s Schedule,
    pub timeline: &'s Timeline,
    /// The flags' rate (phases set their own).
    pub eps: f64,
    pub traffic_lanes: u32,
    /// The logical end of a run bounded in time, nanoseconds from t0.
    pub end_ns: Option<u64>,
    /// The seed of the hourly clock (episodes scheduled by logical time, look-alikes).
    pub hourly_seed: u64,
    pub stop: &'s Shutdown,
    /// Live commands and the wall-clock pace.
    pub control: &'s Control,
    /// Whether the run's count is the user's `--count` (a live rate change keeps it), rather than
    /// one made of the duration and the rate (a live rate change ends the run at its duration).
    pub fixed_count: bool,
}

/// The per-lane mutable state.
struct Lane<'s> {
    shared: &'s LaneShared<'s>,
    plan: &'s LaneSchedule,
    rng: LaneRng,
    baseline: Baseline<'s>,
    scheduler: EpisodeScheduler<'s>,
    /// The scenario's episodes this lane runs.
    scheduled: ScheduledEpisodes<'s>,
    /// The hourly clock's episodes this lane runs (a traffic lane's).
    hourly: Option<HourlyEpisodes<'s>>,
    /// The phase in force (an index into the timeline's phases), and the span it covers.
    phase: Option<usize>,
    phase_span: (u64, u64),
    /// Each VPC's share of the traffic now, when a daily rhythm moves it.
    vpc_weights: Vec<f64>,
    weights_tick: u64,
    /// The port-scan lane's current episode.
    scan: Option<ActiveEpisode<'s>>,
    scan_number: u64,
    sessions: u64,
    /// Records of the current baseline conversation still to write.
    pending: VecDeque<Emission<'s>>,
    /// The episode of each kind that wrote the last record of its kind: a record from another
    /// one starts an episode (for the episodes-started metric).
    last_episode: PerKind<Option<Rc<str>>>,
    /// Episodes with a record written and not yet finished (their first record is a start).
    open_ids: HashSet<Rc<str>>,
    /// Background chaos set live, over the phase's and the flags'.
    live_chaos: Option<ChaosSettings>,
    /// The live target rate, after a live change.
    live_rate: RateCurve,
    /// The slot index at the first live rate change.
    live_first_slot: u64,
}

/// How a lane ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct LaneEnd {
    /// Records its scheduled episodes added to the schedule's slots.
    pub added: u64,
    /// Whether it was stopped (signal, output error) before its end.
    pub stopped: bool,
    /// Whether a live rate change moved its slots (its count is then what the rate made).
    pub retimed: bool,
}

/// Runs one lane to completion (count reached, stop flag raised, or collector gone).
pub fn run_lane(shared: &LaneShared<'_>, plan: &LaneSchedule, rng: LaneRng, output: SyncSender<Vec<Chunk>>) -> LaneEnd {
    let traffic_share = 1.0 - shared.chaos.record_fraction(AnomalyKind::PortScan);
    let episodes = if plan.role == LaneRole::Traffic { shared.timeline.episodes.as_slice() } else { &[] };
    let mut lane = Lane {
        shared,
        plan,
        rng,
        baseline: Baseline::new(shared.topology),
        scheduler: EpisodeScheduler::new(shared.chaos.clone(), traffic_share, plan.lane_rate(), shared.run_id, plan.worker),
        scheduled: ScheduledEpisodes::new(episodes, plan.worker, shared.traffic_lanes, shared.run_id, shared.start_ms),
        hourly: (plan.role == LaneRole::Traffic).then(|| {
            HourlyEpisodes::new(shared.hourly_seed, &shared.chaos, shared.start_ms, plan.worker, shared.traffic_lanes, shared.run_id)
        }),
        phase: None,
        phase_span: (0, 0),
        vpc_weights: Vec::new(),
        weights_tick: u64::MAX,
        scan: None,
        scan_number: 0,
        sessions: 0,
        pending: VecDeque::new(),
        last_episode: Default::default(),
        open_ids: HashSet::new(),
        live_chaos: None,
        live_rate: RateCurve::default(),
        live_first_slot: 0,
    };
    lane.baseline.set_lane(plan.worker, shared.traffic_lanes);
    let schedule = shared.schedule;
    let control = shared.control;
    let mut clock = schedule.clock(plan);
    let mut count = plan.count.unwrap_or(u64::MAX);
    // The schedule's slots used so far, and the lane's records (slots plus scheduled episodes').
    let mut slots = 0u64;
    let mut next_seq = 0u64;
    let mut next_slot = clock.offset_ns(0).filter(|_| count > 0);
    let mut slice = 0u64;
    // Live commands: the next one to look at, and those taken and not yet applied.
    let mut cursor = 0usize;
    let mut commands: VecDeque<Entry> = VecDeque::new();
    let mut end = LaneEnd::default();
    // Room for a slice's records up front: growing the buffer by doubling copied it over and over.
    let records_per_slice = (plan.lane_rate() * schedule.slice_ns as f64 / 1e9).ceil() as usize + 1;
    let bytes_per_slice = records_per_slice.min(1 << 16) * EXPECTED_RECORD_BYTES;
    // Unpaced, chunks go to the collector in batches: at a low rate a slice holds a record or two,
    // and one hand-over (and wake-up) per chunk would cost more than the records.
    let mut batch: Vec<Chunk> = Vec::new();
    let mut batch_records = 0u64;
    // A scheduled record is inside the run when a slot is still to come after it, or, for a run
    // bounded in time, before its end (a lane's last slot may come well before the end).
    let in_run = |due: u64, next_slot: Option<u64>| next_slot.is_some_and(|slot| due <= slot) || shared.end_ns.is_some_and(|end| due < end);
    loop {
        let due = lane.scheduled.next_due_ns().filter(|due| in_run(*due, next_slot));
        let first = match (next_slot, due) {
            (Some(slot), Some(due)) => slot.min(due),
            (Some(next), None) | (None, Some(next)) => next,
            (None, None) => break,
        };
        if shared.stop.is_requested() {
            end.stopped = true;
            break;
        }
        // Unpaced, nobody waits for an empty slice: go straight to the next record's, but not past
        // a command due before it.
        let unpaced = control.pacer.speed().is_none();
        let floor = slice;
        if unpaced {
            slice = slice.max(first / schedule.slice_ns);
        }
        control.claim((slice + 1).saturating_mul(schedule.slice_ns), &mut cursor, &mut commands);
        if let Some(command) = commands.front() {
            slice = slice.min(floor.max(command.offset_ns() / schedule.slice_ns));
        }
        control.pacer.wait_for(slice.saturating_mul(schedule.slice_ns), shared.stop);
        let slice_end_ns = (slice + 1).saturating_mul(schedule.slice_ns);
        let mut chunk = Chunk::new(plan.worker, slice, next_seq);
        chunk.data.reserve(bytes_per_slice);
        loop {
            let due = lane.scheduled.next_due_ns().filter(|due| in_run(*due, next_slot));
            let next = match (due, next_slot) {
                (Some(due), Some(slot)) => Some(due.min(slot)),
                (due, slot) => due.or(slot),
            };
            if commands
                .front()
                .is_some_and(|command| command.offset_ns() < slice_end_ns && next.is_none_or(|next| command.offset_ns() <= next))
                && let Some(command) = commands.pop_front()
            {
                if lane.apply(&command, &mut chunk) {
                    if !lane.live_rate.is_live() {
                        lane.live_first_slot = slots;
                    }
                    end.retimed = true;
                    if !shared.fixed_count && shared.end_ns.is_some() {
                        count = u64::MAX;
                    }
                    lane.retime(&command);
                    next_slot = lane.live_slot(slots, count);
                }
                continue;
            }
            match (due, next_slot) {
                (Some(due), slot) if slot.is_none_or(|slot| due <= slot) && due < slice_end_ns => {
                    lane.emit(next_seq, due, Source::Scheduled, &mut chunk);
                }
                (_, Some(slot)) if slot < slice_end_ns => {
                    lane.emit(next_seq, slot, Source::Slot, &mut chunk);
                    slots += 1;
                    next_slot = match lane.live_rate.is_live() {
                        false if slots < count => clock.offset_ns(slots),
                        false => None,
                        true => lane.live_slot(slots, count),
                    };
                }
                _ => break,
            }
            next_seq += 1;
        }
        batch_records += chunk.records;
        batch.push(chunk);
        if !unpaced || batch.len() >= BATCH_CHUNKS || batch_records >= BATCH_RECORDS {
            batch_records = 0;
            if output.send(std::mem::take(&mut batch)).is_err() {
                end.stopped = true;
                end.added = next_seq - slots;
                return end;
            }
        }
        slice += 1;
    }
    let mut last = Chunk::new(plan.worker, slice, next_seq);
    last.episodes = lane.open_episodes();
    batch.push(last);
    // The collector may already be gone after an output error; nothing is left to tell it then.
    let _ = output.send(batch);
    end.added = next_seq - slots;
    end
}

/// Where a lane's next record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The schedule's next slot: baseline or background chaos (or the port scan, in its lane).
    Slot,
    /// A scheduled episode's record, due now: added to the slots.
    Scheduled,
}

impl<'s> Lane<'s> {
    /// Applies a live command at its time; `true` when it changes the rate (the caller re-times
    /// the slots).
    fn apply(&mut self, command: &Entry, chunk: &mut Chunk) -> bool {
        match &command.action {
            Action::Inject(injection) => {
                if self.plan.role == LaneRole::Traffic {
                    let index = injection.episode_id.rsplit_once("-s").and_then(|(_, index)| index.parse::<usize>().ok()).unwrap_or(0);
                    if index as u32 % self.shared.traffic_lanes.max(1) == self.plan.worker {
                        self.scheduled.add(index, injection.scheduled(command.offset_ms));
                    }
                }
                false
            }
            Action::End { episode_id } => {
                let worker = self.plan.worker;
                let ended = match self.scheduled.end(episode_id) {
                    Some(summary) => Some(summary),
                    None => {
                        self.scheduler.end(episode_id).or_else(|| self.hourly.as_mut().and_then(|hourly| hourly.end(episode_id, worker)))
                    }
                };
                let ended = ended.or_else(|| match &self.scan {
                    Some(scan) if &*scan.episode_id == episode_id.as_str() => {
                        let summary = (scan.emitted > 0).then(|| scan.summary(worker));
                        self.scan = None;
                        summary
                    }
                    _ => None,
                });
                if let Some(summary) = ended {
                    self.open_ids.retain(|id| **id != *summary.episode_id);
                    chunk.episodes.push(summary);
                }
                false
            }
            Action::Chaos(change) => {
                let mut chaos = self.chaos_in_force().clone();
                for (name, probability) in &change.probability {
                    if let Some(kind) = AnomalyKind::from_name(name) {
                        chaos.probability[kind] = *probability;
                    }
                }
                if let Some(text) = &change.difficulty
                    && let Ok(difficulty) = crate::chaos::Difficulty::parse_list(text, chaos.difficulty)
                {
                    chaos.difficulty = difficulty;
                }
                let share = 1.0 - chaos.record_fraction(AnomalyKind::PortScan);
                self.scheduler.reconfigure(&chaos, share, self.live_lane_rate(command.offset_ns()));
                self.live_chaos = Some(chaos);
                false
            }
            Action::Rate { .. } => true,
            Action::Speed { .. } | Action::Pause | Action::Resume => false,
        }
    }

    /// A live rate change at its time: the slots from here on follow [`Self::live_rate`].
    fn retime(&mut self, command: &Entry) {
        let Action::Rate { eps, ramp_ms } = command.action else { return };
        let current = self.current_eps(command.offset_ms);
        self.live_rate.change(command.offset_ns(), current, eps, ramp_ms.saturating_mul(1_000_000));
        let chaos = self.chaos_in_force().clone();
        let share = 1.0 - chaos.record_fraction(AnomalyKind::PortScan);
        self.scheduler.reconfigure(&chaos, share, self.live_lane_rate(command.offset_ns()));
    }

    /// The flags' (or the phase's) rate at `offset_ms`, before any live change.
    fn current_eps(&self, offset_ms: u64) -> f64 {
        let phases = &self.shared.timeline.phases;
        phases.iter().find(|phase| (phase.start_ms..phase.end_ms).contains(&offset_ms)).map_or(self.shared.eps, |phase| phase.eps)
    }

    /// This lane's rate at `offset_ns` under the live target, records per second.
    fn live_lane_rate(&self, offset_ns: u64) -> f64 {
        let eps = self.live_rate.eps_at(offset_ns).unwrap_or_else(|| self.current_eps(offset_ns / 1_000_000));
        let scale = if self.shared.eps > 0.0 { eps / self.shared.eps } else { 1.0 };
        (self.plan.lane_rate() * scale).max(1e-9)
    }

    /// Where slot `j` falls after a live rate change: position `j` of this lane's stream counted
    /// from the first change, placed on the live rate (or `None` past the run's count or end).
    fn live_slot(&self, j: u64, count: u64) -> Option<u64> {
        if j >= count {
            return None;
        }
        let position = self.plan.stream_position(j - self.live_first_slot);
        let share = self.plan.stream_share(self.shared.schedule.rate);
        let at = self.live_rate.time_of(position as f64 / share.max(1e-12))?;
        self.shared.end_ns.is_none_or(|end| at < end).then_some(at)
    }

    fn emit(&mut self, seq: u64, offset_ns: u64, source: Source, chunk: &mut Chunk) {
        let finished_before = chunk.episodes.len();
        let offset_ms = offset_ns / 1_000_000;
        let schedule_ms = self.shared.start_ms + offset_ms as i64;
        if !self.shared.timeline.phases.is_empty() && !(self.phase_span.0..self.phase_span.1).contains(&offset_ms) {
            self.enter_phase(offset_ms);
        }
        let (kind, episode_id, emission, time_ms) = match self.plan.role {
            _ if source == Source::Scheduled => {
                let chaos = chaos_of(&self.live_chaos, self.phase, self.shared);
                let (kind, episode_id, emission) =
                    self.scheduled.emit_due(&mut self.rng, &self.baseline, chaos, schedule_ms, &mut chunk.episodes);
                (Some(kind), Some(episode_id), emission, schedule_ms)
            }
            LaneRole::Traffic => {
                let hourly = self.hourly.as_mut().and_then(|hourly| {
                    hourly.take_due(&mut self.rng, &self.baseline, offset_ms, schedule_ms, self.plan.worker, &mut chunk.episodes)
                });
                match hourly {
                    // A look-alike's record is normal traffic: no kind, no label.
                    Some((kind, episode_id, emission)) => (kind, kind.map(|_| episode_id), emission, schedule_ms),
                    None => match self.scheduler.next(&mut self.rng, &self.baseline, schedule_ms, &mut chunk.episodes) {
                        Some((kind, episode_id, emission)) => (Some(kind), Some(episode_id), emission, schedule_ms),
                        None => (None, None, self.baseline_emission(offset_ns), schedule_ms),
                    },
                }
            }
            LaneRole::PortScan => {
                let (episode_id, emission, time_ms) = self.next_scan_probe(schedule_ms, &mut chunk.episodes);
                (Some(AnomalyKind::PortScan), Some(episode_id), emission, time_ms)
            }
        };
        if let (Some(kind), Some(id)) = (kind, &episode_id) {
            let last = &mut self.last_episode[kind];
            if !last.as_ref().is_some_and(|last| Rc::ptr_eq(last, id)) {
                chunk.episodes_started[kind] += 1;
                *last = Some(id.clone());
                if self.open_ids.insert(id.clone()) {
                    chunk.started.push(StartedEpisode { episode_id: id.to_string(), kind, time_ms, worker: self.plan.worker });
                }
            }
        }
        // Finished episodes leave the open set: it holds only what is running.
        for finished in &chunk.episodes[chunk.episodes.len().min(finished_before)..] {
            self.open_ids.retain(|id| **id != *finished.episode_id);
        }
        let label = match (kind, episode_id.as_deref()) {
            (Some(kind), Some(id)) => Some(Label { kind, episode_id: Cow::Borrowed(id) }),
            _ => None,
        };
        let context = RecordContext { event_id: EventId::new(self.shared.run_id, self.plan.worker, seq), time_ms, label };
        let topology = self.shared.topology;
        let record = match emission {
            Emission::Flow { session, side, prefer_destination } => {
                Record::VpcFlow(render_flow(topology, &session, side, prefer_destination, context))
            }
            Emission::Firewall(session) => {
                self.sessions += 1;
                Record::Firewall(render_firewall(topology, &session, (u64::from(self.plan.worker) << 48) | self.sessions, context))
            }
            Emission::NoData(host) => Record::VpcFlow(render_no_data(topology, host, context)),
            Emission::SkipData(host) => Record::VpcFlow(render_skip_data(topology, host, context)),
        };
        chunk.push(&record, kind);
    }

    /// The next baseline record. A conversation is written whole, as consecutive records: each
    /// direction at each of our ENIs it touches (both ends of an east-west call, our end of an
    /// internet one; a refused probe only where it was refused), and the firewall's session record
    /// for a share of conversations (`--firewall-ratio`).
    fn baseline_emission(&mut self, offset_ns: u64) -> Emission<'s> {
        if let Some(emission) = self.pending.pop_front() {
            return emission;
        }
        let tick = offset_ns / super::arrivals::TICK_NS;
        if tick != self.weights_tick
            && let Some(shape) = self.shared.schedule.shape()
        {
            self.weights_tick = tick;
            if !shape.vpc_weights(offset_ns, &mut self.vpc_weights) {
                self.vpc_weights.clear();
            }
        }
        let draw = if self.vpc_weights.is_empty() {
            self.baseline.draw(&mut self.rng, self.shared.start_ms + (offset_ns / 1_000_000) as i64)
        } else {
            self.baseline.draw_weighted(&mut self.rng, self.shared.start_ms + (offset_ns / 1_000_000) as i64, &self.vpc_weights)
        };
        let session = match draw {
            Draw::NoData(host) => return Emission::NoData(host),
            Draw::Session(session) => session,
        };
        let logged_by_firewall = chance(&mut self.rng, self.shared.firewall_ratio);
        Emission::conversation(session, logged_by_firewall, &mut self.pending);
        // A conversation always has at least one of our hosts, hence at least one record.
        self.pending.pop_front().unwrap_or_else(|| Emission::NoData(self.baseline.random_host(&mut self.rng, 0)))
    }

    /// The scan lane: episodes back to back, each probing at the scanning tool's own speed from the
    /// moment its first probe is due.
    fn next_scan_probe(&mut self, schedule_ms: i64, finished: &mut Vec<EpisodeSummary>) -> (Rc<str>, Emission<'s>, i64) {
        let lane_rate = self.plan.lane_rate();
        let episode = match &mut self.scan {
            Some(episode) => episode,
            None => {
                let id: Rc<str> = format!("{}-{}-e{}", self.shared.run_id, self.plan.worker, self.scan_number).into();
                self.scan_number += 1;
                let chaos = chaos_of(&self.live_chaos, self.phase, self.shared);
                let start = Start::background(chaos, spec(AnomalyKind::PortScan));
                let mut episode = start_episode(AnomalyKind::PortScan, id, &mut self.rng, &self.baseline, &start, 1.0);
                episode.first_ms = schedule_ms;
                self.scan.insert(episode)
            }
        };
        let ports_per_second = episode.shape.records_per_second().map_or(lane_rate, |rate| rate.max(lane_rate));
        let start_ms = if episode.emitted == 0 { schedule_ms } else { episode.first_ms };
        let time_ms = start_ms + (episode.emitted as f64 * 1000.0 / ports_per_second) as i64;
        let emission = episode.emit(&mut self.rng, &self.baseline, time_ms);
        let id = episode.episode_id.clone();
        if episode.is_finished() {
            finished.push(episode.summary(self.plan.worker));
            self.scan = None;
        }
        (id, emission, time_ms)
    }

    /// The background chaos set live, else the phase's in force, else the flags'.
    fn chaos_in_force(&self) -> &ChaosSettings {
        chaos_of(&self.live_chaos, self.phase, self.shared)
    }

    /// Finds the phase in force at `offset_ms` and hands its chaos to the background scheduler.
    fn enter_phase(&mut self, offset_ms: u64) {
        let phases = &self.shared.timeline.phases;
        let found = phases.iter().position(|phase| (phase.start_ms..phase.end_ms).contains(&offset_ms));
        self.phase_span = match found {
            Some(index) => (phases[index].start_ms, phases[index].end_ms),
            // Between phases: up to the next one's start (or for ever).
            None => {
                let previous_end = phases.iter().map(|phase| phase.end_ms).filter(|end| *end <= offset_ms).max().unwrap_or(0);
                let next_start = phases.iter().map(|phase| phase.start_ms).filter(|start| *start > offset_ms).min().unwrap_or(u64::MAX);
                (previous_end, next_start)
            }
        };
        if found == self.phase && self.phase.is_some() {
            return;
        }
        self.phase = found;
        let chaos = chaos_of(&self.live_chaos, self.phase, self.shared);
        let eps = found.map_or(self.shared.eps, |index| phases[index].eps);
        let lane_rate = self.plan.lane_rate() * if self.shared.eps > 0.0 { eps / self.shared.eps } else { 1.0 };
        self.scheduler.reconfigure(chaos, 1.0 - chaos.record_fraction(AnomalyKind::PortScan), lane_rate.max(1e-9));
    }

    fn open_episodes(&self) -> Vec<EpisodeSummary> {
        let mut open = self.scheduler.open_episodes();
        open.extend(self.scheduled.open_episodes());
        open.extend(self.hourly.iter().flat_map(|hourly| hourly.open_episodes(self.plan.worker)));
        open.extend(self.scan.iter().filter(|episode| episode.emitted > 0).map(|episode| episode.summary(self.plan.worker)));
        open
    }
}

/// The background chaos set live, else phase `phase`'s, else the flags'.
fn chaos_of<'a>(live: &'a Option<ChaosSettings>, phase: Option<usize>, shared: &'a LaneShared<'_>) -> &'a ChaosSettings {
    match (live, phase) {
        (Some(chaos), _) => chaos,
        (None, Some(index)) => &shared.timeline.phases[index].chaos,
        (None, None) => &shared.chaos,
    }
}
