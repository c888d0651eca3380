//! The subtle form of `port_scan`: low and slow, as nmap's slowest timing templates scan.
//!
//! One source probes one target host with the overt form's probes (TCP SYN, 1–2 packets of 40–60
//! bytes, mostly refused, a quarter also logged by the firewall), but one probe at a time, a fixed
//! delay of 25 s to 5 min apart, for 2–8 hours, the ports in random order. nmap's paranoid (`-T0`)
//! and sneaky (`-T1`) templates scan serially with a `--scan-delay` of 5 min and 15 s ("the first
//! two are for IDS evasion"), and nmap randomises the order of the ports it scans unless told `-r`
//! (<https://nmap.org/book/performance-timing-templates.html>,
//! <https://nmap.org/book/man-port-specification.html>). The ports: 12–1,000 of the well-known
//! ports 1–1,024 and the common high ones (1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200,
//! 27017), all 65,535 when more are asked for; a service target's port is among them. The episode
//! runs in a traffic lane, started by the hourly clock, not in the overt form's dedicated lane.
//!
//! # Calibration
//!
//! - Zeek's `policy/misc/scan.zeek` raises `Scan::Port_Scan` when one scanner has failed
//!   connections to `Scan::port_scan_threshold` = 15 unique ports of one victim within
//!   `Scan::port_scan_interval` = 5 min
//!   (<https://docs.zeek.org/en/master/scripts/policy/misc/scan.zeek.html>). The overt sweep
//!   (100–1,024 ports in seconds) trips it at once; at one probe per 25 s at the fastest, the
//!   subtle scan touches at most 13 ports in any 5 minutes. nmap's own `-T1` (15 s) would touch
//!   20 and trip it, which is why the subtle form's floor is 25 s, not 15.
//! - Elastic's "Potential Network Scan Detected" (detection-rules, rule id
//!   `0171f283-ade7-4f87-9521-ac346c68cc9b`) counts, per minute, the distinct destination ports
//!   from one internal source to one destination and alerts at 50 (or at 5 of its sensitive ports
//!   21, 22, 23, 53, 88, 139, 389, 445, 3389, 5900, 5985, 5986, 9389). The overt sweep's 50–1,000
//!   probes a second trip it; the subtle scan sends at most 3 probes in any minute.
//! - AWS GuardDuty's `Recon:EC2/Portscan` and `Recon:EC2/PortProbeUnprotectedPort` findings publish
//!   no threshold (<https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html>),
//!   so they calibrate nothing here.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port};
use crate::network::random::{LaneRng, between, chance};
use crate::network::session::{Endpoint, Side};
use crate::network::topology::Host;

use super::super::{Actors, Emission, Episode, Start};
use super::{probe, scanner_and_target, targeted_service};

/// The shortest delay between two probes: 13 ports in 5 minutes, under Zeek's 15.
pub const MIN_DELAY_MS: u64 = 25_000;
/// The longest: nmap's paranoid template (`-T0`).
pub const MAX_DELAY_MS: u64 = 300_000;
/// Fewest and most ports of the kind's own plan.
const MIN_PORTS: u64 = 12;
const MAX_PORTS: u64 = 1_000;
const HOUR_MS: u64 = 3_600_000;

/// High ports nmap's default list and attackers' favourites share.
const COMMON_HIGH_PORTS: [u16; 10] = [1433, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200, 27017];

/// A low-and-slow scan in progress.
#[derive(Debug)]
pub struct LowAndSlowScan<'t> {
    scanner: Endpoint<'t>,
    target: &'t Host,
    service: Option<&'static str>,
    source_port: u16,
    /// The ports to probe, in the order they are probed.
    ports: Vec<u16>,
    /// The time between two probes, ms (nmap's `--scan-delay`).
    delay_ms: u64,
    probed: usize,
}

