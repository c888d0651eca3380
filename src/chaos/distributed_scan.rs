//! `distributed_scan`: many sources share out a horizontal scan of a few ports across a set of our
//! public hosts, ZMap / Masscan style, ATT&CK T1046 (Network Service Discovery,
//! <https://attack.mitre.org/techniques/T1046/>).
//!
//! Every probe is a TCP SYN from one of the campaign's sources to one port of one host of the
//! shared target set. A closed or filtered port: one packet of 40–60 bytes, `tcp_flags` 2,
//! REJECT at the target's ENI. An open one (443 / 80 on a web server, 22 on a bastion, a service
//! target's port): the server's SYN-ACK (18) comes back and the scanner's kernel, which never
//! opened the connection, answers RST, so the scanner's side shows 6 over two packets; both
//! directions at the target's ENI, ACCEPT. The firewall logs a quarter of the probes.
//!
//! - **overt**: 10–500 sources (log-uniform: most campaigns are tens of bots, a few hundreds), each
//!   probing every host of the set (12–24 hosts) on the campaign's 1–5 ports, at its own pace
//!   (0.2–2 s a probe), all within 2–10 minutes.
//! - **subtle**: 10–30 sources over 2–6 hours, each probing only 2–8 hosts of the set on 1–2 of
//!   the ports, at random times: the set is covered only by the campaign as a whole.
//!
//! The target set: by default, the estate's public hosts (web servers and bastions: the ones the
//! internet reaches); for a service target, its members on its port; for a host target, the host
//! and its VPC's public hosts; for a subnet, its hosts. Intensity multiplies the sources; a fixed
//! span (a scenario's duration) replaces the drawn one. The sources are fresh internet addresses
//! (a botnet's, not the estate's usual background scanners).
//!
//! Shape: ZMap's and Masscan's documentation (one port across many addresses in a random order,
//! stateless SYNs, the kernel's RST to a SYN-ACK; `--shards` splitting a scan between machines);
//! Durumeric et al., "An Internet-Wide View of Internet-Wide Scanning" (USENIX Security 2014), on
//! scans spread over many sources.
//!
//! # Calibration
//!
//! - Sigma `net_susp_network_scan_by_ip` ("Network Scans Count By Destination IP"): denied
//!   connections from one source to more than 10 destination addresses within 24 h. Every overt
//!   source reaches 12–24 (as long as the estate has 12 public hosts); a subtle one at most 8.
//! - Sigma `net_susp_network_scan_by_port`: more than 10 destination ports from one source in
//!   24 h. Neither form comes near it (5 and 2 ports).
//! - Elastic's "Potential Network Sweep Detected": one source to 100 or more destination addresses
//!   within 9 minutes; "Potential SYN-Based Port Scan Detected": 250 ports of one destination
//!   with at most 2 packets each. Both forms stay under both, per source: that is what spreading
//!   a scan buys; only a count of distinct sources per destination sees the overt campaign (tens
//!   to hundreds of sources on one host within minutes), and the subtle one stays a handful of
//!   probes an hour.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, normal_latency, service_rule};
use crate::network::random::{LaneRng, between, unit};
use crate::network::session::{Endpoint, Session};
use crate::network::target::Target;
use crate::network::topology::{Host, Role, Service};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::syn_flood::internet_address;
use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::DistributedScan,
    short_name: "dscan",
    probability: None,
    // Internet-wide scanning campaigns sweep every public address several times a day; one that
    // lingers on this estate's hosts with many sources, about one every two hours.
    per_hour: PerHourFlag {
        name: "distributed_scan_per_hour",
        flag: "distributed-scan-per-hour",
        env: "DISTRIBUTED_SCAN_PER_HOUR",
        default: "0.5",
        help: "Distributed horizontal-scan campaigns per logical hour (--difficulty distributed_scan=overt|subtle|mixed)",
    },
    technique: Some("T1046"),
    parameters: &[],
    mean_records: 7_000.0,
    target_span_seconds: 360.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

/// The ports horizontal scans of the internet look for most (Censys / GreyNoise top ports).
const SCANNED_PORTS: [u16; 12] = [22, 23, 80, 443, 445, 3389, 8080, 5900, 6379, 9200, 2375, 5432];

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(DistributedScan::start(rng, baseline, start))
}

/// One probe of the plan: when it is due (ms after the start), from which source, to which host
/// and port (indexes into the episode's lists).
#[derive(Debug, Clone, Copy)]
struct Probe {
    due_ms: u64,
    source: u32,
    target: u32,
    port: u32,
}

