//! `brute_force`: password guessing against one host's SSH (:22) or RDP (:3389), ATT&CK T1110.001
//! (Brute Force: Password Guessing, <https://attack.mitre.org/techniques/T1110/001/>).
//!
//! Every attempt is one whole short TCP session that the service answers and the login fails: the
//! handshake, the banner and key exchange, a few password tries, the server closing. So each is
//! ACCEPT with `tcp_flags` 3 from the guesser (SYN|FIN) and 19 back (SYN-ACK|FIN), as flow logs
//! OR the flags over the window; 10–40 packets in all, a few KB each way (the server's side under
//! 5,500 B, below which Zeek presumes an SSH login failed), 1–9 s, from a new source port each
//! time. An attempt is written whole: both directions at the target's ENI (and at the guesser's
//! when it is one of our hosts), and the firewall's session record for a quarter of them.
//!
//! - **overt**: one source (an internet address, one time in five a compromised host of the
//!   target's VPC), 20–60 attempts a minute for 5–30 minutes: hydra, medusa or ncrack running
//!   several tasks.
//! - **subtle**, half the time each way: *low and slow*, one source at 1–3 attempts a minute (at
//!   least 20 s apart) for 2–6 hours; or *spread* over 4–8 internet sources, each at most one
//!   attempt every 70 s, for 1–3 hours.
//!
//! The target: a service target's member on the service's port; a host or subnet target's host on
//! 22 (3389 a quarter of the time); else a bastion of a VPC drawn by weight, on the same ports.
//! Intensity multiplies the overt form's rate and the subtle form's hours (its per-source rate is
//! its point); a fixed span (a scenario's duration) replaces the drawn one.
//!
//! Shape: the AWS flow-log examples (an accepted SSH session of 20 packets, 4,249 bytes) and the
//! `tcp-flags` sequence (3 / 19 for a whole short connection), both in the VPC user guide's "Flow
//! log record examples"; GuardDuty's `UnauthorizedAccess:EC2/SSHBruteForce` and `RDPBruteForce`
//! findings describe the same traffic.
//!
//! # Calibration
//!
//! - Wazuh's sshd rules 5712 / 5720 (`0095-sshd_rules.xml`): 8 failures from one source within
//!   120 s. The overt form makes 40–120 in 120 s; the subtle forms at most 6 per source (at least
//!   20 s apart).
//! - Zeek's `policy/protocols/ssh/detect-bruteforcing.zeek`: `SSH::password_guesses_limit` 30
//!   failed logins within `SSH::guessing_timeout` 30 min. The overt form trips it within two
//!   minutes and the spread form stays under it (each source at most 26 in 30 min); the low and
//!   slow form (30–90 in 30 min) does not: it slips under the short-window rules only, and a
//!   long-window counter catches it.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency, service_rule};
use crate::network::random::{LaneRng, between, chance, pick, unit, weighted};
use crate::network::session::{Endpoint, Session};
use crate::network::target::Target;
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::BruteForce,
    short_name: "brute",
    probability: None,
    // An exposed SSH port sees guessing all day; one campaign an hour against the estate's
    // handful of bastions is what a watched, rate-limited fleet logs, and keeps an hour's records
    // mostly normal.
    per_hour: PerHourFlag {
        name: "brute_force_per_hour",
        flag: "brute-force-per-hour",
        env: "BRUTE_FORCE_PER_HOUR",
        default: "1",
        help: "Password-guessing episodes against SSH / RDP per logical hour (--difficulty brute_force=overt|subtle|mixed)",
    },
    technique: Some("T1110.001"),
    parameters: &[],
    mean_records: 1_800.0,
    target_span_seconds: 900.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(BruteForce::start(rng, baseline, start))
}

/// Which shape an episode takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Overt,
    LowAndSlow,
    Spread,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Overt => "overt",
            Form::LowAndSlow => "low_and_slow",
            Form::Spread => "spread",
        }
    }
}

/// One guessing source and when its next attempt is due.
#[derive(Debug)]
struct Guesser<'t> {
    endpoint: Endpoint<'t>,
    /// Ms after the episode's start.
    next_ms: u64,
    attempts: u64,
}

