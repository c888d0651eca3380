//! Normal traffic: what a reader of real flow logs expects to see.
//!
//! A weighted mix of conversation classes: internet clients reaching public services, east-west
//! calls between tiers, egress to SaaS APIs and NTP, a trickle of DNS to external resolvers, the
//! internet's constant background of refused probes, a few internal policy rejections, ICMP, and
//! rare `NODATA` windows. Sizes are heavy-tailed (mostly mice, a few elephants), packets follow
//! bytes, durations stay inside the 60 s window, TCP flags are the plausible OR-ed combinations,
//! latency sits in 10–50 ms and HTTP answers are mostly 2xx/3xx.
//!
//! Somewhat over 450 lines: the conversation classes and the draws they share (a service's
//! session, its client, its volume) read best side by side; the draws a scheduled episode's target
//! needs are in `baseline/target.rs`.

use crate::records::{AppProto, TcpFlags, protocol};

use super::random::{LaneRng, between, chance, log_normal, pareto, pick, unit, weighted};
use super::session::{Endpoint, Outcome, Session};
use super::topology::{Callers, Host, Role, Service, Topology};

mod target;

pub use target::ServiceTarget;

/// A baseline draw: a conversation, or an interface that saw nothing this window.
#[derive(Debug)]
pub enum Draw<'t> {
    Session(Session<'t>),
    NoData(&'t Host),
}

#[derive(Debug, Clone, Copy)]
enum Class {
    InternetToService,
    EastWest,
    EgressSaas,
    EgressNtp,
    EgressDns,
    InternetNoise,
    InternalReject,
    Icmp,
    NoData,
}

const CLASSES: [(Class, f64); 9] = [
    (Class::InternetToService, 0.22),
    (Class::EastWest, 0.55),
    (Class::EgressSaas, 0.11),
    (Class::EgressNtp, 0.025),
    (Class::EgressDns, 0.004),
    (Class::InternetNoise, 0.07),
    (Class::InternalReject, 0.008),
    (Class::Icmp, 0.01),
    (Class::NoData, 0.003),
];

/// Ports the internet's background scanners knock on.
const NOISE_PORTS: [u16; 16] = [23, 445, 3389, 22, 1433, 3306, 5900, 8080, 8443, 6379, 9200, 25, 21, 111, 135, 2375];

/// HTTP answers in normal operation: (status, weight).
const HTTP_STATUSES: [(u16, f64); 12] = [
    (200, 84.0),
    (201, 3.0),
    (204, 3.0),
    (301, 2.0),
    (304, 3.5),
    (400, 0.6),
    (401, 0.5),
    (403, 0.3),
    (404, 2.7),
    (500, 0.2),
    (502, 0.1),
    (503, 0.1),
];

/// Draws baseline conversations from a [`Topology`].
#[derive(Debug)]
pub struct Baseline<'t> {
    pub topology: &'t Topology,
    class_weights: Vec<f64>,
    vpc_weights: Vec<f64>,
    /// Per VPC: (internet-facing services, their weights), (internal services, their weights).
    public_services: Vec<(Vec<&'t Service>, Vec<f64>)>,
    internal_services: Vec<(Vec<&'t Service>, Vec<f64>)>,
    http_weights: Vec<f64>,
    /// Per VPC, per role ([`Role::ALL`] order): the positions in the VPC's host list of the hosts of
    /// that role, ascending (so that finding a caller costs a search, not a walk, in a large VPC).
    role_positions: Vec<Vec<Vec<usize>>>,
}

impl<'t> Baseline<'t> {
    pub fn new(topology: &'t Topology) -> Self {
        let split = |internet: bool| -> Vec<(Vec<&'t Service>, Vec<f64>)> {
            topology
                .vpcs
                .iter()
                .map(|vpc| {
                    let services: Vec<&Service> = vpc
                        .services
                        .iter()
                        .map(|index| &topology.services[*index])
                        .filter(|service| matches!(service.callers, Callers::Internet) == internet)
                        .collect();
                    let weights = services.iter().map(|service| service.weight).collect();
                    (services, weights)
                })
                .collect()
        };
        Baseline {
            topology,
            class_weights: CLASSES.iter().map(|(_, weight)| *weight).collect(),
            vpc_weights: topology.vpcs.iter().map(|vpc| vpc.weight).collect(),
            public_services: split(true),
            internal_services: split(false),
            http_weights: HTTP_STATUSES.iter().map(|(_, weight)| *weight).collect(),
            role_positions: topology
                .vpcs
                .iter()
                .map(|vpc| {
                    let mut positions = vec![Vec::new(); Role::ALL.len()];
                    for (position, host) in vpc.hosts.iter().enumerate() {
                        positions[topology.hosts[*host].role as usize].push(position);
                    }
                    positions
                })
                .collect(),
        }
    }

    /// A baseline draw, its VPC drawn by the VPCs' own weights ([`Vpc::weight`]).
    ///
    /// [`Vpc::weight`]: super::topology::Vpc::weight
    pub fn draw(&self, rng: &mut LaneRng) -> Draw<'t> {
        self.draw_weighted(rng, &self.vpc_weights)
    }

    /// A baseline draw, its VPC drawn by `vpc_weights`: one weight per VPC of the topology, in
    /// [`Topology::vpcs`] order, summing above zero (a daily rhythm moves each region's share of
    /// the traffic). Extra weights are never drawn.
    pub fn draw_weighted(&self, rng: &mut LaneRng, vpc_weights: &[f64]) -> Draw<'t> {
        debug_assert_eq!(vpc_weights.len(), self.topology.vpcs.len());
        let vpc = weighted(rng, vpc_weights).min(self.topology.vpcs.len() - 1);
        match CLASSES[weighted(rng, &self.class_weights)].0 {
            Class::InternetToService => Draw::Session(self.internet_to_service(rng, vpc)),
            Class::EastWest => Draw::Session(self.east_west(rng, vpc)),
            Class::EgressSaas => Draw::Session(self.egress_saas(rng, vpc)),
            Class::EgressNtp => Draw::Session(self.egress_udp(rng, vpc, &self.topology.ntp_servers, 123, AppProto::Ntp)),
            Class::EgressDns => Draw::Session(self.egress_udp(rng, vpc, &self.topology.dns_resolvers, 53, AppProto::Dns)),
            Class::InternetNoise => Draw::Session(self.internet_noise(rng, vpc)),
            Class::InternalReject => Draw::Session(self.internal_reject(rng, vpc)),
            Class::Icmp => Draw::Session(self.icmp(rng, vpc)),
            Class::NoData => Draw::NoData(self.random_host(rng, vpc)),
        }
    }

    pub fn random_host(&self, rng: &mut LaneRng, vpc: usize) -> &'t Host {
        &self.topology.hosts[*pick(rng, &self.topology.vpcs[vpc].hosts)]
    }

    /// A popular-first pick of an internet client (a few clients make most of the traffic).
    pub fn internet_client(&self, rng: &mut LaneRng) -> Endpoint<'t> {
        let clients = &self.topology.internet_clients;
        let index = (unit(rng).powf(2.5) * clients.len() as f64) as usize;
        Endpoint::External(clients[index.min(clients.len() - 1)])
    }

    /// A service client: an internet client or one of the service's calling hosts.
    pub fn client_of(&self, rng: &mut LaneRng, service: &'t Service) -> Endpoint<'t> {
        match service.callers {
            Callers::Internet => self.internet_client(rng),
            Callers::Roles(_) => Endpoint::Host(&self.topology.hosts[*pick(rng, &service.clients)]),
        }
    }

    pub fn pick_service(&self, rng: &mut LaneRng, vpc: usize, internet_facing: bool) -> &'t Service {
        let (services, weights) = if internet_facing { &self.public_services[vpc] } else { &self.internal_services[vpc] };
        services[weighted(rng, weights)]
    }

    fn internet_to_service(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let service = self.pick_service(rng, vpc, true);
        let client = self.internet_client(rng);
        self.service_session(rng, service, client)
    }

    fn east_west(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let service = self.pick_service(rng, vpc, false);
        let client = self.client_of(rng, service);
        self.service_session(rng, service, client)
    }

    /// A normal TCP conversation with `service`.
    pub fn service_session(&self, rng: &mut LaneRng, service: &'t Service, client: Endpoint<'t>) -> Session<'t> {
        self.service_session_on(rng, service, client, None)
    }

    /// A normal TCP conversation with `service`, served by `server` (a member of the service) or,
    /// when `None`, by a member drawn from `rng`.
    pub fn service_session_on(
        &self,
        rng: &mut LaneRng,
        service: &'t Service,
        client: Endpoint<'t>,
        server: Option<&'t Host>,
    ) -> Session<'t> {
        let server = Endpoint::Host(server.unwrap_or_else(|| &self.topology.hosts[*pick(rng, &service.members)]));
        let request_bytes = log_normal(rng, 700.0, 0.9).clamp(60.0, 200_000.0) as u64;
        let response_bytes = if chance(rng, 0.04) {
            pareto(rng, service.response_median * 20.0, 1.2).min(4.0e9)
        } else {
            log_normal(rng, service.response_median, 1.2)
        }
        .clamp(60.0, 4.0e9) as u64;
        let (flags_up, flags_down, duration_ms) = tcp_phase(rng, response_bytes);
        let (packets_up, bytes_up) = tcp_volume(rng, request_bytes);
        let (packets_down, bytes_down) = tcp_volume(rng, response_bytes);
        let http_status = (service.app_proto == AppProto::Http).then(|| HTTP_STATUSES[weighted(rng, &self.http_weights)].0);
        Session::new((client, ephemeral_port(rng)), (server, service.port), protocol::TCP, service.app_proto, service_rule(service))
            .with_request(packets_up, bytes_up)
            .with_response(packets_down, bytes_down)
            .with_flags(flags_up, flags_down)
            .with_timing(duration_ms, normal_latency(rng))
            .with_http_status(http_status)
    }

    fn egress_saas(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let client = self.caller_host(rng, vpc, &[Role::Api, Role::Worker, Role::Web]);
        let server = Endpoint::External(*pick(rng, &self.topology.saas_endpoints));
        let request_bytes = log_normal(rng, 1_500.0, 1.0).clamp(120.0, 5.0e6) as u64;
        let response_bytes = log_normal(rng, 6_000.0, 1.4).clamp(120.0, 5.0e8) as u64;
        let (flags_up, flags_down, duration_ms) = tcp_phase(rng, response_bytes);
        let (packets_up, bytes_up) = tcp_volume(rng, request_bytes);
        let (packets_down, bytes_down) = tcp_volume(rng, response_bytes);
        Session::new((Endpoint::Host(client), ephemeral_port(rng)), (server, 443), protocol::TCP, AppProto::Tls, "allow-egress-https")
            .with_request(packets_up, bytes_up)
            .with_response(packets_down, bytes_down)
            .with_flags(flags_up, flags_down)
            .with_timing(duration_ms, normal_latency(rng))
    }

    fn egress_udp(&self, rng: &mut LaneRng, vpc: usize, servers: &[std::net::Ipv4Addr], port: u16, app_proto: AppProto) -> Session<'t> {
        let client = self.random_host(rng, vpc);
        let packets = between(rng, 1, 4);
        let (request_size, response_size) = if port == 123 { (76, 76) } else { (between(rng, 60, 90), between(rng, 90, 300)) };
        let rule = if port == 123 { "allow-egress-ntp" } else { "allow-egress-dns" };
        // In this order: the client's port, the server, the duration, the latency (one RNG).
        let client_port = if port == 123 { 123 } else { ephemeral_port(rng) };
        let server = Endpoint::External(*pick(rng, servers));
        Session::new((Endpoint::Host(client), client_port), (server, port), protocol::UDP, app_proto, rule)
            .with_request(packets, packets * request_size)
            .with_response(packets, packets * response_size)
            .with_timing(between(rng, 1, 400), normal_latency(rng))
    }

    /// The internet's constant knocking on exposed hosts: refused single probes.
    fn internet_noise(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let target = self.caller_host(rng, vpc, &[Role::Web, Role::Bastion]);
        let source = Endpoint::External(*pick(rng, &self.topology.internet_noise_sources));
        let is_udp = chance(rng, 0.12);
        let (proto, port, app_proto) = if is_udp {
            (protocol::UDP, *pick(rng, &[1900u16, 5060, 123, 161, 11211]), AppProto::Unknown)
        } else if chance(rng, 0.8) {
            (protocol::TCP, *pick(rng, &NOISE_PORTS), AppProto::Unknown)
        } else {
            (protocol::TCP, between(rng, 1, 65_535) as u16, AppProto::Unknown)
        };
        let packets = between(rng, 1, 2);
        let per_packet = if is_udp { between(rng, 28, 120) } else { between(rng, 40, 60) };
        // In this order: the client's port, the outcome, the latency (one RNG).
        let client_port = ephemeral_port(rng);
        let outcome = if chance(rng, 0.7) { Outcome::Denied } else { Outcome::Dropped };
        Session::new((source, client_port), (Endpoint::Host(target), port), proto, app_proto, "default-deny-inbound")
            .with_outcome(outcome)
            .with_request(packets, packets * per_packet)
            .with_flags(TcpFlags::SYN, TcpFlags::NONE)
            .with_timing(0, normal_latency(rng))
    }

    /// A host trying a port its security group does not open.
    fn internal_reject(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let client = self.random_host(rng, vpc);
        let server = self.random_host(rng, vpc);
        let packets = between(rng, 1, 3);
        // In this order: the client's port, the server's, the latency (one RNG).
        let client_port = ephemeral_port(rng);
        let server_port = *pick(rng, &[3306u16, 27017, 5601, 9090, 2379, 11211]);
        Session::new(
            (Endpoint::Host(client), client_port),
            (Endpoint::Host(server), server_port),
            protocol::TCP,
            AppProto::Unknown,
            "default-deny-internal",
        )
        .with_outcome(Outcome::Denied)
        .with_request(packets, packets * 60)
        .with_flags(TcpFlags::SYN, TcpFlags::NONE)
        .with_timing(0, normal_latency(rng))
    }

    fn icmp(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let client = self.random_host(rng, vpc);
        let server = self.random_host(rng, vpc);
        let packets = between(rng, 1, 10);
        Session::new((Endpoint::Host(client), 0), (Endpoint::Host(server), 0), protocol::ICMP, AppProto::Unknown, "allow-icmp-internal")
            .with_request(packets, packets * 84)
            .with_response(packets, packets * 84)
            .with_timing(packets * 1000, normal_latency(rng))
    }

    /// A host of one of `roles` in `vpc`: a role drawn, then the first host of it at or after a
    /// drawn position of the VPC's host list, going round (any host, if the VPC has none of it).
    pub fn caller_host(&self, rng: &mut LaneRng, vpc: usize, roles: &[Role]) -> &'t Host {
        let role = *pick(rng, roles);
        let hosts = &self.topology.vpcs[vpc].hosts;
        let start = (unit(rng) * hosts.len() as f64) as usize;
        let positions = &self.role_positions[vpc][role as usize];
        let position = positions.get(positions.partition_point(|position| *position < start)).or(positions.first());
        &self.topology.hosts[hosts[position.copied().unwrap_or(start % hosts.len())]]
    }
}

