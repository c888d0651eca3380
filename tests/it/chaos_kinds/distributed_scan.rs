//! `distributed_scan` over hours of logical time: the overt campaign's many sources, each on more
//! than ten hosts of one shared set within minutes; the subtle one's few probes per source over
//! hours.

use std::collections::{BTreeMap, BTreeSet};

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, time_ms};

/// Per source: the hosts and ports it probed (the probes' request records at the targets).
fn reach(records: &[serde_json::Value]) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<u64>)> {
    let mut reach: BTreeMap<String, (BTreeSet<String>, BTreeSet<u64>)> = BTreeMap::new();
    for record in records.iter().filter(|record| record["flow_direction"] == "ingress" && record["tcp_flags"] != 18) {
        assert!(matches!(record["tcp_flags"].as_u64(), Some(2 | 6)), "a probe: {record}");
        let entry = reach.entry(record["srcaddr"].as_str().unwrap().to_owned()).or_default();
        entry.0.insert(record["dstaddr"].as_str().unwrap().to_owned());
        entry.1.insert(record["dstport"].as_u64().unwrap());
    }
    reach
}

#[test]
fn overt_campaign_has_tens_to_hundreds_of_sources_each_on_more_than_ten_hosts_of_one_set() {
    let run = hourly_run(AnomalyKind::DistributedScan, Difficulty::Overt, 2.0, 1, 80.0, 31);
    let episodes = run.of_kind(AnomalyKind::DistributedScan);
    let complete: Vec<_> = episodes.iter().filter(|(episode, _)| episode.complete).collect();
    assert!(!complete.is_empty(), "no complete campaign in an hour at 2 an hour");
    for (episode, records) in complete {
        let reach = reach(records);
        assert!((10..=500).contains(&reach.len()), "{}: {} sources", episode.episode_id, reach.len());
        assert!(
            reach.values().all(|(hosts, ports)| hosts.len() > 10 && (1..=5).contains(&ports.len())),
            "{}: each source on more than 10 hosts (Sigma's count by destination IP)",
            episode.episode_id
        );
        let set: BTreeSet<&String> = reach.values().flat_map(|(hosts, _)| hosts).collect();
        assert!(set.len() <= 24, "{}: one shared set of {} hosts", episode.episode_id, set.len());
        let span = time_ms(records.last().unwrap()) - time_ms(&records[0]);
        // A campaign of more records than a lane writes in 10 minutes stretches with the lane.
        if episode.records <= 10_000 {
            assert!(span <= 11 * 60_000, "{}: {span} ms", episode.episode_id);
        }
    }
}

#[test]
fn subtle_campaign_keeps_each_source_to_a_few_hosts_and_ports_over_hours() {
    let run = hourly_run(AnomalyKind::DistributedScan, Difficulty::Subtle, 1.5, 4, 20.0, 32);
    let episodes = run.of_kind(AnomalyKind::DistributedScan);
    assert!(episodes.len() >= 3, "{} episodes in 4 hours at 1.5 an hour", episodes.len());
    let mut longest = 0;
    for (episode, records) in &episodes {
        let reach = reach(records);
        assert!(reach.len() <= 30, "{}: {} sources", episode.episode_id, reach.len());
        assert!(episode.actors.sources.len() >= 10, "{}", episode.episode_id);
        assert!(reach.values().all(|(hosts, ports)| hosts.len() <= 8 && ports.len() <= 2), "{}", episode.episode_id);
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            longest = longest.max(time_ms(last) - time_ms(first));
        }
    }
    assert!(longest >= 90 * 60_000, "the longest subtle campaign lasted {longest} ms");
}
