//! Scoring a detector against a run's ground truth (`netchaos score`), for a SOC and for ML.
//!
//! - [`alerts`]: the detector's output read: alerts (netchaos's schema or OCSF Detection
//!   Findings) and score series.
//! - [`truth`]: the episodes file, and the run's records indexed by event id.
//! - [`matching`]: which episode each alert detected, by the strongest rule it allows.
//! - [`soc`]: the figures a SOC asks for (episodes caught, precision, false alerts per hour, time
//!   to detect, damage before detection, ATT&CK coverage).
//! - [`ml`]: the figures ML asks for (record-level, range-based, affiliation, AUC-PR, VUS-PR),
//!   through [`metrics`].
//! - [`floor`]: a random detector with the same alert budget, scored the same way.
//! - [`report`]: the table, `--json` and `--per-episode` CSV.
//!
//! Kinds overlap in time, so every figure is per kind (and per difficulty) first: an alert counts
//! for the kinds of the episodes it matched, or for the kind it names; one that names none and
//! matches nothing counts only in the overall row.

pub mod alerts;
pub mod floor;
pub mod matching;
pub mod metrics;
pub mod ml;
pub mod report;
pub mod soc;
pub mod truth;

use std::collections::BTreeSet;

use alerts::{Alert, Scores};
use matching::{MatchMode, Matcher, Outcome};
use truth::{Episode, Records};

/// The most time steps of the ML axis: 100 days of seconds.
pub const MAX_STEPS: i64 = 8_640_000;

/// Why a score could not be made: the input is at fault (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{0}")]
    Input(String),
}

/// How to score.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The post-episode collar: one aggregation window plus the slack.
    pub collar_ms: i64,
    pub mode: MatchMode,
    /// The logical span of the run, Unix ms: for false alerts per hour and the ML time axis.
    pub span: (i64, i64),
    /// The width of a time step of the ML metrics.
    pub bin_ms: i64,
    /// The width of a `window_start` score.
    pub window_ms: i64,
    /// VUS's largest buffer, in time steps.
    pub vus_window: usize,
    /// A record or time step scoring at least this is a positive (P/R/F1 from scores).
    pub threshold: f64,
    /// Also compute point-adjusted F1 (inflated; for comparison with older papers).
    pub legacy_pa: bool,
    /// Rounds of the random detector, and its seed.
    pub random_rounds: u32,
    pub seed: u64,
}

/// What is scored.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub episodes: &'a [Episode],
    pub records: Option<&'a Records>,
    pub alerts: &'a [Alert],
    pub scores: Option<&'a Scores>,
}

/// A group of episodes scored together: overall, a kind, or a kind at a difficulty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Overall,
    Kind(crate::records::AnomalyKind),
    Difficulty(crate::records::AnomalyKind, String),
}

impl Group {
    pub fn name(&self) -> String {
        match self {
            Group::Overall => "overall".to_owned(),
            Group::Kind(kind) => kind.as_str().to_owned(),
            Group::Difficulty(kind, difficulty) => format!("{kind}/{difficulty}"),
        }
    }

    pub fn holds(&self, episode: &Episode) -> bool {
        match self {
            Group::Overall => true,
            Group::Kind(kind) => episode.kind == *kind,
            Group::Difficulty(kind, difficulty) => episode.kind == *kind && episode.difficulty == *difficulty,
        }
    }

    /// Whether an alert with this outcome counts in the group.
    pub fn counts(&self, alert: &Alert, outcome: &Outcome, episodes: &[Episode]) -> bool {
        match outcome {
            Outcome::Detected { episodes: matched, .. }
            | Outcome::Lookalike { episodes: matched, .. }
            | Outcome::Late { episodes: matched } => matched.iter().any(|index| self.holds(&episodes[*index])),
            Outcome::Unmatched => match self {
                Group::Overall => true,
                Group::Kind(kind) => alert.kind == Some(*kind),
                Group::Difficulty(..) => false,
            },
        }
    }
}