#[derive(Debug)]
pub struct BruteForce<'t> {
    form: Form,
    target: &'t Host,
    port: u16,
    service: Option<&'static str>,
    app_proto: AppProto,
    rule: &'static str,
    guessers: Vec<Guesser<'t>>,
    /// No attempt starts at or after this, ms after the start.
    span_ms: u64,
    /// Gap between one source's attempts, ms, drawn evenly from this range.
    gap_ms: (u64, u64),
}

impl<'t> BruteForce<'t> {
    /// A campaign in the start's form against its target (else a bastion drawn from `rng`).
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let (target, port, service) = pick_target(rng, baseline, start.target);
        let form = if !start.is_subtle() {
            Form::Overt
        } else if chance(rng, 0.5) {
            Form::LowAndSlow
        } else {
            Form::Spread
        };
        let (sources, drawn_minutes, gap_ms) = match form {
            Form::Overt => {
                let per_minute = between(rng, 20, 60) as f64 * start.intensity.max(f64::MIN_POSITIVE);
                let mean = 60_000.0 / per_minute;
                (1, between(rng, 5, 30), ((mean * 0.5) as u64, (mean * 1.5) as u64))
            }
            Form::LowAndSlow => {
                let mean = 60_000 / between(rng, 1, 3);
                (1, start.scaled(between(rng, 120, 360)), ((mean * 6 / 10).max(20_000), mean * 14 / 10))
            }
            Form::Spread => (between(rng, 4, 8) as usize, start.scaled(between(rng, 60, 180)), (70_000, 180_000)),
        };
        let span_ms = start.span_ms.unwrap_or(drawn_minutes * 60_000).max(1);
        let mut guessers = Vec::with_capacity(sources);
        for index in 0..sources {
            let endpoint = if form == Form::Overt && chance(rng, 0.2) {
                Endpoint::Host(insider(rng, baseline, target))
            } else {
                Endpoint::External(*pick(rng, &baseline.topology.internet_noise_sources))
            };
            // The spread form's sources start at random points of their first gap.
            let next_ms = if index == 0 { 0 } else { between(rng, 0, gap_ms.1) };
            guessers.push(Guesser { endpoint, next_ms, attempts: 0 });
        }
        let (app_proto, rule) = match baseline.topology.services.iter().find(|candidate| Some(candidate.name) == service) {
            Some(service) => (service.app_proto, service_rule(service)),
            None if port == 3389 => (AppProto::Unknown, "allow-inbound-rdp-admins"),
            None => (AppProto::Ssh, "allow-inbound-ssh-admins"),
        };
        BruteForce { form, target, port, service, app_proto, rule, guessers, span_ms, gap_ms }
    }

    /// The source whose attempt is due next (the first of a tie).
    fn next_guesser(&self) -> usize {
        (0..self.guessers.len()).min_by_key(|index| (self.guessers[*index].next_ms, *index)).unwrap_or(0)
    }

    fn attempts(&self) -> u64 {
        self.guessers.iter().map(|guesser| guesser.attempts).sum()
    }
}

/// The attacked host, its port and the catalog service on it (if any).
fn pick_target<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, target: &Target) -> (&'t Host, u16, Option<&'static str>) {
    let topology = baseline.topology;
    let login_port = |rng: &mut LaneRng| if chance(rng, 0.25) { 3389 } else { 22 };
    if let Target::Service(name) = target
        && let Some(service) = topology.services.iter().find(|service| service.name == name)
        && let Some(host) = baseline.target_host(rng, target)
    {
        return (host, service.port, Some(service.name));
    }
    let host = baseline.target_host(rng, target).unwrap_or_else(|| {
        let weights: Vec<f64> = topology.vpcs.iter().map(|vpc| vpc.weight).collect();
        let vpc = weighted(rng, &weights);
        baseline.caller_host(rng, vpc, &[Role::Bastion])
    });
    let port = login_port(rng);
    let serves_ssh = topology
        .services
        .iter()
        .any(|service| service.name == "ssh" && service.members.iter().any(|member| std::ptr::eq(&topology.hosts[*member], host)));
    (host, port, (port == 22 && serves_ssh).then_some("ssh"))
}

/// A host of `target`'s VPC other than it: a compromised machine guessing from inside.
fn insider<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, target: &'t Host) -> &'t Host {
    for _ in 0..16 {
        let host = baseline.random_host(rng, target.vpc);
        if !std::ptr::eq(host, target) {
            return host;
        }
    }
    // A VPC of one host: the guesser is the first host of the estate that is not the target.
    baseline.topology.hosts.iter().find(|host| !std::ptr::eq(*host, target)).unwrap_or(target)
}

