//! Every generated record is valid: it passes the sink's validation function and the published
//! JSON Schema, over many seeds and chaos mixes; runs are reproducible.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use netchaos::records::{self, EventId, Record};
use proptest::prelude::*;

use crate::common::{MemorySink, chaos, run, settings};

fn schema_validator() -> jsonschema::Validator {
    jsonschema::validator_for(&records::json_schema()).expect("the schema compiles")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_record_validates_and_matches_the_schema(seed in any::<u64>(), workers in 1u32..4, latency in 0.0..0.2f64, scan in 0.0..0.2f64, exfil in 0.0..0.2f64, reset in 0.0..0.2f64) {
        let validator = schema_validator();
        let (sink, report) = run(&settings(seed, workers, 3_000, chaos(latency, scan, exfil, reset)));
        prop_assert_eq!(report.manifest.records, 3_000);
        let mut count = 0;
        for line in sink.lines() {
            let record = records::validate(line);
            prop_assert!(record.is_ok(), "{:?} on {}", record.as_ref().err(), String::from_utf8_lossy(line));
            let typed = record.expect("valid");
            prop_assert!(serde_json::to_vec(&typed).expect("serde") == line, "the fast writer differs from serde_json on {}", String::from_utf8_lossy(line));
            let value: serde_json::Value = serde_json::from_slice(line).expect("json");
            let errors: Vec<String> = validator.iter_errors(&value).map(|error| error.to_string()).collect();
            prop_assert!(errors.is_empty(), "schema errors {:?} on {}", errors, value);
            count += 1;
        }
        prop_assert_eq!(count, 3_000);
    }

    /// Every kind on the hourly clock at once, in a random form, with or without look-alikes,
    /// over an hour of logical time: every record still validates, matches the schema and is
    /// written as serde would write it.
    #[test]
    fn every_record_of_every_kind_and_form_validates(seed in any::<u64>(), workers in 1u32..3, form in 0usize..3, lookalikes in any::<bool>(), scan in 0.0..0.05f64) {
        use netchaos::chaos::Difficulty;
        let validator = schema_validator();
        let mut chaos = chaos(0.01, scan, 0.005, 0.01);
        chaos.per_hour = netchaos::records::PerKind::from_fn(|_| 8.0);
        chaos.difficulty = netchaos::records::PerKind::from_fn(|_| [Difficulty::Overt, Difficulty::Subtle, Difficulty::Mixed][form]);
        chaos.lookalikes = lookalikes;
        let mut settings = settings(seed, workers, 0, chaos);
        settings.count = None;
        settings.eps = 12.0;
        settings.duration = Some(std::time::Duration::from_secs(3_600));
        settings.plan = netchaos::generator::RunPlan { speed: netchaos::generator::Speed::Max, ..Default::default() };
        let (sink, report) = run(&settings);
        let mut count = 0u64;
        for line in sink.lines() {
            let record = records::validate(line);
            prop_assert!(record.is_ok(), "{:?} on {}", record.as_ref().err(), String::from_utf8_lossy(line));
            let typed = record.expect("valid");
            prop_assert!(serde_json::to_vec(&typed).expect("serde") == line, "the fast writer differs from serde_json on {}", String::from_utf8_lossy(line));
            let value: serde_json::Value = serde_json::from_slice(line).expect("json");
            let errors: Vec<String> = validator.iter_errors(&value).map(|error| error.to_string()).collect();
            prop_assert!(errors.is_empty(), "schema errors {:?} on {}", errors, value);
            count += 1;
        }
        prop_assert_eq!(count, report.manifest.records);
        prop_assert!(report.manifest.complete);
    }
}

