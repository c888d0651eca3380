//! `health_check` (resembles beaconing): machines that call the same peer at a fixed period, for
//! hours, because that is their job.
//!
//! 0.4 occurrences an hour ([`When::PerHour`]), each lasting 1–6 hours, in one of three forms:
//!
//! - **Load balancer** (half of them): an Application Load Balancer's nodes, one per AZ, each
//!   check one target of a web, API or auth service every 30 s (the default
//!   `HealthCheckIntervalSeconds`; 10 s or 5 s, the shortest allowed, in a fifth and a tenth of
//!   them), on the traffic port, with a new TCP connection per check that the node closes after it
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>).
//!   The nodes' addresses are in the target's VPC, in the subnets an internet-facing (public) or
//!   internal (private) load balancer uses, at offsets 4–10 that AWS leaves free and no host
//!   of this address plan takes. Their own ENIs are not among our hosts: each check is two flow
//!   records at the target's ENI, a small `GET` up (flags 3) and a 200 back (flags 19).
//! - **NTP** (a quarter): a host polls one public NTP server, UDP 123 both ways, one 76-byte
//!   packet each way, every 2^n s: from 64 s (`minpoll` 6) doubling every 4–8 polls up to 1,024 s
//!   (`maxpoll` 10), as ntpd and chrony do while the clock settles
//!   (<https://docs.redhat.com/en/documentation/red_hat_enterprise_linux/6/html/deployment_guide/s2_configuring_the_poll_interval>);
//!   an occurrence may join a daemon already past 64 s.
//! - **Monitoring agent** (a quarter): a host's agent posts its metrics to one SaaS endpoint on
//!   443 every 60 s (the CloudWatch agent's default `metrics_collection_interval`), ±0.2 s, a
//!   new TLS connection of a few KB each time.
//!
//! Exact periods and near-constant sizes: what a naive beacon detector looks for. The egress
//! forms' conversations are logged by the firewall at the baseline's share.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency, tcp_volume};
use crate::network::random::{LaneRng, between, chance, log_normal, pick, unit, weighted};
use crate::network::session::{Endpoint, Session};
use crate::network::topology::{Callers, Host, Service};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::super::{Actors, Emission, Episode, Start};
use super::{FIREWALL_SHARE, LookalikeSpec, When, vpc_by_weight};

pub(super) static LOOKALIKE: LookalikeSpec =
    LookalikeSpec { name: "health_check", resembles: AnomalyKind::Beaconing, when: When::PerHour(0.4), start };

/// Load-balancer check intervals, seconds, with their weights: the default, then the shorter ones.
const LB_INTERVALS: [(u64, f64); 3] = [(30, 0.7), (10, 0.2), (5, 0.1)];

/// The services a load balancer fronts.
const BALANCED: [&str; 4] = ["web-https", "web-http", "api", "auth"];

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(HealthCheck::start(rng, baseline, start))
}

#[derive(Debug)]
enum Form<'t> {
    LoadBalancer { service: &'t Service, target: &'t Host, nodes: Vec<Ipv4Addr> },
    Ntp { host: &'t Host, server: Ipv4Addr, exponent: u32, polls_at_exponent: u32, hold: u32 },
    Agent { host: &'t Host, endpoint: Ipv4Addr },
}

#[derive(Debug)]
pub(super) struct HealthCheck<'t> {
    form: Form<'t>,
    span_ms: u64,
    /// The period of a load balancer's or an agent's checks, ms (NTP's follows its exponent).
    interval_ms: u64,
    /// When each caller's next check is due, ms after the start.
    next_ms: Vec<u64>,
    checks: u64,
}

