//! Flags shared by the commands that generate (`generate`, `run`): rate, workers, chaos
//! probabilities, seed, bounds. Raw flags here; [`GeneratorArgs::resolve`] turns them into
//! validated [`GeneratorSettings`] or one clear usage error.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::chaos::{ChaosSettings, KINDS};
use crate::generator::profile::Bursts;
use crate::generator::timeline::Origin;
use crate::generator::{GeneratorSettings, RunPlan, Shard, Speed};
use crate::network::target::Target;
use crate::network::topology::Topology;
use crate::records::Timestamp;
use crate::scenario::Scenario;

use super::UsageError;
use super::chaos_args::ChaosArgs;

#[derive(Debug, Clone, Args)]
pub(crate) struct GeneratorArgs {
    /// Mean records per second of logical time, all workers together. 0 = as fast as possible
    /// with a nominal logical rate of 100,000/s and `--duration` on the wall clock (what
    /// `--speed max` does with any rate, the duration then in logical time).
    #[arg(long, env = "EPS_TARGET", default_value = "5000", value_parser = parse_rate, allow_negative_numbers = true)]
    pub(crate) eps: f64,

    /// How fast logical time (the records' time) runs: `1` is real time, `60` an hour a minute,
    /// `max` as fast as possible. The records are the same at any speed.
    #[arg(long, env = "NETCHAOS_SPEED", default_value = "1", value_parser = parse_speed)]
    pub(crate) speed: Speed,

    /// Self-similar bursts with this Hurst parameter (0.5 to 0.99): ON/OFF periods with
    /// heavy-tailed lengths; 0.5 gives Poisson arrivals. The mean rate is held over the run.
    #[arg(long, env = "NETCHAOS_HURST", value_parser = parse_hurst)]
    pub(crate) hurst: Option<f64>,

    /// Emit only shard K of N of the stream (`--shard 1/4`): lane i belongs to shard i mod N.
    /// N instances with the same settings and shards 0/N..N-1/N emit together what one emits.
    #[arg(long, env = "NETCHAOS_SHARD", default_value = "0/1", value_parser = parse_shard)]
    pub(crate) shard: Shard,

    /// Generator worker threads (the port scan adds one dedicated worker of its own). Part of
    /// what makes a run reproducible: keep it fixed to get the same records.
    #[arg(long, env = "WORKER_COUNT", default_value = "4", value_parser = parse_workers)]
    pub(crate) workers: NonZeroU32,

    /// Stop after this many records.
    #[arg(long, env = "NETCHAOS_COUNT")]
    pub(crate) count: Option<u64>,

    /// Stop after this long (`30s`, `5m`, `1h`; at most `10y`); with a paced rate this is exactly
    /// eps × duration records.
    #[arg(long, env = "NETCHAOS_DURATION", value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// Seed of everything random; a random one is chosen (and written in the manifest) if absent.
    #[arg(long, env = "SEED")]
    pub(crate) seed: Option<u64>,

    /// Distinguishes generator instances that share a seed; part of every event id.
    #[arg(long, env = "NETCHAOS_INSTANCE_ID", default_value_t = 0)]
    pub(crate) instance_id: u32,

    /// t0 of the logical schedule: RFC 3339 (`2026-01-01T00:00:00Z`) or Unix seconds; default now.
    /// From 1970-01-01T00:10:00Z to 9400-01-01T00:00:00Z, so that every record's time stays in the
    /// range records carry (1970 through 9999).
    #[arg(long, env = "NETCHAOS_START_TIME", value_parser = parse_start_time)]
    pub(crate) start_time: Option<Timestamp>,

    /// Each anomaly kind's `--…-prob` and parameters (`--exfil-bytes`), from the kinds' specs.
    #[command(flatten)]
    pub(crate) chaos: ChaosArgs,

