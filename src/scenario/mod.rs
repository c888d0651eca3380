//! Scenario files: a run described in YAML — when it starts and how long it lasts, its seed, the
//! size of the estate, the rhythm of its traffic, its background chaos, and a timeline of phases
//! and scheduled episodes ("a normal Monday, a port scan at 09:12, ten minutes of exfiltration from
//! 09:40").
//!
//! [`load`] (or [`parse`]) reads a file into a [`Scenario`]: every value the file set (each
//! optional where the file may leave it out), and the timeline resolved into the generator's
//! [`Timeline`]: phases in order with their spans, rates and chaos, and one [`ScheduledEpisode`]
//! per occurrence of each episode, each with the file and line it came from. A file with mistakes
//! gives every one of them at once, each with its line and column and what to write instead
//! ([`ScenarioError`]); `netchaos scenario validate` prints them.
//!
//! Names come from the registries below, so that a kind, a difficulty or a parameter added later
//! needs no change here: kinds, their difficulties and parameters from [`chaos::KINDS`], services
//! from the topology's catalog, look-alikes from [`chaos::LOOKALIKES`].
//!
//! The module sits above the generator: it builds the generator's types and the generator never
//! reads YAML.
//!
//! [`ScheduledEpisode`]: crate::generator::timeline::ScheduledEpisode
//! [`chaos::KINDS`]: crate::chaos::KINDS
//! [`chaos::LOOKALIKES`]: crate::chaos::LOOKALIKES

mod control;
mod error;
mod export;
mod plan;
mod read;
mod sections;
mod target;
mod timeline;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::chaos::{ChaosSettings, KINDS};
use crate::generator::control::{Action, Entry};
use crate::generator::profile::RateProfile;
use crate::generator::timeline::{Origin, Timeline};
use crate::network::topology::TopologySize;
use crate::records::{PerKind, Timestamp};

pub use error::ScenarioError;
pub use export::export;
pub use plan::{Plan, PlanEpisode, PlanPhase};

/// Everything a scenario file set.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file as it was named to [`load`] or [`parse`]: what errors and origins name.
    pub file: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// t0 of the run.
    pub start: Option<Timestamp>,
    pub duration: Option<Duration>,
    pub seed: Option<u64>,
    /// The estate's size; fields the file left out keep [`TopologySize::default`]'s.
    pub topology: Option<TopologySize>,
    /// Mean logical rate, records per second.
    pub eps: Option<f64>,
    /// The rhythm of the traffic ([`RateProfile::default`], flat, when the file gives none).
    pub profile: RateProfile,
    /// The background chaos the file set, key by key.
    pub chaos: ChaosOverrides,
    /// `lookalikes: on|off`, when the file says.
    pub lookalikes: Option<bool>,
    /// The phases as written: what [`Scenario::timeline_with`] resolves again when flags change the
    /// rate or the chaos.
    pub phases: Vec<PhaseSpec>,
    /// The timeline resolved with the file's own `eps` and chaos (over the flags' defaults).
    pub timeline: Timeline,
    /// The `control` list: commands at logical times, as a live session gives them.
    pub control: Vec<Entry>,
}

/// Chaos settings a scenario (or one of its phases) gave, by their keys (`port_scan_prob`,
/// `exfil_bytes`): only those, so that flags given with the scenario override key by key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChaosOverrides {
    probabilities: PerKind<Option<f64>>,
    per_hour: PerKind<Option<f64>>,
    /// `difficulty: subtle` or `difficulty: "mixed,port_scan=overt"`, as `--difficulty` reads it.
    difficulty: Option<String>,
    parameters: BTreeMap<&'static str, u64>,
}

impl ChaosOverrides {
    /// The keys given, in kind order: probabilities, then parameters.
    pub fn names(&self) -> Vec<&'static str> {
        let probabilities = KINDS
            .iter()
            .filter(|(kind, _)| self.probabilities[*kind].is_some())
            .filter_map(|(_, spec)| spec.probability.map(|flag| flag.name));
        let per_hour = KINDS.iter().filter(|(kind, _)| self.per_hour[*kind].is_some()).map(|(_, spec)| spec.per_hour.name);
        let parameters = KINDS
            .values()
            .flat_map(|spec| spec.parameters)
            .filter(|parameter| self.parameters.contains_key(parameter.name))
            .map(|parameter| parameter.name);
        let difficulty = self.difficulty.iter().map(|_| "difficulty");
        probabilities.chain(per_hour).chain(parameters).chain(difficulty).collect()
    }

    /// Whether the key (`port_scan_prob`, `exfil_bytes`) was given.
    pub fn contains(&self, name: &str) -> bool {
        self.names().contains(&name)
    }

    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    /// `settings` with every key given here set to its value.
    pub fn apply(&self, mut settings: ChaosSettings) -> ChaosSettings {
        for (kind, probability) in self.probabilities.iter() {
            if let Some(probability) = probability {
                settings.probability[kind] = *probability;
            }
        }
        for (kind, rate) in self.per_hour.iter() {
            if let Some(rate) = rate {
                settings.per_hour[kind] = *rate;
            }
        }
        // Checked when the file was read.
        if let Some(forms) =
            self.difficulty.as_deref().and_then(|text| crate::chaos::Difficulty::parse_list(text, settings.difficulty).ok())
        {
            settings.difficulty = forms;
        }
        for parameter in KINDS.values().flat_map(|spec| spec.parameters) {
            if let Some(value) = self.parameters.get(parameter.name) {
                settings = settings.with(parameter, *value);
            }
        }
        settings
    }
}