#[derive(Debug)]
pub struct DistributedScan<'t> {
    subtle: bool,
    sources: Vec<Ipv4Addr>,
    targets: Vec<&'t Host>,
    ports: Vec<u16>,
    /// A service target's name: its members answer on its port.
    service: Option<&'t Service>,
    /// The whole plan, in time order.
    probes: Vec<Probe>,
    next: usize,
    span_ms: u64,
}

impl<'t> DistributedScan<'t> {
    /// A campaign in the start's form against its target set (else the estate's public hosts).
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let (targets, service) = target_set(rng, baseline, start.target);
        let ports = match service {
            Some(service) => vec![service.port],
            None => {
                let mut ports = SCANNED_PORTS.to_vec();
                shuffle(rng, &mut ports);
                ports.truncate(between(rng, 1, 5) as usize);
                ports
            }
        };
        let subtle = start.is_subtle();
        let sources = if subtle {
            start.scaled(between(rng, 10, 30))
        } else {
            // Log-uniform over 10–500.
            start.scaled((10.0 * 50f64.powf(unit(rng))).round() as u64)
        };
        let span_ms = start.span_ms.unwrap_or(if subtle { between(rng, 120, 360) * 60_000 } else { between(rng, 2, 10) * 60_000 }).max(1);
        let sources: Vec<Ipv4Addr> = (0..sources).map(|_| internet_address(rng)).collect();
        let mut probes = Vec::new();
        for source in 0..sources.len() as u32 {
            if subtle {
                plan_subtle_source(rng, source, targets.len(), ports.len(), span_ms, &mut probes);
            } else {
                plan_overt_source(rng, source, targets.len(), ports.len(), span_ms, &mut probes);
            }
        }
        probes.sort_by_key(|probe| (probe.due_ms, probe.source));
        DistributedScan { subtle, sources, targets, ports, service, probes, next: 0, span_ms }
    }

    /// Whether the probed port answers: a service target's port on its members, the web ports on
    /// a web server, SSH on a bastion.
    fn is_open(&self, host: &Host, port: u16) -> bool {
        match self.service {
            Some(service) => service.port == port,
            None => matches!((host.role, port), (Role::Web, 80 | 443) | (Role::Bastion, 22)),
        }
    }
}

/// An overt source: every host of the set on every port, one probe every 0.2–2 s from a start in
/// the first half of the span, squeezed to end inside it.
fn plan_overt_source(rng: &mut LaneRng, source: u32, targets: usize, ports: usize, span_ms: u64, out: &mut Vec<Probe>) {
    let mut order: Vec<(u32, u32)> = (0..targets as u32).flat_map(|target| (0..ports as u32).map(move |port| (target, port))).collect();
    shuffle(rng, &mut order);
    let begin = between(rng, 0, span_ms / 2);
    let gap = between(rng, 200, 2_000).min((span_ms - begin) / order.len().max(1) as u64).max(1);
    for (index, (target, port)) in order.into_iter().enumerate() {
        out.push(Probe { due_ms: begin + index as u64 * gap, source, target, port });
    }
}

/// A subtle source: 2–8 hosts of the set on 1–2 of the ports, each probe at a random time of the
/// span.
fn plan_subtle_source(rng: &mut LaneRng, source: u32, targets: usize, ports: usize, span_ms: u64, out: &mut Vec<Probe>) {
    let mut hosts: Vec<u32> = (0..targets as u32).collect();
    shuffle(rng, &mut hosts);
    hosts.truncate(between(rng, 2, 8) as usize);
    let mut own_ports: Vec<u32> = (0..ports as u32).collect();
    shuffle(rng, &mut own_ports);
    own_ports.truncate(between(rng, 1, 2) as usize);
    for target in hosts {
        for port in &own_ports {
            out.push(Probe { due_ms: between(rng, 0, span_ms - 1), source, target, port: *port });
        }
    }
}

/// Fisher–Yates, from the lane's RNG.
fn shuffle<T>(rng: &mut LaneRng, items: &mut [T]) {
    for index in (1..items.len()).rev() {
        items.swap(index, between(rng, 0, index as u64) as usize);
    }
}