impl<'t> HealthCheck<'t> {
    /// An occurrence in a form drawn from `rng`, for the start's span (else 1–6 hours).
    pub(super) fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let topology = baseline.topology;
        let vpc = vpc_by_weight(rng, baseline);
        let span_ms = start.span_ms.unwrap_or_else(|| between(rng, 3_600_000, 6 * 3_600_000));
        let form = weighted(rng, &[0.5, 0.25, 0.25]);
        let (form, interval_ms, next_ms) = match form {
            0 => {
                let services: Vec<&'t Service> = topology.vpcs[vpc]
                    .services
                    .iter()
                    .map(|index| &topology.services[*index])
                    .filter(|service| BALANCED.contains(&service.name))
                    .collect();
                let service = *pick(rng, &services);
                let target = &topology.hosts[*pick(rng, &service.members)];
                let public = matches!(service.callers, Callers::Internet);
                let nodes: Vec<Ipv4Addr> = topology
                    .subnets
                    .iter()
                    .filter(|subnet| subnet.vpc == vpc && subnet.public == public)
                    .map(|subnet| Ipv4Addr::from(u32::from(subnet.network) + between(rng, 4, 10) as u32))
                    .collect();
                let interval_ms = LB_INTERVALS[weighted(rng, &LB_INTERVALS.map(|(_, weight)| weight))].0 * 1_000;
                // The nodes check on their own clocks: each starts somewhere in the first period.
                let next_ms = nodes.iter().map(|_| between(rng, 0, interval_ms - 1)).collect();
                (Form::LoadBalancer { service, target, nodes }, interval_ms, next_ms)
            }
            1 => {
                let host = baseline.random_host(rng, vpc);
                let server = *pick(rng, &topology.ntp_servers);
                let exponent = if chance(rng, 0.5) { 6 } else { between(rng, 7, 10) as u32 };
                let form = Form::Ntp { host, server, exponent, polls_at_exponent: 0, hold: between(rng, 4, 8) as u32 };
                (form, 1_000 << exponent, vec![0])
            }
            _ => {
                let host = baseline.random_host(rng, vpc);
                let endpoint = *pick(rng, &topology.saas_endpoints);
                (Form::Agent { host, endpoint }, 60_000, vec![between(rng, 0, 59_999)])
            }
        };
        HealthCheck { form, span_ms, interval_ms, next_ms, checks: 0 }
    }

    fn caller_due(&self) -> (usize, u64) {
        self.next_ms.iter().copied().enumerate().min_by_key(|(_, due)| *due).unwrap_or((0, u64::MAX))
    }

    /// The next check of `caller` (moving its next one a period on), and whether the firewall
    /// logs it.
    fn check(&mut self, rng: &mut LaneRng, caller: usize) -> (Session<'t>, bool) {
        let latency = normal_latency(rng);
        match &mut self.form {
            Form::LoadBalancer { service, target, nodes } => {
                let (packets_up, packets_down) = (between(rng, 5, 6), between(rng, 4, 5));
                let session = Session::new(
                    (Endpoint::External(nodes[caller]), ephemeral_port(rng)),
                    (Endpoint::Host(target), service.port),
                    protocol::TCP,
                    service.app_proto,
                    "allow-lb-health-check",
                )
                .with_request(packets_up, packets_up * 40 + between(rng, 110, 160))
                .with_response(packets_down, packets_down * 40 + between(rng, 120, 260))
                .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
                .with_timing(between(rng, 2, 15), latency)
                .with_http_status(Some(200));
                self.next_ms[caller] += self.interval_ms;
                (session, false)
            }
            Form::Ntp { host, server, exponent, polls_at_exponent, hold } => {
                let session = Session::new(
                    (Endpoint::Host(host), 123),
                    (Endpoint::External(*server), 123),
                    protocol::UDP,
                    AppProto::Ntp,
                    "allow-egress-ntp",
                )
                .with_request(1, 76)
                .with_response(1, 76)
                .with_timing(between(rng, 1, 40), latency);
                self.next_ms[caller] += 1_000 << *exponent;
                *polls_at_exponent += 1;
                if *polls_at_exponent >= *hold && *exponent < 10 {
                    *exponent += 1;
                    *polls_at_exponent = 0;
                }
                self.interval_ms = 1_000 << *exponent;
                (session, chance(rng, FIREWALL_SHARE))
            }
            Form::Agent { host, endpoint } => {
                let request = log_normal(rng, 2_400.0, 0.15) as u64;
                let (packets_up, bytes_up) = tcp_volume(rng, request);
                let response = log_normal(rng, 5_200.0, 0.05) as u64;
                let (packets_down, bytes_down) = tcp_volume(rng, response);
                let session = Session::new(
                    (Endpoint::Host(host), ephemeral_port(rng)),
                    (Endpoint::External(*endpoint), 443),
                    protocol::TCP,
                    AppProto::Tls,
                    "allow-egress-https",
                )
                .with_request(packets_up, bytes_up)
                .with_response(packets_down, bytes_down)
                .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
                .with_timing(between(rng, 60, 400), latency);
                self.next_ms[caller] = self.next_ms[caller] + self.interval_ms - 200 + (unit(rng) * 400.0) as u64;
                (session, chance(rng, FIREWALL_SHARE))
            }
        }
    }
}