    /// A scenario file (YAML; see `netchaos scenario validate`): start, duration, seed, estate,
    /// rate profile, background chaos and a timeline of phases and episodes. Flags given with it
    /// (on the command line or in the environment) override its values.
    #[arg(long, env = "NETCHAOS_SCENARIO")]
    pub(crate) scenario: Option<PathBuf>,

    /// The ids of the flags given on the command line or in the environment (filled in by
    /// [`super::main`] after parsing): those a scenario's values yield to.
    #[arg(skip)]
    pub(crate) given: BTreeSet<String>,

    /// Share of normal conversations the firewall also logs (every conversation has its flow
    /// records: each direction at each of our interfaces it touches).
    #[arg(long, env = "FIREWALL_RATIO", default_value = "0.5", value_parser = parse_probability, allow_negative_numbers = true)]
    pub(crate) firewall_ratio: f64,
}

impl GeneratorArgs {
    /// The settings in force: the flags, over the scenario's values when there is one, checked
    /// together. A scenario's mistakes are all printed first; any error is a usage error.
    pub(crate) fn resolve(&self) -> anyhow::Result<GeneratorSettings> {
        let scenario = self.scenario.as_deref().map(super::scenario::checked).transpose()?;
        Ok(self.resolve_with(scenario.as_ref())?)
    }

    fn given(&self, id: &str) -> bool {
        self.given.contains(id)
    }

    fn resolve_with(&self, scenario: Option<&Scenario>) -> Result<GeneratorSettings, UsageError> {
        let from_file = |flag: &str| scenario.is_some() && !self.given(flag);
        let chaos = match scenario {
            None => self.chaos.resolve()?,
            Some(scenario) => {
                // Flags' defaults, then the file's keys, then the flags the user gave.
                let mut chaos = scenario.chaos.apply(ChaosSettings::defaults());
                if let Some(on) = scenario.lookalikes {
                    chaos.lookalikes = on;
                }
                for (kind, spec) in KINDS.iter() {
                    if spec.probability.is_some_and(|flag| self.given(flag.name)) {
                        chaos.probability[kind] = self.chaos.settings.probability[kind];
                    }
                    if self.given(spec.per_hour.name) {
                        chaos.per_hour[kind] = self.chaos.settings.per_hour[kind];
                    }
                }
                if self.given("difficulty") {
                    chaos.difficulty = self.chaos.settings.difficulty;
                }
                if self.given("lookalikes") {
                    chaos.lookalikes = self.chaos.settings.lookalikes;
                }
                for (parameter, value) in self.chaos.settings.parameters() {
                    if self.given(parameter.name) {
                        chaos = chaos.with(parameter, value);
                    }
                }
                ChaosArgs { settings: chaos }.resolve()?
            }
        };
        let duration = if from_file("duration") { scenario.and_then(|scenario| scenario.duration) } else { self.duration };
        if duration.is_some_and(|duration| duration.is_zero()) {
            return Err(UsageError("--duration must be longer than 0s".into()));
        }
        let seed = if from_file("seed") { scenario.and_then(|scenario| scenario.seed) } else { None };
        let seed = seed.or(self.seed).unwrap_or_else(random_seed);
        let start = if from_file("start_time") { scenario.and_then(|scenario| scenario.start) } else { None };
        let start_time_ms =
            start.or(self.start_time).unwrap_or_else(|| Timestamp::from_unix_millis(Timestamp::now().unix_seconds() * 1000)).unix_millis();
        // Flow windows reach up to a minute before their event time: keep them after 1970.
        if start_time_ms < EARLIEST_START_MS {
            return Err(UsageError("--start-time must be 1970-01-01T00:10:00Z or later (flow windows reach back up to a minute)".into()));
        }
        let eps = if from_file("eps") { scenario.and_then(|scenario| scenario.eps).unwrap_or(self.eps) } else { self.eps };
        let lanes = self.workers.get() + u32::from(chaos.record_fraction(crate::records::AnomalyKind::PortScan) > 0.0);
        if self.shard.count > lanes {
            return Err(UsageError(format!(
                "--shard {} splits the stream into more shards than its {lanes} lanes: use at most {lanes} shards, or more --workers",
                self.shard
            )));
        }
        let mut plan = RunPlan { speed: self.speed, shard: self.shard, ..RunPlan::default() };
        if let Some(scenario) = scenario {
            if !scenario.phases.is_empty() && duration.is_none() {
                return Err(UsageError(format!(
                    "{}: a scenario with phases needs a `duration` (or --duration): phases shape a run of known length",
                    scenario.file
                )));
            }
            plan.profile = scenario.profile.clone();
            plan.topology = scenario.topology.unwrap_or_default();
            plan.timeline = scenario.timeline_with(eps, &chaos);
            plan.scenario = Some(scenario.file.clone());
            check_timeline(scenario, &plan, seed)?;
        }
        if let Some(hurst) = self.hurst {
            plan.profile.bursts = Some(Bursts { hurst });
        }
        let mut settings = GeneratorSettings {
            seed,
            instance_id: self.instance_id,
            workers: self.workers,
            eps,
            count: self.count,
            duration,
            start_time_ms,
            chaos,
            firewall_ratio: self.firewall_ratio,
            plan,
        };
        if let Some(scenario) = scenario {
            settings.plan.control = scenario.control_for(&settings.run_id(), settings.plan.timeline.episodes.len());
        }
        Ok(settings)
    }
}

