//! `deploy_burst` (resembles `data_exfiltration`'s DNS and a flood's many sources): a rolling
//! deploy, every host of one tier resolving names and pulling the same artifact within minutes.
//!
//! 0.25 deploys an hour ([`When::PerHour`]: six a day, the "multiple deploys per day" of the DORA
//! reports' high performers). A deploy takes the hosts of one tier (web, API, auth or workers) of
//! a VPC drawn by weight, at most 40, and starts each within 1–5 minutes of the first (a rolling
//! deploy's batches). Each host:
//!
//! - resolves 3–6 names (registry, CDN, package mirror, config), an A and an AAAA query each, at
//!   the VPC's external resolver: UDP 53, 60–90 bytes up, 90–300 back, a few ms apart;
//! - then pulls the release (one artifact of 30–600 MB for the whole deploy, in 1–3 layers) over
//!   HTTPS from 4 CDN edge addresses of CloudFront's published prefixes
//!   (<https://ip-ranges.amazonaws.com/ip-ranges.json>, `"service": "CLOUDFRONT"`), at 30–120 MB/s:
//!   a large download, flags 3 / 19, within one aggregation window.
//!
//! Many internal sources, a burst of DNS and of bytes at the same few external addresses, all
//! within minutes: what naive DNS-volume and fan-in rules fire on. The firewall logs the baseline's
//! share of the conversations.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency, tcp_volume};
use crate::network::random::{LaneRng, between, chance, pick};
use crate::network::session::{Endpoint, Session};
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::super::{Actors, Emission, Episode, Start};
use super::{FIREWALL_SHARE, LookalikeSpec, When, address_in, log_uniform, vpc_by_weight};

pub(super) static LOOKALIKE: LookalikeSpec =
    LookalikeSpec { name: "deploy_burst", resembles: AnomalyKind::DataExfiltration, when: When::PerHour(0.25), start };

/// Some of CloudFront's largest published IPv4 prefixes.
const CDN_PREFIXES: [(Ipv4Addr, u8); 6] = [
    (Ipv4Addr::new(13, 224, 0, 0), 14),
    (Ipv4Addr::new(18, 64, 0, 0), 14),
    (Ipv4Addr::new(108, 156, 0, 0), 14),
    (Ipv4Addr::new(3, 160, 0, 0), 14),
    (Ipv4Addr::new(13, 32, 0, 0), 15),
    (Ipv4Addr::new(52, 84, 0, 0), 15),
];

/// The tiers that are deployed.
const DEPLOYED: [Role; 4] = [Role::Web, Role::Api, Role::Auth, Role::Worker];

/// Hosts one deploy touches at most.
const MAX_HOSTS: usize = 40;

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(DeployBurst::start(rng, baseline, start))
}

/// One conversation of the plan.
#[derive(Debug, Clone, Copy)]
enum Step {
    Dns,
    /// A layer of the artifact, this many bytes.
    Pull(u64),
}

#[derive(Debug)]
pub(super) struct DeployBurst<'t> {
    role: Role,
    hosts: Vec<&'t Host>,
    resolver: Ipv4Addr,
    edges: Vec<Ipv4Addr>,
    artifact_bytes: u64,
    spread_ms: u64,
    /// Every conversation: when it is due (ms after the start), whose, what; in time order.
    plan: Vec<(u64, usize, Step)>,
    cursor: usize,
    bytes_pulled: u64,
}

impl<'t> DeployBurst<'t> {
    /// A deploy of a tier of a VPC drawn by weight (the start's target host's tier and VPC, when
    /// it names one), spread over the start's span when it fixes one.
    pub(super) fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let topology = baseline.topology;
        let (vpc, role) = match baseline.target_host(rng, start.target) {
            Some(host) => (host.vpc, host.role),
            None => (vpc_by_weight(rng, baseline), *pick(rng, &DEPLOYED)),
        };
        let hosts: Vec<&'t Host> =
            topology.vpcs[vpc].hosts.iter().map(|index| &topology.hosts[*index]).filter(|host| host.role == role).take(MAX_HOSTS).collect();
        let spread_ms = start.span_ms.map_or_else(|| between(rng, 60_000, 300_000), |span| span.saturating_sub(60_000).max(1_000));
        let artifact_bytes = (log_uniform(rng, 30e6, 600e6) * start.intensity.max(0.0)).max(1e6) as u64;
        let layers = between(rng, 1, 3);
        let names = between(rng, 3, 6);
        let mut plan = Vec::new();
        for (index, _) in hosts.iter().enumerate() {
            let mut at = if index == 0 { 0 } else { between(rng, 0, spread_ms) };
            for _ in 0..names * 2 {
                plan.push((at, index, Step::Dns));
                at += between(rng, 1, 40);
            }
            at += between(rng, 200, 1_500);
            for layer in 0..layers {
                let bytes = artifact_bytes / layers + if layer == 0 { artifact_bytes % layers } else { 0 };
                plan.push((at, index, Step::Pull(bytes)));
                at += (bytes as f64 / log_uniform(rng, 30e6, 120e6) * 1_000.0) as u64 + between(rng, 5, 50);
            }
        }
        plan.sort_by_key(|(at, index, _)| (*at, *index));
        let edges = (0..4)
            .map(|_| {
                let prefix = *pick(rng, &CDN_PREFIXES);
                address_in(rng, prefix)
            })
            .collect();
        DeployBurst {
            role,
            hosts,
            resolver: *pick(rng, &topology.dns_resolvers),
            edges,
            artifact_bytes,
            spread_ms,
            plan,
            cursor: 0,
            bytes_pulled: 0,
        }
    }
}

