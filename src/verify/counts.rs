//! Counts per label and per event type: what the manifests say against what was found.
//!
//! Every expected id is checked on its own, but an id says nothing of what its record holds: a
//! rerun with the same seed and other settings reuses ids for lanes that mean something else (a
//! traffic lane where the manifest has the port-scan lane), and every id is then "found". The
//! manifests' `by_label` and `by_event_type` catch this: the first copies of the expected ids
//! found, per label and per type, must match them. A shortfall is explained only by ids that
//! cannot be typed (lost, unacknowledged by Kafka, or found without a readable label or type, such
//! as a cut record in the DLQ); a surplus never is.
//!
//! Two manifests of one run count once; the shards of a run (`--shard K/N`, recorded in each
//! manifest) each count once. When two manifests of one shard disagree (neither names every lane
//! at its largest count) the run's expected counts are unknown, and that is a failure of its own.

use std::collections::{BTreeMap, HashMap};

use crate::generator::RunManifest;

use super::report::{Failure, KindCounts};

/// The name of the slot for records whose label or type could not be read.
pub(super) const UNKNOWN: &str = "unknown";

/// What the manifests say was emitted, per event type and per label.
#[derive(Debug, Default)]
pub(super) struct ExpectedCounts {
    pub(super) by_event_type: BTreeMap<String, u64>,
    pub(super) by_label: BTreeMap<String, u64>,
    /// Runs whose manifests disagree on their lanes.
    pub(super) disagreeing_runs: Vec<String>,
}

impl ExpectedCounts {
    pub(super) fn from_manifests(manifests: &[RunManifest]) -> Self {
        let mut by_run: HashMap<(&str, &str), Vec<&RunManifest>> = HashMap::new();
        for manifest in manifests {
            by_run.entry((manifest.run_id.as_str(), manifest.settings.shard.as_str())).or_default().push(manifest);
        }
        let mut counts = ExpectedCounts::default();
        let mut runs: Vec<((&str, &str), Vec<&RunManifest>)> = by_run.into_iter().collect();
        runs.sort_by_key(|(run, _)| *run);
        for ((run_id, _), of_run) in runs {
            let Some(chosen) = covering_manifest(&of_run) else {
                if !counts.disagreeing_runs.iter().any(|run| run == run_id) {
                    counts.disagreeing_runs.push(run_id.to_owned());
                }
                continue;
            };
            for (name, count) in &chosen.by_event_type {
                let total = counts.by_event_type.entry(name.clone()).or_default();
                *total = total.saturating_add(*count);
            }
            for (name, count) in &chosen.by_label {
                let total = counts.by_label.entry(name.clone()).or_default();
                *total = total.saturating_add(*count);
            }
        }
        counts
    }
}

/// The manifest of `of_run` that names every lane at the largest count any of them gives it.
fn covering_manifest<'a>(of_run: &[&'a RunManifest]) -> Option<&'a RunManifest> {
    let mut largest: BTreeMap<u32, u64> = BTreeMap::new();
    for manifest in of_run {
        for lane in &manifest.lanes {
            let records = largest.entry(lane.worker).or_default();
            *records = (*records).max(lane.records);
        }
    }
    of_run.iter().copied().find(|manifest| {
        largest.iter().all(|(worker, records)| manifest.lanes.iter().any(|lane| lane.worker == *worker && lane.records == *records))
    })
}

/// The failures of one dimension (`"label"` or `"event type"`): `found` holds the counts of the
/// expected ids found (their `expected` already filled in), `untyped` the expected ids that could
/// not be typed because they were not found (lost or unacknowledged).
pub(super) fn check(dimension: &'static str, found: &BTreeMap<String, KindCounts>, untyped: u64) -> Vec<Failure> {
    let first_copies = |counts: &KindCounts| counts.landed + counts.invalid;
    let unknown = found.get(UNKNOWN).map_or(0, first_copies);
    let explained = untyped.saturating_add(unknown);
    let mut failures = Vec::new();
    let mut short = Vec::new();
    let mut shortfall: u64 = 0;
    for (name, counts) in found.iter().filter(|(name, _)| name.as_str() != UNKNOWN) {
        let held = first_copies(counts);
        let mismatch = Failure::CountMismatch { dimension, name: name.clone(), expected: counts.expected, found: held };
        if held > counts.expected {
            failures.push(mismatch);
        } else if held < counts.expected {
            shortfall = shortfall.saturating_add(counts.expected - held);
            short.push(mismatch);
        }
    }
    if shortfall > explained {
        failures.extend(short);
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: &[(&str, u64, u64, u64)]) -> BTreeMap<String, KindCounts> {
        rows.iter()
            .map(|(name, expected, landed, invalid)| {
                ((*name).to_owned(), KindCounts { expected: *expected, landed: *landed, invalid: *invalid, duplicated: 0 })
            })
            .collect()
    }

    fn names(failures: &[Failure]) -> Vec<String> {
        failures
            .iter()
            .map(|failure| match failure {
                Failure::CountMismatch { name, .. } => name.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn exact_counts_pass_and_any_difference_fails_naming_the_label() {
        assert!(check("label", &counts(&[("normal", 90, 88, 2), ("port_scan", 10, 10, 0)]), 0).is_empty());
        let failures = check("label", &counts(&[("normal", 90, 100, 0), ("port_scan", 10, 0, 0)]), 0);
        assert_eq!(names(&failures), vec!["normal", "port_scan"]);
        assert_eq!(failures[1].to_string(), "label port_scan: the manifests say 10 records, the store holds 0");
    }

    #[test]
    fn shortfalls_are_explained_only_by_untyped_ids_and_surpluses_never() {
        // 5 lost or unacknowledged, 3 found without a label: up to 8 short is explained.
        let short_by_eight = counts(&[("normal", 90, 85, 0), ("port_scan", 10, 7, 0), (UNKNOWN, 0, 0, 3)]);
        assert!(check("label", &short_by_eight, 5).is_empty());
        assert_eq!(names(&check("label", &short_by_eight, 4)), vec!["normal", "port_scan"]);
        // A surplus fails however many ids are untyped.
        let surplus = counts(&[("normal", 90, 91, 0), ("port_scan", 10, 0, 0)]);
        assert_eq!(names(&check("label", &surplus, 1_000)), vec!["normal"]);
    }
}
