//! `port_scan` (ATT&CK [T1046](https://attack.mitre.org/techniques/T1046/), Network Service
//! Discovery): one source probes many destination ports of one target host.
//!
//! # Overt: a sweep within seconds, from the dedicated lane
//!
//! One source sweeps 100–1,024 sequential ports at 50–1,000 probes a second. Records: TCP SYN probes of 1–2 packets and 40–60 bytes each, one port after the next; mostly
//! REJECT with `tcp_flags` 2, the rest ACCEPT with 6 (the closed port answered RST). Every probed
//! port has its flow record, so the flow-log view of the sweep has no holes; a quarter of the
//! probes are also logged by the firewall (deny / drop; `allow` with flags 6 for the ones that got
//! an RST), as the record right after the flow. The scanner is an internet address or, one time in three, a compromised
//! internal host (lateral movement).
//!
//! # Subtle: low and slow, in a traffic lane
//!
//! The same probes, one every 25 s to 5 min for hours, the ports in random order: see
//! [`subtle`] for the shape and for the calibration (which public rules the overt sweep trips and
//! the slow one stays under: Zeek's `scan.zeek`, Elastic's "Potential Network Scan Detected").

use std::collections::VecDeque;
use std::net::IpAddr;

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency};
use crate::network::random::{LaneRng, between, chance, pick, unit};
use crate::network::session::{Endpoint, Outcome, Session, Side};
use crate::network::target::Target;
use crate::network::topology::{Host, Service};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, ProbabilityFlag, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::PortScan,
    short_name: "scan",
    probability: Some(ProbabilityFlag {
        name: "port_scan_prob",
        flag: "port-scan-prob",
        env: "PORT_SCAN_PROB",
        default: "0.01",
        help: "Expected fraction of records in port-scan episodes",
    }),
    per_hour: PerHourFlag {
        name: "port_scan_per_hour",
        flag: "port-scan-per-hour",
        env: "PORT_SCAN_PER_HOUR",
        default: "0.5",
        help: "Subtle port-scan episodes (low and slow) per logical hour, with --difficulty port_scan=subtle or mixed",
    },
    technique: Some("T1046"),
    parameters: &[],
    mean_records: 700.0,
    target_span_seconds: 10.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::DedicatedLane,
    start,
};

pub mod subtle;

/// The overt sweep, or (in a traffic lane, by the hour) the subtle low-and-slow scan.
fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    if start.is_subtle() {
        return Box::new(subtle::LowAndSlowScan::start(rng, baseline, start));
    }
    Box::new(PortScan::start(rng, baseline, start))
}

#[derive(Debug)]
pub struct PortScan<'t> {
    scanner: Endpoint<'t>,
    target: &'t Host,
    /// The service a service target named (its port is swept).
    service: Option<&'static str>,
    source_port: u16,
    first_port: u16,
    port_count: u64,
    /// Probe rate of the scanning tool, ports per second.
    ports_per_second: f64,
    next_index: u64,
    /// The firewall's view of the last probe, written as the next record.
    pending_firewall: Option<Session<'t>>,
}

impl<'t> PortScan<'t> {
    /// A scan of the start's target host (else a host drawn from `rng`), of about `intensity`
    /// times the kind's own number of ports; a service target's port is among those swept.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let (scanner, target) = scanner_and_target(rng, baseline, start.target);
        // At most every port but one, so that a sweep not from port 1 has somewhere to start.
        let port_count = start.scaled(between(rng, 100, 1_024)).min(65_534);
        let mut first_port = if chance(rng, 0.5) { 1 } else { between(rng, 1, 65_535 - port_count) as u16 };
        let service = targeted_service(baseline, start.target);
        if let Some(service) = service {
            first_port = sweep_start_covering(first_port, port_count, service.port);
        }
        PortScan {
            scanner,
            target,
            service: service.map(|service| service.name),
            source_port: ephemeral_port(rng),
            first_port,
            port_count,
            ports_per_second: between(rng, 50, 1_000) as f64,
            next_index: 0,
            pending_firewall: None,
        }
    }
}

