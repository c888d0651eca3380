//! `brute_force` over hours of logical time: the overt form's tens of whole sessions a minute from
//! one source, the subtle form's per-source rate under the per-minute rules for hours.

use std::collections::BTreeMap;

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, time_ms};

/// Each attempt's request record at the target (ingress to 22 / 3389): its source and time (ms).
fn attempts(records: &[serde_json::Value]) -> Vec<(String, i64)> {
    records
        .iter()
        .filter(|record| record["flow_direction"] == "ingress" && matches!(record["dstport"].as_u64(), Some(22 | 3389)))
        .map(|record| (record["srcaddr"].as_str().unwrap().to_owned(), time_ms(record)))
        .collect()
}

/// Every flow of an attempt: ACCEPT, flags 3 from the guesser and 19 back, at most 40 packets.
fn assert_whole_failed_logins(records: &[serde_json::Value]) {
    for record in records.iter().filter(|record| record.get("dstport").is_some()) {
        assert_eq!((record["protocol"].as_u64(), record["action"].as_str()), (Some(6), Some("ACCEPT")), "{record}");
        let flags = record["tcp_flags"].as_u64().unwrap();
        let to_login_port = matches!(record["dstport"].as_u64(), Some(22 | 3389));
        assert_eq!(flags, if to_login_port { 3 } else { 19 }, "{record}");
        assert!((1..=36).contains(&record["packets"].as_u64().unwrap()), "{record}");
    }
}

#[test]
fn overt_brute_force_is_tens_of_whole_sessions_a_minute_from_one_source() {
    let run = hourly_run(AnomalyKind::BruteForce, Difficulty::Overt, 2.0, 2, 40.0, 11);
    let episodes = run.of_kind(AnomalyKind::BruteForce);
    let complete: Vec<_> = episodes.iter().filter(|(episode, _)| episode.complete).collect();
    assert!(complete.len() >= 2, "{} complete episodes in 2 hours at 2 an hour", complete.len());
    for (episode, records) in complete {
        assert_whole_failed_logins(records);
        let attempts = attempts(records);
        assert_eq!(episode.parameters["attempts"].as_u64(), Some(attempts.len() as u64), "{}", episode.episode_id);
        let sources: std::collections::BTreeSet<&String> = attempts.iter().map(|(source, _)| source).collect();
        assert_eq!(sources.len(), 1, "{}: one source", episode.episode_id);
        let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
        for (_, at) in &attempts {
            *per_minute.entry((at - attempts[0].1) / 60_000).or_default() += 1;
        }
        let full: Vec<u64> = per_minute.values().copied().take(per_minute.len() - 1).collect();
        assert!(full.len() >= 4, "{}: {} minutes", episode.episode_id, full.len());
        let mean = full.iter().sum::<u64>() as f64 / full.len() as f64;
        assert!(full.iter().all(|count| *count >= 10) && mean >= 15.0, "{}: {full:?}", episode.episode_id);
    }
}

#[test]
fn subtle_brute_force_stays_under_three_a_minute_and_eight_in_two_minutes_per_source_for_hours() {
    let run = hourly_run(AnomalyKind::BruteForce, Difficulty::Subtle, 1.5, 4, 20.0, 12);
    let episodes = run.of_kind(AnomalyKind::BruteForce);
    assert!(episodes.len() >= 3, "{} episodes in 4 hours at 1.5 an hour", episodes.len());
    let mut longest = 0;
    for (episode, records) in &episodes {
        assert_whole_failed_logins(records);
        let mut by_source: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (source, at) in attempts(records) {
            by_source.entry(source).or_default().push(at);
        }
        for (source, times) in &by_source {
            let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
            for at in times {
                *per_minute.entry(at / 60_000).or_default() += 1;
            }
            assert!(per_minute.values().all(|count| *count <= 3), "{} {source}: {per_minute:?}", episode.episode_id);
            // Wazuh 5712 / 5720: 8 failures from one source within 120 s.
            assert!(times.windows(8).all(|eight| eight[7] - eight[0] > 120_000), "{} {source}", episode.episode_id);
        }
        let spread = episode.parameters["form"] == "spread";
        assert!(!spread || (4..=8).contains(&by_source.len()), "{}: {} sources", episode.episode_id, by_source.len());
        assert!(spread || by_source.len() == 1, "{}: {} sources", episode.episode_id, by_source.len());
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            longest = longest.max(time_ms(last) - time_ms(first));
        }
    }
    assert!(longest >= 60 * 60_000, "the longest subtle campaign lasted {longest} ms");
}
