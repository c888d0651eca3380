//! `cryptomining` over hours of logical time: one session with a record each way in every
//! aggregation window, SYN in the first, 0 in the middle, FIN in the last; small steady packets;
//! Stratum ports overt, 443 to one proxy subtle.

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{HourlyRun, hourly_run, time_ms};

/// Checks every complete episode's windows and returns how many there were.
fn check_windows(run: &HourlyRun, ports: &[u64]) -> usize {
    let complete: Vec<_> = run.of_kind(AnomalyKind::Cryptomining).into_iter().filter(|(episode, _)| episode.complete).collect();
    for (episode, records) in &complete {
        let (miner, pool) = (episode.actors.sources[0].to_string(), episode.actors.targets[0].to_string());
        let windows = episode.parameters["planned_windows"].as_u64().unwrap() as usize;
        for (from, to, first_flags, direction) in [(&miner, &pool, 2, "egress"), (&pool, &miner, 18, "ingress")] {
            let flows: Vec<&serde_json::Value> = records
                .iter()
                .filter(|record| record.get("end").is_some() && record["srcaddr"] == from.as_str() && record["dstaddr"] == to.as_str())
                .collect();
            assert_eq!(flows.len(), windows, "a record every window, {direction}");
            assert!(flows.iter().all(|flow| flow["flow_direction"] == direction && flow["action"] == "ACCEPT"));
            let port_field = if direction == "egress" { "dstport" } else { "srcport" };
            assert!(ports.contains(&flows[0][port_field].as_u64().unwrap()), "{}", flows[0]);
            let client_port = if direction == "egress" { "srcport" } else { "dstport" };
            assert!(flows.iter().all(|flow| flow[client_port] == flows[0][client_port]), "one session");
            for pair in flows.windows(2) {
                let gap = time_ms(pair[1]) - time_ms(pair[0]);
                assert!((59_000..=61_000).contains(&gap), "windows {gap} ms apart");
                assert!(pair[1]["start"].as_i64().unwrap() >= pair[0]["end"].as_i64().unwrap() - 1, "windows overlap");
            }
            assert_eq!(flows[0]["tcp_flags"], if windows == 1 { first_flags | 1 } else { first_flags });
            assert_eq!(flows[windows - 1]["tcp_flags"], if windows == 1 { first_flags | 1 } else { 1 });
            assert!(flows[1..windows.saturating_sub(1)].iter().all(|flow| flow["tcp_flags"] == 0), "0 mid-session");
            let packets: Vec<u64> = flows.iter().map(|flow| flow["packets"].as_u64().unwrap()).collect();
            assert!(packets.iter().all(|count| (1..=15).contains(count)), "small packets: {packets:?}");
            assert!(flows.iter().all(|flow| flow["bytes"].as_u64().unwrap() <= flow["packets"].as_u64().unwrap() * 300));
        }
        let firewall: Vec<_> = records.iter().filter(|record| record.get("session_id").is_some()).collect();
        assert_eq!(firewall.len(), 1, "the firewall logs the session at its end");
        assert!(firewall[0]["duration_ms"].as_u64().unwrap() >= (windows as u64 - 1) * 60_000);
    }
    complete.len()
}

#[test]
fn overt_mining_writes_every_window_of_one_session_to_a_stratum_port() {
    // 12 hours at 6 records/s: 259,200 records, about 12 episodes of 1.5-6 hours.
    let run = hourly_run(AnomalyKind::Cryptomining, Difficulty::Overt, 1.0, 12, 6.0, 41);
    let complete = check_windows(&run, &[3333, 4444, 14444, 45700]);
    assert!(complete >= 2, "only {complete} complete mining episodes");
    for (episode, _) in run.of_kind(AnomalyKind::Cryptomining).iter().filter(|(episode, _)| episode.complete) {
        let hours = episode.parameters["planned_windows"].as_f64().unwrap() / 60.0;
        assert!((1.5..=6.0).contains(&hours), "{hours} h");
    }
}

#[test]
fn subtle_mining_is_stratum_over_443_to_one_proxy() {
    // 10 hours at 8 records/s: 288,000 records.
    let run = hourly_run(AnomalyKind::Cryptomining, Difficulty::Subtle, 0.75, 10, 8.0, 42);
    let complete = check_windows(&run, &[443]);
    assert!(complete >= 2, "only {complete} complete mining episodes");
    for (episode, records) in run.of_kind(AnomalyKind::Cryptomining) {
        assert_eq!(episode.actors.targets.len(), 1);
        let pool = episode.actors.targets[0].to_string();
        let to_pool = |record: &&serde_json::Value| record["dstaddr"] == pool.as_str() || record["dest_ip"] == pool.as_str();
        assert!(records.iter().filter(to_pool).all(|record| record["dstport"] == 443 || record["dest_port"] == 443));
    }
}
