//! The benign look-alikes through the generator: a logical day with look-alikes on and no anomaly
//! kind. Every look-alike occurs, each occurrence is a `benign: true` row of the episodes file
//! naming it and the kind it resembles, its records are there (found by its actors and its span)
//! and carry no label, and the manifest counts the occurrences; with look-alikes off there are none.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netchaos::chaos::{ChaosSettings, EpisodeSummary, LOOKALIKES, When};
use netchaos::records::PerKind;

use super::{HourlyRun, run_with, time_ms};

const HOUR_MS: i64 = 3_600_000;

/// A record's two addresses: a flow's `srcaddr`/`dstaddr`, a firewall session's `src_ip`/`dest_ip`.
fn addresses(record: &serde_json::Value) -> Option<(IpAddr, IpAddr)> {
    let field = |name: &str| record.get(name).and_then(serde_json::Value::as_str).and_then(|text| text.parse().ok());
    Some((field("srcaddr").or_else(|| field("src_ip"))?, field("dstaddr").or_else(|| field("dest_ip"))?))
}

/// The records between one of the occurrence's sources and one of its targets, inside its span.
fn records_of<'r>(run: &'r HourlyRun, episode: &EpisodeSummary) -> Vec<&'r serde_json::Value> {
    let (start, end) = (episode.start.unix_millis(), episode.end.unix_millis());
    let (sources, targets) = (&episode.actors.sources, &episode.actors.targets);
    run.all
        .iter()
        .filter(|record| (start - 1_000..=end + 1_000).contains(&time_ms(record)))
        .filter(|record| {
            addresses(record).is_some_and(|(from, to)| {
                (sources.contains(&from) && targets.contains(&to)) || (sources.contains(&to) && targets.contains(&from))
            })
        })
        .collect()
}

fn with_lookalikes(on: bool) -> ChaosSettings {
    let mut chaos = ChaosSettings::new(PerKind::default());
    chaos.lookalikes = on;
    chaos
}

#[test]
fn every_lookalike_occurs_benign_and_unlabelled_and_the_manifest_counts_them() {
    // A logical day from midnight UTC at 3 records/s: 259,200 records.
    let run = run_with(with_lookalikes(true), 24, 3.0, 14);
    let t0 = run.report.manifest.settings.start_time.unix_millis();
    assert!(run.all.iter().all(|record| record["label"].is_null()), "no kind is on: every record is unlabelled");
    let mut occurrences: BTreeMap<&str, u64> = BTreeMap::new();
    for episode in &run.episodes {
        let name = episode.lookalike.expect("only look-alikes run");
        let spec = LOOKALIKES.iter().find(|spec| spec.name == name).unwrap();
        assert!(episode.benign, "{name}: benign");
        assert_eq!((episode.kind, episode.technique, episode.difficulty), (spec.resembles, None, "benign"), "{name}");
        *occurrences.entry(name).or_default() += 1;
        let found = records_of(&run, episode);
        assert!(
            found.len() as u64 >= episode.records,
            "{name} {}: {} records of {} found",
            episode.episode_id,
            found.len(),
            episode.records
        );
        assert!(found.iter().all(|record| record["label"].is_null()), "{name}: its records carry no label");
        // A daily look-alike starts at its hour (plus its jitter and one flow window).
        if let When::Daily { hour_utc, jitter_minutes } = spec.when {
            let from = t0 + i64::from(hour_utc) * HOUR_MS - 60_000;
            let to = t0 + i64::from(hour_utc) * HOUR_MS + i64::from(jitter_minutes) * 60_000 + 60_000;
            let start = episode.start.unix_millis();
            assert!((from..=to).contains(&start), "{name} starts at {start}, outside [{from}, {to}]");
        }
    }
    for spec in LOOKALIKES {
        assert!(occurrences.contains_key(spec.name), "{} never occurred in a day: {occurrences:?}", spec.name);
    }
    let manifest = &run.report.manifest;
    let counted: BTreeMap<&str, u64> = manifest.benign_episodes.iter().map(|(name, count)| (name.as_str(), *count)).collect();
    assert_eq!(counted, occurrences, "the manifest counts each look-alike's occurrences");
    assert!(manifest.realised_fraction.values().all(|fraction| *fraction == 0.0), "benign records count as normal");
    let benign_records: u64 = run.episodes.iter().map(|episode| episode.records).sum();
    assert!(benign_records > 1_000 && benign_records < run.all.len() as u64 / 4, "{benign_records} of {} records", run.all.len());
}

#[test]
fn lookalikes_off_has_none() {
    // Four hours from midnight: the nightly backup and a few per-hour look-alikes when on.
    let on = run_with(with_lookalikes(true), 4, 3.0, 14);
    assert!(on.episodes.iter().any(|episode| episode.lookalike == Some("nightly_backup")), "the backup runs from 01:00");
    let off = run_with(with_lookalikes(false), 4, 3.0, 14);
    assert!(off.episodes.is_empty(), "{} episodes with look-alikes off", off.episodes.len());
    assert!(off.report.manifest.benign_episodes.is_empty());
    assert_eq!(off.all.len(), on.all.len(), "look-alikes take slots of the schedule: the same number of records");
}