/// The firewall rule that allows a service.
pub fn service_rule(service: &Service) -> &'static str {
    match service.name {
        "web-https" | "web-http" => "allow-inbound-web",
        "ssh" => "allow-inbound-ssh-admins",
        "postgres" | "redis" | "kafka" | "search" => "allow-internal-data",
        _ => "allow-internal-app",
    }
}

/// Latency of a healthy service: 10–50 ms, most near 20.
pub fn normal_latency(rng: &mut LaneRng) -> u32 {
    log_normal(rng, 21.0, 0.35).clamp(10.0, 50.0) as u32
}

/// Linux's ephemeral range most of the time, Windows' otherwise.
pub fn ephemeral_port(rng: &mut LaneRng) -> u16 {
    if chance(rng, 0.8) { between(rng, 32_768, 60_999) as u16 } else { between(rng, 49_152, 65_535) as u16 }
}

/// Packets for a TCP byte count: full-size segments for bulk, small ones for chatter; at least
/// 40 bytes (IP + TCP headers) per packet.
pub fn tcp_volume(rng: &mut LaneRng, bytes: u64) -> (u64, u64) {
    let segment = if bytes > 20_000 { between(rng, 1_200, 1_448) } else { between(rng, 120, 600) };
    let packets = (bytes / segment + 1).max(1);
    (packets, bytes.max(packets * 40))
}