impl<'t> Episode<'t> for PortScan<'t> {
    /// One flow per port, plus the firewall records (about a quarter more).
    fn planned_records(&self) -> u64 {
        self.port_count + self.port_count / 4
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        out.push_back(self.next_record(rng));
    }

    /// Every port probed and its firewall record, if any, written (however many records that took).
    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.next_index >= self.port_count && self.pending_firewall.is_none()
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let last_port = u64::from(self.first_port) + self.next_index.max(1) - 1;
        let parameters = json!({
            "first_port": self.first_port,
            "last_port": last_port,
            "planned_ports": self.port_count,
            "ports_per_second": self.ports_per_second,
        });
        let actors = Actors {
            sources: vec![IpAddr::V4(self.scanner.address())],
            targets: vec![IpAddr::V4(self.target.address)],
            ports: vec![self.first_port, last_port as u16],
            service: self.service,
        };
        (parameters, actors)
    }

    fn records_per_second(&self) -> Option<f64> {
        Some(self.ports_per_second)
    }
}

/// The scan's target (the start's target host, else a host drawn from `rng`) and its scanner: an
/// internet address or, one time in three, another host of the target's VPC.
fn scanner_and_target<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, target: &Target) -> (Endpoint<'t>, &'t Host) {
    let (vpc, target) = match baseline.target_host(rng, target) {
        Some(host) => (host.vpc, host),
        None => {
            let vpc = (unit(rng) * baseline.topology.vpcs.len() as f64) as usize % baseline.topology.vpcs.len();
            (vpc, baseline.random_host(rng, vpc))
        }
    };
    let scanner = if chance(rng, 1.0 / 3.0) {
        let mut insider = baseline.random_host(rng, vpc);
        while std::ptr::eq(insider, target) {
            insider = baseline.random_host(rng, vpc);
        }
        Endpoint::Host(insider)
    } else {
        Endpoint::External(*pick(rng, &baseline.topology.internet_noise_sources))
    };
    (scanner, target)
}

/// The service a [`Target::Service`] names (any VPC's: they share the port).
fn targeted_service<'t>(baseline: &Baseline<'t>, target: &Target) -> Option<&'t Service> {
    match target {
        Target::Service(name) => baseline.topology.services.iter().find(|service| service.name == name),
        _ => None,
    }
}

/// `first_port` if the sweep of `port_count` ports from it reaches `port`, else the start that
/// puts `port` near the middle of the sweep (staying inside 1–65,535).
fn sweep_start_covering(first_port: u16, port_count: u64, port: u16) -> u16 {
    let covers = |first: u64| (first..first + port_count).contains(&u64::from(port));
    if covers(u64::from(first_port)) {
        return first_port;
    }
    let first = u64::from(port).saturating_sub(port_count / 2).clamp(1, 65_536 - port_count);
    debug_assert!(covers(first));
    first as u16
}

impl<'t> PortScan<'t> {
    /// The firewall's record of the last probe if it logged one, else the next port's probe.
    fn next_record(&mut self, rng: &mut LaneRng) -> Emission<'t> {
        if let Some(session) = self.pending_firewall.take() {
            return Emission::Firewall(session);
        }
        let port = self.first_port + self.next_index as u16;
        self.next_index += 1;
        let session = probe(rng, self.scanner, self.source_port, self.target, port);
        if chance(rng, 0.25) {
            self.pending_firewall = Some(session.clone());
        }
        Emission::Flow { session, side: Side::Request, prefer_destination: true }
    }
}

