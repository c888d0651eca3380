//! The generator: realistic, reproducible, labelled network telemetry, fast.
//!
//! [`generate`] builds the [`Topology`](crate::network::topology::Topology) from the seed, cuts the logical
//! [`schedule::Schedule`] into lanes, runs one thread per lane ([`lane`]) and merges their chunks in
//! schedule order through the [`collector`] into a [`ChunkSink`]. Same seed, workers, count and
//! start time give the same bytes, on any machine, at any speed: nothing depends on the wall clock
//! but *when* a chunk is emitted.

pub mod arrivals;
pub mod collector;
pub mod control;
pub mod hourly;
pub mod hurst;
pub mod lane;
pub mod manifest;
pub mod metered;
pub mod profile;
pub mod schedule;
pub mod scheduled;
pub mod timeline;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use crate::chaos::{ChaosSettings, EpisodeSummary};
use crate::network::random;
use crate::records::{AnomalyKind, PerKind, PerLabel, Record, Timestamp};
use crate::runtime::Shutdown;

pub use collector::{ChunkSink, Tally};
pub use manifest::RunManifest;
pub use metered::MeteredOutput;

use crate::network::topology::{Topology, TopologySize};
use arrivals::Segment;
use lane::{LaneEnd, LaneShared, run_lane};
use profile::RateProfile;
pub use schedule::Speed;
use schedule::{Schedule, ScheduleInput, ShapeInput};
use timeline::Timeline;

/// Batches of chunks a lane may have in flight before it waits for the collector (a paced lane
/// sends one chunk a batch; an unpaced one up to `lane::BATCH_RECORDS` records).
const LANE_CHANNEL_BATCHES: usize = 2;

/// Validated generator settings (the CLI turns flags into these).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorSettings {
    pub seed: u64,
    /// Distinguishes generator instances that share a seed (part of the run id).
    pub instance_id: u32,
    pub workers: NonZeroU32,
    /// Target records per second, all lanes together; 0 means as fast as possible.
    pub eps: f64,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    /// t0 of the logical schedule, Unix milliseconds.
    pub start_time_ms: i64,
    pub chaos: ChaosSettings,
    /// Share of baseline conversations the firewall also logs.
    pub firewall_ratio: f64,
    /// The speed, the rate's shape, the timeline, the estate and the shard.
    pub plan: RunPlan,
}

/// What a run is beyond its rate, size and chaos flags: how fast logical time runs, how the rate
/// moves, what the scenario's timeline schedules, how big the estate is, and which shard of the
/// stream this instance emits. The default is a flat run in real time, all of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunPlan {
    pub speed: Speed,
    pub profile: RateProfile,
    pub timeline: Timeline,
    pub topology: TopologySize,
    pub shard: Shard,
    /// The scenario file the plan came from, if any.
    pub scenario: Option<String>,
    /// Commands given up front, at their logical times: a replayed journal, a scenario's
    /// `control` list ([`control`]).
    pub control: Vec<control::Entry>,
    /// Whether `control` is a replayed journal (`--replay`).
    pub replay: bool,
}