/// Each alert's outcome, and per episode its first detection and its alerts.
#[derive(Debug, Clone)]
pub struct Matched {
    pub outcomes: Vec<Outcome>,
    /// Per episode: when it was first detected (Unix ms), and by how many alerts.
    pub first_detection: Vec<Option<i64>>,
    pub alerts_per_episode: Vec<u64>,
}

/// Matches every alert.
pub fn match_alerts(input: &Input, settings: &Settings) -> Result<Matched, ScoreError> {
    let matcher = Matcher::new(input.episodes, input.records, settings.collar_ms, settings.mode);
    let mut first_detection = vec![None; input.episodes.len()];
    let mut alerts_per_episode = vec![0; input.episodes.len()];
    let mut outcomes = Vec::with_capacity(input.alerts.len());
    for alert in input.alerts {
        let outcome = matcher.outcome(alert)?;
        if let Outcome::Detected { episodes, .. } = &outcome {
            for &index in episodes {
                let when = detection_time(alert, index, input.records).unwrap_or(input.episodes[index].start_ms);
                let first: &mut Option<i64> = &mut first_detection[index];
                *first = Some(first.map_or(when, |earlier: i64| earlier.min(when)));
                alerts_per_episode[index] += 1;
            }
        }
        outcomes.push(outcome);
    }
    Ok(Matched { outcomes, first_detection, alerts_per_episode })
}

/// When an alert detected an episode: the end of its span (an alert over a span is raised when
/// the span closes: one spanning the whole run detects nothing early), else (an alert by event
/// ids alone) the latest of its records in that episode: a detector cannot alert before it saw
/// them.
fn detection_time(alert: &Alert, episode: usize, records: Option<&Records>) -> Option<i64> {
    if let Some((_, end)) = alert.span {
        return Some(end);
    }
    let records = records?;
    alert.event_ids.iter().filter(|id| records.episode_of(id) == Some(Some(episode))).filter_map(|id| records.time_of(id)).max()
}

/// The groups a run's episodes fall into: overall, each kind present, each kind at each
/// difficulty present (look-alikes make a kind present, as they draw false alerts).
pub fn groups(episodes: &[Episode]) -> Vec<Group> {
    let mut groups = BTreeSet::new();
    for episode in episodes {
        groups.insert(Group::Kind(episode.kind));
        if !episode.benign {
            groups.insert(Group::Difficulty(episode.kind, episode.difficulty.clone()));
        }
    }
    std::iter::once(Group::Overall).chain(groups).collect()
}

/// Scores the input: matches the alerts, then each group's SOC figures, and for overall and each
/// kind the ML figures and the random floor.
pub fn score(input: &Input, settings: &Settings) -> Result<(report::Report, Matched), ScoreError> {
    let steps = (settings.span.1 - settings.span.0) / settings.bin_ms.max(1);
    if steps > MAX_STEPS {
        return Err(ScoreError::Input(format!(
            "the span {}..{} is {steps} time steps of {} ms, more than {MAX_STEPS}: give a coarser --bin, or a --span (an alert far outside the run widens the default one)",
            crate::records::Timestamp::from_unix_millis(settings.span.0),
            crate::records::Timestamp::from_unix_millis(settings.span.1),
            settings.bin_ms
        )));
    }
    let matched = match_alerts(input, settings)?;
    let groups = groups(input.episodes);
    let ml_groups: Vec<Group> = groups.iter().filter(|group| !matches!(group, Group::Difficulty(..))).cloned().collect();
    let floors = if settings.random_rounds > 0 { floor::floors(&ml_groups, input, settings)? } else { Vec::new() };
    let mut reports = Vec::with_capacity(groups.len());
    for group in &groups {
        let at = ml_groups.iter().position(|ml_group| ml_group == group);
        reports.push(report::GroupReport {
            group: group.name(),
            soc: soc::soc(group, input, &matched, settings),
            ml: at.map(|_| ml::ml(group, input, &matched, settings)).transpose()?,
            random_floor: at.and_then(|at| floors.get(at).cloned()),
        });
    }
    Ok((report::Report::new(input, &matched, settings, reports), matched))
}
