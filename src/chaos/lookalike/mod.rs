//! Benign look-alikes: normal traffic that a naive rule flags (hard negatives).
//!
//! A nightly backup moves gigabytes out like an exfiltration; an internal vulnerability scanner
//! sweeps hosts like an attacker; health checks and NTP call home like a beacon; a deploy's DNS
//! and CDN pulls burst like a flood. A benchmark without them lets one threshold catch everything
//! (Sommer & Paxson, "Outside the Closed World", IEEE S&P 2010).
//!
//! A look-alike runs as an episode on the hourly clock ([`super::HourlyClock`]), timed by its own
//! [`Episode::next_due_ms`](super::Episode::next_due_ms), but its records carry `label: null`: they
//! are normal traffic. Its row in the episodes file says `"benign": true`, names the look-alike and
//! the kind it resembles, its actors and its span, so that a scorer can count the false positives
//! that land on it. One look-alike lives in one file; [`LOOKALIKES`] lists them.

use crate::network::baseline::Baseline;
use crate::network::random::LaneRng;
use crate::records::AnomalyKind;

use super::{Episode, Start};

/// The static facts of one look-alike.
#[derive(Debug)]
pub struct LookalikeSpec {
    /// Its name in the episodes file and in a scenario's `lookalikes` (`nightly_backup`).
    pub name: &'static str,
    /// The anomaly kind it resembles (the episodes file's `kind`).
    pub resembles: AnomalyKind,
    /// When occurrences start.
    pub when: When,
    /// Starts an occurrence: draws its actors and plan from `rng`.
    pub start: for<'t> fn(&mut LaneRng, &Baseline<'t>, &Start<'_>) -> Box<dyn Episode<'t> + 't>,
}

/// When a look-alike's occurrences start, on the logical clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// A Poisson stream of this many occurrences per logical hour.
    PerHour(f64),
    /// Once a day, at this UTC hour plus up to `jitter_minutes` (a cron job).
    Daily { hour_utc: u32, jitter_minutes: u32 },
}

/// Every look-alike.
pub static LOOKALIKES: &[&LookalikeSpec] = &[];

/// The look-alike called `name`.
pub fn lookalike(name: &str) -> Option<&'static LookalikeSpec> {
    LOOKALIKES.iter().copied().find(|spec| spec.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rates_positive() {
        let mut names: Vec<&str> = LOOKALIKES.iter().map(|spec| spec.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LOOKALIKES.len());
        for spec in LOOKALIKES {
            match spec.when {
                When::PerHour(rate) => assert!(rate > 0.0, "{}", spec.name),
                When::Daily { hour_utc, .. } => assert!(hour_utc < 24, "{}", spec.name),
            }
        }
    }
}