/// What only the settings in force can show wrong in a scenario's timeline: a phase whose chaos,
/// with the flags over it, sums past 1, and a host or subnet target the estate does not have.
fn check_timeline(scenario: &Scenario, plan: &RunPlan, seed: u64) -> Result<(), UsageError> {
    let at = |origin: &Option<Origin>| {
        origin.as_ref().map_or_else(|| scenario.file.clone(), |origin| format!("{}:{}", origin.file, origin.line))
    };
    for phase in &plan.timeline.phases {
        let total = phase.chaos.total();
        if total > 1.0 + 1e-9 {
            return Err(UsageError(format!(
                "{}: phase `{}` has anomaly probabilities summing to {total} with the flags given: lower them in the phase or on the command line",
                at(&phase.origin),
                phase.name
            )));
        }
    }
    let topology = Topology::with_size(seed, plan.topology).map_err(|error| UsageError(format!("{}: {error}", scenario.file)))?;
    for episode in &plan.timeline.episodes {
        let missing = match &episode.target {
            Target::Host(address) => (!topology.has_host(*address)).then(|| format!("no host has the address {address}")),
            Target::Subnet { network, prefix } => {
                (!topology.subnet_has_host(*network, *prefix)).then(|| format!("no host is in {network}/{prefix}"))
            }
            Target::Any | Target::Service(_) => None,
        };
        if let Some(missing) = missing {
            let example = topology.hosts.first().map_or_else(String::new, |host| format!(" (one is {})", host.address));
            return Err(UsageError(format!(
                "{}: the episode's target is not in the estate: {missing}; target a host of it{example}, a service, or `any` (`netchaos scenario plan` lists the hosts' subnets)",
                at(&episode.origin)
            )));
        }
    }
    Ok(())
}

/// Earliest `--start-time`: ten minutes after the Unix epoch.
const EARLIEST_START_MS: i64 = 600_000;

/// Latest `--start-time`, 9400-01-01T00:00:00Z: a schedule's offsets are `u64` nanoseconds, at
/// most 584.6 years, so every event time of a run stays before [`Timestamp::LATEST`].
const LATEST_START_MS: i64 = 234_468_172_800_000;

/// Longest duration any flag takes (`--duration`, `--max-age`, `--idle-exit`, `--give-up-after`):
/// ten years of 365.25 days, as humantime counts `10y`. Far beyond any real use, and far enough
/// below what an `Instant` can hold that adding it to the clock cannot overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);

/// Most generator workers: far more than any machine has cores; each lane costs a thread and buffers.
const MAX_WORKERS: u32 = 1024;

