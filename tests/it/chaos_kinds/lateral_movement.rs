//! `lateral_movement` over hours of logical time: the sweep, the new peers (checked against the
//! run's own baseline: no accepted TCP conversation between the host and a peer), their ports and
//! span, and the subtle form's bound of a few peers over hours.

use std::collections::BTreeSet;

use netchaos::chaos::{Difficulty, EpisodeSummary};
use netchaos::records::AnomalyKind;

use super::{HourlyRun, hourly_run, time_ms};

/// Unordered pairs of addresses that talked in accepted, unlabelled TCP flow records.
fn baseline_pairs(run: &HourlyRun) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for record in &run.all {
        if record["label"].is_null() && record["action"] == "ACCEPT" && record["protocol"] == 6 {
            let (a, b) = (record["srcaddr"].as_str().unwrap().to_owned(), record["dstaddr"].as_str().unwrap().to_owned());
            pairs.insert(if a < b { (a, b) } else { (b, a) });
        }
    }
    pairs
}

/// A refused probe: its time and the probed host.
type Probe = (i64, String);

/// An accepted session: its time, the peer and its port.
type Login = (i64, String, u64);

/// An episode's refused probes and accepted sessions, from its flow records at the source's ENI
/// (the probes' at the probed host's).
fn steps(episode: &EpisodeSummary, records: &[serde_json::Value]) -> (Vec<Probe>, Vec<Login>) {
    let source = episode.actors.sources[0].to_string();
    let mut probes = Vec::new();
    let mut sessions = Vec::new();
    for flow in records.iter().filter(|record| record.get("end").is_some()) {
        assert!(flow["srcaddr"] == source.as_str() || flow["dstaddr"] == source.as_str(), "a record without the source");
        let egress_request = flow["srcaddr"] == source.as_str() && flow["flow_direction"] == "egress";
        let peer = flow["dstaddr"].as_str().unwrap().to_owned();
        if flow["action"] == "REJECT" {
            assert_eq!(flow["tcp_flags"], 2, "a probe is a bare SYN");
            probes.push((time_ms(flow), peer));
        } else if egress_request {
            assert_eq!(flow["tcp_flags"], 3, "a short whole session");
            sessions.push((time_ms(flow), peer, flow["dstport"].as_u64().unwrap()));
        }
    }
    (probes, sessions)
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a < b { (a.to_owned(), b.to_owned()) } else { (b.to_owned(), a.to_owned()) }
}

#[test]
fn overt_movement_sweeps_then_logs_in_to_ten_or_more_peers_it_never_talked_to() {
    // 6 hours at 12 records/s: 259,200 records.
    let run = hourly_run(AnomalyKind::LateralMovement, Difficulty::Overt, 1.0, 6, 12.0, 31);
    let pairs = baseline_pairs(&run);
    let complete: Vec<_> = run.of_kind(AnomalyKind::LateralMovement).into_iter().filter(|(episode, _)| episode.complete).collect();
    assert!(complete.len() >= 3, "only {} complete episodes", complete.len());
    for (episode, records) in complete {
        let (probes, sessions) = steps(episode, records);
        let source = episode.actors.sources[0].to_string();
        assert!((3..=8).contains(&probes.len()), "{} probes", probes.len());
        assert!(probes.iter().all(|(time, _)| *time <= sessions[0].0), "the sweep comes first");
        let peers: BTreeSet<&str> = sessions.iter().map(|(_, peer, _)| peer.as_str()).collect();
        assert_eq!(peers.len(), sessions.len(), "one session a peer");
        let candidates = episode.parameters["never_paired_candidates"].as_u64().unwrap() as usize;
        assert!(peers.len() >= 10.min(candidates) && peers.len() <= 50, "{} peers of {candidates}", peers.len());
        for peer in &peers {
            assert!(!pairs.contains(&ordered(&source, peer)), "{source} and {peer} talk in the baseline");
        }
        let span_ms = sessions[sessions.len() - 1].0 - probes[0].0;
        assert!(span_ms <= 121 * 60_000, "{span_ms} ms");
        let ports: Vec<u64> = episode.parameters["ports"].as_array().unwrap().iter().map(|port| port.as_u64().unwrap()).collect();
        assert!(sessions.iter().all(|(_, _, port)| ports.contains(port)), "{ports:?}");
        assert!(sessions.iter().all(|(_, _, port)| [445, 135, 3389, 22, 5985].contains(port)));
    }
}

#[test]
fn subtle_movement_reaches_three_to_five_peers_over_hours_on_ssh_or_winrm_only() {
    // 10 hours at 8 records/s: 288,000 records.
    let run = hourly_run(AnomalyKind::LateralMovement, Difficulty::Subtle, 0.75, 10, 8.0, 32);
    let pairs = baseline_pairs(&run);
    let complete: Vec<_> = run.of_kind(AnomalyKind::LateralMovement).into_iter().filter(|(episode, _)| episode.complete).collect();
    assert!(complete.len() >= 2, "only {} complete episodes", complete.len());
    for (episode, records) in complete {
        let (probes, sessions) = steps(episode, records);
        let source = episode.actors.sources[0].to_string();
        assert!(probes.is_empty(), "no sweep");
        assert!((3..=5).contains(&sessions.len()), "{} sessions", sessions.len());
        assert!(sessions.iter().all(|(_, peer, port)| [22, 5985].contains(port) && !pairs.contains(&ordered(&source, peer))));
        // The rate bound: 5 new peers at most, over 2 hours at least.
        let span_s = episode.parameters["span_s"].as_u64().unwrap();
        assert!((7_200..=21_600).contains(&span_s), "{span_s} s");
        assert!(sessions[sessions.len() - 1].0 - sessions[0].0 <= span_s as i64 * 1000);
    }
}
