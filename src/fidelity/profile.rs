//! The summary of one input that fidelity compares, built one record at a time in bounded memory:
//! exact counters for the categorical fields (ports, protocol, action, tcp_flags, log_status),
//! capped counters of addresses, reservoir samples for the continuous fields, and per-minute
//! record counts.
//!
//! Bounds, whatever the input's size:
//! - ports: two arrays of 65,537 counters (every port and "none"); 257 for protocol and flags;
//! - addresses: at most [`MAX_TRACKED_ADDRESSES`] per side; a new address after that is counted
//!   as seen once (the long tail of a popularity distribution is mostly addresses seen once), and
//!   the figure is flagged approximate;
//! - duration, packets, bytes: a uniform random sample of [`RESERVOIR_SIZE`] values each,
//!   Vitter's Algorithm R (1985) with a seeded RNG ([`RESERVOIR_SEED`]), so a run is repeatable;
//!   an input of at most that many records is measured exactly;
//! - minutes: at most [`MAX_MINUTES`] distinct minutes (about two years).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::checks::CheckCounts;
use super::flow::Flow;
use crate::network::random::{LaneRng, between, rng_for};
use crate::records::{FlowAction, LogStatus, protocol};

/// Values kept per continuous field and input.
pub const RESERVOIR_SIZE: usize = 100_000;
/// The reservoirs' seed: the same input always gives the same sample.
pub const RESERVOIR_SEED: u64 = 0x6669_6465_6c69_7479;
/// Distinct addresses counted exactly per side (source, destination) and input.
pub const MAX_TRACKED_ADDRESSES: usize = 1 << 20;
/// Distinct minutes counted per input.
pub const MAX_MINUTES: usize = 1 << 20;

/// The category index of "no value" in the port counters.
pub const NO_PORT: usize = 65_536;
/// The category index of "no value" in the protocol and tcp_flags counters.
pub const NO_BYTE: usize = 256;

/// A uniform sample of a stream of values (Algorithm R).
#[derive(Debug, Clone)]
pub struct Reservoir {
    seen: u64,
    values: Vec<f64>,
    rng: LaneRng,
}

impl Reservoir {
    fn new(stream: u64) -> Self {
        Self { seen: 0, values: Vec::new(), rng: rng_for(RESERVOIR_SEED, stream) }
    }

    fn add(&mut self, value: f64) {
        self.seen += 1;
        if self.values.len() < RESERVOIR_SIZE {
            self.values.push(value);
            return;
        }
        // Keep the new value with probability RESERVOIR_SIZE / seen, in place of a random one.
        let slot = between(&mut self.rng, 0, self.seen - 1);
        if let Some(kept) = self.values.get_mut(slot as usize) {
            *kept = value;
        }
    }

    /// The sample (every value while the stream is no longer than the reservoir).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// How many values the stream had.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

/// How often each address was seen, for its popularity rank.
#[derive(Debug, Clone, Default)]
pub struct AddressCounts {
    counts: HashMap<IpAddr, u64>,
    /// Records whose address was new after the cap: counted as one address each.
    untracked: u64,
}

impl AddressCounts {
    fn add(&mut self, address: IpAddr) {
        if let Some(count) = self.counts.get_mut(&address) {
            *count += 1;
        } else if self.counts.len() < MAX_TRACKED_ADDRESSES {
            self.counts.insert(address, 1);
        } else {
            self.untracked += 1;
        }
    }

    /// The counts from most to least frequent: the popularity-rank distribution.
    pub fn sorted(&self) -> Vec<u64> {
        let mut sorted: Vec<u64> = self.counts.values().copied().collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.extend(std::iter::repeat_n(1, self.untracked as usize));
        sorted
    }

    /// How many distinct addresses (a lower bound past the cap).
    pub fn distinct(&self) -> u64 {
        self.counts.len() as u64 + self.untracked
    }

    /// Whether the cap was reached, so that the rank figure is approximate.
    pub fn approximate(&self) -> bool {
        self.untracked > 0
    }
}

/// Everything fidelity compares about one input.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Flow records read.
    pub flows: u64,
    /// netchaos firewall records, skipped.
    pub firewall_skipped: u64,
    /// Flow records that carry traffic (an address pair): those the port, protocol, flags,
    /// address and size measures count. NODATA / SKIPDATA records count in `log_status` only.
    pub traffic: u64,
    pub srcaddr: AddressCounts,
    pub dstaddr: AddressCounts,
    pub srcport: Vec<u64>,
    pub dstport: Vec<u64>,
    pub protocol: Vec<u64>,
    pub tcp_flags: Vec<u64>,
    /// ACCEPT, REJECT, none.
    pub action: [u64; 3],
    /// OK, NODATA, SKIPDATA, none.
    pub log_status: [u64; 4],
    pub duration_seconds: Reservoir,
    pub packets: Reservoir,
    pub bytes: Reservoir,
    pub checks: CheckCounts,
    minutes: BTreeMap<i64, u64>,
    minutes_truncated: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self::new()
    }
}

