//! The logical schedule: which record is due when, for every lane.
//!
//! Event times come from the schedule, never from the wall clock. The stream runs at `eps`
//! records per second of logical time from `t0`; with the profile flat and no phases it is a
//! metronome (record *i* due at `t0 + i / eps`), otherwise [`super::arrivals`] places each
//! record. The port-scan lane has its own stream, exactly `port_scan_prob` of the records; the
//! traffic lanes share the rest round-robin (traffic record *i* goes to lane `i mod workers`).
//!
//! The schedule is cut into slices of at most 10 ms of logical time (and at most
//! [`SLICE_RECORDS`] records at the mean rate). Lanes produce one chunk per slice that holds
//! records; the collector writes slice *k* of every lane before slice *k + 1*, which makes the
//! output byte-for-byte reproducible. The slices depend on the rate only, never on the speed, so
//! the same records come out in the same order at any `--speed`: the speed only decides when a
//! slice is due on the wall clock (`slice start / speed`; never, at `max`).

use std::fmt;
use std::time::Duration;

use super::arrivals::{Arrivals, RateShape, Segment, Stream};

/// Logical rate used for timestamps when the generator runs with `--eps 0` (as fast as possible,
/// the meaning `--speed max` now has, with the duration on the wall clock as before).
pub const UNPACED_LOGICAL_RATE: f64 = 100_000.0;

/// Most records a slice holds across all lanes, at the mean rate.
pub const SLICE_RECORDS: f64 = 8_192.0;

/// Longest slice.
const MAX_SLICE: Duration = Duration::from_millis(10);

/// How fast logical time runs against the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// This many logical seconds per wall-clock second (1 is real time).
    Times(f64),
    /// As fast as the machine goes.
    Max,
}

