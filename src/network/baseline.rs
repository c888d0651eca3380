//! Normal traffic: what a reader of real flow logs expects to see.
//!
//! Two kinds of draw make it up. **Business conversations** are a weighted mix of classes whose
//! volume follows the record rate: internet clients reaching public services, east-west calls
//! between tiers, egress to SaaS APIs, NTP and DNS to external resolvers, a few internal policy
//! rejections, ICMP. **Estate records** come at a rate set by the estate and logical time, not by
//! the business volume: the internet's background of probes per exposed interface
//! ([`background`]), one `NODATA` record per idle interface per window ([`idle`]), and the
//! later windows of long conversations ([`long`]). Each draw at a logical time first writes an
//! estate record if one is due, then a business conversation; at most every other draw is an
//! estate record (the cap: at very low rates the estate records fall behind their rates, and
//! those more than a window late are dropped).
//!
//! # Flow sizes
//!
//! The business mix is calibrated to a published reference, the AGH 2015 campus-edge hour
//! (Jurkiewicz, Rzym and Boryło, "Flow length and size distributions in campus Internet
//! traffic", Computer Communications 168, 2021, arXiv:1809.03486): 44.7% of flows are one packet,
//! and flows over 1 MiB are about 0.45% of flows and about 93% of bytes. A flow is one flow-log
//! record (one direction of a conversation at one ENI in one window), the unit a reader of our
//! output counts; the background probes, whose share depends on the rate, are left out. The tests
//! hold the mix to 44.7% ± 3 points of one-packet flows, 0.3–0.7% of flows over 1 MiB and 85–97%
//! of the bytes in them.
//!
//! Sizes are heavy-tailed (mostly mice, a few elephants), packets follow bytes, TCP flags are the
//! plausible OR-ed combinations, latency sits in 10–50 ms and HTTP answers are mostly 2xx/3xx.

use crate::records::{AppProto, TcpFlags, protocol};

use super::random::{LaneRng, between, chance, pick, unit, weighted};
use super::session::{Endpoint, Outcome, Session};
use super::topology::{Callers, Host, Role, Service, Topology};

pub mod background;
pub mod idle;
pub mod long;
mod target;
mod volume;

use background::Background;
use idle::Idle;
use long::LongConnections;
pub use target::ServiceTarget;
pub use volume::{ephemeral_port, normal_latency, service_rule, tcp_volume};
use volume::{tcp_exchange, transfer_bytes};

/// A baseline draw: a conversation (or one window of a long one), or an interface that saw
/// nothing this window.
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
    InternalReject,
    Icmp,
}

/// The business classes and their weights (per conversation drawn).
const CLASSES: [(Class, f64); 7] = [
    (Class::InternetToService, 0.22),
    (Class::EastWest, 0.55),
    (Class::EgressSaas, 0.11),
    (Class::EgressNtp, 0.04),
    (Class::EgressDns, 0.08),
    (Class::InternalReject, 0.008),
    (Class::Icmp, 0.02),
];

/// Services whose callers keep pooled connections open (the candidates for long conversations).
const POOLED_SERVICES: [&str; 3] = ["postgres", "redis", "kafka"];

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
    /// The estate records of the lane's share of the estate.
    background: Background<'t>,
    idle: Idle<'t>,
    long: LongConnections<'t>,
    /// Whether the last draw was an estate record (the cap: never two in a row).
    last_was_estate: bool,
    /// The estate records drawn so far.
    estate: EstateCounts,
}

/// How many estate records a baseline has drawn, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EstateCounts {
    /// Background probes.
    pub probes: u64,
    /// `NODATA` records.
    pub no_data: u64,
    /// Windows after the first of long conversations.
    pub long_windows: u64,
    /// Long conversations started.
    pub long_started: u64,
}