/// The hosts the campaign probes and the service a service target named.
fn target_set<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, target: &Target) -> (Vec<&'t Host>, Option<&'t Service>) {
    let topology = baseline.topology;
    let public = |host: &&Host| matches!(host.role, Role::Web | Role::Bastion);
    let (mut hosts, keep_first, service): (Vec<&'t Host>, bool, Option<&'t Service>) = match target {
        Target::Service(name) => {
            let services: Vec<&'t Service> = topology.services.iter().filter(|service| service.name == name).collect();
            let members = services.iter().flat_map(|service| service.members.iter().map(|member| &topology.hosts[*member])).collect();
            (members, false, services.first().copied())
        }
        Target::Host(address) => match topology.host_at(*address) {
            Some(host) => {
                let neighbours = topology.hosts.iter().filter(|other| other.vpc == host.vpc && !std::ptr::eq(*other, host));
                (std::iter::once(host).chain(neighbours.filter(public)).collect(), true, None)
            }
            None => (Vec::new(), false, None),
        },
        Target::Subnet { network, prefix } => (topology.hosts_in_subnet(*network, *prefix).collect(), false, None),
        Target::Any => (Vec::new(), false, None),
    };
    if hosts.is_empty() {
        hosts = topology.hosts.iter().filter(public).collect();
    }
    let size = (between(rng, 12, 24) as usize).min(hosts.len());
    if keep_first {
        shuffle(rng, &mut hosts[1..]);
    } else {
        shuffle(rng, &mut hosts);
    }
    hosts.truncate(size.max(1));
    (hosts, service)
}

