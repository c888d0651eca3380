//! Arrivals: when, in logical time, each record of a stream is due.
//!
//! A flat run is a metronome: record *i* of a stream at rate *r* is due at `i / r`. Anything else
//! (a daily rhythm, phases with their own rates, bursts) goes through ticks of [`TICK_NS`] of
//! logical time. Tick *k* gets a mass, the records it holds:
//!
//! `mass(k) = eps(k) × share(k) × rhythm(k) × bursts(k) × scale × tick`
//!
//! - `eps(k)`: the rate of the phase (or the flags' rate) over the tick;
//! - `share(k)`: the stream's share of it (the port-scan lane's share, or the rest);
//! - `rhythm(k)`: the daily and weekly curve, each VPC's in its region's local time, weighted by
//!   its share of the traffic ([`super::profile::RateProfile::factor`]);
//! - `bursts(k)`: the share of the tick an ON/OFF superposition ([`OnOff`]) spends ON, with mean 1;
//! - `scale`: for a run bounded in time, what makes the masses sum to exactly the run's
//!   `eps × duration` (so `--eps` is the mean over the run, whatever the curve and the bursts
//!   did); 1 otherwise (the curve's weekly mean is 1, the bursts' expectation is 1).
//!
//! Without bursts the mass is a real number and records are spread evenly along the cumulative
//! mass (position *p* is due where the cumulative mass reaches *p*). With bursts the records of
//! tick *k* are a whole number drawn around its mass: Poisson when the run is open-ended, and
//! binomial against what the run has left when it is bounded (the same as drawing the run's
//! exact count over the ticks in proportion to their masses), spread evenly over the tick.
//!
//! Everything is drawn from the seed in tick order, by every lane alike: each lane walks the same
//! ticks and finds the same times, with nothing shared at run time.

use rand_distr::{Binomial, Distribution, Poisson};

use crate::network::random::{LaneRng, pareto, rng_for, split_seed, unit};

use super::profile::RateProfile;

/// Length of a tick of the arrival process, logical nanoseconds.
pub const TICK_NS: u64 = 100_000_000;

/// Independent ON/OFF sources whose superposition makes the bursts.
const BURST_SOURCES: usize = 16;

/// Shortest ON or OFF period, logical nanoseconds (the Pareto scale).
const BURST_MIN_PERIOD_NS: f64 = 1e9;

/// Which of the schedule's two streams: the traffic lanes' or the port-scan lane's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Traffic,
    PortScan,
}

/// The rate of one stretch of logical time: a phase, or the flags' rate outside phases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub start_ns: u64,
    pub end_ns: u64,
    pub eps: f64,
    /// The port-scan lane's share of the records.
    pub scan_share: f64,
}

/// What shapes the rate of a run, shared read-only by every lane.
#[derive(Debug, Clone)]
pub struct RateShape {
    /// t0, Unix milliseconds.
    start_ms: i64,
    /// The flags' rate and scan share, outside every segment.
    base: Segment,
    /// Phases, in time order.
    segments: Vec<Segment>,
    profile: RateProfile,
    /// Per VPC: its share of the traffic and its region's UTC offset, hours.
    regions: Vec<(f64, f64)>,
    /// The run's logical length, when it is bounded in time.
    bound_ns: Option<u64>,
    seed: u64,
    /// Per stream: the factor that makes its masses sum to its target, the scaled mass of the
    /// whole run, and its record count.
    scale: [f64; 2],
    total_mass: [f64; 2],
    counts: [Option<u64>; 2],
}

impl RateShape {
    /// `regions` is each VPC's traffic share and UTC offset. `bound_ns` is the run's logical
    /// length when it is bounded in time.
    pub fn new(
        start_ms: i64,
        base: (f64, f64),
        segments: Vec<Segment>,
        profile: RateProfile,
        regions: Vec<(f64, f64)>,
        bound_ns: Option<u64>,
        seed: u64,
    ) -> Self {
        let base = Segment { start_ns: 0, end_ns: u64::MAX, eps: base.0, scan_share: base.1 };
        let mut shape = RateShape {
            start_ms,
            base,
            segments,
            profile,
            regions,
            bound_ns,
            seed,
            scale: [1.0; 2],
            total_mass: [0.0; 2],
            counts: [None; 2],
        };
        if bound_ns.is_some() {
            for stream in [Stream::Traffic, Stream::PortScan] {
                let (target, drawn) = shape.masses(stream);
                let index = stream as usize;
                shape.scale[index] = if drawn > 0.0 { target / drawn } else { 0.0 };
                shape.total_mass[index] = target;
                shape.counts[index] = Some(if drawn > 0.0 { target.round() as u64 } else { 0 });
            }
        }
        shape
    }

