//! What `netchaos score` prints: one table (a SOC's figures, then ML's, each beside the random
//! floor), `--json`, the `--per-episode` CSV and the `--matches` lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::floor::Floor;
use super::matching::Outcome;
use super::ml::{Ml, Prf};
use super::soc::Soc;
use super::{Input, Matched, Settings};

#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub soc: Soc,
    /// For overall and each kind (not per difficulty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ml: Option<Ml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_floor: Option<Floor>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub alerts: u64,
    pub episodes: u64,
    pub lookalikes: u64,
    pub runs: Vec<String>,
    pub span: (String, String),
    pub logical_hours: f64,
    pub collar_ms: i64,
    /// Alerts by outcome and rule: `event_ids`, `time+entity`, `time`, `lookalike`, `late`,
    /// `unmatched`.
    pub matched_by: BTreeMap<String, u64>,
    pub groups: Vec<GroupReport>,
}

impl Report {
    pub fn new(input: &Input, matched: &Matched, settings: &Settings, groups: Vec<GroupReport>) -> Report {
        let mut matched_by = BTreeMap::new();
        for outcome in &matched.outcomes {
            *matched_by.entry(outcome_name(outcome).to_owned()).or_insert(0) += 1;
        }
        let time = |ms: i64| crate::records::Timestamp::from_unix_millis(ms).to_string();
        let runs: std::collections::BTreeSet<String> = input.episodes.iter().map(|episode| episode.run.clone()).collect();
        Report {
            alerts: input.alerts.len() as u64,
            episodes: input.episodes.iter().filter(|episode| !episode.benign).count() as u64,
            lookalikes: input.episodes.iter().filter(|episode| episode.benign).count() as u64,
            runs: runs.into_iter().collect(),
            span: (time(settings.span.0), time(settings.span.1)),
            logical_hours: (settings.span.1 - settings.span.0) as f64 / 3_600_000.0,
            collar_ms: settings.collar_ms,
            matched_by,
            groups,
        }
    }

    pub fn overall(&self) -> &Soc {
        &self.groups[0].soc
    }

    /// The table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "netchaos score: {} alerts against {} episodes and {} look-alikes of run {}, over {:.2} logical hours ({} to {}); collar {}",
            self.alerts,
            self.episodes,
            self.lookalikes,
            self.runs.join(", "),
            self.logical_hours,
            self.span.0,
            self.span.1,
            duration(self.collar_ms)
        );
        let matched: Vec<String> = self.matched_by.iter().map(|(name, count)| format!("{name} {count}")).collect();
        let _ = writeln!(out, "alerts by outcome and rule: {}", matched.join(", "));
        let _ = writeln!(out, "\nFor a SOC");
        let _ = writeln!(
            out,
            "{:<30} {:>9} {:>7} {:>9} {:>8} {:>9} {:>10} {:>10} {:>10} {:>23} ATT&CK covered/expected",
            "group",
            "detected",
            "recall",
            "precision",
            "FP/hour",
            "look-alike",
            "late",
            "alerts/det",
            "TTD p50",
            "damage rec/byte/port/host",
        );
        for group in &self.groups {
            let soc = &group.soc;
            let damage = soc.damage.map_or("-".to_owned(), |d| format!("{:.2}/{:.2}/{:.2}/{:.2}", d.records, d.bytes, d.ports, d.hosts));
            let _ = writeln!(
                out,
                "{:<30} {:>9} {:>7} {:>9} {:>8.2} {:>10} {:>10} {:>10} {:>10} {:>23} {}/{}",
                indent(&group.group),
                format!("{}/{}", soc.detected, soc.episodes),
                fraction(soc.recall),
                fraction(soc.precision),
                soc.false_alerts_per_hour,
                soc.lookalike_alerts,
                soc.late_alerts,
                soc.alerts_per_detected_episode.map_or("-".to_owned(), |value| format!("{value:.1}")),
                soc.time_to_detect.map_or("-".to_owned(), |latency| duration(latency.p50_ms)),
                damage,
                soc.techniques.covered.len(),
                soc.techniques.expected.len(),
            );
        }
        for group in self.groups.iter().filter(|group| group.soc.time_to_detect.is_some() && !group.group.contains('/')) {
            if let Some(latency) = group.soc.time_to_detect {
                let _ = writeln!(
                    out,
                    "time to detect, {}: p50 {} p90 {} max {}",
                    group.group,
                    duration(latency.p50_ms),
                    duration(latency.p90_ms),
                    duration(latency.max_ms)
                );
            }
        }
        for group in self.groups.iter().skip(1).filter(|group| !group.group.contains('/') && !group.soc.missed.is_empty()) {
            let shown: Vec<&str> = group.soc.missed.iter().take(8).map(String::as_str).collect();
            let more = group.soc.missed.len().saturating_sub(shown.len());
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            let _ = writeln!(out, "missed {}: {}{tail}", group.group, shown.join(", "));
        }
        if let Some(floor) = &self.groups[0].random_floor {
            let _ = writeln!(
                out,
                "random floor (same alert budget, {} rounds): recall {} precision {}",
                floor.rounds,
                fraction(floor.recall),
                fraction(floor.precision)
            );
        }
        self.ml_table(&mut out);
        out
    }

    fn ml_table(&self, out: &mut String) {
        let Some(first) = self.groups.iter().find_map(|group| group.ml.as_ref()) else { return };
        let legacy = self.groups.iter().any(|group| group.ml.as_ref().is_some_and(|ml| ml.point_adjusted.is_some()));
        let scores = self.groups.iter().any(|group| group.ml.as_ref().is_some_and(|ml| ml.scores.is_some()));
        let _ = writeln!(
            out,
            "\nFor ML (time steps of {}; an episode is real over its span plus the collar; range-based: alpha 0, cardinality one)",
            duration(first.bin_ms)
        );
        let mut header = format!(
            "{:<30} {:>17} {:>17} {:>17} {:>13}",
            "group", "record P/R/F1", "range flat P/R/F1", "range front P/R/F1", "affiliation P/R"
        );
        if scores {
            header.push_str(&format!(" {:>7} {:>7} {:>7} {:>17}", "AP", "AUC-PR", "VUS-PR", "P/R/F1 at thresh."));
        }
        if legacy {
            header.push_str(&format!(" {:>20}", "PA-F1 (inflated)"));
        }
        let _ = writeln!(out, "{header}");
        for group in &self.groups {
            let Some(ml) = &group.ml else { continue };
            let rows: Vec<(String, Option<&Floor>)> =
                vec![(group.group.clone(), None), ("  random floor".to_owned(), group.random_floor.as_ref())];
            for (name, floor) in rows {
                let (range_flat, affiliation, pa, record, front) = match floor {
                    None => (
                        ml.range_based.as_ref().map(|r| r.flat),
                        ml.affiliation,
                        ml.point_adjusted,
                        ml.record_level,
                        ml.range_based.as_ref().map(|r| r.front),
                    ),
                    Some(floor) => (floor.range_flat, floor.affiliation, floor.point_adjusted, None, None),
                };
                if floor.is_none() && name.starts_with("  ") {
                    continue;
                }
                let mut row = format!(
                    "{:<30} {:>17} {:>17} {:>17} {:>13}",
                    name,
                    prf(record),
                    prf(range_flat),
                    prf(front),
                    affiliation.map_or("-".to_owned(), |a| format!("{:.2}/{:.2}", a.precision, a.recall))
                );
                if scores {
                    let from = ml.scores.as_ref().filter(|_| floor.is_none());
                    row.push_str(&format!(
                        " {:>7} {:>7} {:>7} {:>17}",
                        from.map_or("-".to_owned(), |s| format!("{:.3}", s.average_precision)),
                        from.map_or("-".to_owned(), |s| format!("{:.3}", s.auc_pr)),
                        from.map_or("-".to_owned(), |s| format!("{:.3}", s.vus_pr)),
                        prf(from.map(|s| s.at_threshold))
                    ));
                }
                if legacy {
                    row.push_str(&format!(" {:>20}", pa.map_or("-".to_owned(), |pa| format!("{:.3} (inflated)", pa.f1))));
                }
                let _ = writeln!(out, "{row}");
            }
        }
    }
}