impl<'t> Baseline<'t> {
    /// The baseline of a single traffic lane, which owns the whole estate's interfaces (its
    /// background probes and its `NODATA` records). A run with several traffic lanes gives each
    /// its share with [`Baseline::set_lane`].
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
            background: Background::new(topology, 0, 1),
            idle: Idle::new(topology, 0, 1),
            long: LongConnections::default(),
            last_was_estate: false,
            estate: EstateCounts::default(),
        }
    }

    /// Makes this the baseline of traffic lane `lane` (0-based) of `lanes` traffic lanes across
    /// the whole run (every shard's): it then writes the background probes and the `NODATA`
    /// records of the interfaces at positions `lane` modulo `lanes`, so that all lanes together
    /// write each interface's once. Call it before the first draw.
    pub fn set_lane(&mut self, lane: u32, lanes: u32) {
        let lanes = lanes.max(1);
        self.background = Background::new(self.topology, lane % lanes, lanes);
        self.idle = Idle::new(self.topology, lane % lanes, lanes);
    }

    /// The estate records drawn so far.
    pub fn estate_counts(&self) -> EstateCounts {
        self.estate
    }

    /// The baseline draw of a record due at `time_ms` (logical time, Unix milliseconds; a lane's
    /// draws come in time order), its VPC drawn by the VPCs' own weights ([`Vpc::weight`]).
    ///
    /// [`Vpc::weight`]: super::topology::Vpc::weight
    pub fn draw(&mut self, rng: &mut LaneRng, time_ms: i64) -> Draw<'t> {
        let weights = std::mem::take(&mut self.vpc_weights);
        let draw = self.draw_weighted(rng, time_ms, &weights);
        self.vpc_weights = weights;
        draw
    }

    /// The baseline draw of a record due at `time_ms`, a business conversation's VPC drawn by
    /// `vpc_weights`: one weight per VPC of the topology, in [`Topology::vpcs`] order, summing
    /// above zero (a daily rhythm moves each region's share of the traffic). Extra weights are
    /// never drawn. An estate record due at `time_ms` comes first (see the module doc).
    pub fn draw_weighted(&mut self, rng: &mut LaneRng, time_ms: i64, vpc_weights: &[f64]) -> Draw<'t> {
        if !self.last_was_estate
            && let Some(draw) = self.estate_draw(rng, time_ms)
        {
            self.last_was_estate = true;
            return draw;
        }
        self.last_was_estate = false;
        self.business(rng, time_ms, vpc_weights)
    }

    /// The estate record due at `time_ms`: a `NODATA` record, a long conversation's next window,
    /// a background probe, in that order.
    fn estate_draw(&mut self, rng: &mut LaneRng, time_ms: i64) -> Option<Draw<'t>> {
        if let Some(host) = self.idle.due(time_ms) {
            self.estate.no_data += 1;
            return Some(Draw::NoData(host));
        }
        if let Some(session) = self.long.due(time_ms) {
            self.estate.long_windows += 1;
            return Some(Draw::Session(session));
        }
        if !self.background.is_due(rng, time_ms) {
            return None;
        }
        self.estate.probes += 1;
        Some(Draw::Session(self.background.probe(rng)))
    }

    /// A business conversation.
    fn business(&mut self, rng: &mut LaneRng, time_ms: i64, vpc_weights: &[f64]) -> Draw<'t> {
        debug_assert_eq!(vpc_weights.len(), self.topology.vpcs.len());
        let vpc = weighted(rng, vpc_weights).min(self.topology.vpcs.len() - 1);
        let session = match CLASSES[weighted(rng, &self.class_weights)].0 {
            Class::InternetToService => self.internet_to_service(rng, vpc),
            Class::EastWest => {
                let service = self.pick_service(rng, vpc, false);
                let client = self.client_of(rng, service);
                let session = self.service_session(rng, service, client);
                if POOLED_SERVICES.contains(&service.name) && self.long.should_start(rng) {
                    self.estate.long_started += 1;
                    return Draw::Session(self.long.start(rng, session, time_ms));
                }
                session
            }
            Class::EgressSaas => {
                let session = self.egress_saas(rng, vpc);
                if self.long.should_start(rng) {
                    self.estate.long_started += 1;
                    return Draw::Session(self.long.start(rng, session, time_ms));
                }
                session
            }
            Class::EgressNtp => self.egress_udp(rng, vpc, &self.topology.ntp_servers, 123, AppProto::Ntp),
            Class::EgressDns => self.egress_udp(rng, vpc, &self.topology.dns_resolvers, 53, AppProto::Dns),
            Class::InternalReject => self.internal_reject(rng, vpc),
            Class::Icmp => self.icmp(rng, vpc),
        };
        Draw::Session(session)
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
        let request_bytes = transfer_bytes(rng, 700.0, 0.9);
        let response_bytes = transfer_bytes(rng, service.response_median, 1.2);
        let exchange = tcp_exchange(rng, request_bytes, response_bytes);
        let http_status = (service.app_proto == AppProto::Http).then(|| HTTP_STATUSES[weighted(rng, &self.http_weights)].0);
        Session::new((client, ephemeral_port(rng)), (server, service.port), protocol::TCP, service.app_proto, service_rule(service))
            .with_request(exchange.packets_up, exchange.bytes_up)
            .with_response(exchange.packets_down, exchange.bytes_down)
            .with_flags(exchange.flags_up, exchange.flags_down)
            .with_timing(exchange.duration_ms, normal_latency(rng))
            .with_http_status(http_status)
    }

    fn egress_saas(&self, rng: &mut LaneRng, vpc: usize) -> Session<'t> {
        let client = self.caller_host(rng, vpc, &[Role::Api, Role::Worker, Role::Web]);
        let server = Endpoint::External(*pick(rng, &self.topology.saas_endpoints));
        let request_bytes = transfer_bytes(rng, 1_500.0, 1.0);
        let response_bytes = transfer_bytes(rng, 6_000.0, 1.4);
        let exchange = tcp_exchange(rng, request_bytes, response_bytes);
        Session::new((Endpoint::Host(client), ephemeral_port(rng)), (server, 443), protocol::TCP, AppProto::Tls, "allow-egress-https")
            .with_request(exchange.packets_up, exchange.bytes_up)
            .with_response(exchange.packets_down, exchange.bytes_down)
            .with_flags(exchange.flags_up, exchange.flags_down)
            .with_timing(exchange.duration_ms, normal_latency(rng))
    }

    fn egress_udp(&self, rng: &mut LaneRng, vpc: usize, servers: &[std::net::Ipv4Addr], port: u16, app_proto: AppProto) -> Session<'t> {
        let client = self.random_host(rng, vpc);
        // A query and its answer, now and then a retry.
        let packets = if chance(rng, 0.9) { 1 } else { between(rng, 2, 4) };
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
        // Mostly a single echo (a reachability check), sometimes a ping run.
        let packets = if chance(rng, 0.7) { 1 } else { between(rng, 2, 10) };
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

#[cfg(test)]
mod estate_tests;
#[cfg(test)]
mod tests;
