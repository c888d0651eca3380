//! The timeline of a run: phases (each with its own rate and background chaos) and scheduled
//! episodes, in logical time from the run's t0. A scenario file resolves to one
//! ([`crate::scenario`] is above the generator and builds it); without a scenario it is empty and
//! the run is the flags' one flat phase.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::chaos::ChaosSettings;
use crate::network::target::Target;
use crate::records::AnomalyKind;

/// A stretch of the run with its own mean rate and background chaos.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    /// Logical offset from t0 where the phase begins, milliseconds.
    pub start_ms: u64,
    /// Where it ends (exclusive); the next phase begins there, or the run ends.
    pub end_ms: u64,
    /// Mean logical rate in the phase, records per second (the rate profile shapes it).
    pub eps: f64,
    /// Background chaos in the phase.
    pub chaos: ChaosSettings,
    /// Where it came from: the scenario file and line.
    pub origin: Option<Origin>,
}

/// One scheduled episode (a `repeat` is resolved into one per occurrence).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledEpisode {
    pub kind: AnomalyKind,
    /// Logical offset from t0 of its first record, milliseconds.
    pub at_ms: u64,
    /// How long it lasts, milliseconds: its records are spread over `[at, at + duration)`.
    pub duration_ms: u64,
    /// One of the kind's difficulties (`KindSpec::difficulties`); its first is the default.
    pub difficulty: &'static str,
    pub target: Target,
    /// Multiplies how much the episode does (records, bytes, ports): 1 is the kind's own plan.
    pub intensity: f64,
    /// The episode's record rate rises linearly from 0 over this long, milliseconds (0: none).
    pub ramp_ms: u64,
    /// The kind's parameters set for this episode (by `Parameter::name`), over the background's.
    pub parameters: BTreeMap<&'static str, u64>,
    /// Which occurrence of a `repeat` this is (0 for the first or only one).
    pub occurrence: u32,
    pub origin: Option<Origin>,
}

/// Where a phase or an episode was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: String,
    /// 1-based line of the entry.
    pub line: u32,
}

/// Phases and scheduled episodes; both may be empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// In time order, not overlapping. Gaps (and the time after the last phase) run at the
    /// flags' rate and chaos.
    pub phases: Vec<Phase>,
    /// In order of `at_ms`.
    pub episodes: Vec<ScheduledEpisode>,
}