impl<'t> Episode<'t> for DistributedScan<'t> {
    /// One record per probe of a closed port, two for an open one, and the firewall's for a
    /// quarter.
    fn planned_records(&self) -> u64 {
        let flows: u64 = self
            .probes
            .iter()
            .map(|probe| if self.is_open(self.targets[probe.target as usize], self.ports[probe.port as usize]) { 2 } else { 1 })
            .sum();
        flows + self.probes.len() as u64 / 4
    }

    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let Some(probe) = self.probes.get(self.next).copied() else {
            // Past the plan (the lanes never ask): a window of the first host's, keeping the count.
            out.push_back(Emission::NoData(self.targets[0]));
            return;
        };
        self.next += 1;
        let (host, port) = (self.targets[probe.target as usize], self.ports[probe.port as usize]);
        let scanner = (Endpoint::External(self.sources[probe.source as usize]), between(rng, 1_024, 65_535) as u16);
        let size = between(rng, 40, 60);
        let session = if self.is_open(host, port) {
            let service = baseline.topology.services.iter().find(|service| service.vpc == host.vpc && service.port == port);
            let (app_proto, rule) =
                service.map_or((AppProto::Unknown, "allow-inbound-web"), |service| (service.app_proto, service_rule(service)));
            Session::new(scanner, (Endpoint::Host(host), port), protocol::TCP, app_proto, rule)
                .with_request(2, 2 * size)
                .with_response(1, between(rng, 44, 60))
                .with_flags(TcpFlags::SYN | TcpFlags::RST, TcpFlags::SYN_ACK)
                .with_timing(between(rng, 0, 300), normal_latency(rng))
        } else {
            Session::new(scanner, (Endpoint::Host(host), port), protocol::TCP, AppProto::Unknown, "default-deny-inbound")
                .with_outcome(crate::network::session::Outcome::Denied)
                .with_request(1, size)
                .with_flags(TcpFlags::SYN, TcpFlags::NONE)
                .with_timing(0, normal_latency(rng))
        };
        Emission::conversation(session, unit(rng) < 0.25, out);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.next >= self.probes.len()
    }

    fn next_due_ms(&self) -> Option<u64> {
        Some(self.probes.get(self.next).map_or(self.span_ms, |probe| probe.due_ms))
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "form": if self.subtle { "low_and_slow" } else { "horizontal" },
            "sources": self.sources.len(),
            "target_hosts": self.targets.len(),
            "ports": self.ports,
            "span_ms": self.span_ms,
            "planned_probes": self.probes.len(),
            "probes": self.next,
            "planned_records": self.planned_records(),
        });
        let actors = Actors {
            sources: self.sources.iter().map(|source| IpAddr::V4(*source)).collect(),
            targets: self.targets.iter().map(|host| IpAddr::V4(host.address)).collect(),
            ports: self.ports.clone(),
            service: self.service.map(|service| service.name),
        };
        (parameters, actors)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::testing::{TimedRun, run_timed_in, session_of};
    use super::*;
    use crate::network::session::Side;
    use crate::network::topology::Topology;

    fn campaign<'t>(topology: &'t Topology, form: &'static str, target: &Target, seed: u64) -> TimedRun<'t> {
        run_timed_in(form, AnomalyKind::DistributedScan, topology, (target, 1.0, None), seed)
    }

    /// Per source: the hosts and ports it probed (each probe's request record at the target).
    fn reach(run: &TimedRun<'_>) -> BTreeMap<Ipv4Addr, (BTreeSet<Ipv4Addr>, BTreeSet<u16>)> {
        let mut reach: BTreeMap<Ipv4Addr, (BTreeSet<Ipv4Addr>, BTreeSet<u16>)> = BTreeMap::new();
        for (_, emission) in &run.records {
            if let Emission::Flow { session, side: Side::Request, .. } = emission {
                let entry = reach.entry(session.client.address()).or_default();
                entry.0.insert(session.server.address());
                entry.1.insert(session.server_port);
            }
        }
        reach
    }

    #[test]
    fn every_probe_is_a_syn_refused_or_answered_and_reset() {
        let topology = Topology::new(7);
        for (seed, form) in [(1, "overt"), (2, "subtle")] {
            let run = campaign(&topology, form, &Target::Any, seed);
            for (_, emission) in &run.records {
                let session = session_of(emission).unwrap();
                let flags = (session.flags_up.bits(), session.flags_down.bits());
                assert!(flags == (2, 0) || flags == (6, 18), "{flags:?}");
                assert!(session.packets_up <= 2 && session.bytes_up <= 120);
                assert!(matches!(topology.host_at(session.server.address()).unwrap().role, Role::Web | Role::Bastion));
            }
        }
    }

    #[test]
    fn the_overt_campaign_has_many_sources_each_on_more_than_ten_hosts_within_minutes() {
        let topology = Topology::new(7);
        let mut counts = Vec::new();
        for seed in 0..6 {
            let run = campaign(&topology, "overt", &Target::Any, seed);
            let reach = reach(&run);
            assert!((10..=500).contains(&reach.len()), "seed {seed}: {} sources", reach.len());
            assert_eq!(reach.len(), run.actors.sources.len());
            assert!(reach.values().all(|(hosts, ports)| (11..=24).contains(&hosts.len()) && ports.len() <= 5), "seed {seed}");
            let span = run.records.last().unwrap().0 - run.records[0].0;
            assert!(span <= 10 * 60_000, "seed {seed}: {span} ms");
            let targets: BTreeSet<Ipv4Addr> = reach.values().flat_map(|(hosts, _)| hosts.iter().copied()).collect();
            assert!(targets.len() <= 24, "one shared set");
            counts.push(reach.len());
        }
        assert!(counts.iter().any(|count| *count > 50), "log-uniform sources: {counts:?}");
    }

    #[test]
    fn the_subtle_campaign_keeps_every_source_under_the_per_source_rules_over_hours() {
        let topology = Topology::new(7);
        for seed in 0..6 {
            let run = campaign(&topology, "subtle", &Target::Any, seed);
            let reach = reach(&run);
            assert!((10..=30).contains(&reach.len()), "seed {seed}: {} sources", reach.len());
            assert!(reach.values().all(|(hosts, ports)| hosts.len() <= 8 && ports.len() <= 2), "seed {seed}");
            let span = run.records.last().unwrap().0 - run.records[0].0;
            assert!(span >= 90 * 60_000, "seed {seed}: {span} ms");
            let covered: BTreeSet<Ipv4Addr> = reach.values().flat_map(|(hosts, _)| hosts.iter().copied()).collect();
            assert!(covered.len() > reach.values().map(|(hosts, _)| hosts.len()).max().unwrap(), "the set is shared out");
        }
    }

    #[test]
    fn a_service_target_is_probed_on_its_port_and_intensity_multiplies_the_sources() {
        let topology = Topology::new(7);
        let run = campaign(&topology, "overt", &Target::Service("ssh".into()), 2);
        assert_eq!((run.actors.service, run.actors.ports.as_slice()), (Some("ssh"), [22u16].as_slice()));
        assert!(run.records.iter().all(|(_, emission)| session_of(emission).unwrap().flags_up.bits() == 6), "ssh answers");
        for seed in 0..4 {
            let sources = |intensity| {
                run_timed_in("subtle", AnomalyKind::DistributedScan, &topology, (&Target::Any, intensity, Some(3_600_000)), seed).parameters
                    ["sources"]
                    .as_u64()
                    .unwrap()
            };
            assert_eq!(sources(2.0), 2 * sources(1.0));
        }
    }
}