impl Profile {
    pub fn new() -> Self {
        Self {
            flows: 0,
            firewall_skipped: 0,
            traffic: 0,
            srcaddr: AddressCounts::default(),
            dstaddr: AddressCounts::default(),
            srcport: vec![0; NO_PORT + 1],
            dstport: vec![0; NO_PORT + 1],
            protocol: vec![0; NO_BYTE + 1],
            tcp_flags: vec![0; NO_BYTE + 1],
            action: [0; 3],
            log_status: [0; 4],
            duration_seconds: Reservoir::new(0),
            packets: Reservoir::new(1),
            bytes: Reservoir::new(2),
            checks: CheckCounts::default(),
            minutes: BTreeMap::new(),
            minutes_truncated: false,
        }
    }

    pub fn add(&mut self, flow: &Flow) {
        self.flows += 1;
        self.log_status[match flow.log_status {
            Some(LogStatus::Ok) => 0,
            Some(LogStatus::Nodata) => 1,
            Some(LogStatus::Skipdata) => 2,
            None => 3,
        }] += 1;
        let minute = flow.start.div_euclid(60);
        if let Some(count) = self.minutes.get_mut(&minute) {
            *count += 1;
        } else if self.minutes.len() < MAX_MINUTES {
            self.minutes.insert(minute, 1);
        } else {
            self.minutes_truncated = true;
        }
        let (Some(src), Some(dst)) = (flow.srcaddr, flow.dstaddr) else {
            return;
        };
        self.traffic += 1;
        self.srcaddr.add(src);
        self.dstaddr.add(dst);
        self.srcport[flow.srcport.map_or(NO_PORT, usize::from)] += 1;
        self.dstport[flow.dstport.map_or(NO_PORT, usize::from)] += 1;
        self.protocol[flow.protocol.map_or(NO_BYTE, usize::from)] += 1;
        // A non-TCP flow has no flags, whether the log writes `-` or 0.
        let flags = match (flow.protocol, flow.tcp_flags) {
            (Some(protocol::TCP), Some(flags)) => usize::from(flags),
            _ => NO_BYTE,
        };
        self.tcp_flags[flags] += 1;
        self.action[match flow.action {
            Some(FlowAction::Accept) => 0,
            Some(FlowAction::Reject) => 1,
            None => 2,
        }] += 1;
        self.duration_seconds.add(flow.end.saturating_sub(flow.start).max(0) as f64);
        if let Some(packets) = flow.packets {
            self.packets.add(packets as f64);
        }
        if let Some(bytes) = flow.bytes {
            self.bytes.add(bytes as f64);
        }
        self.checks.add(flow);
    }

    /// Records per minute of `start`, from the first minute to the last, empty minutes as 0;
    /// `None` when more than [`MAX_MINUTES`] distinct minutes were seen or the span is longer.
    pub fn per_minute(&self) -> Option<Vec<f64>> {
        let (first, last) = (*self.minutes.keys().next()?, *self.minutes.keys().next_back()?);
        let span = usize::try_from(last.checked_sub(first)?.checked_add(1)?).ok()?;
        if self.minutes_truncated || span > MAX_MINUTES {
            return None;
        }
        let mut series = vec![0.0; span];
        for (minute, count) in &self.minutes {
            series[(minute - first) as usize] = *count as f64;
        }
        Some(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservoir_keeps_everything_up_to_its_size_then_a_uniform_sample() {
        let mut reservoir = Reservoir::new(0);
        for value in 0..RESERVOIR_SIZE {
            reservoir.add(value as f64);
        }
        assert_eq!(reservoir.values().len(), RESERVOIR_SIZE);
        assert_eq!(reservoir.values()[17], 17.0);
        for value in RESERVOIR_SIZE..4 * RESERVOIR_SIZE {
            reservoir.add(value as f64);
        }
        assert_eq!((reservoir.values().len(), reservoir.seen()), (RESERVOIR_SIZE, 4 * RESERVOIR_SIZE as u64));
        // Uniform over 0..4N: a quarter of the sample in each quarter, the mean near 2N.
        let first_quarter = reservoir.values().iter().filter(|v| **v < RESERVOIR_SIZE as f64).count() as f64 / RESERVOIR_SIZE as f64;
        assert!((first_quarter - 0.25).abs() < 0.01, "{first_quarter}");
    }

    #[test]
    fn addresses_past_the_cap_count_as_singletons() {
        let mut counts = AddressCounts::default();
        for _ in 0..3 {
            counts.add("10.0.0.1".parse().unwrap());
        }
        counts.add("10.0.0.2".parse().unwrap());
        assert_eq!(counts.sorted(), vec![3, 1]);
        assert!(!counts.approximate());
    }
}
