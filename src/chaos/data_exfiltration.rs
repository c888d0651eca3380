//! `data_exfiltration` (ATT&CK [T1048.003](https://attack.mitre.org/techniques/T1048/003/),
//! Exfiltration Over Unencrypted Non-C2 Protocol): an internal host sends data out.
//!
//! # Overt: a DNS tunnel, 10 MB in minutes
//!
//! The host tunnels data out over DNS (UDP port 53) to an external resolver: 10 MB or more
//! (configurable) in total over about four minutes, with tiny replies. Records cycle through four roles: two outbound flows (egress at the host's ENI, large bytes in
//! ~200-byte query packets), one inbound reply flow (few small packets) and one firewall session
//! (`app_proto` dns, allowed, bytes sent ≫ bytes received). The outbound flows of a complete
//! episode carry at least the configured byte count between them.
//!
//! # Subtle: a trickle for hours, in a traffic lane
//!
//! Either ~200-byte DNS queries every 30–300 s (1–100 KB an hour), or HTTPS chunks to a rare
//! destination that stay far under per-flow byte thresholds; see [`subtle`] for the shapes and for
//! the calibration (Sigma's "High DNS Bytes Out", 300 KB a minute, which the overt tunnel trips
//! many times over; Splunk's per-connection 100 MB).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency};
use crate::network::random::{LaneRng, between, pick, unit};
use crate::network::session::{Endpoint, Session, Side};
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, protocol};

use super::{Actors, Emission, Episode, KindSpec, Parameter, ParameterUnit, PerHourFlag, Placement, ProbabilityFlag, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::DataExfiltration,
    short_name: "exfil",
    probability: Some(ProbabilityFlag {
        name: "data_exfil_prob",
        flag: "data-exfil-prob",
        env: "DATA_EXFIL_PROB",
        default: "0.005",
        help: "Expected fraction of records in DNS-exfiltration episodes",
    }),
    per_hour: PerHourFlag {
        name: "data_exfil_per_hour",
        flag: "data-exfil-per-hour",
        env: "DATA_EXFIL_PER_HOUR",
        default: "0.5",
        help: "Subtle exfiltration episodes (a trickle under per-flow thresholds) per logical hour, with --difficulty data_exfiltration=subtle or mixed",
    },
    technique: Some("T1048.003"),
    parameters: &[EXFIL_BYTES],
    mean_records: 200.0,
    target_span_seconds: 240.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

/// Bytes one episode sends out, at least (up to 1.5×).
pub const EXFIL_BYTES: Parameter = Parameter {
    name: "exfil_bytes",
    flag: "exfil-bytes",
    env: "EXFIL_BYTES",
    default: 10_000_000,
    default_text: "10MB",
    unit: ParameterUnit::Bytes,
    help: "Bytes one exfiltration episode sends out (`10MB`, `500MiB`, or a plain number)",
};

pub mod subtle;

/// The overt tunnel, or (by the hour) the subtle trickle.
fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    if start.is_subtle() {
        return Box::new(subtle::Trickle::start(rng, baseline, start));
    }
    Box::new(DataExfiltration::start(rng, baseline, start))
}

/// The host that exfiltrates: the start's target host, else a worker, API, database or bastion
/// host drawn from `rng`.
fn exfiltrating_host<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> &'t Host {
    match baseline.target_host(rng, start.target) {
        Some(host) => host,
        None => {
            let vpc = (unit(rng) * baseline.topology.vpcs.len() as f64) as usize % baseline.topology.vpcs.len();
            baseline.caller_host(rng, vpc, &[Role::Worker, Role::Api, Role::Database, Role::Bastion])
        }
    }
}

#[derive(Debug)]
pub struct DataExfiltration<'t> {
    host: &'t Host,
    resolver: Ipv4Addr,
    source_port: u16,
    planned_bytes: u64,
    outbound_flows: u64,
    bytes_per_flow: u64,
    emitted: u64,
    bytes_sent: u64,
}

impl<'t> DataExfiltration<'t> {
    /// Exfiltration from the start's target host (else a worker, API, database or bastion host
    /// drawn from `rng`) of about `intensity` times the configured bytes.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let host = exfiltrating_host(rng, baseline, start);
        let exfil_bytes = start.settings.parameter(&EXFIL_BYTES);
        // `* intensity` last: at intensity 1 the product is the kind's own plan, bit for bit.
        let planned_bytes = (exfil_bytes as f64 * (1.0 + 0.5 * unit(rng)) * start.intensity).max(1.0) as u64;
        let outbound_flows = between(rng, 50, 150);
        DataExfiltration {
            host,
            resolver: *pick(rng, &baseline.topology.dns_resolvers),
            source_port: ephemeral_port(rng),
            planned_bytes,
            outbound_flows,
            bytes_per_flow: planned_bytes.div_ceil(outbound_flows).max(200),
            emitted: 0,
            bytes_sent: 0,
        }
    }
}