impl<'t> Episode<'t> for BruteForce<'t> {
    /// The attempts its gaps fit into its span, each written whole (two records at the target, two
    /// more at an insider guesser, a quarter with the firewall's).
    fn planned_records(&self) -> u64 {
        let mean_gap = (self.gap_ms.0 + self.gap_ms.1) as f64 / 2.0;
        let per_attempt = if self.guessers.iter().any(|guesser| matches!(guesser.endpoint, Endpoint::Host(_))) { 4.25 } else { 2.25 };
        (self.guessers.len() as f64 * (self.span_ms as f64 / mean_gap.max(1.0)).max(1.0) * per_attempt).round() as u64
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let index = self.next_guesser();
        let guesser = &mut self.guessers[index];
        guesser.attempts += 1;
        guesser.next_ms += between(rng, self.gap_ms.0, self.gap_ms.1).max(1);
        let packets = between(rng, 10, 40);
        let packets_up = between(rng, packets * 2 / 5, packets * 3 / 5);
        let packets_down = packets - packets_up;
        let duration_ms = if self.form == Form::Overt { between(rng, 800, 4_000) } else { between(rng, 2_000, 9_000) };
        let session = Session::new(
            (guesser.endpoint, ephemeral_port(rng)),
            (Endpoint::Host(self.target), self.port),
            protocol::TCP,
            self.app_proto,
            self.rule,
        )
        .with_request(packets_up, packets_up * between(rng, 70, 160))
        .with_response(packets_down, packets_down * between(rng, 90, 200))
        .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
        .with_timing(duration_ms, normal_latency(rng));
        Emission::conversation(session, unit(rng) < 0.25, out);
    }

    /// Every source is past the span.
    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.guessers.iter().all(|guesser| guesser.next_ms >= self.span_ms)
    }

    fn next_due_ms(&self) -> Option<u64> {
        self.guessers.get(self.next_guesser()).map(|guesser| guesser.next_ms)
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let mean_gap = (self.gap_ms.0 + self.gap_ms.1) as f64 / 2.0;
        let parameters = json!({
            "form": self.form.name(),
            "port": self.port,
            "sources": self.guessers.len(),
            "attempts_per_minute_per_source": (60_000.0 / mean_gap.max(1.0) * 100.0).round() / 100.0,
            "span_ms": self.span_ms,
            "attempts": self.attempts(),
            "planned_records": self.planned_records(),
        });
        let actors = Actors {
            sources: self.guessers.iter().map(|guesser| IpAddr::V4(guesser.endpoint.address())).collect(),
            targets: vec![IpAddr::V4(self.target.address)],
            ports: vec![self.port],
            service: self.service,
        };
        (parameters, actors)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::{TimedRun, run_timed_in, session_of};
    use super::*;
    use crate::network::topology::Topology;
    use crate::records::protocol;

    fn campaign<'t>(topology: &'t Topology, form: &'static str, target: &Target, seed: u64) -> TimedRun<'t> {
        run_timed_in(form, AnomalyKind::BruteForce, topology, (target, 1.0, None), seed)
    }

    /// Attempts (a conversation's first record: the request at the target) per source per minute.
    fn attempts_per_minute(run: &TimedRun<'_>) -> BTreeMap<(IpAddr, i64), u64> {
        let mut counts = BTreeMap::new();
        for (time_ms, emission) in &run.records {
            if let Emission::Flow { session, side: crate::network::session::Side::Request, prefer_destination: true } = emission {
                *counts.entry((IpAddr::V4(session.client.address()), (time_ms - run.records[0].0) / 60_000)).or_insert(0) += 1;
            }
        }
        counts
    }

    #[test]
    fn every_attempt_is_a_whole_short_accepted_session_to_one_login_port() {
        let topology = Topology::new(7);
        for (seed, form) in [(1, "overt"), (2, "subtle"), (3, "subtle"), (4, "overt")] {
            let run = campaign(&topology, form, &Target::Any, seed);
            let target = run.actors.targets[0];
            for (_, emission) in &run.records {
                let session = session_of(emission).unwrap();
                assert_eq!(IpAddr::V4(session.server.address()), target);
                assert!([22, 3389].contains(&session.server_port));
                assert_eq!((session.protocol, session.flags_up.bits(), session.flags_down.bits()), (protocol::TCP, 3, 19));
                assert!((10..=40).contains(&(session.packets_up + session.packets_down)), "{session:?}");
                assert!(session.bytes_down < 5_500 && session.duration_ms < 10_000, "{session:?}");
                assert_eq!(session.outcome, crate::network::session::Outcome::Allowed);
            }
            assert_eq!(run.actors.ports.len(), 1);
        }
    }

    #[test]
    fn the_overt_form_makes_tens_of_attempts_a_minute_from_one_source() {
        let topology = Topology::new(7);
        for seed in 0..4 {
            let run = campaign(&topology, "overt", &Target::Any, seed);
            assert_eq!(run.actors.sources.len(), 1);
            let minutes = attempts_per_minute(&run);
            let full: Vec<u64> = minutes.values().copied().take(minutes.len().saturating_sub(1)).collect();
            assert!(full.len() >= 4, "seed {seed}: {} minutes", full.len());
            assert!(full.iter().all(|count| (10..=130).contains(count)), "seed {seed}: {full:?}");
            let mean = full.iter().sum::<u64>() as f64 / full.len() as f64;
            assert!(mean >= 15.0, "seed {seed}: {mean} a minute");
        }
    }

    #[test]
    fn the_subtle_form_keeps_each_source_under_three_a_minute_for_hours() {
        let topology = Topology::new(7);
        let mut forms = Vec::new();
        for seed in 0..8 {
            let run = campaign(&topology, "subtle", &Target::Any, seed);
            let span = run.records.last().unwrap().0 - run.records[0].0;
            assert!(span >= 55 * 60_000, "seed {seed}: {span} ms");
            let per_minute = attempts_per_minute(&run);
            assert!(per_minute.values().all(|count| *count <= 3), "seed {seed}: {per_minute:?}");
            // Wazuh 5712: 8 from one source in 120 s; never 7 in any two minutes here.
            let mut times: BTreeMap<IpAddr, Vec<i64>> = BTreeMap::new();
            for (time_ms, emission) in &run.records {
                if let Emission::Flow { session, side: crate::network::session::Side::Request, prefer_destination: true } = emission {
                    times.entry(IpAddr::V4(session.client.address())).or_default().push(*time_ms);
                }
            }
            for list in times.values() {
                assert!(list.windows(7).all(|seven| seven[6] - seven[0] >= 120_000), "seed {seed}");
            }
            forms.push(run.parameters["form"].as_str().unwrap().to_owned());
            if forms.last().unwrap() == "spread" {
                assert!((4..=8).contains(&run.actors.sources.len()));
            }
        }
        assert!(forms.contains(&"spread".to_owned()) && forms.contains(&"low_and_slow".to_owned()), "{forms:?}");
    }

    #[test]
    fn a_service_target_is_attacked_on_its_port_and_a_host_target_is_the_host() {
        let topology = Topology::new(7);
        let run = campaign(&topology, "overt", &Target::Service("ssh".into()), 3);
        assert_eq!((run.actors.service, run.actors.ports.as_slice()), (Some("ssh"), [22u16].as_slice()));
        let host = topology.hosts.iter().find(|host| host.role == Role::Web).unwrap();
        let run = campaign(&topology, "subtle", &Target::Host(host.address), 3);
        assert!(run.records.iter().all(|(_, emission)| session_of(emission).unwrap().server.address() == host.address));
    }

    #[test]
    fn a_fixed_span_holds_the_attempts_and_intensity_raises_the_overt_rate() {
        let topology = Topology::new(7);
        for seed in 0..4 {
            let fitted = run_timed_in("subtle", AnomalyKind::BruteForce, &topology, (&Target::Any, 1.0, Some(600_000)), seed);
            assert!(fitted.records.iter().all(|(time_ms, _)| *time_ms - fitted.records[0].0 < 600_000));
            let once = run_timed_in("overt", AnomalyKind::BruteForce, &topology, (&Target::Any, 1.0, Some(600_000)), seed);
            let twice = run_timed_in("overt", AnomalyKind::BruteForce, &topology, (&Target::Any, 2.0, Some(600_000)), seed);
            let attempts = |run: &TimedRun<'_>| run.parameters["attempts"].as_u64().unwrap() as f64;
            assert!((1.7..2.3).contains(&(attempts(&twice) / attempts(&once))), "seed {seed}");
        }
    }
}