#[test]
fn same_seed_workers_count_and_start_time_give_identical_bytes_at_any_speed() {
    let base = settings(42, 3, 50_000, chaos(0.02, 0.02, 0.01, 0.02));
    let (fast, _) = run(&base);
    let mut slow_sink = MemorySink { delay: Some(std::time::Duration::from_micros(300)), ..MemorySink::default() };
    let report = netchaos::generator::generate(&base, &mut slow_sink, &netchaos::runtime::Shutdown::new());
    assert!(report.error.is_none());
    assert_eq!(fast.data.len(), slow_sink.data.len());
    assert!(fast.data == slow_sink.data, "a slow consumer changed the output");

    let (other_seed, _) = run(&netchaos::generator::GeneratorSettings { seed: 43, ..base.clone() });
    assert!(other_seed.data != fast.data, "a different seed gave the same output");
}

#[test]
fn paced_runs_are_reproducible_whatever_the_wall_clock_did() {
    // Event times come from the schedule, not from when a paced run happened to emit: two paced
    // runs at 20k/s, each with its own sleeps and scheduling jitter, write the same bytes.
    let mut paced = settings(9, 2, 4_000, chaos(0.05, 0.05, 0.02, 0.05));
    paced.eps = 20_000.0;
    let (first, _) = run(&paced);
    let (second, _) = run(&paced);
    assert!(first.data == second.data);
}

#[test]
fn event_ids_are_unique_and_exactly_the_manifest_set() {
    let (sink, report) = run(&settings(7, 4, 100_000, chaos(0.02, 0.02, 0.01, 0.02)));
    let mut seen = HashSet::new();
    for line in sink.lines() {
        let Ok(record) = records::validate(line) else { panic!("invalid record") };
        let EventId { run_id, worker, seq } = record.event_id().clone();
        assert_eq!(run_id, report.manifest.run_id);
        assert!(seen.insert((worker, seq)), "duplicate id {worker}-{seq}");
    }
    let expected: usize = report.manifest.lanes.iter().map(|lane| lane.records as usize).sum();
    assert_eq!(seen.len(), expected);
    for lane in &report.manifest.lanes {
        for seq in [0, lane.records - 1] {
            assert!(seen.contains(&(lane.worker, seq)), "missing {}-{seq}", lane.worker);
        }
    }
}

#[test]
fn instances_sharing_a_seed_get_distinct_ids() {
    let first = settings(5, 2, 10, chaos(0.0, 0.0, 0.0, 0.0));
    let second = netchaos::generator::GeneratorSettings { instance_id: 1, ..first.clone() };
    assert_ne!(first.run_id(), second.run_id());
}

#[test]
fn labels_point_at_episodes_in_the_ground_truth_with_matching_counts() {
    let (sink, report) = run(&settings(11, 3, 200_000, chaos(0.02, 0.02, 0.01, 0.02)));
    let mut per_episode: HashMap<String, u64> = HashMap::new();
    let spans: HashMap<String, (i64, i64)> = sink
        .episodes
        .iter()
        .map(|episode| (episode.episode_id.clone(), (episode.start.unix_millis(), episode.end.unix_millis())))
        .collect();
    for line in sink.lines() {
        let Ok(record) = records::validate(line) else { panic!("invalid record") };
        if let Some(label) = record.label() {
            *per_episode.entry(label.episode_id.to_string()).or_default() += 1;
            // Ground truth covers every record of the episode: flow windows and sessions alike.
            let (start, end) = spans[label.episode_id.as_ref()];
            let (record_start, record_end) = match &record {
                Record::VpcFlow(flow) => (flow.start * 1000, flow.end * 1000),
                Record::Firewall(session) => {
                    (session.timestamp.unix_millis() - session.duration_ms as i64, session.timestamp.unix_millis())
                }
            };
            assert!(
                start <= record_start && record_end <= end,
                "{}: record [{record_start}, {record_end}] outside [{start}, {end}]",
                label.episode_id
            );
        }
    }
    let truth: HashMap<String, u64> = sink.episodes.iter().map(|episode| (episode.episode_id.clone(), episode.records)).collect();
    assert_eq!(per_episode, truth, "labels and the episodes file disagree");
    let total_episodes: u64 = report.manifest.episodes.values().sum();
    assert_eq!(total_episodes as usize, sink.episodes.len());
    for episode in &sink.episodes {
        assert!(episode.start <= episode.end, "{}", episode.episode_id);
    }
}