/// A seed from the OS's per-process hash keys and the clock, for runs without `--seed`.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(Timestamp::now().unix_millis());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of records per second"))?;
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("`{text}` is not a rate: use a number >= 0 (0 = as fast as possible)"));
    }
    if rate > MAX_RATE || (rate > 0.0 && rate < MIN_RATE) {
        return Err(format!("{text} records per second is outside what netchaos schedules: use {MIN_RATE} to {MAX_RATE:e}, or 0"));
    }
    Ok(rate)
}

/// Most speed-up: a year of logical time in about five minutes of wall clock; and the slowest, a
/// logical second in a thousand.
const MAX_SPEED: f64 = 100_000.0;
const MIN_SPEED: f64 = 0.001;

/// Highest `--eps`: far past what any machine writes, low enough that the schedule's arithmetic
/// (records per slice, nanoseconds per record) stays exact.
const MAX_RATE: f64 = 1e9;

/// Lowest nonzero `--eps`: a record every 1,000 seconds.
const MIN_RATE: f64 = 0.001;

pub(crate) fn parse_speed(text: &str) -> Result<Speed, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    let speed: f64 = text.parse().map_err(|_| format!("`{text}` is not a speed: use a number like 1, 60 or 0.5, or `max`"))?;
    if !speed.is_finite() || !(MIN_SPEED..=MAX_SPEED).contains(&speed) {
        return Err(format!("{text} is not a speed netchaos runs at: use {MIN_SPEED} to {MAX_SPEED}, or `max`"));
    }
    Ok(Speed::Times(speed))
}

pub(crate) fn parse_hurst(text: &str) -> Result<f64, String> {
    let hurst: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.5..=0.99).contains(&hurst) {
        return Err(format!("{hurst} is outside 0.5-0.99: a Hurst parameter of bursty traffic is 0.5 (Poisson) to just under 1"));
    }
    Ok(hurst)
}

pub(crate) fn parse_shard(text: &str) -> Result<Shard, String> {
    let wrong = || format!("`{text}` is not a shard: use K/N with 0 <= K < N, like 0/4");
    let (index, count) = text.trim().split_once('/').ok_or_else(wrong)?;
    let index: u32 = index.trim().parse().map_err(|_| wrong())?;
    let count: u32 = count.trim().parse().map_err(|_| wrong())?;
    if count == 0 || index >= count || count > MAX_WORKERS + 1 {
        return Err(wrong());
    }
    Ok(Shard { index, count })
}

pub(crate) fn parse_workers(text: &str) -> Result<NonZeroU32, String> {
    let workers: u32 = text.trim().parse().map_err(|_| format!("`{text}` is not a whole number of workers"))?;
    if workers > MAX_WORKERS {
        return Err(format!("{workers} workers is more than the {MAX_WORKERS} netchaos supports"));
    }
    NonZeroU32::new(workers).ok_or_else(|| "the worker count must be at least 1".to_owned())
}

pub(crate) fn parse_probability(text: &str) -> Result<f64, String> {
    let probability: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=1.0).contains(&probability) {
        return Err(format!("{probability} is outside 0-1: a probability is a fraction of records"));
    }
    Ok(probability)
}

/// A duration like `30s`, `5m`, `1h` or `2d`, at most [`MAX_DURATION`] (`10y`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let too_long = || format!("`{text}` is longer than the 10y a duration may be: use a shorter one");
    let duration = match humantime::parse_duration(text.trim()) {
        Ok(duration) => duration,
        Err(humantime::DurationError::NumberOverflow) => return Err(too_long()),
        Err(error) => return Err(format!("`{text}` is not a duration like 30s, 5m or 1h ({error})")),
    };
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

