//! What every anomaly kind provides: its static facts ([`KindSpec`]) and the state of one of its
//! episodes in progress ([`Episode`]).
//!
//! A kind's file defines one `pub(super) static KIND: KindSpec` and one type implementing
//! [`Episode`]; [`super::KINDS`] lists the specs. Nothing outside the kind's file knows what its
//! records look like, how long its episodes are, or which flags tune it.

use std::collections::VecDeque;

use crate::network::baseline::Baseline;
use crate::network::random::LaneRng;
use crate::network::target::Target;
use crate::records::AnomalyKind;

use super::{Actors, ChaosSettings, Emission};

/// The static facts of one anomaly kind.
#[derive(Debug)]
pub struct KindSpec {
    /// The label its records carry.
    pub kind: AnomalyKind,
    /// Its name on the `run` status line (`scan 1200`).
    pub short_name: &'static str,
    /// The flag and variable that set its expected fraction of records: the original four kinds'
    /// overt forms. `None` for a kind shaped by time (a beacon every minute cannot be a fixed
    /// fraction of records at every rate), which only [`KindSpec::per_hour`] schedules.
    pub probability: Option<ProbabilityFlag>,
    /// The flag and variable that set its episodes per logical hour: every form of a kind without
    /// a probability, and the subtle form of one with (see [`super::Difficulty`]).
    pub per_hour: PerHourFlag,
    /// Its MITRE ATT&CK technique id (`T1046`); `None` for an operational fault.
    pub technique: Option<&'static str>,
    /// Further settings users tune (flags, variables, manifest keys); most kinds have none.
    pub parameters: &'static [Parameter],
    /// Mean records per episode: drives how often an episode may start.
    pub mean_records: f64,
    /// Logical span an episode aims to cover, in seconds: drives its density.
    pub target_span_seconds: f64,
    /// Where its records are written.
    pub placement: Placement,
    /// The forms it takes (`overt`, `subtle`), the default first: what a scenario's `difficulty`
    /// may name.
    pub difficulties: &'static [&'static str],
    /// Starts an episode: draws its actors and plan from `rng`.
    pub start: for<'t> fn(&mut LaneRng, &Baseline<'t>, &Start<'_>) -> Box<dyn Episode<'t> + 't>,
}

/// What an episode is started with: the chaos settings in force, and for a scheduled episode its
/// target, intensity and difficulty.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub settings: &'a ChaosSettings,
    /// What the episode aims at; [`Target::Any`] lets the kind pick.
    pub target: &'a Target,
    /// Multiplies how much the episode does (records, bytes, ports); 1 is the kind's own plan.
    pub intensity: f64,
    /// One of the kind's [`KindSpec::difficulties`].
    pub difficulty: &'static str,
    /// The logical span the episode should cover, when its caller fixes one (a scenario's
    /// `duration`); a kind that keeps its own timetable fits its plan into it.
    pub span_ms: Option<u64>,
}

impl<'a> Start<'a> {
    /// A background episode: any target, the kind's own plan, its default form.
    pub fn background(settings: &'a ChaosSettings, kind: &KindSpec) -> Self {
        Start { settings, target: &Target::Any, intensity: 1.0, difficulty: kind.difficulties[0], span_ms: None }
    }

    /// True for the kind's subtle form.
    pub fn is_subtle(&self) -> bool {
        self.difficulty == "subtle"
    }

    /// `amount` (ports, bytes, sessions of the kind's own plan) times the intensity, rounded, at
    /// least 1; exactly `amount` at intensity 1.
    pub fn scaled(&self, amount: u64) -> u64 {
        if self.intensity == 1.0 {
            return amount;
        }
        // `as` saturates: an intensity that is not a positive number gives the floor of 1.
        ((amount as f64 * self.intensity).round() as u64).max(1)
    }
}

/// Where a kind's records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Inside the traffic lanes, under the [`super::EpisodeScheduler`], mixed with baseline.
    TrafficLanes,
    /// In the schedule's one dedicated lane, episodes back to back, timed by
    /// [`Episode::records_per_second`] (the port scan's lane).
    DedicatedLane,
}

