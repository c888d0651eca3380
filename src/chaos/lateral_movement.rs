//! `lateral_movement`: a compromised internal host logs in to peers it never talked to, over a
//! remote-service protocol (MITRE ATT&CK T1021, Remote Services,
//! <https://attack.mitre.org/techniques/T1021/>: .002 SMB/Windows Admin Shares on 445 (and RPC on
//! 135), .001 Remote Desktop Protocol on 3389, .004 SSH on 22, .006 Windows Remote Management on
//! 5985).
//!
//! - **Overt**: a small sweep first, 3–8 refused SYN probes (REJECT at the probed host's ENI,
//!   `tcp_flags` 2) in the first two minutes; then short accepted sessions (`tcp_flags` 3 / 19,
//!   a few seconds, kilobytes to a few hundred kilobytes: a service binary copied over SMB, a
//!   shell over SSH or WinRM, a desktop over RDP) to 10–50 peers, one technique per episode, over
//!   10–120 minutes. Each session is written whole: both directions at both ENIs, and the
//!   firewall's record for a quarter of them.
//! - **Subtle**: no sweep; 3–5 peers over 2–6 hours, on 22 (SSH) or 5985 (WinRM) only.
//!
//! The episode's `parameters` hold the sub-technique, its port(s), the peers planned and reached.
//! The shape follows what a red-team operator does after credential access: PsExec-style service
//! creation over SMB, `Enter-PSSession` over WinRM, SSH with harvested keys (the procedures listed
//! under each sub-technique on attack.mitre.org).
//!
//! # Peers it never talked to
//!
//! The baseline pairs two hosts only through a service of their VPC ([`crate::network::topology::Callers`]):
//! a host calls the members of the services its role calls, and is called by the clients of the
//! services it serves (a web host calls api, auth and redis hosts; a worker calls postgres and
//! kafka hosts; nothing calls a worker). [`never_paired`] takes the hosts of the source's VPC minus
//! those two sets: no accepted TCP session between them exists in the baseline, whatever its
//! length (the baseline's ICMP and its refused internal probes pair hosts at random, but are not
//! accepted sessions on a remote-service port). The source is a worker, web or API host (or the
//! start's target), which leaves 18–32 such peers in a VPC of today's 39 hosts.
//!
//! # Calibration
//!
//! Elastic's hunting query "Excessive RDP Network Activity by Host and User"
//! (`elastic/detection-rules`, `hunting/windows/`) counts the distinct destinations of one host on
//! 3389 and flags 10 or more; the Defender / Sentinel community query for BloodHound's SMB
//! session collection flags more than 100 distinct 445 peers in 15 minutes. The overt form
//! reaches 10–50 new peers on its technique's port (where the VPC has that many never-paired
//! hosts): the first query's count of 10, on 3389 for RDP and the same count on 445, 22 or 5985;
//! its refused probes are what flow-log sweep rules count; the subtle form, 3–5 peers
//! over hours on SSH or WinRM with no refused probe, stays under both.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency};
use crate::network::random::{LaneRng, between, chance, log_normal, pick, unit};
use crate::network::session::{Endpoint, Outcome, Session};
use crate::network::topology::{Host, Role, Topology};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::LateralMovement,
    short_name: "lateral",
    probability: None,
    per_hour: PerHourFlag {
        name: "lateral_movement_per_hour",
        flag: "lateral-movement-per-hour",
        env: "LATERAL_MOVEMENT_PER_HOUR",
        // An intrusion that spreads is rarer than one that beacons: about two a logical day.
        default: "0.1",
        help: "Lateral-movement episodes (one host opening sessions to internal peers it never talked to) per logical hour",
    },
    technique: Some("T1021"),
    parameters: &[],
    mean_records: 120.0,
    target_span_seconds: 3_600.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(LateralMovement::start(rng, baseline, start))
}