pub(crate) fn parse_start_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let out_of_range = || {
        format!(
            "`{text}` is outside the start times a run may have, 1970-01-01T00:10:00Z to 9400-01-01T00:00:00Z \
             (flow windows reach back up to a minute, and every record's time must stay before the year 10000)"
        )
    };
    let millis = if let Ok(seconds) = text.parse::<i64>() {
        seconds.checked_mul(1000).ok_or_else(out_of_range)?
    } else {
        let time = humantime::parse_rfc3339_weak(text)
            .map_err(|_| format!("`{text}` is not a time: use RFC 3339 (2026-01-01T00:00:00Z) or Unix seconds"))?;
        let since = time.duration_since(std::time::UNIX_EPOCH).map_err(|_| out_of_range())?;
        i64::try_from(since.as_millis()).map_err(|_| out_of_range())?
    };
    if !(EARLIEST_START_MS..=LATEST_START_MS).contains(&millis) {
        return Err(out_of_range());
    }
    Ok(Timestamp::from_unix_millis(millis))
}

/// `10MB` (10^6), `10MiB` (2^20), `512KB`, `1GB`, or plain bytes: what a chaos parameter in bytes takes.
pub(crate) use crate::chaos::parse_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("123"), Ok(123));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("5XB").is_err());
    }

    #[test]
    fn start_time_takes_rfc3339_or_seconds() {
        assert_eq!(parse_start_time("1700000000"), Ok(Timestamp::from_unix_millis(1_700_000_000_000)));
        assert_eq!(parse_start_time("2023-11-14T22:13:20Z"), Ok(Timestamp::from_unix_millis(1_700_000_000_000)));
        assert!(parse_start_time("yesterday").is_err());
    }

    #[test]
    fn the_start_time_bounds_are_the_times_the_message_names() {
        assert_eq!(Timestamp::from_unix_millis(EARLIEST_START_MS).to_string(), "1970-01-01T00:10:00.000Z");
        assert_eq!(Timestamp::from_unix_millis(LATEST_START_MS).to_string(), "9400-01-01T00:00:00.000Z");
    }

    #[test]
    fn start_times_outside_the_record_time_range_are_refused() {
        assert_eq!(parse_start_time("9400-01-01T00:00:00Z"), Ok(Timestamp::from_unix_millis(LATEST_START_MS)));
        for bad in ["9400-01-01T00:00:01Z", "9999-12-31T23:59:59Z", "253402300799", "9223372036854775807", "-5", "599"] {
            let error = parse_start_time(bad).unwrap_err();
            assert!(error.contains("outside the start times") && error.contains("9400-01-01T00:00:00Z"), "{bad}: {error}");
        }
        // The latest start plus the longest schedule (u64 nanoseconds) is still a valid time.
        let latest_event = LATEST_START_MS + (u64::MAX / 1_000_000) as i64;
        assert!(Timestamp::from_unix_millis(latest_event).in_range());
    }

    #[test]
    fn durations_longer_than_ten_years_are_refused_and_the_longest_fits_an_instant() {
        assert_eq!(parse_duration("10y"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        for absurd in ["500000000000y", "11y", "3653d"] {
            let error = parse_duration(absurd).unwrap_err();
            assert!(error.contains("longer than the 10y"), "{absurd}: {error}");
        }
        assert!(std::time::Instant::now().checked_add(MAX_DURATION).is_some());
        assert!(tokio::time::Instant::now().checked_add(MAX_DURATION).is_some());
    }

    #[test]
    fn rates_probabilities_and_workers_are_checked() {
        assert!(parse_rate("abc").is_err());
        assert!(parse_rate("-1").is_err());
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_workers("0").is_err());
    }

    #[test]
    fn speeds_hurst_parameters_and_shards_are_checked() {
        assert_eq!(parse_speed("max"), Ok(Speed::Max));
        assert_eq!(parse_speed("60"), Ok(Speed::Times(60.0)));
        for bad in ["0", "-1", "fast", "1e9", "NaN"] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_hurst("0.8"), Ok(0.8));
        assert!(parse_hurst("0.4").unwrap_err().contains("outside 0.5-0.99"));
        assert!(parse_hurst("1").is_err());
        assert_eq!(parse_shard("1/4"), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "0/0", "1", "a/b", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