#[test]
fn normal_traffic_looks_normal() {
    let (sink, _) = run(&settings(3, 2, 100_000, chaos(0.0, 0.0, 0.0, 0.0)));
    let (mut flows, mut rejects, mut dns_to_resolver, mut firewall) = (0u64, 0u64, 0u64, 0u64);
    for line in sink.lines() {
        match records::validate(line).expect("valid") {
            Record::VpcFlow(flow) => {
                flows += 1;
                assert!(flow.label.is_none());
                if let Some(latency) = flow.latency_ms {
                    assert!((10..=50).contains(&latency), "normal latency {latency}");
                }
                if flow.action == Some(records::FlowAction::Reject) {
                    rejects += 1;
                }
                if flow.dstport == Some(53) && flow.dstaddr.is_some_and(|address| address.to_string().ends_with(".2")) {
                    dns_to_resolver += 1;
                }
            }
            Record::Firewall(session) => {
                firewall += 1;
                assert!((10..=50).contains(&session.latency_ms));
            }
        }
    }
    // At `--eps 0` (100,000 records a logical second) the run is one logical second: its REJECTs
    // are the internal policy rejections (0.8% of conversations) and a handful of the internet's
    // probes (13 a minute per exposed interface, about 5 a second for the 21 of this estate).
    let reject_share = rejects as f64 / flows as f64;
    assert!((0.001..0.01).contains(&reject_share), "REJECT share {reject_share}");
    let firewall_share = firewall as f64 / (flows + firewall) as f64;
    assert!((0.05..0.15).contains(&firewall_share), "firewall share {firewall_share} with firewall_ratio 0.25");
    assert_eq!(dns_to_resolver, 0, "flow logs never show the VPC resolver");
}

#[test]
fn conversations_show_both_directions_at_every_interface_they_touch() {
    use std::net::IpAddr;
    let (sink, _) = run(&settings(8, 2, 60_000, chaos(0.0, 0.0, 0.0, 0.0)));
    type Key = (String, IpAddr, u16, IpAddr, u16);
    let mut accepted: HashSet<Key> = HashSet::new();
    let mut interfaces_per_tuple: HashMap<(IpAddr, u16, IpAddr, u16), HashSet<String>> = HashMap::new();
    for line in sink.lines() {
        if let Record::VpcFlow(flow) = records::validate(line).expect("valid")
            && flow.action == Some(records::FlowAction::Accept)
        {
            let (src, sport, dst, dport) = (flow.srcaddr.unwrap(), flow.srcport.unwrap(), flow.dstaddr.unwrap(), flow.dstport.unwrap());
            accepted.insert((flow.interface_id.to_string(), src, sport, dst, dport));
            interfaces_per_tuple.entry((src, sport, dst, dport)).or_default().insert(flow.interface_id.to_string());
        }
    }
    let with_reverse =
        accepted.iter().filter(|(eni, src, sport, dst, dport)| accepted.contains(&(eni.clone(), *dst, *dport, *src, *sport))).count();
    let share = with_reverse as f64 / accepted.len() as f64;
    assert!(share > 0.99, "only {share} of accepted flows have their reverse direction at the same ENI");
    let internal_tuples: Vec<_> =
        interfaces_per_tuple.iter().filter(|((src, _, dst, _), _)| is_private(*src) && is_private(*dst)).collect();
    assert!(!internal_tuples.is_empty());
    let at_both_ends = internal_tuples.iter().filter(|(_, enis)| enis.len() == 2).count();
    assert!(at_both_ends as f64 > 0.99 * internal_tuples.len() as f64, "east-west flows are logged at both ENIs");

    fn is_private(address: IpAddr) -> bool {
        matches!(address, IpAddr::V4(v4) if v4.is_private())
    }
}
