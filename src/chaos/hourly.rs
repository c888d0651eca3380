//! [`HourlyClock`]: the episodes scheduled by logical time rather than by share of records.
//!
//! A kind shaped by time (a beacon every minute, a scan probe every few minutes) cannot be a fixed
//! fraction of records at every rate: at 100,000 records/s, 1% beaconing would need tens of
//! thousands of hosts calling home every minute. So these are started by the clock: each kind's
//! forms scheduled by the hour ([`ChaosSettings::hourly_rate`]) and each look-alike is a Poisson
//! stream of starts (a look-alike may instead start once a day, as a cron job does), all drawn from
//! the seed alone. Every lane walks the same sequence and runs the starts numbered `lane mod lanes`
//! (the run's traffic lanes, across shards), so the ground truth does not depend on which machine
//! ran what.
//!
//! Each source has its own random stream: changing one kind's rate leaves the others' starts
//! where they were.

use crate::network::random::{LaneRng, chance, rng_for, unit};
use crate::records::AnomalyKind;

use super::lookalike::{LOOKALIKES, When};
use super::{ChaosSettings, Difficulty, KINDS};

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: i64 = 86_400_000;

/// What an hourly start begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourlyWhat {
    /// An episode of this kind, in this form (`overt`, `subtle`).
    Kind(AnomalyKind, &'static str),
    /// An occurrence of the look-alike at this index of [`LOOKALIKES`].
    Lookalike(usize),
}

/// One start on the hourly clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyStart {
    /// Logical offset from the run's t0, milliseconds.
    pub at_ms: u64,
    /// Its number among all starts of the run (the episode id's suffix; which lane runs it).
    pub number: u64,
    pub what: HourlyWhat,
}

#[derive(Debug)]
struct Source {
    what: HourlyWhat,
    schedule: Schedule,
    /// For a kind in `mixed` form: half its episodes are subtle.
    mixed: bool,
    rng: LaneRng,
    next_ms: u64,
}

#[derive(Debug, Clone, Copy)]
enum Schedule {
    /// Mean gap between starts, ms.
    Poisson(f64),
    Daily {
        hour_utc: u32,
        jitter_minutes: u32,
    },
}

/// The run's hourly starts, in time order.
#[derive(Debug)]
pub struct HourlyClock {
    sources: Vec<Source>,
    start_ms: i64,
    number: u64,
}

impl HourlyClock {
    /// The starts of a run of `settings` from `seed`, whose t0 is `start_ms` (Unix ms; a daily
    /// look-alike starts at its hour of the UTC day).
    pub fn new(seed: u64, settings: &ChaosSettings, start_ms: i64) -> Self {
        let mut sources = Vec::new();
        for (kind, spec) in KINDS.iter() {
            let rate = settings.hourly_rate(kind);
            if rate <= 0.0 {
                continue;
            }
            let form = settings.difficulty[kind];
            // A kind with a probability keeps its overt form there: by the hour it is subtle.
            let subtle = spec.probability.is_some() || form == Difficulty::Subtle;
            let mixed = spec.probability.is_none() && form == Difficulty::Mixed;
            let what = HourlyWhat::Kind(kind, if subtle { "subtle" } else { "overt" });
            let rng = rng_for(seed, 0x4008_0000 + kind.index() as u64);
            sources.push(Source { what, schedule: Schedule::Poisson(HOUR_MS / rate), mixed, rng, next_ms: 0 });
        }
        if settings.lookalikes {
            for (index, spec) in LOOKALIKES.iter().enumerate() {
                let schedule = match spec.when {
                    When::PerHour(rate) => Schedule::Poisson(HOUR_MS / rate),
                    When::Daily { hour_utc, jitter_minutes } => Schedule::Daily { hour_utc, jitter_minutes },
                };
                let rng = rng_for(seed, 0x4008_1000 + index as u64);
                sources.push(Source { what: HourlyWhat::Lookalike(index), schedule, mixed: false, rng, next_ms: 0 });
            }
        }
        let mut clock = HourlyClock { sources, start_ms, number: 0 };
        for index in 0..clock.sources.len() {
            clock.advance(index, None);
        }
        clock
    }

