//! The internet's background: unsolicited probes at every exposed interface, at a rate per
//! interface that does not follow business traffic.
//!
//! # Rate
//!
//! Sophos' cloud honeypots ("Exposed: Cyberattacks on Cloud Honeypots", April 2019: ten
//! honeypots in ten AWS regions, over five million attempts in 30 days) saw on average 13
//! attempts a minute per honeypot. We take that as the rate of unsolicited connection attempts
//! at each exposed interface ([`Topology::is_exposed`]: web servers and bastions, in public
//! subnets), [`PROBES_PER_MINUTE`], whatever the business volume. The probes form a Poisson
//! process in logical time per lane, over the exposed interfaces the lane owns (every exposed
//! interface belongs to exactly one traffic lane), so the realised rate per interface is the
//! same at any record rate, as long as the probes stay below the baseline's cap (see
//! [`Baseline`](super::Baseline): at most every other draw is a background record; below about
//! `2 × exposed × 13 / 60` conversations a second the cap binds and the rate falls short).
//!
//! # Sources and ports
//!
//! A few heavy scanners (search engines of the internet and research scanners, [`HEAVY_SOURCES`]
//! fixed addresses) send about half of the probes ([`HEAVY_SHARE`]); the rest come from a long
//! tail of addresses seen about once each (bots, compromised devices). The port mix is weighted
//! after the published rankings of unsolicited traffic: Telnet first, then SSH, SMB, RDP, web
//! ports, VNC and the databases (Telnet, SQL and SSH lead a 24-hour capture of a fresh internet
//! connection, Weber, "Internet's Noise", 2016; 13 ports carry 59% of unsolicited SYNs at a /16
//! darknet, Novak, University of Waikato, 2008). The weights are our reading of those rankings,
//! not measured shares. Every probe is refused by the security group: a probe of a port the
//! interface serves (80 or 443 on a web server) would be an ordinary client of the service, which
//! the business mix holds, so the background probes the interface's other ports.

use std::net::Ipv4Addr;

use crate::records::{AppProto, TcpFlags, protocol};

use super::volume::{ephemeral_port, normal_latency};
use crate::network::random::{LaneRng, between, chance, exponential, pick, weighted};
use crate::network::session::{Endpoint, Outcome, Session};
use crate::network::topology::{Host, Service, Topology, public_address};

/// Unsolicited attempts per exposed interface per minute (Sophos, 2019).
pub const PROBES_PER_MINUTE: f64 = 13.0;

/// The heavy scanners: this many fixed addresses...
pub const HEAVY_SOURCES: usize = 10;

/// ... send this share of the probes.
pub const HEAVY_SHARE: f64 = 0.5;

/// The firewall rule that refuses a probe.
pub const BACKGROUND_RULE: &str = "default-deny-inbound";

/// TCP ports probed, and their weights.
const TCP_PORTS: [(u16, f64); 24] = [
    (23, 20.0),
    (22, 14.0),
    (445, 9.0),
    (3389, 7.0),
    (80, 6.0),
    (8080, 6.0),
    (5900, 3.0),
    (1433, 3.0),
    (3306, 3.0),
    (8443, 3.0),
    (443, 3.0),
    (2323, 2.0),
    (6379, 2.0),
    (5555, 1.5),
    (7547, 1.5),
    (9200, 1.5),
    (25, 1.5),
    (21, 1.5),
    (135, 1.5),
    (139, 1.0),
    (2375, 1.0),
    (81, 1.0),
    (8888, 1.0),
    (5432, 1.0),
];

/// UDP ports probed (amplification and discovery services).
const UDP_PORTS: [u16; 7] = [1900, 5060, 123, 161, 11211, 53, 389];

/// One lane's background: the exposed interfaces it owns and when the next probe is due.
#[derive(Debug)]
pub(super) struct Background<'t> {
    /// The lane's exposed interfaces, each with the services it answers on.
    targets: Vec<(&'t Host, Vec<&'t Service>)>,
    heavy: Vec<Ipv4Addr>,
    port_weights: Vec<f64>,
    /// Mean gap between probes, milliseconds of logical time.
    mean_gap_ms: f64,
    /// When the next probe is due, Unix milliseconds (fractional); `None` before the first draw.
    next_ms: Option<f64>,
}