/// A sub-technique of T1021: its id and the ports it logs in on (the first most of the time).
#[derive(Debug, Clone, Copy)]
struct Technique {
    id: &'static str,
    ports: &'static [u16],
    app_proto: AppProto,
    /// Median bytes of a session, client to server and back.
    bytes_up: f64,
    bytes_down: f64,
}

const SMB: Technique =
    Technique { id: "T1021.002", ports: &[445, 135], app_proto: AppProto::Unknown, bytes_up: 120_000.0, bytes_down: 8_000.0 };
const RDP: Technique =
    Technique { id: "T1021.001", ports: &[3389], app_proto: AppProto::Unknown, bytes_up: 30_000.0, bytes_down: 400_000.0 };
const SSH: Technique = Technique { id: "T1021.004", ports: &[22], app_proto: AppProto::Ssh, bytes_up: 6_000.0, bytes_down: 20_000.0 };
const WINRM: Technique = Technique { id: "T1021.006", ports: &[5985], app_proto: AppProto::Http, bytes_up: 10_000.0, bytes_down: 15_000.0 };

/// One step of the plan: a refused probe, or a session with a new peer.
#[derive(Debug, Clone, Copy)]
struct Step<'t> {
    at_ms: u64,
    peer: &'t Host,
    port: u16,
    refused: bool,
}

#[derive(Debug)]
pub struct LateralMovement<'t> {
    source: &'t Host,
    technique: Technique,
    /// The plan, in time order (probes first).
    steps: Vec<Step<'t>>,
    done: usize,
    probes: usize,
    candidates: usize,
    span_ms: u64,
}

impl<'t> LateralMovement<'t> {
    /// Movement from the start's target host (else a worker, web or API host) to peers it never
    /// talked to, in the start's form, over the start's span when it fixes one; the intensity
    /// scales the number of peers.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let topology = baseline.topology;
        let source = match baseline.target_host(rng, start.target) {
            Some(host) => host,
            None => {
                let vpc = (unit(rng) * topology.vpcs.len() as f64) as usize % topology.vpcs.len();
                baseline.caller_host(rng, vpc, &[Role::Worker, Role::Web, Role::Api])
            }
        };
        let subtle = start.is_subtle();
        let technique = if subtle { *pick(rng, &[SSH, WINRM]) } else { *pick(rng, &[SMB, SMB, RDP, SSH, WINRM]) };
        let (peer_count, probe_count, span_ms) = if subtle {
            (between(rng, 3, 5), 0, between(rng, 2 * 3_600_000, 6 * 3_600_000))
        } else {
            (between(rng, 10, 50), between(rng, 3, 8) as usize, between(rng, 10 * 60_000, 120 * 60_000))
        };
        let span_ms = start.span_ms.unwrap_or(span_ms);
        let mut candidates = never_paired(topology, source);
        let candidate_count = candidates.len();
        let peer_count = (start.scaled(peer_count) as usize).min(candidates.len());
        // Nobody to sweep in an estate where every host is paired with the source.
        let probe_count = if candidates.is_empty() { 0 } else { probe_count };
        shuffle_front(rng, &mut candidates, peer_count + probe_count);
        let port_of =
            |rng: &mut LaneRng| if technique.ports.len() > 1 && chance(rng, 0.25) { technique.ports[1] } else { technique.ports[0] };
        let mut steps = Vec::with_capacity(peer_count + probe_count);
        // The sweep: probes to never-paired hosts that refuse (the rest of the shuffled front,
        // else any peer), in the first two minutes.
        let probe_window_ms = 120_000.min(span_ms / 4);
        let mut probe_times: Vec<u64> = (0..probe_count).map(|_| between(rng, 0, probe_window_ms)).collect();
        probe_times.sort_unstable();
        for (index, at_ms) in probe_times.into_iter().enumerate() {
            let peer = candidates.get(peer_count + index).copied().unwrap_or(candidates[index % candidates.len()]);
            steps.push(Step { at_ms, peer, port: port_of(rng), refused: true });
        }
        // The sessions: spread over the rest of the span, in time order.
        let sessions_from = if probe_count > 0 { probe_window_ms } else { 0 };
        let mut session_times: Vec<u64> = (0..peer_count).map(|_| between(rng, sessions_from, span_ms)).collect();
        session_times.sort_unstable();
        if let Some(first) = session_times.first_mut().filter(|_| probe_count == 0) {
            // With no sweep, the episode starts with its first session.
            *first = 0;
        }
        for (peer, at_ms) in candidates.iter().take(peer_count).zip(session_times) {
            steps.push(Step { at_ms, peer, port: port_of(rng), refused: false });
        }
        LateralMovement { source, technique, steps, done: 0, probes: probe_count, candidates: candidate_count, span_ms }
    }

    /// The conversation of one step.
    fn session(&self, rng: &mut LaneRng, step: &Step<'t>) -> Session<'t> {
        let rule = if step.refused { "default-deny-internal" } else { "allow-internal-admin" };
        let base = Session::new(
            (Endpoint::Host(self.source), ephemeral_port(rng)),
            (Endpoint::Host(step.peer), step.port),
            protocol::TCP,
            if step.port == 135 { AppProto::Unknown } else { self.technique.app_proto },
            rule,
        );
        if step.refused {
            let packets = between(rng, 1, 2);
            return base
                .with_outcome(Outcome::Denied)
                .with_request(packets, packets * between(rng, 40, 60))
                .with_flags(TcpFlags::SYN, TcpFlags::NONE)
                .with_timing(0, normal_latency(rng));
        }
        let bytes_up = log_normal(rng, self.technique.bytes_up, 0.8).clamp(800.0, 5.0e6) as u64;
        let bytes_down = log_normal(rng, self.technique.bytes_down, 0.8).clamp(600.0, 2.0e7) as u64;
        let segment = |rng: &mut LaneRng, bytes: u64| (bytes / between(rng, 400, 1_400)).clamp(4, bytes / 40);
        let (packets_up, packets_down) = (segment(rng, bytes_up), segment(rng, bytes_down));
        base.with_request(packets_up, bytes_up)
            .with_response(packets_down, bytes_down)
            .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
            .with_timing(between(rng, 1_500, 45_000), normal_latency(rng))
    }
}