impl<'t> LowAndSlowScan<'t> {
    /// A scan of the start's target host (else a host drawn from `rng`) over 2–8 hours (or the
    /// start's span), one probe every 25 s to 5 min; intensity scales the ports, packing them
    /// closer (never under 25 s apart).
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let (scanner, target) = scanner_and_target(rng, baseline, start.target);
        let span_ms = start.span_ms.unwrap_or_else(|| between(rng, 2 * HOUR_MS, 8 * HOUR_MS));
        let drawn_delay_ms = between(rng, MIN_DELAY_MS, MAX_DELAY_MS);
        let own_plan = (span_ms / drawn_delay_ms).clamp(MIN_PORTS, MAX_PORTS);
        // As many ports as fit the span at the shortest delay, at most.
        let port_count = start.scaled(own_plan).min(span_ms / MIN_DELAY_MS).clamp(1, 65_535);
        let delay_ms = (span_ms / port_count).clamp(MIN_DELAY_MS, MAX_DELAY_MS);
        let service = targeted_service(baseline, start.target);
        let ports = shuffled_ports(rng, port_count as usize, service.map(|service| service.port));
        LowAndSlowScan {
            scanner,
            target,
            service: service.map(|service| service.name),
            source_port: ephemeral_port(rng),
            ports,
            delay_ms,
            probed: 0,
        }
    }
}

/// `count` distinct ports in random order (a partial Fisher–Yates shuffle), `must` among them.
fn shuffled_ports(rng: &mut LaneRng, count: usize, must: Option<u16>) -> Vec<u16> {
    let mut candidates: Vec<u16> = (1..=1_024).chain(COMMON_HIGH_PORTS).collect();
    if count > candidates.len() {
        candidates = (1..=65_535).collect();
    }
    let count = count.min(candidates.len());
    for index in 0..count {
        let swap = index + between(rng, 0, (candidates.len() - index - 1) as u64) as usize;
        candidates.swap(index, swap);
    }
    candidates.truncate(count);
    if let Some(port) = must
        && !candidates.contains(&port)
    {
        let at = between(rng, 0, count as u64 - 1) as usize;
        candidates[at] = port;
    }
    candidates
}

