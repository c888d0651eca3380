//! The anomaly kinds have the shapes DESIGN §4 gives them, and each kind's realised fraction over
//! a million records matches its probability.
//!
//! Tolerance: the scheduler holds each kind's credit within about one episode per lane, so over
//! 1,000,000 records with 4 traffic lanes the realised fraction is within 10% (relative) of the
//! probability; the port-scan lane gets its share exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use netchaos::records::{self, AnomalyKind, FirewallAction, FlowAction, FlowDirection, Record};

use crate::common::{chaos, run, settings};

/// Records of each episode, owned, grouped by episode id.
fn episodes_of(kind: AnomalyKind, seed: u64) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mix = match kind {
        AnomalyKind::LatencySpike => chaos(0.1, 0.0, 0.0, 0.0),
        AnomalyKind::PortScan => chaos(0.0, 0.1, 0.0, 0.0),
        AnomalyKind::DataExfiltration => chaos(0.0, 0.0, 0.1, 0.0),
        AnomalyKind::ConnectionReset => chaos(0.0, 0.0, 0.0, 0.1),
        other => panic!("{other} has no probability: it runs on the hourly clock (it::chaos_kinds)"),
    };
    let (sink, _) = run(&settings(seed, 2, 200_000, mix));
    let mut grouped: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in sink.lines() {
        let record = records::validate(line).expect("valid record");
        if let Some(label) = record.label() {
            assert_eq!(label.kind, kind);
            grouped.entry(label.episode_id.to_string()).or_default().push(serde_json::from_slice(line).expect("json"));
        }
    }
    let complete: BTreeSet<String> =
        sink.episodes.iter().filter(|episode| episode.complete).map(|episode| episode.episode_id.clone()).collect();
    grouped.retain(|id, _| complete.contains(id));
    assert!(grouped.len() >= 3, "too few complete {kind} episodes: {}", grouped.len());
    grouped
}

fn typed(value: &serde_json::Value) -> Record<'static> {
    let text = value.to_string().into_bytes().leak();
    records::validate(text).expect("valid record")
}

#[test]
fn port_scans_sweep_sequential_ports_of_one_target_from_one_source_with_syn_probes() {
    for (episode_id, records) in episodes_of(AnomalyKind::PortScan, 21) {
        let mut sources = BTreeSet::new();
        let mut targets = BTreeSet::new();
        let mut ports = BTreeSet::new();
        let mut flow_ports = BTreeSet::new();
        let (mut rejected, mut flows) = (0, 0);
        let mut times = Vec::new();
        for value in &records {
            match typed(value) {
                Record::VpcFlow(flow) => {
                    flows += 1;
                    sources.insert(flow.srcaddr.expect("srcaddr"));
                    targets.insert(flow.dstaddr.expect("dstaddr"));
                    ports.insert(flow.dstport.expect("dstport"));
                    assert!(flow_ports.insert(flow.dstport.expect("dstport")), "{episode_id}: one flow per probed port");
                    assert_eq!(flow.protocol, Some(6));
                    assert!(matches!(flow.tcp_flags, Some(2 | 6)), "flags {:?}", flow.tcp_flags);
                    assert!(flow.packets.expect("packets") <= 2 && flow.bytes.expect("bytes") <= 120);
                    rejected += usize::from(flow.action == Some(FlowAction::Reject));
                    times.push(flow.end * 1000);
                }
                Record::Firewall(session) => {
                    sources.insert(session.src_ip);
                    targets.insert(session.dest_ip);
                    ports.insert(session.dest_port);
                    assert!(matches!(session.tcp_flags, Some(2 | 6)));
                    assert!(session.packets_sent <= 2);
                    times.push(session.timestamp.unix_millis());
                }
            }
        }
        assert_eq!(sources.len(), 1, "{episode_id}: one source");
        assert_eq!(targets.len(), 1, "{episode_id}: one target");
        assert!(ports.len() >= 100, "{episode_id}: {} distinct ports", ports.len());
        assert_eq!(flow_ports, ports, "{episode_id}: the flow-log view of the sweep has no holes");
        let (first, last) = (*ports.first().expect("ports"), *ports.last().expect("ports"));
        assert_eq!(usize::from(last - first) + 1, ports.len(), "{episode_id}: ports are not sequential");
        assert!(rejected * 10 >= flows * 7, "{episode_id}: mostly REJECT ({rejected} of {flows})");
        let span_ms = times.iter().max().expect("times") - times.iter().min().expect("times");
        assert!(span_ms <= 30_000, "{episode_id}: sweep took {span_ms} ms");
    }
}

#[test]
fn port_scan_records_come_from_the_dedicated_worker() {
    let (sink, report) = run(&settings(4, 3, 50_000, chaos(0.0, 0.05, 0.0, 0.0)));
    let scan_lane = report.manifest.lanes.iter().find(|lane| lane.role == "port_scan").expect("a scan lane");
    for line in sink.lines() {
        let record = records::validate(line).expect("valid");
        let from_scanner = record.event_id().worker == scan_lane.worker;
        assert_eq!(from_scanner, record.label().is_some(), "scan labels come from the scan lane only");
    }
}

