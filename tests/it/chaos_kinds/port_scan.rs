//! `port_scan`'s subtle form on the hourly clock: low and slow over hours of logical time, in a
//! traffic lane.

use std::collections::BTreeSet;

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, most_in_window, time_ms};

#[test]
fn a_subtle_scan_probes_one_port_at_a_time_in_random_order_under_zeeks_and_elastics_windows() {
    // 8 hours at 8 records/s: 230,400 records.
    let run = hourly_run(AnomalyKind::PortScan, Difficulty::Subtle, 1.0, 8, 8.0, 21);
    let episodes = run.of_kind(AnomalyKind::PortScan);
    assert!(episodes.len() >= 3, "{} subtle scans in 8 hours at 1 an hour", episodes.len());
    let mut long = 0;
    for (episode, records) in &episodes {
        assert_eq!(episode.difficulty, "subtle");
        let delay = episode.parameters["scan_delay_ms"].as_i64().unwrap();
        assert!((25_000..=300_000).contains(&delay), "{delay}");
        let probes: Vec<&serde_json::Value> = records.iter().filter(|record| record["event_type"] == "vpc_flow").collect();
        let times: Vec<i64> = probes.iter().map(|record| time_ms(record)).collect();
        // Probe i at i × delay, written in the lane's first slot after it, stamped to the second.
        for pair in times.windows(2) {
            assert!((pair[1] - pair[0] - delay).abs() <= 1_500, "{}: {} ms apart, delay {delay}", episode.episode_id, pair[1] - pair[0]);
        }
        let sources: BTreeSet<&str> = probes.iter().map(|record| record["srcaddr"].as_str().unwrap()).collect();
        let targets: BTreeSet<&str> = probes.iter().map(|record| record["dstaddr"].as_str().unwrap()).collect();
        assert_eq!((sources.len(), targets.len()), (1, 1), "{}: one scanner, one target", episode.episode_id);
        let ports: Vec<u64> = probes.iter().map(|record| record["dstport"].as_u64().unwrap()).collect();
        assert_eq!(ports.iter().collect::<BTreeSet<_>>().len(), ports.len(), "each port once");
        assert!(probes.iter().all(|record| record["packets"].as_u64().unwrap() <= 2 && record["bytes"].as_u64().unwrap() <= 120));
        // Zeek's scan.zeek: 15 ports of one victim in 5 minutes; Elastic's rule: 5 sensitive ports a minute.
        assert!(most_in_window(&times, 300_000) <= 14, "{}", episode.episode_id);
        assert!(most_in_window(&times, 60_000) <= 3, "{}", episode.episode_id);
        if ports.len() >= 40 {
            let rises = ports.windows(2).filter(|pair| pair[1] > pair[0]).count() as f64 / (ports.len() - 1) as f64;
            assert!((0.3..0.7).contains(&rises), "{}: ports in random order, {rises} of steps rise", episode.episode_id);
        }
        if episode.complete {
            assert!(times.last().unwrap() - times[0] >= 2 * 3_600_000 - 2 * delay, "a complete scan lasts hours");
            long += 1;
        }
    }
    assert!(long >= 1, "at least one scan ran to its end");
}