impl<'t> Background<'t> {
    /// The background of traffic lane `lane` of `lanes`: the exposed interfaces whose position
    /// among all exposed interfaces is `lane` modulo `lanes`.
    pub(super) fn new(topology: &'t Topology, lane: u32, lanes: u32) -> Self {
        let lanes = lanes.max(1) as usize;
        let targets: Vec<(&'t Host, Vec<&'t Service>)> = topology
            .hosts
            .iter()
            .filter(|host| topology.is_exposed(host))
            .enumerate()
            .filter(|(position, _)| position % lanes == lane as usize % lanes)
            .map(|(_, host)| {
                let served = topology
                    .services
                    .iter()
                    .filter(|service| service.vpc == host.vpc)
                    .filter(|service| service.members.iter().any(|member| topology.hosts[*member].address == host.address))
                    .collect();
                (host, served)
            })
            .collect();
        let per_ms = targets.len() as f64 * PROBES_PER_MINUTE / 60_000.0;
        Background {
            targets,
            heavy: topology.internet_noise_sources.iter().take(HEAVY_SOURCES).copied().collect(),
            port_weights: TCP_PORTS.iter().map(|(_, weight)| *weight).collect(),
            mean_gap_ms: if per_ms > 0.0 { 1.0 / per_ms } else { f64::INFINITY },
            next_ms: None,
        }
    }

    /// Whether a probe is due at `time_ms`. Probes missed for more than a window (the cap held
    /// them back) are dropped rather than written late in a burst.
    pub(super) fn is_due(&mut self, rng: &mut LaneRng, time_ms: i64) -> bool {
        if self.targets.is_empty() {
            return false;
        }
        let now = time_ms as f64;
        let next = *self.next_ms.get_or_insert_with(|| now + exponential(rng, self.mean_gap_ms));
        if next > now {
            return false;
        }
        self.next_ms = Some(next.max(now - 60_000.0) + exponential(rng, self.mean_gap_ms));
        true
    }

    /// A port the background probes: UDP, or TCP by the weighted mix with a tenth anywhere.
    fn probed_port(&self, rng: &mut LaneRng, is_udp: bool) -> u16 {
        if is_udp {
            *pick(rng, &UDP_PORTS)
        } else if chance(rng, 0.9) {
            TCP_PORTS[weighted(rng, &self.port_weights)].0
        } else {
            between(rng, 1, 65_535) as u16
        }
    }

    /// One probe of one of the lane's exposed interfaces, refused by its security group.
    pub(super) fn probe(&self, rng: &mut LaneRng) -> Session<'t> {
        let (target, served) = pick(rng, &self.targets);
        let source = if chance(rng, HEAVY_SHARE) && !self.heavy.is_empty() {
            // The busiest scanner first: weights 1, 1/2, 1/3, ...
            let weights: [f64; HEAVY_SOURCES] = std::array::from_fn(|rank| 1.0 / (rank + 1) as f64);
            self.heavy[weighted(rng, &weights[..self.heavy.len().min(HEAVY_SOURCES)])]
        } else {
            public_address(rng)
        };
        let is_udp = chance(rng, 0.1);
        // A probe of a port the interface serves is an ordinary (if unwelcome) client of the
        // service, which the business mix already holds: the background knocks on the others.
        let mut port = self.probed_port(rng, is_udp);
        while !is_udp && served.iter().any(|service| service.port == port) {
            port = self.probed_port(rng, is_udp);
        }
        let proto = if is_udp { protocol::UDP } else { protocol::TCP };
        let client_port = ephemeral_port(rng);
        let per_packet = if is_udp { between(rng, 28, 120) } else { between(rng, 40, 60) };
        let outcome = if chance(rng, 0.7) { Outcome::Denied } else { Outcome::Dropped };
        Session::new((Endpoint::External(source), client_port), (Endpoint::Host(target), port), proto, AppProto::Unknown, BACKGROUND_RULE)
            .with_outcome(outcome)
            .with_request(1, per_packet)
            .with_flags(TcpFlags::SYN, TcpFlags::NONE)
            .with_timing(0, normal_latency(rng))
    }
}
