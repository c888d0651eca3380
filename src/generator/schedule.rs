//! The logical schedule: which record is due when, for every lane.
//!
//! Event times come from the schedule, never from the wall clock: the whole stream runs at
//! `rate` records per second of logical time from `t0`, so record *i* is due at `t0 + i / rate`.
//! The port-scan lane gets exactly `port_scan_prob` of the schedule; the traffic lanes share the
//! rest round-robin (traffic record *i* goes to lane `i mod workers`). With `--eps 0` the schedule
//! keeps a nominal logical rate (timestamps stay meaningful and reproducible) but nobody waits on
//! it.
//!
//! The schedule is cut into slices of at most 10 ms (and at most [`SLICE_RECORDS`] records).
//! Lanes produce one chunk per slice; the collector writes slice *k* of every lane before slice
//! *k + 1*, which makes the output byte-for-byte reproducible, and pacing sleeps once per slice,
//! never per event.

use std::time::Duration;

/// Logical rate used for timestamps when the generator runs as fast as it can (`--eps 0`).
pub const UNPACED_LOGICAL_RATE: f64 = 100_000.0;

/// Most records a slice holds across all lanes.
pub const SLICE_RECORDS: f64 = 8_192.0;

/// Longest slice.
const MAX_SLICE: Duration = Duration::from_millis(10);

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
    /// Records this lane emits, `None` when the run is bounded by time or a signal.
    pub count: Option<u64>,
    /// Position of this lane's record `j` in its stream is `j * stride + offset`.
    stride: u64,
    offset: u64,
    /// Records per logical second of the stream this lane belongs to.
    stream_rate: f64,
}

impl LaneSchedule {
    /// Logical offset from t0 of this lane's record `j`, in nanoseconds.
    pub fn offset_ns(&self, j: u64) -> u64 {
        let position = j * self.stride + self.offset;
        (position as f64 * 1e9 / self.stream_rate) as u64
    }

    /// This lane's own rate, records per logical second.
    pub fn lane_rate(&self) -> f64 {
        self.stream_rate / self.stride as f64
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    /// Records per logical second, all lanes together.
    pub rate: f64,
    /// Whether emission waits for the schedule (false for `--eps 0`).
    pub paced: bool,
    pub slice_ns: u64,
    pub lanes: Vec<LaneSchedule>,
}

impl Schedule {
    /// `eps` 0 means unpaced. `count` bounds the whole run. `port_scan_share` is the fraction of
    /// records the scan lane makes.
    pub fn new(eps: f64, workers: u32, count: Option<u64>, port_scan_share: f64) -> Self {
        let paced = eps > 0.0;
        let rate = if paced { eps } else { UNPACED_LOGICAL_RATE };
        let slice_ns = (SLICE_RECORDS / rate * 1e9).min(MAX_SLICE.as_nanos() as f64).max(1_000.0) as u64;
        let scan_count = count.map(|total| (total as f64 * port_scan_share).round() as u64);
        let traffic_count = count.map(|total| total - scan_count.unwrap_or(0));
        let traffic_rate = rate * (1.0 - port_scan_share);
        let mut lanes = Vec::new();
        if port_scan_share < 1.0 {
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
        if port_scan_share > 0.0 {
            lanes.push(LaneSchedule {
                worker: workers,
                role: LaneRole::PortScan,
                count: scan_count,
                stride: 1,
                offset: 0,
                stream_rate: rate * port_scan_share,
            });
        }
        Schedule { rate, paced, slice_ns, lanes }
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
        assert_eq!(schedule.lanes[1].offset_ns(1), 3_000_000);
        assert_eq!(schedule.lanes[0].offset_ns(2), 4_000_000);
        assert!((schedule.lanes[0].lane_rate() - 500.0).abs() < 1e-9);
    }

    #[test]
    fn slices_are_short_at_low_rates_and_bounded_in_records_at_high_rates() {
        assert_eq!(Schedule::new(1000.0, 1, None, 0.0).slice_ns, 10_000_000);
        let fast = Schedule::new(10_000_000.0, 1, None, 0.0);
        assert!((fast.slice_ns as f64 * 10_000_000.0 / 1e9) <= SLICE_RECORDS + 1.0);
    }
}