/// The hosts of `source`'s VPC that the baseline never pairs with it: neither members of a service
/// it calls nor clients of a service it serves, nor itself.
pub(super) fn never_paired<'t>(topology: &'t Topology, source: &Host) -> Vec<&'t Host> {
    let vpc = &topology.vpcs[source.vpc];
    let is_source = |index: &usize| topology.hosts[*index].address == source.address;
    let mut paired: Vec<usize> = Vec::new();
    for service in vpc.services.iter().map(|index| &topology.services[*index]) {
        if service.members.iter().any(is_source) {
            paired.extend(&service.clients);
        }
        if service.clients.iter().any(is_source) {
            paired.extend(&service.members);
        }
    }
    paired.sort_unstable();
    paired.dedup();
    vpc.hosts
        .iter()
        .filter(|index| paired.binary_search(index).is_err() && !is_source(index))
        .map(|index| &topology.hosts[*index])
        .collect()
}

/// Moves `count` hosts drawn from `rng` without replacement to the front of `hosts` (a partial
/// Fisher-Yates shuffle).
fn shuffle_front<T>(rng: &mut LaneRng, hosts: &mut [T], count: usize) {
    let count = count.min(hosts.len());
    for index in 0..count {
        let other = between(rng, index as u64, hosts.len() as u64 - 1) as usize;
        hosts.swap(index, other);
    }
}