impl<'t> Episode<'t> for DataExfiltration<'t> {
    /// Two outbound flows, one reply flow and one firewall record per cycle of four.
    fn planned_records(&self) -> u64 {
        self.outbound_flows * 2
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        out.push_back(self.next_record(rng));
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "protocol": "udp",
            "port": 53,
            "planned_bytes": self.planned_bytes,
            "bytes_sent": self.bytes_sent,
            "bytes_per_flow": self.bytes_per_flow,
            "outbound_flows": self.outbound_flows,
        });
        let actors = Actors {
            sources: vec![IpAddr::V4(self.host.address)],
            targets: vec![IpAddr::V4(self.resolver)],
            ports: vec![53],
            service: None,
        };
        (parameters, actors)
    }
}

impl<'t> DataExfiltration<'t> {
    /// The next record of the cycle of four.
    fn next_record(&mut self, rng: &mut LaneRng) -> Emission<'t> {
        let role = self.emitted % 4;
        if role < 2 {
            // Tunnelling tools spread their queries over source ports: a new 5-tuple per flow.
            self.source_port = ephemeral_port(rng);
        }
        self.emitted += 1;
        // Queries of ~150–250 bytes (DNS over UDP stays under 512).
        let packets_up = (self.bytes_per_flow / between(rng, 150, 250)).max(1);
        let packets_down = (packets_up / 16).max(1);
        // In this order: the reply's size, the duration, the latency (one RNG).
        let session = Session::new(
            (Endpoint::Host(self.host), self.source_port),
            (Endpoint::External(self.resolver), 53),
            protocol::UDP,
            AppProto::Dns,
            "allow-egress-dns",
        )
        .with_request(packets_up, self.bytes_per_flow)
        .with_response(packets_down, packets_down * between(rng, 60, 90))
        .with_timing(between(rng, 30_000, 59_000), normal_latency(rng));
        match role {
            0 | 1 => {
                self.bytes_sent += self.bytes_per_flow;
                Emission::Flow { session, side: Side::Request, prefer_destination: false }
            }
            2 => Emission::Flow { session, side: Side::Response, prefer_destination: false },
            _ => Emission::Firewall(session),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_draws_as_before, involves, run, session_of};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::Topology;

    #[test]
    fn any_target_at_intensity_one_draws_as_before() {
        assert_draws_as_before(
            AnomalyKind::DataExfiltration,
            1,
            292,
            932_356_335_793_568_297,
            r#"{"bytes_per_flow":95342,"bytes_sent":13919932,"outbound_flows":146,"planned_bytes":13919853,"port":53,"protocol":"udp"}"#,
        );
        assert_draws_as_before(
            AnomalyKind::DataExfiltration,
            2,
            272,
            13_351_503_035_760_949_954,
            r#"{"bytes_per_flow":81497,"bytes_sent":11083592,"outbound_flows":136,"planned_bytes":11083589,"port":53,"protocol":"udp"}"#,
        );
    }

    #[test]
    fn a_host_target_is_the_host_that_exfiltrates() {
        let topology = Topology::new(7);
        let host = &topology.hosts[5];
        let exfiltration = run(AnomalyKind::DataExfiltration, &topology, &Target::Host(host.address), 1.0, 3);
        assert!(exfiltration.emissions.iter().all(|emission| session_of(emission).unwrap().client.address() == host.address));
        assert_eq!(exfiltration.actors.sources, [IpAddr::V4(host.address)]);
        let in_subnet = Target::Subnet { network: Ipv4Addr::new(10, 32, 48, 0), prefix: 20 };
        let exfiltration = run(AnomalyKind::DataExfiltration, &topology, &in_subnet, 1.0, 3);
        let IpAddr::V4(source) = exfiltration.actors.sources[0] else { panic!("an IPv6 source") };
        assert_eq!(u32::from(source) >> 12, u32::from(Ipv4Addr::new(10, 32, 48, 0)) >> 12);
        assert!(exfiltration.emissions.iter().all(|emission| involves(emission, source)));
    }

    #[test]
    fn a_service_target_is_one_of_its_members_exfiltrating() {
        let topology = Topology::new(7);
        let redis: Vec<Ipv4Addr> = topology
            .services
            .iter()
            .filter(|service| service.name == "redis")
            .flat_map(|service| service.members.iter().map(|member| topology.hosts[*member].address))
            .collect();
        for seed in 0..5 {
            let exfiltration = run(AnomalyKind::DataExfiltration, &topology, &Target::Service("redis".into()), 1.0, seed);
            let IpAddr::V4(source) = exfiltration.actors.sources[0] else { panic!("an IPv6 source") };
            assert!(redis.contains(&source), "{source} serves no redis");
            assert!(exfiltration.emissions.iter().all(|emission| involves(emission, source)));
        }
    }

    #[test]
    fn intensity_scales_the_bytes() {
        let topology = Topology::new(7);
        for seed in 0..5 {
            let once = run(AnomalyKind::DataExfiltration, &topology, &Target::Any, 1.0, seed);
            let twice = run(AnomalyKind::DataExfiltration, &topology, &Target::Any, 2.0, seed);
            let sent = |run: &super::super::testing::Run<'_>| run.parameters["bytes_sent"].as_u64().unwrap() as f64;
            let ratio = sent(&twice) / sent(&once);
            assert!((1.99..2.01).contains(&ratio), "seed {seed}: {ratio}");
            assert_eq!(twice.emissions.len(), once.emissions.len(), "the same flows, each carrying twice the bytes");
        }
    }
}
