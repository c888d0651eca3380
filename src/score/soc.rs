//! The figures a SOC asks of a detector, per group: how many attacks were caught, how fast, and at
//! what false-alarm cost. Each is hand-worked in `tests/it/score/soc.rs`.

use std::collections::BTreeSet;

use serde::Serialize;

use super::matching::Outcome;
use super::{Group, Input, Matched, Settings};

/// Time to detect: from an episode's start to its first alert, over the detected episodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: i64,
    pub p90_ms: i64,
    pub max_ms: i64,
}

/// The share of an episode seen before its first alert (mean over the detected episodes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Damage {
    pub records: f64,
    pub bytes: f64,
    pub ports: f64,
    pub hosts: f64,
}

/// ATT&CK techniques: those the group's episodes carry, those its alerts report, and the expected
/// ones some alert that detected an episode of the technique reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Techniques {
    pub expected: BTreeSet<String>,
    pub reported: BTreeSet<String>,
    pub covered: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Soc {
    /// Attack episodes (not look-alikes) in the group, and those detected.
    pub episodes: u64,
    pub detected: u64,
    pub recall: Option<f64>,
    /// The ids of the missed ones.
    pub missed: Vec<String>,
    /// Alerts counted in the group, those that detected an episode, and the rest.
    pub alerts: u64,
    pub true_alerts: u64,
    pub false_alerts: u64,
    /// False alerts on benign look-alikes, and after an episode's collar (both in false_alerts).
    pub lookalike_alerts: u64,
    pub late_alerts: u64,
    pub precision: Option<f64>,
    pub false_alerts_per_hour: f64,
    pub alerts_per_detected_episode: Option<f64>,
    pub time_to_detect: Option<Latency>,
    /// `None` without the records.
    pub damage: Option<Damage>,
    pub techniques: Techniques,
}

/// The SOC figures of `group`.
pub fn soc(group: &Group, input: &Input, matched: &Matched, settings: &Settings) -> Soc {
    let episodes = input.episodes;
    let members: Vec<usize> = (0..episodes.len()).filter(|&index| !episodes[index].benign && group.holds(&episodes[index])).collect();
    let detected: Vec<usize> = members.iter().copied().filter(|&index| matched.first_detection[index].is_some()).collect();
    let missed =
        members.iter().filter(|&&index| matched.first_detection[index].is_none()).map(|&index| episodes[index].id.clone()).collect();
    let (mut alerts, mut true_alerts, mut lookalike_alerts, mut late_alerts) = (0, 0, 0, 0);
    let mut techniques = Techniques::default();
    for (alert, outcome) in input.alerts.iter().zip(&matched.outcomes) {
        if !group.counts(alert, outcome, episodes) {
            continue;
        }
        alerts += 1;
        if let Some(technique) = &alert.technique {
            techniques.reported.insert(technique.clone());
        }
        match outcome {
            Outcome::Detected { episodes: found, .. } => {
                true_alerts += 1;
                for &index in found.iter().filter(|&&index| group.holds(&episodes[index])) {
                    if let (Some(reported), Some(expected)) = (&alert.technique, &episodes[index].technique)
                        && technique_covers(reported, expected)
                    {
                        techniques.covered.insert(expected.clone());
                    }
                }
            }
            Outcome::Lookalike { .. } => lookalike_alerts += 1,
            Outcome::Late { .. } => late_alerts += 1,
            Outcome::Unmatched => {}
        }
    }
    techniques.expected = members.iter().filter_map(|&index| episodes[index].technique.clone()).collect();
    let false_alerts = alerts - true_alerts;
    let hours = (settings.span.1 - settings.span.0).max(1) as f64 / 3_600_000.0;
    let mut delays: Vec<i64> =
        detected.iter().map(|&index| (matched.first_detection[index].unwrap_or(0) - episodes[index].start_ms).max(0)).collect();
    delays.sort_unstable();
    let damage = input.records.filter(|_| !detected.is_empty()).map(|records| {
        let shares: Vec<Damage> = detected
            .iter()
            .map(|&index| damage_before(&records.by_episode[index], matched.first_detection[index].unwrap_or(i64::MAX)))
            .collect();
        let mean = |share: fn(&Damage) -> f64| shares.iter().map(share).sum::<f64>() / shares.len() as f64;
        Damage { records: mean(|d| d.records), bytes: mean(|d| d.bytes), ports: mean(|d| d.ports), hosts: mean(|d| d.hosts) }
    });
    Soc {
        episodes: members.len() as u64,
        detected: detected.len() as u64,
        recall: ratio(detected.len() as u64, members.len() as u64),
        missed,
        alerts,
        true_alerts,
        false_alerts,
        lookalike_alerts,
        late_alerts,
        precision: ratio(true_alerts, alerts),
        false_alerts_per_hour: false_alerts as f64 / hours,
        alerts_per_detected_episode: ratio(detected.iter().map(|&index| matched.alerts_per_episode[index]).sum(), detected.len() as u64),
        time_to_detect: (!delays.is_empty()).then(|| Latency {
            p50_ms: nearest_rank(&delays, 0.5),
            p90_ms: nearest_rank(&delays, 0.9),
            max_ms: delays[delays.len() - 1],
        }),
        damage,
        techniques,
    }
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `q` of them at
/// or below it.
pub fn nearest_rank(sorted: &[i64], q: f64) -> i64 {
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// A reported technique covers an expected one when it is the same, its parent (`T1048` covers
/// `T1048.003`) or one of its sub-techniques (`T1110.001` covers `T1110`).
pub fn technique_covers(reported: &str, expected: &str) -> bool {
    let parent_of = |parent: &str, child: &str| child.strip_prefix(parent).is_some_and(|rest| rest.starts_with('.'));
    expected == reported || parent_of(reported, expected) || parent_of(expected, reported)
}

/// The share of an episode's records, bytes, destination ports and destination hosts seen before
/// `first_alert` (records strictly before it; sorted by time).
pub fn damage_before(records: &[super::truth::Labelled], first_alert: i64) -> Damage {
    if records.is_empty() {
        return Damage { records: 0.0, bytes: 0.0, ports: 0.0, hosts: 0.0 };
    }
    let seen = records.partition_point(|record| record.time_ms < first_alert);
    let (before, all) = (&records[..seen], records);
    let bytes = |records: &[super::truth::Labelled]| records.iter().map(|record| record.bytes).sum::<u64>();
    let ports = |records: &[super::truth::Labelled]| records.iter().filter_map(|record| record.port).collect::<BTreeSet<_>>().len() as u64;
    let hosts = |records: &[super::truth::Labelled]| records.iter().filter_map(|record| record.host).collect::<BTreeSet<_>>().len() as u64;
    Damage {
        records: seen as f64 / all.len() as f64,
        bytes: ratio(bytes(before), bytes(all)).unwrap_or(0.0),
        ports: ratio(ports(before), ports(all)).unwrap_or(0.0),
        hosts: ratio(hosts(before), hosts(all)).unwrap_or(0.0),
    }
}