impl<'t> Episode<'t> for LateralMovement<'t> {
    /// One record per refused probe; four flow records per session and the firewall's for a
    /// quarter of them.
    fn planned_records(&self) -> u64 {
        let sessions = (self.steps.len() - self.probes) as u64;
        self.probes as u64 + sessions * 4 + sessions / 4
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        // Never asked once planned out (the episode is then finished).
        let Some(step) = self.steps.get(self.done).copied() else { return };
        let session = self.session(rng, &step);
        Emission::conversation(session, chance(rng, 0.25), out);
        self.done += 1;
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.done >= self.steps.len()
    }

    fn next_due_ms(&self) -> Option<u64> {
        Some(self.steps.get(self.done).map_or(self.span_ms, |step| step.at_ms))
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let sessions = &self.steps[self.probes..];
        let reached: Vec<IpAddr> =
            sessions.iter().take(self.done.saturating_sub(self.probes)).map(|step| IpAddr::V4(step.peer.address)).collect();
        let parameters = json!({
            "sub_technique": self.technique.id,
            "ports": self.technique.ports,
            "probes": self.probes,
            "planned_peers": sessions.len(),
            "peers_reached": reached.len(),
            "never_paired_candidates": self.candidates,
            "span_s": self.span_ms / 1000,
        });
        let actors = Actors {
            sources: vec![IpAddr::V4(self.source.address)],
            targets: sessions.iter().map(|step| IpAddr::V4(step.peer.address)).collect(),
            ports: self.technique.ports.to_vec(),
            service: None,
        };
        (parameters, actors)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TimedRun, run_timed_form, session_of};
    use super::*;
    use crate::network::session::Side;
    use crate::network::target::Target;
    use crate::network::topology::Callers;

    /// The accepted sessions' (time, peer, port), one per session (its request at the client).
    fn sessions(run: &TimedRun<'_>) -> Vec<(i64, IpAddr, u16)> {
        run.records
            .iter()
            .filter_map(|(time, emission)| match emission {
                Emission::Flow { session, side: Side::Request, prefer_destination: false } if session.outcome == Outcome::Allowed => {
                    Some((*time, IpAddr::V4(session.server.address()), session.server_port))
                }
                _ => None,
            })
            .collect()
    }

    fn refused(run: &TimedRun<'_>) -> Vec<(i64, u16)> {
        run.records
            .iter()
            .filter_map(|(time, emission)| {
                let session = session_of(emission)?;
                (session.outcome == Outcome::Denied && matches!(emission, Emission::Flow { .. })).then_some((*time, session.server_port))
            })
            .collect()
    }

    /// Whether the baseline could pair `a` and `b` through a service of their VPC.
    fn baseline_pairs(topology: &Topology, a: IpAddr, b: IpAddr) -> bool {
        let address = |index: &usize| IpAddr::V4(topology.hosts[*index].address);
        topology.services.iter().filter(|service| matches!(service.callers, Callers::Roles(_))).any(|service| {
            let member = |host| service.members.iter().any(|index| address(index) == host);
            let client = |host| service.clients.iter().any(|index| address(index) == host);
            (member(a) && client(b)) || (member(b) && client(a))
        })
    }

    #[test]
    fn never_paired_hosts_share_no_service_with_the_source() {
        let topology = Topology::new(7);
        for (index, source) in topology.hosts.iter().enumerate() {
            let peers = never_paired(&topology, source);
            assert!(peers.iter().all(|peer| peer.vpc == source.vpc && peer.address != source.address));
            for peer in &peers {
                assert!(!baseline_pairs(&topology, IpAddr::V4(source.address), IpAddr::V4(peer.address)), "host {index}");
            }
            // Every other host of the VPC is either paired or listed.
            let vpc_hosts = topology.vpcs[source.vpc].hosts.len();
            let paired = topology.vpcs[source.vpc]
                .hosts
                .iter()
                .filter(|other| baseline_pairs(&topology, IpAddr::V4(source.address), IpAddr::V4(topology.hosts[**other].address)))
                .count();
            assert_eq!(peers.len() + paired + 1, vpc_hosts, "host {index}");
            if matches!(source.role, Role::Worker | Role::Web | Role::Api) {
                assert!((18..=32).contains(&peers.len()), "a {:?} host has {} never-paired peers", source.role, peers.len());
            }
        }
    }

    #[test]
    fn overt_movement_sweeps_then_reaches_ten_to_fifty_new_peers_within_two_hours() {
        let topology = Topology::new(7);
        for seed in 0..16 {
            let run = run_timed_form(AnomalyKind::LateralMovement, &topology, &Target::Any, 1.0, "overt", None, seed);
            let source = run.actors.sources[0];
            let sessions = sessions(&run);
            let probes = refused(&run);
            assert!((3..=8).contains(&probes.len()), "seed {seed}: {} probes", probes.len());
            assert!(probes.iter().all(|(time, _)| *time <= sessions[0].0), "seed {seed}: the sweep comes first");
            let peers: std::collections::BTreeSet<IpAddr> = sessions.iter().map(|(_, peer, _)| *peer).collect();
            assert_eq!(peers.len(), sessions.len(), "seed {seed}: one session per peer");
            assert!((10..=50).contains(&peers.len()), "seed {seed}: {} peers", peers.len());
            assert!(peers.iter().all(|peer| !baseline_pairs(&topology, source, *peer)), "seed {seed}: a peer the baseline talks to");
            let span_ms = sessions.last().unwrap().0 - probes[0].0;
            assert!(span_ms <= 120 * 60_000, "seed {seed}: {span_ms} ms");
            let ports = run.parameters["ports"].as_array().unwrap().iter().map(|port| port.as_u64().unwrap() as u16).collect::<Vec<_>>();
            assert!(sessions.iter().all(|(_, _, port)| ports.contains(port)), "seed {seed}");
            assert!(run.records.iter().all(|(_, emission)| session_of(emission).unwrap().client.address() == source));
        }
    }

    #[test]
    fn subtle_movement_reaches_three_to_five_peers_over_hours_on_ssh_or_winrm() {
        let topology = Topology::new(7);
        for seed in 0..16 {
            let run = run_timed_form(AnomalyKind::LateralMovement, &topology, &Target::Any, 1.0, "subtle", None, seed);
            let sessions = sessions(&run);
            assert!(refused(&run).is_empty(), "seed {seed}: no sweep");
            assert!((3..=5).contains(&sessions.len()), "seed {seed}");
            assert!(sessions.iter().all(|(_, _, port)| [22, 5985].contains(port)), "seed {seed}");
            let span_s = run.parameters["span_s"].as_u64().unwrap();
            assert!((2 * 3600..=6 * 3600).contains(&span_s), "seed {seed}");
            assert!(sessions.iter().all(|(time, _, _)| (*time - run.records[0].0) as u64 <= span_s * 1000));
        }
    }

    #[test]
    fn a_host_target_moves_and_intensity_scales_the_peers() {
        let topology = Topology::new(7);
        let worker = topology.hosts.iter().find(|host| host.role == Role::Worker).unwrap();
        let run = run_timed_form(AnomalyKind::LateralMovement, &topology, &Target::Host(worker.address), 1.0, "overt", Some(1_800_000), 3);
        assert_eq!(run.actors.sources, [IpAddr::V4(worker.address)]);
        assert!(sessions(&run).iter().all(|(time, _, _)| *time - run.records[0].0 <= 1_800_000));
        let peers = |intensity: f64| {
            let baseline = Baseline::new(&topology);
            let settings = super::super::ChaosSettings::new(crate::records::PerKind::default());
            let start = Start { intensity, ..Start::background(&settings, &KIND) };
            let mut rng = crate::network::random::rng_for(5, 5);
            LateralMovement::start(&mut rng, &baseline, &start).describe().0["planned_peers"].as_u64().unwrap()
        };
        assert!(peers(2.0) >= peers(1.0) && peers(0.01) == 1, "{} {}", peers(1.0), peers(2.0));
    }
}