    /// Records the stream holds in a run bounded in time (`None` when it is not).
    pub fn count(&self, stream: Stream) -> Option<u64> {
        self.counts[stream as usize]
    }

    /// True when records are a whole number per tick, drawn (bursts on).
    fn drawn(&self) -> bool {
        self.profile.bursts.is_some()
    }

    /// Over the bounded run: the stream's target mass (eps × share over time) and the mass the
    /// rhythm and bursts give before scaling.
    fn masses(&self, stream: Stream) -> (f64, f64) {
        let mut target = 0.0;
        let mut drawn = 0.0;
        let mut bursts = OnOff::new(self);
        let ticks = self.bound_ns.map_or(0, |bound| bound.div_ceil(TICK_NS));
        for tick in 0..ticks {
            let base = self.base_mass(tick, stream);
            target += base;
            drawn += base * self.rhythm(tick) * bursts.next_tick(self.tick_len(tick));
        }
        (target, drawn)
    }

    /// True when, from `tick` on, the stream has no records at all: past every phase, at a base
    /// rate that gives it none (an open-ended run would otherwise walk empty ticks for ever).
    fn never_again(&self, tick: u64, stream: Stream) -> bool {
        let past_phases = self.segments.iter().all(|segment| segment.end_ns <= tick * TICK_NS);
        past_phases && self.base_mass(tick, stream) <= 0.0
    }

    /// The tick's length: [`TICK_NS`], or less for the last tick of a bounded run.
    fn tick_len(&self, tick: u64) -> u64 {
        let start = tick * TICK_NS;
        self.bound_ns.map_or(TICK_NS, |bound| bound.saturating_sub(start).min(TICK_NS))
    }

    /// eps × share over the tick (phases may begin or end inside it), in records.
    fn base_mass(&self, tick: u64, stream: Stream) -> f64 {
        let start = tick * TICK_NS;
        let end = start + self.tick_len(tick);
        let share = |segment: &Segment| match stream {
            Stream::Traffic => 1.0 - segment.scan_share,
            Stream::PortScan => segment.scan_share,
        };
        let mut covered = 0u64;
        let mut mass = 0.0;
        for segment in &self.segments {
            let overlap = end.min(segment.end_ns).saturating_sub(start.max(segment.start_ns));
            covered += overlap;
            mass += segment.eps * share(segment) * overlap as f64 / 1e9;
        }
        let rest = (end - start).saturating_sub(covered);
        mass + self.base.eps * share(&self.base) * rest as f64 / 1e9
    }

    /// The daily and weekly curve at the tick's middle, over all VPCs.
    fn rhythm(&self, tick: u64) -> f64 {
        if !self.profile.has_rhythm() {
            return 1.0;
        }
        let middle_ms = self.start_ms + ((tick * TICK_NS + TICK_NS / 2) / 1_000_000) as i64;
        self.regions.iter().map(|(weight, offset)| weight * self.profile.factor(middle_ms, *offset)).sum()
    }

    /// Each VPC's share of the traffic at logical offset `offset_ns`, into `weights` (the VPC's
    /// own weight times its region's curve at that local time). `false` when the shares never move.
    pub fn vpc_weights(&self, offset_ns: u64, weights: &mut Vec<f64>) -> bool {
        if !self.profile.has_rhythm() {
            return false;
        }
        let unix_ms = self.start_ms + (offset_ns / 1_000_000) as i64;
        weights.clear();
        weights.extend(self.regions.iter().map(|(weight, offset)| weight * self.profile.factor(unix_ms, *offset)));
        true
    }
}

/// One stream's arrival times, walked forward by one lane.
#[derive(Debug)]
pub struct Arrivals<'s> {
    shape: &'s RateShape,
    stream: Stream,
    bursts: OnOff,
    counts: LaneRng,
    tick: u64,
    /// Records before the current tick, and in it (real numbers without bursts).
    before: f64,
    within: f64,
    /// Mass the ticks from the current one on still hold, and the records they still hold, for a
    /// bounded run with bursts.
    mass_left: f64,
    records_left: u64,
    /// The current tick's length, nanoseconds.
    tick_len: u64,
}

impl<'s> Arrivals<'s> {
    pub fn new(shape: &'s RateShape, stream: Stream) -> Self {
        let (mass_left, records_left) = match shape.count(stream) {
            Some(count) => (shape.total_mass[stream as usize], count),
            None => (0.0, 0),
        };
        let mut arrivals = Arrivals {
            shape,
            stream,
            bursts: OnOff::new(shape),
            counts: rng_for(shape.seed, 0xA441_0000 + stream as u64),
            tick: 0,
            before: 0.0,
            within: 0.0,
            mass_left,
            records_left,
            tick_len: 0,
        };
        arrivals.enter_tick();
        arrivals
    }