impl Default for Speed {
    fn default() -> Self {
        Speed::Times(1.0)
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Times(speed) => write!(f, "{speed}"),
            Speed::Max => write!(f, "max"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneRole {
    /// Baseline traffic and the in-lane chaos kinds.
    Traffic,
    /// The dedicated port-scan worker.
    PortScan,
}

/// One lane's part of the schedule.
#[derive(Debug, Clone)]
pub struct LaneSchedule {
    pub worker: u32,
    pub role: LaneRole,
    /// Records this lane emits, `None` when the run is bounded by a signal only.
    pub count: Option<u64>,
    /// Position of this lane's record `j` in its stream is `j * stride + offset`.
    stride: u64,
    offset: u64,
    /// Mean records per logical second of the stream this lane belongs to.
    stream_rate: f64,
}

impl LaneSchedule {
    /// This lane's own mean rate, records per logical second.
    pub fn lane_rate(&self) -> f64 {
        self.stream_rate / self.stride as f64
    }

    /// Position of this lane's record `j` in its stream.
    pub fn stream_position(&self, j: u64) -> u64 {
        j * self.stride + self.offset
    }

    /// This lane's stream's share of all records, in a run of mean `rate`.
    pub fn stream_share(&self, rate: f64) -> f64 {
        if rate > 0.0 { self.stream_rate / rate } else { 0.0 }
    }

    /// Records of its stream per record of this lane.
    pub fn stride(&self) -> u64 {
        self.stride
    }

    fn stream(&self) -> Stream {
        match self.role {
            LaneRole::Traffic => Stream::Traffic,
            LaneRole::PortScan => Stream::PortScan,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    /// Mean records per logical second, all lanes together.
    pub rate: f64,
    /// Logical seconds per wall-clock second; `None`: nobody waits on the schedule.
    pub pace: Option<f64>,
    pub slice_ns: u64,
    pub lanes: Vec<LaneSchedule>,
    /// `None` for the metronome.
    shape: Option<RateShape>,
}

/// What the schedule is built from.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    /// Mean logical rate; 0 is `--eps 0`.
    pub eps: f64,
    pub speed: Speed,
    pub workers: u32,
    /// Records the run is bounded to (`--count`, or the duration at the flags' rate).
    pub count: Option<u64>,
    /// Logical length of a run bounded in time.
    pub bound_ns: Option<u64>,
    pub port_scan_share: f64,
    /// The rate's shape over time; `None` for the metronome.
    pub shape: Option<ShapeInput>,
}

/// What shapes a run's rate beyond the metronome.
#[derive(Debug, Clone)]
pub struct ShapeInput {
    pub start_ms: i64,
    pub phases: Vec<Segment>,
    pub profile: super::profile::RateProfile,
    /// Per VPC: its traffic share and its region's UTC offset, hours.
    pub regions: Vec<(f64, f64)>,
    pub seed: u64,
}

impl Schedule {
    /// A metronome: `eps` 0 means unpaced. `count` bounds the whole run. `port_scan_share` is the
    /// fraction of records the scan lane makes.
    pub fn new(eps: f64, workers: u32, count: Option<u64>, port_scan_share: f64) -> Self {
        let speed = if eps > 0.0 { Speed::default() } else { Speed::Max };
        Schedule::build(ScheduleInput { eps, speed, workers, count, bound_ns: None, port_scan_share, shape: None })
    }

    pub fn build(input: ScheduleInput) -> Self {
        let ScheduleInput { eps, speed, workers, count, bound_ns, port_scan_share, shape } = input;
        let rate = if eps > 0.0 { eps } else { UNPACED_LOGICAL_RATE };
        let pace = match speed {
            Speed::Times(speed) if eps > 0.0 => Some(speed),
            _ => None,
        };
        let peak_rate = shape.iter().flat_map(|shape| shape.phases.iter().map(|phase| phase.eps)).fold(rate, f64::max);
        let slice_ns = (SLICE_RECORDS / peak_rate * 1e9).min(MAX_SLICE.as_nanos() as f64).max(1_000.0) as u64;
        let shape = shape.map(|shape| {
            let bound = if eps > 0.0 { bound_ns } else { None };
            RateShape::new(shape.start_ms, (rate, port_scan_share), shape.phases, shape.profile, shape.regions, bound, shape.seed)
        });
        let (scan_count, traffic_count) = match &shape {
            Some(shape) if shape.count(Stream::Traffic).is_some() => {
                let capped = |stream, share: f64| {
                    let by_count = count.map(|total| (total as f64 * share).round() as u64);
                    match (shape.count(stream), by_count) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                };
                (capped(Stream::PortScan, port_scan_share), capped(Stream::Traffic, 1.0 - port_scan_share))
            }
            _ => {
                let scan_count = count.map(|total| (total as f64 * port_scan_share).round() as u64);
                (scan_count, count.map(|total| total - scan_count.unwrap_or(0)))
            }
        };
        let has_scan = port_scan_share > 0.0 || shape.as_ref().is_some_and(|shape| shape.count(Stream::PortScan).is_some_and(|n| n > 0));
        let traffic_rate = rate * (1.0 - port_scan_share);
        let mut lanes = Vec::new();
        if port_scan_share < 1.0 || shape.is_some() {
            for worker in 0..workers {
                let lane_count = traffic_count
                    .map(|total| if total > u64::from(worker) { (total - u64::from(worker) - 1) / u64::from(workers) + 1 } else { 0 });
                lanes.push(LaneSchedule {
                    worker,
                    role: LaneRole::Traffic,
                    count: lane_count,
                    stride: u64::from(workers),
                    offset: u64::from(worker),
                    stream_rate: traffic_rate,
                });
            }
        }
        if has_scan {
            lanes.push(LaneSchedule {
                worker: workers,
                role: LaneRole::PortScan,
                count: scan_count,
                stride: 1,
                offset: 0,
                stream_rate: rate * port_scan_share,
            });
        }
        Schedule { rate, pace, slice_ns, lanes, shape }
    }

    /// Whether emission waits for the schedule.
    pub fn paced(&self) -> bool {
        self.pace.is_some()
    }

    /// The lane's clock: where each of its records falls in logical time.
    pub fn clock<'s>(&'s self, lane: &'s LaneSchedule) -> LaneClock<'s> {
        LaneClock { lane, arrivals: self.shape.as_ref().map(|shape| Arrivals::new(shape, lane.stream())) }
    }

    /// The rate's shape, when it is not a metronome.
    pub fn shape(&self) -> Option<&RateShape> {
        self.shape.as_ref()
    }
}

/// One lane's walk through its stream's arrival times.
#[derive(Debug)]
pub struct LaneClock<'s> {
    lane: &'s LaneSchedule,
    arrivals: Option<Arrivals<'s>>,
}

impl LaneClock<'_> {
    /// Logical offset from t0 of this lane's record `j`, in nanoseconds; `None` once the run's
    /// stream has no more records. Asked for in increasing `j`.
    pub fn offset_ns(&mut self, j: u64) -> Option<u64> {
        let position = j * self.lane.stride + self.lane.offset;
        match &mut self.arrivals {
            None => Some((position as f64 * 1e9 / self.lane.stream_rate) as u64),
            Some(arrivals) => arrivals.offset_ns(position),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_exactly() {
        for (count, workers, scan) in [(1_000_000u64, 3u32, 0.01), (7, 4, 0.0), (10, 2, 0.5), (3, 5, 0.0), (100, 1, 1.0)] {
            let schedule = Schedule::new(5000.0, workers, Some(count), scan);
            let total: u64 = schedule.lanes.iter().map(|lane| lane.count.unwrap_or(0)).sum();
            assert_eq!(total, count, "{count} {workers} {scan}");
        }
    }

    #[test]
    fn traffic_lanes_interleave_on_the_stream_timeline() {
        let schedule = Schedule::new(1000.0, 2, Some(10), 0.0);
        // Stream position 3 is lane 1's record 1: due at 3 ms.
        assert_eq!(schedule.clock(&schedule.lanes[1]).offset_ns(1), Some(3_000_000));
        assert_eq!(schedule.clock(&schedule.lanes[0]).offset_ns(2), Some(4_000_000));
        assert!((schedule.lanes[0].lane_rate() - 500.0).abs() < 1e-9);
    }

    #[test]
    fn slices_are_short_at_low_rates_and_bounded_in_records_at_high_rates() {
        assert_eq!(Schedule::new(1000.0, 1, None, 0.0).slice_ns, 10_000_000);
        let fast = Schedule::new(10_000_000.0, 1, None, 0.0);
        assert!((fast.slice_ns as f64 * 10_000_000.0 / 1e9) <= SLICE_RECORDS + 1.0);
    }

    #[test]
    fn the_speed_paces_but_never_changes_the_slices() {
        let at = |speed| {
            Schedule::build(ScheduleInput {
                eps: 2_000.0,
                speed,
                workers: 2,
                count: Some(100),
                bound_ns: None,
                port_scan_share: 0.0,
                shape: None,
            })
        };
        assert_eq!(at(Speed::Times(1.0)).slice_ns, at(Speed::Max).slice_ns);
        assert_eq!(at(Speed::Times(60.0)).pace, Some(60.0));
        assert_eq!(at(Speed::Max).pace, None);
    }
}
