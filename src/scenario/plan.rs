//! [`Plan`]: a scenario's resolved timeline as `netchaos scenario plan` prints it — phases with
//! their spans, rates and chaos; each episode occurrence with its kind, start, end, target,
//! difficulty, intensity and the line it came from. Its JSON names an episode's fields as the
//! episodes file does (`kind`, `start`, `end` in RFC 3339 with milliseconds).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::chaos::{ChaosSettings, KINDS};
use crate::generator::profile::DailyCurve;
use crate::generator::timeline::Origin;
use crate::records::{AnomalyKind, Timestamp};

use super::Scenario;
use super::read::format_duration;

/// The resolved timeline of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub file: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub start: Option<Timestamp>,
    /// The start plus the duration, when both are given.
    pub end: Option<Timestamp>,
    pub duration_ms: Option<u64>,
    pub seed: Option<u64>,
    pub eps: Option<f64>,
    /// The rate profile in words.
    pub profile: String,
    /// The background chaos: the file's keys over the flags' defaults.
    pub chaos: ChaosSettings,
    pub phases: Vec<PlanPhase>,
    pub episodes: Vec<PlanEpisode>,
}

/// One phase of a [`Plan`].
#[derive(Debug, Clone, Serialize)]
pub struct PlanPhase {
    pub name: String,
    /// Absolute times, when the scenario gives its start.
    pub start: Option<Timestamp>,
    /// `None` for a last phase that runs to the end of a run of unknown length.
    pub end: Option<Timestamp>,
    pub start_offset_ms: u64,
    pub end_offset_ms: Option<u64>,
    pub eps: f64,
    /// The chaos in force during the phase.
    pub chaos: ChaosSettings,
    pub origin: Origin,
}

/// One scheduled episode (one occurrence of a `repeat`) of a [`Plan`].
#[derive(Debug, Clone, Serialize)]
pub struct PlanEpisode {
    pub kind: AnomalyKind,
    /// Absolute times, when the scenario gives its start.
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub start_offset_ms: u64,
    pub end_offset_ms: u64,
    pub duration_ms: u64,
    /// `any`, `service ssh`, `host 10.16.0.11` or `subnet 10.16.16.0/20`.
    pub target: String,
    pub difficulty: &'static str,
    pub intensity: f64,
    pub ramp_ms: u64,
    pub occurrence: u32,
    pub parameters: BTreeMap<&'static str, u64>,
    pub origin: Origin,
}

pub(super) fn plan(scenario: &Scenario) -> Plan {
    let absolute = |offset_ms: u64| {
        let start = scenario.start?;
        Some(Timestamp::from_unix_millis(start.unix_millis().checked_add(i64::try_from(offset_ms).ok()?)?))
    };
    let phases = scenario
        .timeline
        .phases
        .iter()
        .map(|phase| {
            let end_offset_ms = (phase.end_ms != u64::MAX).then_some(phase.end_ms);
            PlanPhase {
                name: phase.name.clone(),
                start: absolute(phase.start_ms),
                end: end_offset_ms.and_then(absolute),
                start_offset_ms: phase.start_ms,
                end_offset_ms,
                eps: phase.eps,
                chaos: phase.chaos.clone(),
                origin: phase.origin.clone().unwrap_or_else(|| Origin { file: scenario.file.clone(), line: 0 }),
            }
        })
        .collect();
    let episodes = scenario
        .timeline
        .episodes
        .iter()
        .map(|episode| {
            let end_offset_ms = episode.at_ms.saturating_add(episode.duration_ms);
            PlanEpisode {
                kind: episode.kind,
                start: absolute(episode.at_ms),
                end: absolute(end_offset_ms),
                start_offset_ms: episode.at_ms,
                end_offset_ms,
                duration_ms: episode.duration_ms,
                target: episode.target.to_string(),
                difficulty: episode.difficulty,
                intensity: episode.intensity,
                ramp_ms: episode.ramp_ms,
                occurrence: episode.occurrence,
                parameters: episode.parameters.clone(),
                origin: episode.origin.clone().unwrap_or_else(|| Origin { file: scenario.file.clone(), line: 0 }),
            }
        })
        .collect();
    Plan {
        file: scenario.file.clone(),
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        start: scenario.start,
        end: scenario.end(),
        duration_ms: scenario.duration.map(|duration| duration.as_millis() as u64),
        seed: scenario.seed,
        eps: scenario.eps,
        profile: describe_profile(scenario),
        chaos: scenario.background_chaos(),
        phases,
        episodes,
    }
}

