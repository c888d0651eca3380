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
//!
//! # The look-alikes and their rates
//!
//! On by default (`--lookalikes off` removes them all), each at the rate of the estate it imitates:
//!
//! | look-alike | resembles | when | what its records look like |
//! |---|---|---|---|
//! | `nightly_backup` | `data_exfiltration` | daily, 01:00 UTC + 0–120 min | one database host streams 5–400 GB to S3 (10 connections, the AWS CLI's default) or to a peer VPC's host (1–4) for 15 min–6 h: a record per stream per 60 s window |
//! | `vulnerability_scanner` | `port_scan` | daily, 22:00 UTC + 0–60 min | the estate's scanner host (the first bastion of the first VPC) sweeps up to 40 hosts of one VPC on 64 ports each, 20–100 probes/s; closed ports answer RST |
//! | `health_check` | `beaconing` | 0.4 an hour, each 1–6 h | a load balancer's nodes check one target every 30 s (or 10 s, 5 s), or a host polls NTP every 64–1,024 s, or a monitoring agent reports every 60 s |
//! | `deploy_burst` | `data_exfiltration` | 0.25 an hour | the hosts of one tier resolve a few names and pull one artifact (30–600 MB) from a CDN within 1–5 minutes |
//!
//! A daily look-alike starts once a day whatever the run's rate; a per-hour one is a Poisson
//! stream. Their records take slots of the lane like every hourly episode's (see
//! `generator::hourly`), so at a low `--eps` a long look-alike is a larger share of the records.

mod deploy_burst;
mod health_check;
mod nightly_backup;
#[cfg(test)]
mod testing;
mod vulnerability_scanner;

use std::net::Ipv4Addr;

use crate::network::baseline::Baseline;
use crate::network::random::{LaneRng, unit, weighted};
use crate::network::topology::{Host, Role};
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

/// Every look-alike (its position seeds its own stream of starts: append new ones at the end).
pub static LOOKALIKES: &[&LookalikeSpec] =
    &[&nightly_backup::LOOKALIKE, &vulnerability_scanner::LOOKALIKE, &health_check::LOOKALIKE, &deploy_burst::LOOKALIKE];

/// The look-alike called `name`.
pub fn lookalike(name: &str) -> Option<&'static LookalikeSpec> {
    LOOKALIKES.iter().copied().find(|spec| spec.name == name)
}

/// Share of egress conversations the firewall logs (the default `--firewall-ratio`): a look-alike
/// knows no run settings beyond [`Start`], and a benign burst should look like the baseline's.
const FIREWALL_SHARE: f64 = 0.25;

/// A VPC drawn by the VPCs' own weights (their shares of the traffic).
fn vpc_by_weight(rng: &mut LaneRng, baseline: &Baseline<'_>) -> usize {
    let weights: Vec<f64> = baseline.topology.vpcs.iter().map(|vpc| vpc.weight).collect();
    weighted(rng, &weights).min(weights.len() - 1)
}

/// The first host of `role` in `vpc`: the one a cron job or a tool is installed on (every VPC has
/// every role; any host of the VPC otherwise).
fn first_of_role<'t>(baseline: &Baseline<'t>, vpc: usize, role: Role) -> &'t Host {
    let topology = baseline.topology;
    let hosts = &topology.vpcs[vpc].hosts;
    hosts.iter().map(|index| &topology.hosts[*index]).find(|host| host.role == role).unwrap_or(&topology.hosts[hosts[0]])
}

/// A draw whose logarithm is uniform between those of `low` and `high`.
fn log_uniform(rng: &mut LaneRng, low: f64, high: f64) -> f64 {
    (low.ln() + unit(rng) * (high.ln() - low.ln())).exp()
}

/// An address inside `network/prefix`, neither its first nor its last.
fn address_in(rng: &mut LaneRng, (network, prefix): (Ipv4Addr, u8)) -> Ipv4Addr {
    let size = 1u64 << (32 - u32::from(prefix.min(30)));
    Ipv4Addr::from(u32::from(network) + 1 + (unit(rng) * (size - 2) as f64) as u32)
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
        assert_eq!(LOOKALIKES.iter().map(|spec| spec.name).collect::<Vec<_>>(), names_in_registry_order());
    }

    fn names_in_registry_order() -> Vec<&'static str> {
        vec!["nightly_backup", "vulnerability_scanner", "health_check", "deploy_burst"]
    }

    #[test]
    fn addresses_stay_inside_their_prefix() {
        let mut rng = crate::network::random::rng_for(1, 1);
        for _ in 0..1_000 {
            let address = address_in(&mut rng, (Ipv4Addr::new(52, 216, 0, 0), 15));
            assert_eq!(u32::from(address) >> 17, u32::from(Ipv4Addr::new(52, 216, 0, 0)) >> 17);
            assert!(address != Ipv4Addr::new(52, 216, 0, 0) && address != Ipv4Addr::new(52, 217, 255, 255));
            let draw = log_uniform(&mut rng, 5.0, 400.0);
            assert!((5.0..=400.0).contains(&draw), "{draw}");
        }
    }
}