impl<'t> Episode<'t> for HealthCheck<'t> {
    /// Two flow records a check (at the target's ENI, or at the host's), over the whole span.
    fn planned_records(&self) -> u64 {
        (self.span_ms / self.interval_ms.max(1) + 1) * self.next_ms.len() as u64 * 2
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let (caller, _) = self.caller_due();
        let (session, logged_by_firewall) = self.check(rng, caller);
        self.checks += 1;
        Emission::conversation(session, logged_by_firewall, out);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.caller_due().1 > self.span_ms
    }

    fn next_due_ms(&self) -> Option<u64> {
        Some(self.caller_due().1)
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let (form, sources, target, port, service) = match &self.form {
            Form::LoadBalancer { service, target, nodes } => {
                ("load_balancer", nodes.iter().map(|node| IpAddr::V4(*node)).collect(), target.address, service.port, Some(service.name))
            }
            Form::Ntp { host, server, .. } => ("ntp", vec![IpAddr::V4(host.address)], *server, 123, None),
            Form::Agent { host, endpoint } => ("monitoring_agent", vec![IpAddr::V4(host.address)], *endpoint, 443, None),
        };
        let parameters = json!({
            "form": form,
            "interval_ms": self.interval_ms,
            "callers": self.next_ms.len(),
            "span_ms": self.span_ms,
            "checks": self.checks,
        });
        (parameters, Actors { sources, targets: vec![IpAddr::V4(target)], ports: vec![port], service })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{T0_MS, run_timed};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::Topology;

    /// The gaps between each caller's checks, ms.
    fn gaps_by_caller(sessions: &[(i64, &Session<'_>)]) -> Vec<Vec<i64>> {
        let mut times: BTreeMap<Ipv4Addr, Vec<i64>> = BTreeMap::new();
        for (time_ms, session) in sessions {
            times.entry(session.client.address()).or_default().push(*time_ms);
        }
        times.into_values().map(|times| times.windows(2).map(|pair| pair[1] - pair[0]).collect()).collect()
    }

    #[test]
    fn each_form_calls_one_peer_at_its_period_for_hours() {
        let topology = Topology::new(7);
        let mut forms = BTreeMap::new();
        for seed in 0..24 {
            let occurrence = run_timed(&LOOKALIKE, &topology, &Target::Any, None, seed);
            let form = occurrence.parameters["form"].as_str().unwrap().to_owned();
            let span_ms = occurrence.parameters["span_ms"].as_u64().unwrap() as i64;
            assert!((3_600_000..=6 * 3_600_000).contains(&span_ms), "seed {seed}: {span_ms}");
            let sessions = occurrence.sessions();
            assert!(sessions.iter().all(|(time, _)| *time - T0_MS <= span_ms), "seed {seed}: inside its span");
            assert!(occurrence.end_ms - occurrence.start_ms > span_ms / 2, "seed {seed}: lasts hours");
            let target = occurrence.actors.targets[0];
            assert!(sessions.iter().all(|(_, session)| IpAddr::V4(session.server.address()) == target), "seed {seed}: one peer");
            let gaps = gaps_by_caller(&sessions);
            match form.as_str() {
                "load_balancer" => {
                    let interval = occurrence.parameters["interval_ms"].as_i64().unwrap();
                    assert!([5_000, 10_000, 30_000].contains(&interval), "seed {seed}: {interval}");
                    assert_eq!(gaps.len(), 3, "seed {seed}: a node per AZ");
                    assert!(gaps.iter().flatten().all(|gap| *gap == interval), "seed {seed}: exactly every {interval} ms");
                    let IpAddr::V4(target) = target else { panic!("an IPv6 target") };
                    let target = topology.host_at(target).unwrap();
                    for (_, session) in &sessions {
                        let node = session.client.address();
                        assert!(!topology.has_host(node), "seed {seed}: {node} is a host's address");
                        assert_eq!(u32::from(node) >> 16, u32::from(target.address) >> 16, "seed {seed}: a node of the target's VPC");
                        assert_eq!((session.flags_up.bits(), session.flags_down.bits()), (3, 19));
                    }
                }
                "ntp" => {
                    let gaps = &gaps[0];
                    assert!(gaps.iter().all(|gap| [64_000, 128_000, 256_000, 512_000, 1_024_000].contains(gap)), "seed {seed}: {gaps:?}");
                    assert!(gaps.windows(2).all(|pair| pair[1] >= pair[0]), "seed {seed}: the poll only lengthens");
                    assert!(sessions.iter().all(|(_, session)| session.bytes_up == 76 && session.server_port == 123));
                }
                _ => {
                    let gaps = &gaps[0];
                    assert!(gaps.iter().all(|gap| (59_800..=60_200).contains(gap)), "seed {seed}: {gaps:?}");
                    assert!(sessions.iter().all(|(_, session)| session.server_port == 443 && session.bytes_up < 4_000));
                }
            }
            *forms.entry(form).or_insert(0) += 1;
        }
        assert_eq!(forms.len(), 3, "every form in 24 occurrences: {forms:?}");
    }

    #[test]
    fn a_fixed_span_is_kept() {
        let topology = Topology::new(7);
        for seed in 0..6 {
            let occurrence = run_timed(&LOOKALIKE, &topology, &Target::Any, Some(20 * 60_000), seed);
            assert!(occurrence.sessions().iter().all(|(time, _)| *time - T0_MS <= 20 * 60_000), "seed {seed}");
        }
    }
}
