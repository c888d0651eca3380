//! Each anomaly kind's shape, in each form, over hours of logical time at full speed (`--speed
//! max`): the kinds and forms scheduled by the hour, and the benign look-alikes.
//!
//! [`hourly_run`] runs the library with one kind on the hourly clock and nothing else, and hands
//! back its episodes with their records; each kind's file asserts its shape. The tests here hold
//! for every kind: its records validate, carry its label and lie inside their episode's span; two
//! runs of one seed are the same; the manifest's realised fractions are the records' own.

use std::collections::BTreeMap;
use std::time::Duration;

use netchaos::chaos::{ChaosSettings, Difficulty, EpisodeSummary, KINDS};
use netchaos::generator::{GenerateReport, RunPlan, Speed};
use netchaos::records::{self, AnomalyKind, PerKind};

use crate::common::{run, settings};

mod beaconing;
mod brute_force;
mod connection_reset;
mod cryptomining;
mod data_exfiltration;
mod distributed_scan;
mod latency_spike;
mod lateral_movement;
mod lookalikes;
mod port_scan;
mod syn_flood;

/// One kind's run: its episodes, each with its records, and every record of the run.
pub(crate) struct HourlyRun {
    pub(crate) episodes: Vec<EpisodeSummary>,
    /// Records by `label.episode_id` (look-alikes' records are unlabelled: see [`HourlyRun::all`]).
    pub by_episode: BTreeMap<String, Vec<serde_json::Value>>,
    pub all: Vec<serde_json::Value>,
    pub report: GenerateReport,
    pub data: Vec<u8>,
}

/// A run of `hours` logical hours at `eps` records/s over 2 lanes, with `kind` on the hourly clock
/// at `per_hour` episodes an hour in form `difficulty`, no other chaos, no look-alikes.
pub(crate) fn hourly_run(kind: AnomalyKind, difficulty: Difficulty, per_hour: f64, hours: u64, eps: f64, seed: u64) -> HourlyRun {
    let mut chaos = ChaosSettings::new(PerKind::default());
    chaos.per_hour[kind] = per_hour;
    chaos.difficulty[kind] = difficulty;
    run_with(chaos, hours, eps, seed)
}

/// A run of `chaos` for `hours` logical hours at `eps` records/s over 2 lanes, at full speed.
pub(crate) fn run_with(chaos: ChaosSettings, hours: u64, eps: f64, seed: u64) -> HourlyRun {
    let mut settings = settings(seed, 2, 0, chaos);
    settings.count = None;
    settings.eps = eps;
    settings.duration = Some(Duration::from_secs(hours * 3600));
    settings.plan = RunPlan { speed: Speed::Max, ..RunPlan::default() };
    let (sink, report) = run(&settings);
    let all: Vec<serde_json::Value> = sink.lines().map(|line| serde_json::from_slice(line).expect("a JSON record")).collect();
    let mut by_episode: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for record in &all {
        if let Some(id) = record["label"]["episode_id"].as_str() {
            by_episode.entry(id.to_owned()).or_default().push(record.clone());
        }
    }
    HourlyRun { episodes: sink.episodes.clone(), by_episode, all, report, data: sink.data }
}

impl HourlyRun {
    /// The episodes of `kind` (not look-alikes) with their records, each checked to have some.
    pub(crate) fn of_kind(&self, kind: AnomalyKind) -> Vec<(&EpisodeSummary, &[serde_json::Value])> {
        self.episodes
            .iter()
            .filter(|episode| episode.kind == kind && !episode.benign)
            .map(|episode| (episode, self.by_episode.get(&episode.episode_id).map_or(&[][..], Vec::as_slice)))
            .collect()
    }
}

/// The logical time (ms) of a record: a flow's `end` second, a firewall session's `timestamp`.
pub(crate) fn time_ms(record: &serde_json::Value) -> i64 {
    match record.get("end").and_then(serde_json::Value::as_i64) {
        Some(end) => end * 1000,
        None => {
            let text = record["timestamp"].as_str().unwrap();
            humantime::parse_rfc3339(text).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        }
    }
}

/// The most of `times` (ms, any order) inside any window of `window_ms`.
pub(crate) fn most_in_window(times: &[i64], window_ms: i64) -> usize {
    most_in_window_by(times, &vec![1; times.len()], window_ms) as usize
}