impl<'t> Episode<'t> for DeployBurst<'t> {
    /// Each conversation's two flow records at the host's ENI, and the firewall's share.
    fn planned_records(&self) -> u64 {
        (self.plan.len() as f64 * (2.0 + FIREWALL_SHARE)).round() as u64
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let (_, index, step) = self.plan[self.cursor.min(self.plan.len() - 1)];
        self.cursor += 1;
        let host = Endpoint::Host(self.hosts[index]);
        let session = match step {
            Step::Dns => Session::new(
                (host, ephemeral_port(rng)),
                (Endpoint::External(self.resolver), 53),
                protocol::UDP,
                AppProto::Dns,
                "allow-egress-dns",
            )
            .with_request(1, between(rng, 60, 90))
            .with_response(1, between(rng, 90, 300))
            .with_timing(between(rng, 1, 30), normal_latency(rng)),
            Step::Pull(bytes) => {
                self.bytes_pulled += bytes;
                let (packets_down, bytes_down) = tcp_volume(rng, bytes);
                let (packets_up, bytes_up) = (packets_down / 2 + 6, (packets_down / 2 + 6) * 52 + between(rng, 400, 900));
                let edge = *pick(rng, &self.edges);
                Session::new(
                    (host, ephemeral_port(rng)),
                    (Endpoint::External(edge), 443),
                    protocol::TCP,
                    AppProto::Tls,
                    "allow-egress-https",
                )
                .with_request(packets_up, bytes_up)
                .with_response(packets_down, bytes_down)
                .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
                .with_timing((bytes / 30_000).clamp(100, 59_000), normal_latency(rng))
            }
        };
        Emission::conversation(session, chance(rng, FIREWALL_SHARE), out);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.cursor >= self.plan.len()
    }

    fn next_due_ms(&self) -> Option<u64> {
        self.plan.get(self.cursor.min(self.plan.len().saturating_sub(1))).map(|(at, _, _)| *at)
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let dns_queries = self.plan.iter().filter(|(_, _, step)| matches!(step, Step::Dns)).count();
        let parameters = json!({
            "tier": format!("{:?}", self.role).to_lowercase(),
            "hosts": self.hosts.len(),
            "dns_queries": dns_queries,
            "artifact_bytes": self.artifact_bytes,
            "bytes_pulled": self.bytes_pulled,
            "spread_ms": self.spread_ms,
        });
        let targets = std::iter::once(self.resolver).chain(self.edges.iter().copied()).map(IpAddr::V4).collect();
        let sources = self.hosts.iter().map(|host| IpAddr::V4(host.address)).collect();
        (parameters, Actors { sources, targets, ports: vec![53, 443], service: None })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::testing::{T0_MS, client_host, run_timed};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::Topology;

    #[test]
    fn a_tier_resolves_and_pulls_the_same_artifact_within_minutes() {
        let topology = Topology::new(7);
        for seed in 0..10 {
            let deploy = run_timed(&LOOKALIKE, &topology, &Target::Any, None, seed);
            let hosts = deploy.parameters["hosts"].as_u64().unwrap() as usize;
            let role = deploy.parameters["tier"].as_str().unwrap();
            assert!(hosts >= 2, "seed {seed}: a tier of {hosts}");
            let sessions = deploy.sessions();
            let by_host: BTreeMap<_, Vec<&(i64, &Session<'_>)>> = sessions.iter().fold(BTreeMap::new(), |mut by_host, entry| {
                by_host.entry(client_host(entry.1).unwrap()).or_insert_with(Vec::new).push(entry);
                by_host
            });
            assert_eq!(by_host.len(), hosts, "seed {seed}: every host of the tier takes part");
            for address in by_host.keys() {
                assert_eq!(format!("{:?}", topology.host_at(*address).unwrap().role).to_lowercase(), role);
            }
            let artifact = deploy.parameters["artifact_bytes"].as_u64().unwrap();
            for (host, conversations) in &by_host {
                let dns = conversations.iter().filter(|(_, session)| session.server_port == 53).count();
                assert!((6..=12).contains(&dns), "seed {seed}: {host} made {dns} queries");
                let pulled: u64 = conversations.iter().filter(|(_, session)| session.server_port == 443).map(|(_, s)| s.bytes_down).sum();
                assert!(
                    pulled >= artifact && pulled < artifact + artifact / 10 + 10_000,
                    "seed {seed}: {host} pulled {pulled} of {artifact}"
                );
                // Names first, then the download.
                let first_pull = conversations.iter().position(|(_, session)| session.server_port == 443).unwrap();
                assert!(conversations[..first_pull].iter().all(|(_, session)| session.server_port == 53));
            }
            let edges: BTreeSet<_> = sessions.iter().filter(|(_, s)| s.server_port == 443).map(|(_, s)| s.server.address()).collect();
            assert!(edges.len() <= 4, "seed {seed}: the same few edges");
            let spread = deploy.parameters["spread_ms"].as_i64().unwrap();
            let last = sessions.iter().map(|(time, _)| *time).max().unwrap() - T0_MS;
            assert!((60_000..=300_000).contains(&spread) && last <= spread + 120_000, "seed {seed}: over {last} ms");
        }
    }

    #[test]
    fn a_host_target_deploys_its_tier() {
        let topology = Topology::new(7);
        let api = topology.hosts.iter().find(|host| host.role == Role::Api && host.vpc == 1).unwrap();
        let deploy = run_timed(&LOOKALIKE, &topology, &Target::Host(api.address), None, 4);
        assert_eq!(deploy.parameters["tier"], "api");
        assert!(deploy.actors.sources.iter().all(|source| {
            let IpAddr::V4(address) = source else { return false };
            topology.host_at(*address).is_some_and(|host| host.vpc == 1 && host.role == Role::Api)
        }));
    }
}
