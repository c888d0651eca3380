//! Scheduled episodes, through the library: each starts at its logical time, lasts its duration,
//! hits its target, comes on top of the baseline's records, and a repeat gives its count.

use std::collections::BTreeMap;
use std::time::Duration;

use netchaos::generator::timeline::{Origin, ScheduledEpisode, Timeline};
use netchaos::generator::{RunPlan, Speed};
use netchaos::network::target::Target;
use netchaos::network::topology::Topology;
use netchaos::records::AnomalyKind;

use crate::common::{chaos, run, settings};

const MINUTE_MS: u64 = 60_000;

fn episode(kind: AnomalyKind, at_ms: u64, duration_ms: u64, target: Target, occurrence: u32) -> ScheduledEpisode {
    ScheduledEpisode {
        kind,
        at_ms,
        duration_ms,
        difficulty: "overt",
        target,
        intensity: 1.0,
        ramp_ms: 0,
        parameters: BTreeMap::new(),
        occurrence,
        origin: Some(Origin { file: "drill.yaml".into(), line: 12 + occurrence }),
    }
}

/// The logical time (ms) of a record: a flow's `end` second, a firewall session's `timestamp`.
fn time_ms(record: &serde_json::Value) -> i64 {
    match record.get("end").and_then(serde_json::Value::as_i64) {
        Some(end) => end * 1000,
        None => {
            let text = record["timestamp"].as_str().unwrap();
            humantime::parse_rfc3339(text).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        }
    }
}

#[test]
fn scheduled_episodes_start_on_time_last_their_duration_hit_their_target_and_repeat() {
    let mut settings = settings(21, 3, 0, chaos(0.0, 0.0, 0.0, 0.0));
    settings.count = None;
    settings.eps = 20.0;
    settings.duration = Some(Duration::from_secs(3600));
    let target_host = Topology::new(21).hosts[7].address;
    let mut episodes = vec![episode(AnomalyKind::PortScan, 10 * MINUTE_MS, 5 * MINUTE_MS, Target::Host(target_host), 0)];
    // A reset storm on postgres, three times, 15 minutes apart.
    for occurrence in 0..3 {
        let at = 20 * MINUTE_MS + u64::from(occurrence) * 15 * MINUTE_MS;
        episodes.push(episode(AnomalyKind::ConnectionReset, at, 2 * MINUTE_MS, Target::Service("postgres".into()), occurrence));
    }
    settings.plan = RunPlan { speed: Speed::Max, timeline: Timeline { phases: Vec::new(), episodes }, ..RunPlan::default() };
    let (sink, report) = run(&settings);
    let start_ms = settings.start_time_ms;

    assert!(report.manifest.complete, "the run emitted its slots and every scheduled record");
    let labelled = report.manifest.by_label.iter().filter(|(label, _)| label.as_str() != "normal").map(|(_, count)| count).sum::<u64>();
    assert_eq!(report.manifest.by_label["normal"], 72_000, "scheduled records come on top of the baseline's eps × duration");
    assert!(labelled > 0);
    assert_eq!(report.manifest.records, 72_000 + labelled);

    let scheduled: Vec<_> = sink.episodes.iter().filter(|episode| episode.scheduled.is_some()).collect();
    assert_eq!(scheduled.len(), 4, "one row per scheduled episode, a repeat's occurrences each");
    assert_eq!(scheduled.iter().filter(|episode| episode.kind == AnomalyKind::ConnectionReset).count(), 3, "the repeat gives its count");

    let records: Vec<serde_json::Value> = sink.lines().map(|line| serde_json::from_slice(line).unwrap()).collect();
    for summary in &scheduled {
        let info = summary.scheduled.as_ref().unwrap();
        assert!(summary.complete, "{} ran to its end", summary.episode_id);
        assert_eq!(info.file.as_deref(), Some("drill.yaml"));
        let at = info.at.unix_millis();
        let ours: Vec<&serde_json::Value> =
            records.iter().filter(|record| record["label"]["episode_id"].as_str() == Some(summary.episode_id.as_str())).collect();
        assert_eq!(ours.len() as u64, summary.records);
        let first = ours.iter().map(|record| time_ms(record)).min().unwrap();
        let last = ours.iter().map(|record| time_ms(record)).max().unwrap();
        // Flow records carry whole seconds: the schedule's resolution here.
        assert!((first - at).abs() <= 1_000, "{} starts at {first}, scheduled {at}", summary.episode_id);
        let end = at + info.duration_ms as i64;
        assert!(last <= end && last >= end - (info.duration_ms / 20) as i64 - 1_000, "{} ends at {last}, due {end}", summary.episode_id);
        match summary.kind {
            AnomalyKind::PortScan => {
                let text = target_host.to_string();
                for record in &ours {
                    let touches =
                        ["dstaddr", "srcaddr", "dest_ip", "src_ip"].iter().any(|field| record[*field].as_str() == Some(text.as_str()));
                    assert!(touches, "a probe misses the target {text}: {record}");
                }
            }
            AnomalyKind::ConnectionReset => {
                for record in &ours {
                    let port = ["dstport", "srcport", "dest_port", "src_port"].iter().any(|field| record[*field].as_u64() == Some(5432));
                    assert!(port, "a reset misses postgres's port: {record}");
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(ours.iter().all(|record| time_ms(record) >= start_ms));
    }
}