/// Flags OR-ed over the window and the duration: a whole short connection (SYN|FIN, SYN-ACK|FIN),
/// the middle of a long one (ACK/PSH only: 0), its opening or its close, rarely an abort.
fn tcp_phase(rng: &mut LaneRng, response_bytes: u64) -> (TcpFlags, TcpFlags, u64) {
    use TcpFlags as F;
    let whole_window_ms = between(rng, 50_000, 59_900);
    match weighted(rng, &[0.66, 0.2, 0.07, 0.05, 0.02]) {
        0 => (
            F::SYN | F::FIN,
            F::SYN_ACK | F::FIN,
            (log_normal(rng, 600.0, 1.4) + response_bytes as f64 / 5_000.0).clamp(1.0, 59_000.0) as u64,
        ),
        1 => (F::NONE, F::NONE, whole_window_ms),
        2 => (F::SYN, F::SYN_ACK, between(rng, 1_000, 59_000)),
        3 => (F::FIN, F::FIN, between(rng, 1_000, 59_000)),
        _ => (F::SYN | F::FIN, F::SYN_ACK | F::RST, between(rng, 5, 5_000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::rng_for;
    use crate::network::session::Side;

    #[test]
    fn tcp_volume_respects_header_minimum() {
        let mut rng = rng_for(9, 9);
        for bytes in [0u64, 1, 39, 40, 41, 500, 20_001, 5_000_000_000] {
            let (packets, total) = tcp_volume(&mut rng, bytes);
            assert!(packets >= 1 && total >= packets * 40 && total <= packets * 65_535, "{bytes} -> {packets} {total}");
        }
    }

    #[test]
    fn sizes_are_heavy_tailed() {
        let topology = Topology::new(3);
        let baseline = Baseline::new(&topology);
        let mut rng = rng_for(3, 3);
        let mut sizes: Vec<u64> = (0..20_000)
            .filter_map(|_| match baseline.draw(&mut rng) {
                Draw::Session(session) if session.outcome == Outcome::Allowed => Some(session.bytes_down),
                _ => None,
            })
            .collect();
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2] as f64;
        let p999 = sizes[sizes.len() * 999 / 1000] as f64;
        let total: u64 = sizes.iter().sum();
        let top_one_percent: u64 = sizes[sizes.len() * 99 / 100..].iter().sum();
        assert!(p999 > 50.0 * median, "median {median} p99.9 {p999}");
        assert!(top_one_percent as f64 > 0.3 * total as f64, "elephants carry too little: {top_one_percent} of {total}");
    }

    #[test]
    fn draw_weighted_draws_as_draw_with_the_vpcs_weights_and_follows_other_weights() {
        let topology = Topology::new(8);
        let baseline = Baseline::new(&topology);
        let weights: Vec<f64> = topology.vpcs.iter().map(|vpc| vpc.weight).collect();
        let (mut plain, mut weighted_rng) = (rng_for(8, 8), rng_for(8, 8));
        for _ in 0..2_000 {
            assert_eq!(format!("{:?}", baseline.draw(&mut plain)), format!("{:?}", baseline.draw_weighted(&mut weighted_rng, &weights)));
        }
        let vpc_of = |draw: Draw<'_>| match draw {
            Draw::NoData(host) => host.vpc,
            Draw::Session(session) => match (session.client, session.server) {
                (Endpoint::Host(host), _) | (_, Endpoint::Host(host)) => host.vpc,
                _ => usize::MAX,
            },
        };
        let mut rng = rng_for(9, 9);
        assert!((0..2_000).all(|_| vpc_of(baseline.draw_weighted(&mut rng, &[0.0, 0.0, 1.0])) == 2));
        let in_first = (0..10_000).filter(|_| vpc_of(baseline.draw_weighted(&mut rng, &[0.8, 0.1, 0.1])) == 0).count();
        assert!((7_700..8_300).contains(&in_first), "{in_first} of 10000 in the VPC weighted 0.8");
    }

    #[test]
    fn caller_host_finds_the_first_host_of_the_role_going_round() {
        let topology = Topology::with_size(2, crate::network::topology::TopologySize { accounts: 1, vpcs: 2, instances: 500 }).unwrap();
        let baseline = Baseline::new(&topology);
        let (mut indexed, mut walked) = (rng_for(2, 2), rng_for(2, 2));
        for draw in 0..5_000 {
            let vpc = draw % 2;
            let roles: &[Role] = if draw % 3 == 0 { &[Role::Bastion] } else { &[Role::Api, Role::Worker, Role::Web] };
            let found = baseline.caller_host(&mut indexed, vpc, roles);
            // The walk it replaces, draw for draw.
            let role = *pick(&mut walked, roles);
            let hosts = &topology.vpcs[vpc].hosts;
            let start = (unit(&mut walked) * hosts.len() as f64) as usize;
            let walk = (0..hosts.len()).map(|offset| &topology.hosts[hosts[(start + offset) % hosts.len()]]).find(|host| host.role == role);
            assert!(std::ptr::eq(found, walk.unwrap()), "draw {draw}");
        }
    }

    #[test]
    fn records_of_a_large_estate_validate() {
        use crate::network::session::{RecordContext, render_firewall, render_flow, render_no_data};
        use crate::records::{EventId, Record, validate, write_record};
        let size = crate::network::topology::TopologySize { accounts: 7, vpcs: 40, instances: 20_000 };
        let topology = Topology::with_size(12, size).unwrap();
        let baseline = Baseline::new(&topology);
        let mut rng = rng_for(12, 12);
        let mut out = Vec::new();
        let context =
            |seq: u64| RecordContext { event_id: EventId::new("0123456789abcdef", 0, seq), time_ms: 1_767_225_600_000, label: None };
        let mut regions = std::collections::BTreeSet::new();
        for seq in 0..20_000 {
            let record = match baseline.draw(&mut rng) {
                Draw::NoData(host) => Record::VpcFlow(render_no_data(&topology, host, context(seq))),
                Draw::Session(session) if seq % 2 == 0 => {
                    Record::VpcFlow(render_flow(&topology, &session, Side::Request, true, context(seq)))
                }
                Draw::Session(session) => Record::Firewall(render_firewall(&topology, &session, seq, context(seq))),
            };
            out.clear();
            write_record(&record, &mut out);
            let parsed = validate(&out).unwrap_or_else(|rejection| panic!("{rejection:?}: {}", String::from_utf8_lossy(&out)));
            if let Record::VpcFlow(flow) = parsed {
                regions.insert(flow.region.to_string());
            }
        }
        assert_eq!(regions.len(), crate::network::topology::REGIONS.len(), "{regions:?}");
    }

    #[test]
    fn latency_stays_in_the_normal_band() {
        let mut rng = rng_for(4, 4);
        assert!((0..10_000).map(|_| normal_latency(&mut rng)).all(|latency| (10..=50).contains(&latency)));
    }
}