/// Which lanes of the stream this instance emits: lane *i* of the schedule (traffic lanes in
/// worker order, then the port-scan lane) belongs to shard `i mod count`. N instances with the
/// same settings and shards 0..N emit, together, exactly the records one instance emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl GeneratorSettings {
    /// 16 hex digits from the seed and the instance id.
    pub fn run_id(&self) -> String {
        format!("{:016x}", random::split_seed(self.seed, 0x5EED_0000_0000 + u64::from(self.instance_id)))
    }

    /// Records the run is bounded to at the flags' rate: `--count`, or `--duration × --eps` when
    /// paced (phases change it: the schedule's lanes hold the exact counts).
    pub fn effective_count(&self) -> Option<u64> {
        let by_duration = match self.duration {
            Some(duration) if self.eps > 0.0 => Some((duration.as_secs_f64() * self.eps).round() as u64),
            _ => None,
        };
        match (self.count, by_duration) {
            (Some(count), Some(limit)) => Some(count.min(limit)),
            (count, limit) => count.or(limit),
        }
    }

    /// The logical schedule of the whole stream (every shard's lanes).
    pub fn schedule(&self, topology: &Topology) -> Schedule {
        let plan = &self.plan;
        let shaped = !plan.profile.is_flat() || !plan.timeline.phases.is_empty();
        let shape = shaped.then(|| ShapeInput {
            start_ms: self.start_time_ms,
            phases: plan
                .timeline
                .phases
                .iter()
                .map(|phase| Segment {
                    start_ns: phase.start_ms.saturating_mul(1_000_000),
                    end_ns: phase.end_ms.saturating_mul(1_000_000),
                    eps: phase.eps,
                    scan_share: phase.chaos.record_fraction(AnomalyKind::PortScan),
                })
                .collect(),
            profile: plan.profile.clone(),
            regions: topology.vpcs.iter().map(|vpc| (vpc.weight, plan.profile.utc_offset(vpc.region))).collect(),
            seed: random::split_seed(self.seed, 0xA441_5EED),
        });
        Schedule::build(ScheduleInput {
            eps: self.eps,
            speed: plan.speed,
            workers: self.workers.get(),
            count: if shaped { self.count } else { self.effective_count() },
            bound_ns: self.duration.map(|duration| duration.as_nanos().min(u128::from(u64::MAX)) as u64),
            port_scan_share: self.chaos.record_fraction(AnomalyKind::PortScan),
            shape,
        })
    }

    /// The lanes of the schedule this instance's shard runs, as indices into its lanes.
    pub fn shard_lanes(&self, schedule: &Schedule) -> Vec<usize> {
        let shard = self.plan.shard;
        (0..schedule.lanes.len()).filter(|lane| *lane as u32 % shard.count.max(1) == shard.index).collect()
    }
}

/// What one lane hands the collector for one slice: JSON lines and their tallies.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub worker: u32,
    pub slice: u64,
    /// Sequence number (within the lane) of the first record in `data`.
    pub first_seq: u64,
    pub records: u64,
    /// JSON lines, each ending in `\n`.
    pub data: Vec<u8>,
    pub by_event_type: [u64; 2],
    /// Records per label.
    pub by_label: PerLabel<u64>,
    /// Episodes whose first record is in this chunk.
    pub episodes_started: PerKind<u64>,
    /// Episodes that ended in this chunk (or, in a lane's last chunk, that were cut short).
    pub episodes: Vec<EpisodeSummary>,
    /// Episodes whose first record is in this chunk, for the control server.
    pub started: Vec<StartedEpisode>,
}

/// An episode's first record, as the control server lists it until the episode ends.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedEpisode {
    pub episode_id: String,
    pub kind: AnomalyKind,
    pub time_ms: i64,
    pub worker: u32,
}

impl Chunk {
    pub fn new(worker: u32, slice: u64, first_seq: u64) -> Self {
        Chunk { worker, slice, first_seq, ..Chunk::default() }
    }

    /// Appends one record as a JSON line.
    pub fn push(&mut self, record: &Record<'_>, kind: Option<AnomalyKind>) {
        crate::records::write_record(record, &mut self.data);
        self.data.push(b'\n');
        self.records += 1;
        self.by_event_type[record.event_type().index()] += 1;
        self.by_label[kind] += 1;
    }

