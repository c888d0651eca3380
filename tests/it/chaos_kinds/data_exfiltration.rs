//! `data_exfiltration`'s subtle form on the hourly clock: a DNS or HTTPS trickle over hours of
//! logical time.

use std::collections::BTreeSet;

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, most_in_window_by, time_ms};

#[test]
fn a_subtle_exfiltration_trickles_under_the_dns_and_per_flow_byte_rules() {
    // 10 hours at 6 records/s: 216,000 records.
    let run = hourly_run(AnomalyKind::DataExfiltration, Difficulty::Subtle, 2.0, 10, 6.0, 33);
    let episodes = run.of_kind(AnomalyKind::DataExfiltration);
    let mut channels = BTreeSet::new();
    for (episode, records) in &episodes {
        let channel = episode.parameters["channel"].as_str().unwrap();
        channels.insert(channel);
        let host = episode.actors.sources[0].to_string();
        let destination = episode.actors.targets[0].to_string();
        // The request flows at the host's ENI: what leaves the host.
        let requests: Vec<(i64, u64, u64)> = records
            .iter()
            .filter(|record| record["event_type"] == "vpc_flow" && record["srcaddr"] == host.as_str())
            .map(|record| (time_ms(record), record["bytes"].as_u64().unwrap(), record["packets"].as_u64().unwrap()))
            .collect();
        assert!(records.iter().all(|record| record["srcaddr"] == destination.as_str()
            || record["dstaddr"] == destination.as_str()
            || record["dest_ip"] == destination.as_str()));
        let times: Vec<i64> = requests.iter().map(|(time, _, _)| *time).collect();
        let bytes: Vec<u64> = requests.iter().map(|(_, bytes, _)| *bytes).collect();
        match channel {
            "dns" => {
                assert!(times.windows(2).all(|pair| (29_000..=301_000).contains(&(pair[1] - pair[0]))), "{times:?}");
                assert!(requests.iter().all(|(_, bytes, packets)| (150..=250).contains(&(bytes / packets))), "~200-byte queries");
                assert!(most_in_window_by(&times, &bytes, 3_600_000) <= 100_000, "{}: 100 KB an hour at most", episode.episode_id);
                // Sigma's High DNS Bytes Out: 300,000 bytes a minute.
                assert!(most_in_window_by(&times, &bytes, 60_000) < 30_000);
            }
            "https" => {
                assert!(requests.iter().all(|(_, bytes, _)| *bytes <= 500_000), "chunks under 500 KB");
                assert!(most_in_window_by(&times, &bytes, 3_600_000) <= 13 * 500_000);
                // A rare destination: no unlabelled record of the run talks to it.
                let seen = run.all.iter().filter(|record| record["label"].is_null()).any(|record| {
                    [&record["srcaddr"], &record["dstaddr"], &record["src_ip"], &record["dest_ip"]]
                        .iter()
                        .any(|field| **field == destination.as_str())
                });
                assert!(!seen, "{destination} is not rare");
            }
            other => panic!("unknown channel {other}"),
        }
        if episode.complete {
            assert!(times.last().unwrap() - times[0] >= 2 * 3_600_000 - 2_000_000, "{}: it lasts hours", episode.episode_id);
        }
    }
    assert_eq!(channels.len(), 2, "both channels in {} episodes", episodes.len());
}