/// One SYN probe of `port`: mostly refused (denied or dropped, no answer), else allowed through
/// to a closed port that answers RST.
fn probe<'t>(rng: &mut LaneRng, scanner: Endpoint<'t>, source_port: u16, target: &'t Host, port: u16) -> Session<'t> {
    let answered_rst = chance(rng, 0.15);
    let packets = between(rng, 1, 2);
    let rule = if answered_rst { "allow-internal-app" } else { "default-deny-inbound" };
    let outcome = if answered_rst {
        Outcome::Allowed
    } else if chance(rng, 0.7) {
        Outcome::Denied
    } else {
        Outcome::Dropped
    };
    // A closed port that answers sends RST; the scanner's SYN then shows with it.
    let (flags_up, flags_down) =
        if answered_rst { (TcpFlags::SYN | TcpFlags::RST, TcpFlags::RST) } else { (TcpFlags::SYN, TcpFlags::NONE) };
    // In this order: the request's size, the duration, the latency (one RNG).
    Session::new((scanner, source_port), (Endpoint::Host(target), port), protocol::TCP, AppProto::Unknown, rule)
        .with_outcome(outcome)
        .with_request(packets, packets * between(rng, 40, 60))
        .with_response(u64::from(answered_rst), if answered_rst { 40 } else { 0 })
        .with_flags(flags_up, flags_down)
        .with_timing(between(rng, 0, 20), normal_latency(rng))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_draws_as_before, involves, run, session_of};
    use super::*;
    use crate::network::topology::Topology;

    #[test]
    fn any_target_at_intensity_one_draws_as_before() {
        assert_draws_as_before(
            AnomalyKind::PortScan,
            1,
            836,
            11_726_815_860_973_996_490,
            r#"{"first_port":1,"last_port":676,"planned_ports":676,"ports_per_second":566.0}"#,
        );
        assert_draws_as_before(
            AnomalyKind::PortScan,
            2,
            1115,
            17_294_590_374_332_491_575,
            r#"{"first_port":48659,"last_port":49557,"planned_ports":899,"ports_per_second":142.0}"#,
        );
    }

    #[test]
    fn a_host_target_is_the_host_scanned() {
        let topology = Topology::new(7);
        let host = &topology.hosts[100];
        for seed in 0..6 {
            let scan = run(AnomalyKind::PortScan, &topology, &Target::Host(host.address), 1.0, seed);
            assert!(scan.emissions.iter().all(|emission| session_of(emission).unwrap().server.address() == host.address));
            assert_eq!(scan.actors.targets, [IpAddr::V4(host.address)]);
        }
    }

    #[test]
    fn a_service_target_has_its_port_swept() {
        let topology = Topology::new(7);
        for seed in 0..10 {
            let scan = run(AnomalyKind::PortScan, &topology, &Target::Service("postgres".into()), 1.0, seed);
            let IpAddr::V4(target) = scan.actors.targets[0] else { panic!("an IPv6 target") };
            let postgres = |service: &Service| {
                service.name == "postgres" && service.members.iter().any(|member| topology.hosts[*member].address == target)
            };
            assert!(topology.services.iter().any(postgres), "{target} serves no postgres");
            assert!(scan.emissions.iter().any(|emission| session_of(emission).unwrap().server_port == 5432), "seed {seed}");
            assert_eq!(scan.actors.service, Some("postgres"));
            assert!(scan.emissions.iter().all(|emission| involves(emission, target)));
        }
    }

    #[test]
    fn intensity_scales_the_ports() {
        let topology = Topology::new(7);
        let ports = |intensity: f64, seed: u64| {
            run(AnomalyKind::PortScan, &topology, &Target::Any, intensity, seed).parameters["planned_ports"].as_u64().unwrap()
        };
        for seed in 0..6 {
            assert_eq!(ports(2.0, seed), 2 * ports(1.0, seed));
            assert_eq!(ports(0.5, seed), (ports(1.0, seed) as f64 * 0.5).round() as u64);
        }
        assert_eq!(ports(1_000.0, 1), 65_534, "at most every port but one");
    }

    #[test]
    fn the_sweep_is_moved_only_to_cover_the_port() {
        assert_eq!(sweep_start_covering(1, 676, 443), 1);
        assert_eq!(sweep_start_covering(48_659, 899, 22), 1);
        assert_eq!(sweep_start_covering(100, 200, 5432), 5332);
        assert_eq!(sweep_start_covering(1, 1_000, 65_535), 64_536);
        assert_eq!(sweep_start_covering(1, 65_534, 65_535), 2);
    }
}