/// The `--…-prob` flag of a kind.
#[derive(Debug, Clone, Copy)]
pub struct ProbabilityFlag {
    /// Key in the run manifest's settings and in a run's recorded settings: `port_scan_prob`.
    pub name: &'static str,
    /// Long flag, without its dashes: `port-scan-prob`.
    pub flag: &'static str,
    /// Environment variable: `PORT_SCAN_PROB`.
    pub env: &'static str,
    /// Default, as the flag takes it: `0.01`.
    pub default: &'static str,
    /// The flag's help.
    pub help: &'static str,
}

/// The `--…-per-hour` flag of a kind: episodes per logical hour, on a Poisson clock.
#[derive(Debug, Clone, Copy)]
pub struct PerHourFlag {
    /// Key in the run manifest's settings and in a run's recorded settings: `beaconing_per_hour`.
    pub name: &'static str,
    /// Long flag, without its dashes: `beaconing-per-hour`.
    pub flag: &'static str,
    /// Environment variable: `BEACONING_PER_HOUR`.
    pub env: &'static str,
    /// Default, as the flag takes it: `0.5`.
    pub default: &'static str,
    /// The flag's help.
    pub help: &'static str,
}

/// A setting of a kind beyond its probability (a whole number, for now: every parameter so far is
/// one).
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    /// Key in the run manifest's settings and in [`ChaosSettings`]: `exfil_bytes`.
    pub name: &'static str,
    /// Long flag, without its dashes: `exfil-bytes`.
    pub flag: &'static str,
    /// Environment variable: `EXFIL_BYTES`.
    pub env: &'static str,
    /// Default value.
    pub default: u64,
    /// Default, as the flag takes it (`10MB`): what `--help` shows.
    pub default_text: &'static str,
    /// How the flag's text reads.
    pub unit: ParameterUnit,
    /// The flag's help.
    pub help: &'static str,
}

/// How a parameter's flag reads. Every parameter must be more than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterUnit {
    /// A byte count: `10MB`, `500MiB`, or a plain number.
    Bytes,
}

impl ParameterUnit {
    /// A value of this unit from its text, as the flag and a scenario file take it.
    pub fn parse(self, text: &str) -> Result<u64, String> {
        match self {
            ParameterUnit::Bytes => parse_bytes(text),
        }
    }
}

/// `10MB` (10^6), `10MiB` (2^20), `512KB`, `1GB`, or plain bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a size like 10MB, 512KiB or 1048576"))?;
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit `{other}` in `{text}`: use B, KB, MB, GB, KiB, MiB or GiB")),
    };
    Ok((value * multiplier).round() as u64)
}

/// One episode in progress: what it plans, what it emits next, how it is summarised.
///
/// An episode is asked for records one at a time by [`super::ActiveEpisode::emit`], stamped at the
/// logical time the schedule gives; an episode shaped by time (a beacon every N seconds) reads
/// that time in [`Episode::next`], and one that keeps its own clock names its rate in
/// [`Episode::records_per_second`].
pub trait Episode<'t>: std::fmt::Debug {
    /// Records the episode plans to write (its density and its end follow from it).
    fn planned_records(&self) -> u64;

    /// Adds the episode's next record(s) to `out`, the first of them due at `time_ms`: one
    /// record, or a whole conversation (written as consecutive records).
    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, time_ms: i64, out: &mut VecDeque<Emission<'t>>);

    /// True once the episode has written what it planned, after `emitted` records.
    fn is_planned_out(&self, emitted: u64) -> bool {
        emitted >= self.planned_records().max(1)
    }

    /// The summary's `parameters` and `actors`, as they stand.
    fn describe(&self) -> (serde_json::Value, Actors);

    /// Records per second of an episode that keeps its own clock (a scanning tool's speed); the
    /// dedicated lane times its records from it. `None`: the schedule's times.
    fn records_per_second(&self) -> Option<f64> {
        None
    }

    /// For an episode that keeps its own timetable (a beacon every 60 s ± jitter, a probe every
    /// few minutes): when its next conversation is due, in logical ms after the episode's first
    /// record. Episodes scheduled by the hour and by a scenario are timed from it; `None` (the
    /// default) spreads the planned records evenly over the episode's span.
    fn next_due_ms(&self) -> Option<u64> {
        None
    }
}