#[test]
fn latency_spikes_hit_one_service_with_two_seconds_and_more() {
    for (episode_id, records) in episodes_of(AnomalyKind::LatencySpike, 22) {
        let mut service_ports = BTreeSet::new();
        let (mut requests, mut responses) = (0, 0);
        for value in &records {
            match typed(value) {
                Record::VpcFlow(flow) => {
                    assert!(flow.latency_ms.expect("latency") >= 2_000, "{episode_id}");
                    if flow.dstport < flow.srcport {
                        requests += 1;
                    } else {
                        responses += 1;
                    }
                    // The service port is the destination of requests and the source of responses.
                    service_ports.insert(flow.dstport.expect("port").min(flow.srcport.expect("port")));
                }
                Record::Firewall(session) => {
                    assert!(session.latency_ms >= 2_000, "{episode_id}");
                    service_ports.insert(session.dest_port);
                }
            }
        }
        assert_eq!(service_ports.len(), 1, "{episode_id}: one affected service, saw ports {service_ports:?}");
        // Slow conversations are written whole: both directions appear, in equal numbers.
        assert!(requests > 0 && requests == responses, "{episode_id}: {requests} request and {responses} response flows");
    }
}

#[test]
fn exfiltration_sends_ten_megabytes_out_over_dns_with_tiny_replies() {
    for (episode_id, records) in episodes_of(AnomalyKind::DataExfiltration, 23) {
        let (mut out_bytes, mut in_bytes) = (0u64, 0u64);
        let mut internal_hosts = BTreeSet::new();
        for value in &records {
            match typed(value) {
                Record::VpcFlow(flow) => {
                    assert_eq!(flow.protocol, Some(17), "{episode_id}: UDP");
                    assert_eq!(flow.tcp_flags, None);
                    let (source, destination) = (flow.srcaddr.expect("src"), flow.dstaddr.expect("dst"));
                    let outbound = is_private(source);
                    if outbound {
                        assert_eq!(flow.dstport, Some(53));
                        assert!(!is_private(destination), "{episode_id}: to an external resolver");
                        assert_eq!(flow.flow_direction, Some(FlowDirection::Egress));
                        out_bytes += flow.bytes.expect("bytes");
                        internal_hosts.insert(source);
                    } else {
                        assert_eq!(flow.srcport, Some(53));
                        in_bytes += flow.bytes.expect("bytes");
                    }
                }
                Record::Firewall(session) => {
                    assert_eq!(session.dest_port, 53);
                    assert!(session.bytes_sent > 20 * session.bytes_received, "{episode_id}: replies are tiny");
                }
            }
        }
        assert_eq!(internal_hosts.len(), 1, "{episode_id}: one internal host");
        assert!(out_bytes >= 10_000_000, "{episode_id}: only {out_bytes} bytes out");
        assert!(in_bytes * 20 < out_bytes, "{episode_id}: replies {in_bytes} vs {out_bytes}");
    }
}

#[test]
fn connection_resets_are_rst_flows_reset_actions_and_5xx_on_one_service() {
    for (episode_id, records) in episodes_of(AnomalyKind::ConnectionReset, 24) {
        let mut service_ports = BTreeSet::new();
        let (mut rst_flows, mut resets, mut http) = (0, 0, 0);
        for value in &records {
            match typed(value) {
                Record::VpcFlow(flow) => {
                    assert_eq!(flow.protocol, Some(6));
                    let flags = flow.tcp_flags.expect("flags");
                    rst_flows += usize::from(flags & 4 != 0);
                    service_ports.insert(flow.dstport.expect("port").min(flow.srcport.expect("port")));
                }
                Record::Firewall(session) => {
                    assert_eq!(session.action, FirewallAction::Reset, "{episode_id}");
                    resets += 1;
                    if let Some(status) = session.http_status {
                        assert!((500..600).contains(&status), "{episode_id}: status {status}");
                        http += 1;
                    }
                    service_ports.insert(session.dest_port);
                }
            }
        }
        assert_eq!(service_ports.len(), 1, "{episode_id}: ports {service_ports:?}");
        assert!(rst_flows + resets == records.len(), "{episode_id}: every record shows the reset");
        assert!(http == 0 || http == resets, "{episode_id}: an HTTP service answers 5xx on every reset ({http} of {resets})");
    }
}

fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(_) => false,
    }
}

#[test]
fn realised_fractions_over_a_million_records_match_the_probabilities() {
    let mixes = [(0.01, 0.01, 0.005, 0.01), (0.05, 0.02, 0.03, 0.1)];
    for (seed, (latency, scan, exfil, reset)) in mixes.into_iter().enumerate() {
        let (_, report) = run(&settings(100 + seed as u64, 4, 1_000_000, chaos(latency, scan, exfil, reset)));
        let manifest = &report.manifest;
        assert_eq!(manifest.records, 1_000_000);
        for (kind, probability) in
            [("latency_spike", latency), ("port_scan", scan), ("data_exfiltration", exfil), ("connection_reset", reset)]
        {
            let realised = manifest.by_label[kind] as f64 / 1e6;
            let tolerance = 0.10 * probability;
            assert!((realised - probability).abs() <= tolerance, "{kind}: realised {realised} for probability {probability}");
        }
    }
}