    /// Logical offset from t0 of the stream's record at `position`, nanoseconds; `None` past the
    /// end of a bounded run.
    pub fn offset_ns(&mut self, position: u64) -> Option<u64> {
        if self.shape.count(self.stream).is_some_and(|count| position >= count) {
            return None;
        }
        let position = position as f64;
        while position >= self.before + self.within && !self.in_last_tick() {
            if self.shape.bound_ns.is_none() && self.shape.never_again(self.tick, self.stream) {
                return None;
            }
            self.before += self.within;
            self.tick += 1;
            self.enter_tick();
        }
        // In the last tick, rounding may leave the run's last record a hair past its mass.
        let into = if self.within > 0.0 { ((position - self.before) / self.within).clamp(0.0, 1.0) } else { 0.0 };
        Some(self.tick * TICK_NS + ((into * self.tick_len as f64) as u64).min(self.tick_len.saturating_sub(1)))
    }

    fn in_last_tick(&self) -> bool {
        self.shape.bound_ns.is_some_and(|bound| (self.tick + 1) * TICK_NS >= bound)
    }

    fn enter_tick(&mut self) {
        let shape = self.shape;
        self.tick_len = shape.tick_len(self.tick);
        let mass = shape.base_mass(self.tick, self.stream)
            * shape.rhythm(self.tick)
            * self.bursts.next_tick(self.tick_len)
            * shape.scale[self.stream as usize];
        self.within = if !shape.drawn() {
            mass
        } else if shape.count(self.stream).is_some() {
            let last = self.in_last_tick();
            let share = if last || self.mass_left <= mass { 1.0 } else { (mass / self.mass_left).clamp(0.0, 1.0) };
            let drawn = Binomial::new(self.records_left, share).map_or(0, |binomial| binomial.sample(&mut self.counts));
            self.mass_left -= mass;
            self.records_left -= drawn;
            drawn as f64
        } else if mass > 0.0 {
            Poisson::new(mass).map_or(0.0, |poisson| poisson.sample(&mut self.counts))
        } else {
            0.0
        };
    }
}

/// An ON/OFF superposition: [`BURST_SOURCES`] sources, each alternating ON and OFF periods with
/// Pareto lengths of tail index `3 − 2H`, which makes the aggregate self-similar with Hurst
/// parameter H (Taqqu, Willinger and Sherman, 1997). Its value over a tick is the share of the
/// tick the sources spend ON, over its mean (one half): mean 1. Without bursts, or at H = 0.5
/// (Poisson arrivals, nothing to superpose), it is 1.
#[derive(Debug, Clone)]
pub struct OnOff {
    rng: LaneRng,
    alpha: Option<f64>,
    /// Per source: ON or not, and when (since t0, nanoseconds) it next switches.
    sources: Vec<(bool, f64)>,
    now_ns: f64,
}

impl OnOff {
    fn new(shape: &RateShape) -> Self {
        let alpha = shape.profile.bursts.map(|bursts| 3.0 - 2.0 * bursts.hurst).filter(|alpha| *alpha < 2.0);
        let mut rng = rng_for(split_seed(shape.seed, 0xB425_7000), 1);
        let mut sources = Vec::new();
        if let Some(alpha) = alpha {
            for _ in 0..BURST_SOURCES {
                let on = unit(&mut rng) < 0.5;
                // The first period starts at a random point of one (an equilibrium start).
                let first = pareto(&mut rng, BURST_MIN_PERIOD_NS, alpha) * unit(&mut rng);
                sources.push((on, first));
            }
        }
        OnOff { rng, alpha, sources, now_ns: 0.0 }
    }

    /// The bursts' factor over the next tick, `len` nanoseconds long.
    fn next_tick(&mut self, len: u64) -> f64 {
        let Some(alpha) = self.alpha else { return 1.0 };
        let start = self.now_ns;
        let end = start + len as f64;
        self.now_ns = end;
        if len == 0 {
            return 1.0;
        }
        let mut on_time = 0.0;
        for (on, next_switch) in &mut self.sources {
            let mut from = start;
            while *next_switch < end {
                if *on {
                    on_time += *next_switch - from;
                }
                from = *next_switch;
                *on = !*on;
                *next_switch += pareto(&mut self.rng, BURST_MIN_PERIOD_NS, alpha);
            }
            if *on {
                on_time += end - from;
            }
        }
        on_time / (len as f64 * BURST_SOURCES as f64 / 2.0)
    }
}

#[cfg(test)]
#[path = "arrivals_tests.rs"]
mod tests;
