//! `syn_flood` over logical time: the overt flood's thousands of spoofed SYNs a minute with
//! `SKIPDATA` on the target's ENI, the subtle form's short pulses with quiet minutes between.

use std::collections::{BTreeMap, BTreeSet};

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, time_ms};

/// Every SYN of the flood: one packet of 40–60 bytes, flags 2, ACCEPT, ingress, no reply.
fn assert_bare_syns(records: &[serde_json::Value]) -> usize {
    let syns: Vec<&serde_json::Value> = records.iter().filter(|record| record["log_status"] == "OK").collect();
    let sources: BTreeSet<&str> = syns.iter().map(|record| record["srcaddr"].as_str().unwrap()).collect();
    let targets: BTreeSet<(&str, u64)> =
        syns.iter().map(|record| (record["dstaddr"].as_str().unwrap(), record["dstport"].as_u64().unwrap())).collect();
    assert_eq!(targets.len(), 1, "one public port of one host: {targets:?}");
    for record in &syns {
        assert_eq!((record["tcp_flags"].as_u64(), record["packets"].as_u64()), (Some(2), Some(1)), "{record}");
        assert!((40..=60).contains(&record["bytes"].as_u64().unwrap()), "{record}");
        assert_eq!((record["action"].as_str(), record["flow_direction"].as_str()), (Some("ACCEPT"), Some("ingress")));
    }
    assert!(sources.len() as f64 > 0.99 * syns.len() as f64, "{} sources for {} SYNs", sources.len(), syns.len());
    syns.len()
}

#[test]
fn overt_flood_is_thousands_of_spoofed_syns_a_minute_with_skipdata_on_the_target() {
    // 40 records/s a lane: the flood (60–120 SYNs/s) takes every slot, so it writes 2,400 a minute.
    let run = hourly_run(AnomalyKind::SynFlood, Difficulty::Overt, 3.0, 1, 80.0, 21);
    let episodes = run.of_kind(AnomalyKind::SynFlood);
    let complete: Vec<_> = episodes.iter().filter(|(episode, _)| episode.complete).collect();
    assert!(!complete.is_empty(), "no complete flood in an hour at 3 an hour");
    for (episode, records) in complete {
        let syns = assert_bare_syns(records);
        assert!(syns >= 5_000, "{}: {syns} SYNs", episode.episode_id);
        let interface = records.iter().find(|record| record["log_status"] == "OK").unwrap()["interface_id"].clone();
        let skipped: Vec<&serde_json::Value> = records.iter().filter(|record| record["log_status"] == "SKIPDATA").collect();
        assert_eq!(skipped.len() as u64, episode.parameters["skipdata_windows"].as_u64().unwrap());
        assert!(!skipped.is_empty(), "{}: no SKIPDATA", episode.episode_id);
        for record in &skipped {
            assert_eq!(record["interface_id"], interface, "SKIPDATA on the target's ENI");
            assert!(record["srcaddr"].is_null() && record["packets"].is_null() && record["action"].is_null(), "{record}");
        }
        let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
        let first = time_ms(&records[0]);
        for record in records.iter().filter(|record| record["log_status"] == "OK") {
            *per_minute.entry((time_ms(record) - first) / 60_000).or_default() += 1;
        }
        let full: Vec<u64> = per_minute.values().copied().take(per_minute.len() - 1).collect();
        assert!(!full.is_empty() && full.iter().all(|count| *count >= 2_000), "{}: {full:?}", episode.episode_id);
    }
}

#[test]
fn subtle_flood_is_short_pulses_minutes_apart_without_skipdata() {
    let run = hourly_run(AnomalyKind::SynFlood, Difficulty::Subtle, 3.0, 1, 80.0, 22);
    let episodes = run.of_kind(AnomalyKind::SynFlood);
    assert!(episodes.len() >= 2, "{} episodes in an hour at 3 an hour", episodes.len());
    let mut pulses_seen = 0;
    for (episode, records) in &episodes {
        assert!(records.iter().all(|record| record["log_status"] == "OK"), "{}: SKIPDATA in a subtle flood", episode.episode_id);
        assert_bare_syns(records);
        let times: Vec<i64> = records.iter().map(time_ms).collect();
        let mut pulses = vec![vec![times[0]]];
        for pair in times.windows(2) {
            if pair[1] - pair[0] > 45_000 {
                pulses.push(Vec::new());
            }
            pulses.last_mut().unwrap().push(pair[1]);
        }
        for pulse in &pulses {
            let seconds = (pulse[pulse.len() - 1] - pulse[0]) as f64 / 1_000.0;
            assert!(seconds <= 40.0, "{}: a pulse of {seconds} s", episode.episode_id);
            assert!(pulse.len() as f64 / seconds.max(1.0) < 50.0, "{}: {} SYNs in {seconds} s", episode.episode_id, pulse.len());
        }
        pulses_seen += pulses.len();
    }
    assert!(pulses_seen >= 6, "{pulses_seen} pulses");
}