    /// The JSON lines of this chunk, without their newlines.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.data.as_slice();
        std::iter::from_fn(move || {
            let end = memchr::memchr(b'\n', rest)?;
            let (line, after) = rest.split_at(end);
            rest = &after[1..];
            Some(line)
        })
        .take(self.records as usize)
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct GenerateReport {
    pub manifest: RunManifest,
    pub elapsed: Duration,
    /// The output's error, if it failed.
    pub error: Option<anyhow::Error>,
}

/// Runs the generator into `sink` until the count is reached, the duration has passed, `stop` is
/// requested, or the sink fails (which requests `stop` itself, as the duration does). The plan's
/// commands (`plan.control`) apply at their times.
pub fn generate(settings: &GeneratorSettings, sink: &mut dyn ChunkSink, stop: &Shutdown) -> GenerateReport {
    let control = settings.control(control::Pacer::new(Instant::now(), None));
    generate_controlled(settings, sink, stop, &control)
}

impl GeneratorSettings {
    /// The live control of a run of these settings, holding the plan's commands.
    pub fn control(&self, pacer: control::Pacer) -> control::Control {
        let scheduled = self.plan.timeline.episodes.len() as u32;
        control::Control::new(&self.run_id(), scheduled, self.plan.control.clone(), self.plan.replay, pacer)
    }
}

/// [`generate`], with `control` taking live commands (the control server holds it too).
pub fn generate_controlled(
    settings: &GeneratorSettings,
    sink: &mut dyn ChunkSink,
    stop: &Shutdown,
    control: &control::Control,
) -> GenerateReport {
    // The CLI refuses a size the address plan cannot hold (`TopologySize::check`) before it gets here.
    let topology = Topology::with_size(settings.seed, settings.plan.topology).unwrap_or_else(|error| {
        tracing::warn!("{error}: generating today's estate instead");
        Topology::new(settings.seed)
    });
    let schedule = settings.schedule(&topology);
    let lanes = settings.shard_lanes(&schedule);
    let run_id = settings.run_id();
    let started_at = Timestamp::now();
    let clock_start = Instant::now();
    control.pacer.start(clock_start, schedule.pace);
    control.view.set_target(if settings.eps > 0.0 { settings.eps } else { schedule.rate });
    let finished = AtomicBool::new(false);
    let shared = LaneShared {
        topology: &topology,
        run_id: &run_id,
        chaos: settings.chaos.clone(),
        firewall_ratio: settings.firewall_ratio,
        start_ms: settings.start_time_ms,
        schedule: &schedule,
        timeline: &settings.plan.timeline,
        eps: settings.eps,
        traffic_lanes: settings.workers.get(),
        end_ns: settings.duration.filter(|_| settings.eps > 0.0).map(|duration| duration.as_nanos().min(u128::from(u64::MAX)) as u64),
        hourly_seed: random::split_seed(settings.seed, 0x4008_5EED_0000 + u64::from(settings.instance_id)),
        stop,
        control,
        fixed_count: settings.count.is_some(),
    };
    let lane_seed = random::split_seed(settings.seed, 0x1A4E_0000 + u64::from(settings.instance_id));
    let mut observed = control::Observing::new(sink, control, schedule.slice_ns);
    let (tally, result, ends) = std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(lanes.len());
        let mut handles = Vec::with_capacity(lanes.len());
        for plan in lanes.iter().map(|lane| &schedule.lanes[*lane]) {
            let (sender, receiver) = sync_channel(LANE_CHANNEL_BATCHES);
            receivers.push(receiver);
            let shared = &shared;
            let rng = random::rng_for(lane_seed, u64::from(plan.worker));
            handles.push(scope.spawn(move || run_lane(shared, plan, rng, sender)));
        }
        // `--eps 0` bounded by time: a wall-clock duration, as it always was.
        if let (Some(duration), true) = (settings.duration, settings.eps == 0.0) {
            let finished = &finished;
            scope.spawn(move || stop_after(duration, clock_start, stop, finished));
        }
        let (tally, result) = collector::collect(receivers, &mut observed, stop);
        finished.store(true, Ordering::Relaxed);
        // A lane that panicked added nothing it could report; its count then falls short.
        let ends: Vec<LaneEnd> =
            handles.into_iter().map(|handle| handle.join().unwrap_or(LaneEnd { stopped: true, ..LaneEnd::default() })).collect();
        (tally, result, ends)
    });
    control.view.end();
    // A live rate change moves the slots: the count is then what the rate made.
    let retimed = ends.iter().any(|end| end.retimed);
    // Each lane's slots, plus the records its scheduled episodes added.
    let expected = lanes
        .iter()
        .zip(&ends)
        .map(|(lane, end)| schedule.lanes[*lane].count.filter(|_| !retimed).map(|count| count + end.added))
        .collect::<Option<Vec<u64>>>();
    let complete = result.is_ok() && expected.is_none_or(|counts| counts == tally.lane_records);
    let complete = complete && !(retimed && ends.iter().any(|end| end.stopped));
    let complete = complete && (settings.effective_count().is_some() || settings.duration.is_some());
    let mut manifest = RunManifest::new(settings, &schedule, &lanes, &tally, started_at, Timestamp::now(), complete);
    manifest.control = control.entries();
    GenerateReport { manifest, elapsed: clock_start.elapsed(), error: result.err() }
}

fn stop_after(duration: Duration, clock_start: Instant, stop: &Shutdown, finished: &AtomicBool) {
    while !finished.load(Ordering::Relaxed) && !stop.is_requested() {
        let elapsed = clock_start.elapsed();
        if elapsed >= duration {
            stop.request();
            return;
        }
        std::thread::sleep((duration - elapsed).min(Duration::from_millis(20)));
    }
}