impl<'t> Episode<'t> for LowAndSlowScan<'t> {
    /// One flow per port, plus the firewall records (about a quarter more).
    fn planned_records(&self) -> u64 {
        let ports = self.ports.len() as u64;
        ports + ports / 4
    }

    /// The next port's probe, with the firewall's record of it for a quarter of them.
    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let Some(&port) = self.ports.get(self.probed) else {
            return;
        };
        self.probed += 1;
        let session = probe(rng, self.scanner, self.source_port, self.target, port);
        let logged_by_firewall = chance(rng, 0.25);
        out.push_back(Emission::Flow { session: session.clone(), side: Side::Request, prefer_destination: true });
        if logged_by_firewall {
            out.push_back(Emission::Firewall(session));
        }
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.probed >= self.ports.len()
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "form": "low_and_slow",
            "order": "random",
            "scan_delay_ms": self.delay_ms,
            "planned_ports": self.ports.len(),
            "probed_ports": self.probed,
        });
        let mut ports = self.ports[..self.probed].to_vec();
        ports.sort_unstable();
        let actors = Actors {
            sources: vec![IpAddr::V4(self.scanner.address())],
            targets: vec![IpAddr::V4(self.target.address)],
            ports,
            service: self.service,
        };
        (parameters, actors)
    }

    /// Probe *i* at `i × delay`.
    fn next_due_ms(&self) -> Option<u64> {
        Some(self.probed as u64 * self.delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{TimedRun, run_timed, session_of};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::{Service, Topology};
    use crate::records::AnomalyKind;

    fn probe_port(emission: &Emission<'_>) -> Option<u16> {
        match emission {
            Emission::Flow { session, .. } => Some(session.server_port),
            _ => None,
        }
    }

    fn probes(run: &TimedRun<'_>) -> Vec<(i64, u16)> {
        run.records.iter().filter_map(|(time, emission)| probe_port(emission).map(|port| (*time, port))).collect()
    }

    #[test]
    fn probes_come_one_at_a_time_25_s_to_5_min_apart_for_hours() {
        let topology = Topology::new(7);
        for seed in 0..8 {
            let run = run_timed(AnomalyKind::PortScan, &topology, &Target::Any, 1.0, None, seed);
            let probes = probes(&run);
            let delay = run.parameters["scan_delay_ms"].as_u64().unwrap() as i64;
            assert!((MIN_DELAY_MS as i64..=MAX_DELAY_MS as i64).contains(&delay), "seed {seed}: {delay}");
            assert!(probes.windows(2).all(|pair| pair[1].0 - pair[0].0 == delay), "seed {seed}: one probe per delay");
            let span = probes.last().unwrap().0 - probes[0].0;
            assert!(span >= 2 * 3_600_000 - 2 * delay && span <= 8 * 3_600_000, "seed {seed}: {span} ms");
            // The rules' windows: Zeek's 15 ports in 5 minutes, Elastic's 5 sensitive ports a minute.
            let flows = |emission: &Emission<'_>| u64::from(probe_port(emission).is_some());
            assert!(run.most_in_window(300_000, flows) <= 13, "seed {seed}");
            assert!(run.most_in_window(60_000, flows) <= 3, "seed {seed}");
            assert_eq!(run.parameters["probed_ports"], run.parameters["planned_ports"]);
        }
    }

    #[test]
    fn ports_are_distinct_in_random_order() {
        let topology = Topology::new(7);
        let run = run_timed(AnomalyKind::PortScan, &topology, &Target::Any, 1.0, None, 3);
        let ports: Vec<u16> = probes(&run).iter().map(|(_, port)| *port).collect();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len(), "each port once");
        assert!(ports.len() >= MIN_PORTS as usize);
        let ascending = ports.windows(2).filter(|pair| pair[1] > pair[0]).count() as f64 / (ports.len() - 1) as f64;
        assert!((0.3..0.7).contains(&ascending), "random order has about as many rises as falls: {ascending}");
        assert_eq!(run.actors.ports, sorted);
    }

    #[test]
    fn every_probe_is_a_small_syn_from_one_source_to_one_target() {
        let topology = Topology::new(7);
        let run = run_timed(AnomalyKind::PortScan, &topology, &Target::Any, 1.0, None, 5);
        let source = run.actors.sources[0];
        let target = run.actors.targets[0];
        for (_, emission) in &run.records {
            let session = session_of(emission).unwrap();
            assert_eq!((IpAddr::V4(session.client.address()), IpAddr::V4(session.server.address())), (source, target));
            assert!(session.packets_up <= 2 && session.bytes_up <= 120, "{session:?}");
        }
        let firewall = run.records.iter().filter(|(_, emission)| matches!(emission, Emission::Firewall(_))).count() as f64;
        let share = firewall / probes(&run).len() as f64;
        assert!((0.1..0.4).contains(&share), "a quarter of probes also logged by the firewall: {share}");
    }

    #[test]
    fn a_fixed_span_holds_the_scan_and_intensity_packs_more_ports_into_it() {
        let topology = Topology::new(7);
        let span = 3_600_000;
        for seed in 0..6 {
            let once = run_timed(AnomalyKind::PortScan, &topology, &Target::Any, 1.0, Some(span), seed);
            let twice = run_timed(AnomalyKind::PortScan, &topology, &Target::Any, 2.0, Some(span), seed);
            for run in [&once, &twice] {
                let last = probes(run).last().unwrap().0 - run.first_ms;
                assert!(last < span as i64, "seed {seed}: the last probe at {last} ms");
            }
            let ports = |run: &TimedRun<'_>| run.parameters["planned_ports"].as_u64().unwrap();
            assert_eq!(ports(&twice), (2 * ports(&once)).min(span / MIN_DELAY_MS), "seed {seed}");
        }
    }

    #[test]
    fn a_service_target_has_its_port_probed() {
        let topology = Topology::new(7);
        let run = run_timed(AnomalyKind::PortScan, &topology, &Target::Service("postgres".into()), 1.0, None, 2);
        assert!(probes(&run).iter().any(|(_, port)| *port == 5432));
        let IpAddr::V4(target) = run.actors.targets[0] else { panic!("an IPv6 target") };
        let serves = |service: &Service| service.members.iter().any(|member| topology.hosts[*member].address == target);
        assert!(topology.services.iter().any(|service| service.name == "postgres" && serves(service)));
    }
}