/// A phase as the file wrote it, its span resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpec {
    pub name: String,
    /// Logical offset from t0 where it begins, milliseconds.
    pub start_ms: u64,
    /// Where it ends (exclusive); `u64::MAX` for a last phase that runs to the end of a run whose
    /// duration the scenario does not give.
    pub end_ms: u64,
    pub rate: PhaseRate,
    /// Chaos keys over the background's.
    pub chaos: ChaosOverrides,
    pub origin: Origin,
}

/// How a phase sets its mean rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PhaseRate {
    /// The scenario's rate (or `--eps`).
    Scenario,
    /// `eps: 300`: this rate, whatever the scenario's.
    Eps(f64),
    /// `rate: 2x`: this multiple of the scenario's rate.
    Times(f64),
}

impl PhaseRate {
    /// The phase's rate when the scenario's is `eps`.
    pub fn eps(self, eps: f64) -> f64 {
        match self {
            PhaseRate::Scenario => eps,
            PhaseRate::Eps(own) => own,
            PhaseRate::Times(factor) => eps * factor,
        }
    }
}

impl Scenario {
    /// The timeline with the values in force: `eps` the run's mean rate (`--eps` over the file's),
    /// `background` its chaos (flags over the file's over the defaults). Phases rated `rate: 2x`
    /// follow `eps`, phases without their own rate take it; each phase's chaos keys apply over
    /// `background`. The scheduled episodes do not depend on either.
    pub fn timeline_with(&self, eps: f64, background: &ChaosSettings) -> Timeline {
        let phases = self
            .phases
            .iter()
            .map(|phase| crate::generator::timeline::Phase {
                name: phase.name.clone(),
                start_ms: phase.start_ms,
                end_ms: phase.end_ms,
                eps: phase.rate.eps(eps),
                chaos: phase.chaos.apply(background.clone()),
                origin: Some(phase.origin.clone()),
            })
            .collect();
        Timeline { phases, episodes: self.timeline.episodes.clone() }
    }

    /// The background chaos the file sets, over the flags' defaults.
    pub fn background_chaos(&self) -> ChaosSettings {
        self.chaos.apply(ChaosSettings::defaults())
    }

    /// Where the run ends, when the file gives both its start and its duration.
    pub fn end(&self) -> Option<Timestamp> {
        let start = self.start?;
        let duration_ms = i64::try_from(self.duration?.as_millis()).ok()?;
        Some(Timestamp::from_unix_millis(start.unix_millis().saturating_add(duration_ms)))
    }

    /// What `netchaos scenario plan` prints: the resolved timeline, in absolute times where the
    /// start is known.
    /// The `control` list of a run whose id is `run_id`: injected episodes numbered after the
    /// timeline's `scheduled` ones, as a live session numbers them.
    pub fn control_for(&self, run_id: &str, scheduled: usize) -> Vec<Entry> {
        let mut injected = 0;
        let mut entries = self.control.clone();
        for entry in &mut entries {
            if let Action::Inject(injection) = &mut entry.action {
                injection.episode_id = format!("{run_id}-s{}", scheduled + injected);
                injected += 1;
            }
        }
        entries
    }

    pub fn plan(&self) -> Plan {
        plan::plan(self)
    }
}

/// Reads and checks a scenario file. The file is named in errors and origins as `path` is written.
pub fn load(path: &Path) -> Result<Scenario, Vec<ScenarioError>> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file),
        Err(error) => Err(vec![ScenarioError {
            file,
            line: 0,
            column: 0,
            problem: format!("cannot read the scenario file ({error})"),
            fix: "check the path".into(),
        }]),
    }
}

/// Checks a scenario's text; `file` names it in errors and origins. Every mistake is reported, in
/// file order.
pub fn parse(text: &str, file: &str) -> Result<Scenario, Vec<ScenarioError>> {
    sections::scenario(text, file)
}

#[cfg(test)]
mod tests;