    /// When the next start is due, ms from t0 (`None`: nothing is scheduled by the hour).
    pub fn peek_ms(&self) -> Option<u64> {
        self.sources.iter().map(|source| source.next_ms).min()
    }

    /// The next start, in time order (ties in source order).
    pub fn next_start(&mut self) -> Option<HourlyStart> {
        let index = (0..self.sources.len()).min_by_key(|index| (self.sources[*index].next_ms, *index))?;
        let source = &mut self.sources[index];
        let mut what = source.what;
        if let (true, HourlyWhat::Kind(kind, _)) = (source.mixed, what) {
            what = HourlyWhat::Kind(kind, if chance(&mut source.rng, 0.5) { "subtle" } else { "overt" });
        }
        let start = HourlyStart { at_ms: source.next_ms, number: self.number, what };
        self.number += 1;
        let previous = source.next_ms;
        self.advance(index, Some(previous));
        Some(start)
    }

    /// Draws source `index`'s next start after `previous` (its first when `None`).
    fn advance(&mut self, index: usize, previous: Option<u64>) {
        let start_ms = self.start_ms;
        let source = &mut self.sources[index];
        source.next_ms = match source.schedule {
            Schedule::Poisson(mean_gap_ms) => {
                let gap = -mean_gap_ms * (1.0 - unit(&mut source.rng)).ln();
                previous.unwrap_or(0).saturating_add(gap.max(1.0) as u64)
            }
            Schedule::Daily { hour_utc, jitter_minutes } => {
                // The first occurrence of `hour_utc` at or after t0 (or after the previous day's).
                let after = start_ms + previous.map_or(0, |previous| previous as i64 + 1);
                let day = after.div_euclid(DAY_MS);
                let mut at = day * DAY_MS + i64::from(hour_utc) * 3_600_000;
                let jitter = (unit(&mut source.rng) * f64::from(jitter_minutes) * 60_000.0) as i64;
                if at + jitter < after || previous.is_some_and(|previous| at + jitter <= start_ms + previous as i64 + DAY_MS / 2) {
                    at += DAY_MS;
                }
                (at + jitter - start_ms).max(0) as u64
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::PerKind;

    fn settings(rate: f64) -> ChaosSettings {
        let mut settings = ChaosSettings::new(PerKind::default());
        settings.per_hour = PerKind::from_fn(|_| rate);
        settings.difficulty = PerKind::from_fn(|_| Difficulty::Subtle);
        settings
    }

    #[test]
    fn starts_come_in_time_order_at_their_rate() {
        let mut clock = HourlyClock::new(7, &settings(2.0), 0);
        let mut last = 0;
        let mut count = 0;
        while let Some(start) = clock.next_start() {
            if start.at_ms > 1_000 * 3_600_000 {
                break;
            }
            assert!(start.at_ms >= last);
            last = start.at_ms;
            count += 1;
        }
        // 1,000 hours at 2 an hour for each kind.
        let expected = 2_000.0 * AnomalyKind::COUNT as f64;
        assert!((count as f64 - expected).abs() < 4.0 * expected.sqrt(), "{count} vs {expected}");
    }

    #[test]
    fn the_same_seed_gives_the_same_starts_and_a_rate_of_zero_none() {
        let take = |seed| {
            let mut clock = HourlyClock::new(seed, &settings(1.0), 0);
            (0..50).map(|_| clock.next_start().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(take(3), take(3));
        assert_ne!(take(3), take(4));
        assert_eq!(HourlyClock::new(3, &settings(0.0), 0).next_start(), None);
    }

    #[test]
    fn an_overt_kind_with_a_probability_has_no_hourly_starts() {
        let mut overt = settings(1.0);
        overt.difficulty = PerKind::default();
        let mut clock = HourlyClock::new(1, &overt, 0);
        for _ in 0..200 {
            let Some(start) = clock.next_start() else { break };
            let HourlyWhat::Kind(kind, form) = start.what else { panic!("no look-alikes were asked for") };
            assert!(KINDS[kind].probability.is_none() && form == "overt", "{kind} {form}");
        }
    }
}