fn describe_profile(scenario: &Scenario) -> String {
    let profile = &scenario.profile;
    let daily = match &profile.daily {
        DailyCurve::Flat => "flat day".to_owned(),
        DailyCurve::Diurnal { peak_hour, trough_to_peak } => {
            format!("diurnal, peak at {peak_hour}h local, trough {trough_to_peak} of the peak")
        }
        DailyCurve::Hourly(_) => "hourly curve".to_owned(),
    };
    let mut parts = vec![daily, format!("weekend ×{}", profile.weekend_factor)];
    if !profile.utc_offsets.is_empty() {
        let offsets: Vec<String> = profile.utc_offsets.iter().map(|(region, hours)| format!("{region} {hours:+}h")).collect();
        parts.push(format!("UTC offsets {}", offsets.join(", ")));
    }
    parts.push(match profile.bursts {
        Some(bursts) => format!("bursts (Hurst {})", bursts.hurst),
        None => "no bursts".to_owned(),
    });
    parts.join("; ")
}

/// `+9h 12m (2026-11-30T09:12:00.000Z)`, or the offset alone.
fn when(offset_ms: u64, time: Option<Timestamp>) -> String {
    match time {
        Some(time) => format!("{time} (+{})", format_duration(offset_ms)),
        None => format!("+{}", format_duration(offset_ms)),
    }
}

/// The chaos keys that differ from the flags' defaults, or `defaults`.
fn chaos_changes(chaos: &ChaosSettings) -> String {
    let defaults = ChaosSettings::defaults();
    let mut changes: Vec<String> = KINDS
        .iter()
        .filter(|(kind, _)| chaos.probability[*kind] != defaults.probability[*kind])
        .filter_map(|(kind, spec)| spec.probability.map(|flag| format!("{}={}", flag.name, chaos.probability[kind])))
        .collect();
    changes.extend(
        KINDS
            .iter()
            .filter(|(kind, _)| chaos.per_hour[*kind] != defaults.per_hour[*kind])
            .map(|(kind, spec)| format!("{}={}", spec.per_hour.name, chaos.per_hour[kind])),
    );
    changes.extend(
        chaos
            .difficulty
            .iter()
            .filter(|(_, form)| **form != crate::chaos::Difficulty::Overt)
            .map(|(kind, form)| format!("{kind}={}", form.as_str())),
    );
    changes.extend(
        chaos
            .parameters()
            .filter(|(parameter, value)| *value != parameter.default)
            .map(|(parameter, value)| format!("{}={value}", parameter.name)),
    );
    if changes.is_empty() { "default chaos".to_owned() } else { changes.join(" ") }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {} ({})", self.name.as_deref().unwrap_or("(unnamed)"), self.file)?;
        if let Some(description) = &self.description {
            writeln!(f, "  {}", description.trim())?;
        }
        let start = self.start.map_or("the run's start time".to_owned(), |start| start.to_string());
        let span = match (self.duration_ms, self.end) {
            (Some(duration), Some(end)) => format!("for {} (to {end})", format_duration(duration)),
            (Some(duration), None) => format!("for {}", format_duration(duration)),
            _ => "for the run's duration".to_owned(),
        };
        writeln!(f, "  from {start} {span}")?;
        let eps = self.eps.map_or("the run's --eps".to_owned(), |eps| format!("{eps} records/s"));
        let seed = self.seed.map_or("the run's --seed".to_owned(), |seed| seed.to_string());
        writeln!(f, "  mean rate {eps}, seed {seed}")?;
        writeln!(f, "  profile: {}", self.profile)?;
        writeln!(f, "  background: {}", chaos_changes(&self.chaos))?;
        writeln!(f, "phases: {}", self.phases.len())?;
        for phase in &self.phases {
            let end = phase.end_offset_ms.map_or("the end".to_owned(), |end| when(end, phase.end));
            writeln!(
                f,
                "  {}  {} → {end}  {} records/s  {}  (line {})",
                phase.name,
                when(phase.start_offset_ms, phase.start),
                phase.eps,
                chaos_changes(&phase.chaos),
                phase.origin.line
            )?;
        }
        writeln!(f, "episodes: {}", self.episodes.len())?;
        for episode in &self.episodes {
            let occurrence = if episode.occurrence > 0 { format!(" (repeat {})", episode.occurrence) } else { String::new() };
            let ramp = if episode.ramp_ms > 0 { format!("  ramp {}", format_duration(episode.ramp_ms)) } else { String::new() };
            writeln!(
                f,
                "  {}{occurrence}  {} → {}  target {}  difficulty {}  intensity {}{ramp}  (line {})",
                episode.kind,
                when(episode.start_offset_ms, episode.start),
                when(episode.end_offset_ms, episode.end),
                episode.target,
                episode.difficulty,
                episode.intensity,
                episode.origin.line
            )?;
        }
        Ok(())
    }
}