/// How an outcome is counted in `matched_by`.
pub fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Detected { rule, .. } => rule.as_str(),
        Outcome::Lookalike { .. } => "lookalike",
        Outcome::Late { .. } => "late",
        Outcome::Unmatched => "unmatched",
    }
}

/// The `--matches` lines: each alert, what it came to, by which rule.
pub fn matches(input: &Input, matched: &Matched) -> String {
    let mut out = String::new();
    for (alert, outcome) in input.alerts.iter().zip(&matched.outcomes) {
        let (rule, episodes) = match outcome {
            Outcome::Detected { rule, episodes } | Outcome::Lookalike { rule, episodes } => (Some(rule.as_str()), episodes.as_slice()),
            Outcome::Late { episodes } => (None, episodes.as_slice()),
            Outcome::Unmatched => (None, &[][..]),
        };
        let ids: Vec<&str> = episodes.iter().map(|index| input.episodes[*index].id.as_str()).collect();
        let line = serde_json::json!({"alert_id": alert.id, "outcome": outcome_name(outcome), "rule": rule, "episodes": ids});
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The `--per-episode` CSV: one row per attack episode.
pub fn per_episode_csv(input: &Input, matched: &Matched) -> String {
    let mut out = String::from("episode,kind,difficulty,detected,time_to_detect_ms,alerts,damage_share\n");
    for (index, episode) in input.episodes.iter().enumerate().filter(|(_, episode)| !episode.benign) {
        let first = matched.first_detection[index];
        let ttd = first.map_or(String::new(), |at| (at - episode.start_ms).max(0).to_string());
        let damage = match (input.records, first) {
            (Some(records), Some(at)) => format!("{:.4}", super::soc::damage_before(&records.by_episode[index], at).records),
            (Some(_), None) => "1".to_owned(),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{ttd},{},{damage}",
            episode.id,
            episode.kind,
            episode.difficulty,
            first.is_some(),
            matched.alerts_per_episode[index]
        );
    }
    out
}

fn indent(group: &str) -> String {
    if group.contains('/') { format!("  {group}") } else { group.to_owned() }
}

fn fraction(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |value| format!("{value:.3}"))
}

fn prf(value: Option<Prf>) -> String {
    value.map_or("-".to_owned(), |p| format!("{:.2}/{:.2}/{:.2}", p.precision, p.recall, p.f1))
}

/// `1m30s`, `450ms`.
pub fn duration(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let seconds = ms / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    if hours > 0 {
        let _ = write!(text, "{hours}h");
    }
    if minutes > 0 {
        let _ = write!(text, "{minutes}m");
    }
    if seconds > 0 || text.is_empty() {
        let _ = write!(text, "{seconds}s");
    }
    text
}