/// The largest sum of `weights` (one per time) whose `times` fall inside any window of `window_ms`.
pub(crate) fn most_in_window_by(times: &[i64], weights: &[u64], window_ms: i64) -> u64 {
    let mut pairs: Vec<(i64, u64)> = times.iter().copied().zip(weights.iter().copied()).collect();
    pairs.sort_unstable();
    let (mut first, mut total, mut most) = (0, 0, 0);
    for (time, weight) in &pairs {
        total += weight;
        while pairs[first].0 <= time - window_ms {
            total -= pairs[first].1;
            first += 1;
        }
        most = most.max(total);
    }
    most
}

/// Every kind with an hourly form, each form it has.
fn hourly_forms() -> Vec<(AnomalyKind, Difficulty)> {
    let mut forms = Vec::new();
    for (kind, spec) in KINDS.iter() {
        for name in spec.difficulties {
            let form = Difficulty::from_name(name).unwrap();
            // A kind with a probability has only its subtle form on the hourly clock.
            if spec.probability.is_none() || form == Difficulty::Subtle {
                forms.push((kind, form));
            }
        }
    }
    forms
}

#[test]
fn every_hourly_form_validates_carries_its_label_and_stays_inside_its_episode() {
    for (kind, form) in hourly_forms() {
        let run = hourly_run(kind, form, 4.0, 2, 10.0, 5);
        let episodes = run.of_kind(kind);
        assert!(!episodes.is_empty(), "{kind} {form:?}: no episode in 2 hours at 4 an hour");
        for line in run.data.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
            if let Err(rejection) = records::validate(line) {
                panic!("{kind} {form:?}: a record fails validation ({rejection:?}): {}", String::from_utf8_lossy(line));
            }
        }
        for (episode, records) in &episodes {
            assert_eq!(episode.difficulty, form.as_str(), "{kind}: the episode records its form");
            assert_eq!(episode.technique, KINDS[kind].technique, "{kind}: the episode records its technique");
            assert!(!records.is_empty() || !episode.complete, "{kind} {form:?}: {} has no records", episode.episode_id);
            assert_eq!(records.len() as u64, episode.records, "{kind} {form:?}: {} counts its records", episode.episode_id);
            let (start, end) = (episode.start.unix_millis(), episode.end.unix_millis());
            for record in *records {
                assert_eq!(record["label"]["kind"], kind.as_str());
                let at = time_ms(record);
                assert!(at + 1000 >= start && at <= end + 1000, "{kind} {form:?}: a record at {at} outside [{start}, {end}]");
            }
        }
    }
}

#[test]
fn hourly_episodes_are_reproducible_and_the_manifest_counts_their_fraction() {
    let mut chaos = ChaosSettings::new(PerKind::default());
    for (kind, form) in hourly_forms() {
        chaos.per_hour[kind] = 1.0;
        if form == Difficulty::Subtle {
            chaos.difficulty[kind] = if KINDS[kind].probability.is_some() { Difficulty::Subtle } else { Difficulty::Mixed };
        }
    }
    chaos.lookalikes = true;
    let first = run_with(chaos.clone(), 4, 30.0, 9);
    let second = run_with(chaos, 4, 30.0, 9);
    assert!(first.data == second.data, "one seed, one output");
    assert_eq!(first.episodes.len(), second.episodes.len());
    let manifest = &first.report.manifest;
    let total = first.all.len() as f64;
    for kind in AnomalyKind::ALL {
        let labelled = first.all.iter().filter(|record| record["label"]["kind"] == kind.as_str()).count() as f64;
        let realised = manifest.realised_fraction[kind.as_str()];
        assert!((realised - labelled / total).abs() < 1e-12, "{kind}: manifest says {realised}, the records {}", labelled / total);
    }
    assert_eq!(manifest.records as usize, first.all.len());
}

#[test]
fn each_hourly_kind_starts_its_episodes_at_the_rate_asked_for() {
    for (kind, form) in hourly_forms() {
        // 24 an hour over 3 hours: 72 starts expected, Poisson (sd 8.5).
        let run = hourly_run(kind, form, 24.0, 3, 6.0, 17);
        let started = run.of_kind(kind).len() as f64;
        assert!((started - 72.0).abs() <= 4.0 * 72f64.sqrt(), "{kind} {form:?}: {started} episodes in 3 hours at 24 an hour");
        assert_eq!(run.report.manifest.episodes[kind.as_str()], started as u64, "{kind}: the manifest counts them");
    }
}
