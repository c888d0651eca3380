//! `syn_flood`: spoofed TCP SYNs flood one public port of one public host, ATT&CK T1498.001
//! (Network Denial of Service: Direct Network Flood, <https://attack.mitre.org/techniques/T1498/001/>).
//!
//! Every SYN comes from its own spoofed address and port, so each is a flow of its own at the
//! target's ENI: one packet of 40–60 bytes (a bare SYN, or one with options), `tcp_flags` 2,
//! ACCEPT (the security group lets the public port through), and no reply flow (the handshake
//! never completes: the spoofed sources do not answer, and the flow log shows nothing back).
//!
//! - **overt**: 60–120 SYNs a second (3,600–7,200 records a minute) for 2–6 minutes. While it
//!   lasts, the target's ENI also writes one `SKIPDATA` record per aggregation window: AWS writes
//!   one when a window's records overflow what it could capture, and every window of the overt
//!   flood does.
//! - **subtle**: short pulses, 10–30 s each at 20–45 SYNs a second, their starts 2–8 minutes
//!   apart, for 30–90 minutes; between pulses nothing. A pulse (at most 1,350 SYNs) overflows no
//!   window, so no `SKIPDATA`.
//!
//! The target: a service target's member on the service's port; a host or subnet target's host on
//! the public port it serves (443 for a web server, 22 for a bastion, else 443); else a web server
//! of a VPC drawn by weight, on 443 (80 a quarter of the time). Intensity multiplies the overt
//! rate and the subtle form's length (its pulses' rate is its point); a fixed span (a scenario's
//! duration) replaces the drawn one. The episode's actors name the target only: the sources are
//! spoofed, one per SYN (`spoofed_sources` counts them).
//!
//! Shape: the VPC user guide's "Flow log record examples" (a `SKIPDATA` record: every traffic
//! field `-`) and its log-status definition ("some flow log records were skipped during the
//! aggregation interval"); Cloudflare's and AWS Shield's descriptions of SYN floods (spoofed
//! sources, half-open connections).
//!
//! # Calibration
//!
//! - ntopng's host alert "SYN flood victim": more than 50 SYNs a second received by one host
//!   (its default threshold). The overt flood runs at 60–120 a second; the subtle pulses at
//!   20–45.
//! - Splunk Stream SYN-flood searches count SYNs by source and destination (over 100 in 5 s): a
//!   spoofed flood has one SYN per source and trips no per-source count in either form; only a
//!   per-destination count (the ntopng rule) or the `SKIPDATA` records (Turbot's
//!   `vpc_flow_log_log_skipped` detection flags any) catch it, and the subtle form leaves no
//!   `SKIPDATA`.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, normal_latency, service_rule};
use crate::network::random::{LaneRng, between, chance, pick, unit, weighted};
use crate::network::session::{Endpoint, Session, Side};
use crate::network::target::Target;
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::SynFlood,
    short_name: "flood",
    probability: None,
    // Floods are rare events for one estate (a few a month for a busy public site): one in ten
    // hours keeps a day of logs mostly normal while a day-long run still holds a couple.
    per_hour: PerHourFlag {
        name: "syn_flood_per_hour",
        flag: "syn-flood-per-hour",
        env: "SYN_FLOOD_PER_HOUR",
        default: "0.1",
        help: "SYN-flood episodes against a public port per logical hour (--difficulty syn_flood=overt|subtle|mixed)",
    },
    technique: Some("T1498.001"),
    parameters: &[],
    mean_records: 21_600.0,
    target_span_seconds: 240.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

/// The length of an aggregation window, ms: one `SKIPDATA` record per window of the overt flood.
const WINDOW_MS: u64 = 60_000;

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(SynFlood::start(rng, baseline, start))
}

/// A stretch of flooding: from `start_ms` to `end_ms` after the episode's start, at `per_second`.
#[derive(Debug, Clone, Copy)]
struct Pulse {
    start_ms: u64,
    end_ms: u64,
    per_second: f64,
}

#[derive(Debug)]
pub struct SynFlood<'t> {
    subtle: bool,
    target: &'t Host,
    port: u16,
    service: Option<&'static str>,
    app_proto: AppProto,
    rule: &'static str,
    /// The overt flood is one pulse.
    pulses: Vec<Pulse>,
    /// The pulse the next SYN belongs to (`pulses.len()` once all are done).
    pulse: usize,
    /// When the next SYN is due, ms after the start.
    next_syn_ms: f64,
    /// When the next `SKIPDATA` record is due (a window's end), while windows overflow.
    next_skip_ms: Option<u64>,
    syns: u64,
    skipped_windows: u64,
}

impl<'t> SynFlood<'t> {
    /// A flood in the start's form against its target (else a web server drawn from `rng`).
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let (target, port, service) = pick_target(rng, baseline, start.target);
        let subtle = start.is_subtle();
        let pulses = if subtle {
            let length_ms = start.span_ms.unwrap_or(start.scaled(between(rng, 30, 90)) * 60_000);
            let mut pulses = Vec::new();
            let mut at = 0;
            while at < length_ms {
                let end_ms = (at + between(rng, 10_000, 30_000)).min(length_ms);
                pulses.push(Pulse { start_ms: at, end_ms, per_second: between(rng, 20, 45) as f64 });
                at += between(rng, 120_000, 480_000);
            }
            pulses
        } else {
            let per_second = between(rng, 60, 120) as f64 * start.intensity.max(f64::MIN_POSITIVE);
            let length_ms = start.span_ms.unwrap_or(between(rng, 2, 6) * 60_000);
            vec![Pulse { start_ms: 0, end_ms: length_ms.max(1), per_second }]
        };
        let next_skip_ms = (!subtle && pulses[0].end_ms > WINDOW_MS - 1_000).then_some(WINDOW_MS - 1_000);
        let (app_proto, rule) = match baseline.topology.services.iter().find(|candidate| Some(candidate.name) == service) {
            Some(service) => (service.app_proto, service_rule(service)),
            None if port == 80 => (AppProto::Http, "allow-inbound-web"),
            None => (AppProto::Tls, "allow-inbound-web"),
        };
        SynFlood {
            subtle,
            target,
            port,
            service,
            app_proto,
            rule,
            pulses,
            pulse: 0,
            next_syn_ms: 0.0,
            next_skip_ms,
            syns: 0,
            skipped_windows: 0,
        }
    }

    /// Moves the SYN clock one gap on, into the next pulse when this one is over.
    fn advance_syn(&mut self, rng: &mut LaneRng) {
        let Some(pulse) = self.pulses.get(self.pulse) else { return };
        // Evenly spaced with jitter: a flooding tool sends at a set rate.
        self.next_syn_ms += 1_000.0 / pulse.per_second * (0.5 + unit(rng));
        if self.next_syn_ms >= pulse.end_ms as f64 {
            self.pulse += 1;
            if let Some(next) = self.pulses.get(self.pulse) {
                self.next_syn_ms = next.start_ms as f64;
            }
        }
    }

    fn spoofed_syn(&self, rng: &mut LaneRng) -> Emission<'t> {
        let source = internet_address(rng);
        let bytes = *pick(rng, &[40u64, 44, 48, 52, 60]);
        let session = Session::new(
            (Endpoint::External(source), between(rng, 1_024, 65_535) as u16),
            (Endpoint::Host(self.target), self.port),
            protocol::TCP,
            self.app_proto,
            self.rule,
        )
        .with_request(1, bytes)
        .with_flags(TcpFlags::SYN, TcpFlags::NONE)
        .with_timing(0, normal_latency(rng));
        Emission::Flow { session, side: Side::Request, prefer_destination: true }
    }
}

/// The flooded host, its port and the catalog service on it (if any).
fn pick_target<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, target: &Target) -> (&'t Host, u16, Option<&'static str>) {
    let topology = baseline.topology;
    if let Target::Service(name) = target
        && let Some(service) = topology.services.iter().find(|service| service.name == name)
        && let Some(host) = baseline.target_host(rng, target)
    {
        return (host, service.port, Some(service.name));
    }
    if let Some(host) = baseline.target_host(rng, target) {
        return match host.role {
            Role::Bastion => (host, 22, Some("ssh")),
            Role::Web => (host, 443, Some("web-https")),
            _ => (host, 443, None),
        };
    }
    let weights: Vec<f64> = topology.vpcs.iter().map(|vpc| vpc.weight).collect();
    let vpc = weighted(rng, &weights);
    let host = baseline.caller_host(rng, vpc, &[Role::Web]);
    if chance(rng, 0.25) { (host, 80, Some("web-http")) } else { (host, 443, Some("web-https")) }
}

/// A random address of the public internet (no private, shared, loopback, link-local,
/// documentation, benchmarking, multicast or reserved space): a spoofed or botnet source.
pub(super) fn internet_address(rng: &mut LaneRng) -> Ipv4Addr {
    loop {
        let address = Ipv4Addr::from(between(rng, 0x0100_0000, 0xDFFF_FFFF) as u32);
        let [first, second, third, _] = address.octets();
        let reserved = address.is_private()
            || address.is_loopback()
            || address.is_link_local()
            || address.is_documentation()
            || (first == 100 && (64..128).contains(&second))
            || (first == 198 && (18..20).contains(&second))
            || (first == 192 && second == 0 && third == 0);
        // Six draws in seven are public: the loop ends after a draw or two.
        if !reserved {
            return address;
        }
    }
}

impl<'t> Episode<'t> for SynFlood<'t> {
    /// Its pulses' SYNs, and a `SKIPDATA` record per window of the overt flood.
    fn planned_records(&self) -> u64 {
        let syns: f64 = self.pulses.iter().map(|pulse| (pulse.end_ms - pulse.start_ms) as f64 / 1_000.0 * pulse.per_second).sum();
        let windows = if self.subtle { 0 } else { (self.pulses[0].end_ms + 1_000) / WINDOW_MS };
        syns.round() as u64 + windows
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        if let Some(skip_ms) = self.next_skip_ms
            && (skip_ms as f64 <= self.next_syn_ms || self.pulse >= self.pulses.len())
        {
            self.skipped_windows += 1;
            let next = skip_ms + WINDOW_MS;
            self.next_skip_ms = (next < self.pulses[0].end_ms).then_some(next);
            out.push_back(Emission::SkipData(self.target));
            return;
        }
        self.syns += 1;
        out.push_back(self.spoofed_syn(rng));
        self.advance_syn(rng);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.pulse >= self.pulses.len() && self.next_skip_ms.is_none()
    }

    fn next_due_ms(&self) -> Option<u64> {
        let syn = (self.pulse < self.pulses.len()).then_some(self.next_syn_ms as u64);
        match (syn, self.next_skip_ms) {
            (Some(syn), Some(skip)) => Some(syn.min(skip)),
            (syn, skip) => syn.or(skip),
        }
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let mut parameters = json!({
            "form": if self.subtle { "pulses" } else { "flood" },
            "port": self.port,
            "span_ms": self.pulses.last().map_or(0, |pulse| pulse.end_ms),
            "pulses": self.pulses.len(),
            "syns_per_second": self.pulses.first().map_or(0.0, |pulse| pulse.per_second),
            "spoofed_sources": self.syns,
            "skipdata_windows": self.skipped_windows,
            "planned_records": self.planned_records(),
        });
        if self.subtle {
            parameters["syns_per_second"] = json!(self.pulses.iter().map(|pulse| pulse.per_second).fold(0.0, f64::max));
        }
        let actors =
            Actors { sources: Vec::new(), targets: vec![IpAddr::V4(self.target.address)], ports: vec![self.port], service: self.service };
        (parameters, actors)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::testing::{TimedRun, run_timed_in, session_of};
    use super::*;
    use crate::network::topology::Topology;

    fn flood<'t>(topology: &'t Topology, form: &'static str, intensity: f64, seed: u64) -> TimedRun<'t> {
        run_timed_in(form, AnomalyKind::SynFlood, topology, (&Target::Any, intensity, None), seed)
    }

    /// SYNs per minute of the flood (from its first record).
    fn per_minute(run: &TimedRun<'_>) -> BTreeMap<i64, u64> {
        let mut counts = BTreeMap::new();
        for (time_ms, emission) in &run.records {
            if matches!(emission, Emission::Flow { .. }) {
                *counts.entry((time_ms - run.records[0].0) / 60_000).or_insert(0) += 1;
            }
        }
        counts
    }

    #[test]
    fn every_syn_is_one_small_unanswered_packet_from_its_own_source() {
        let topology = Topology::new(7);
        for (seed, form) in [(1, "overt"), (2, "subtle")] {
            let run = flood(&topology, form, 1.0, seed);
            let target = run.actors.targets[0];
            let mut sources = BTreeSet::new();
            let mut syns = 0;
            for (_, emission) in &run.records {
                let Some(session) = session_of(emission) else { continue };
                assert!(matches!(emission, Emission::Flow { side: Side::Request, prefer_destination: true, .. }));
                assert_eq!(IpAddr::V4(session.server.address()), target);
                assert_eq!((session.flags_up.bits(), session.packets_up, session.packets_down), (2, 1, 0));
                assert!((40..=60).contains(&session.bytes_up));
                assert!(!session.client.address().is_private());
                sources.insert(session.client.address());
                syns += 1;
            }
            assert!(sources.len() as f64 > 0.99 * syns as f64, "{} sources for {syns} SYNs", sources.len());
            assert!(syns >= if form == "overt" { 5_000 } else { 200 }, "{form}: {syns}");
            assert_eq!(run.parameters["spoofed_sources"], syns);
        }
    }

    #[test]
    fn the_overt_flood_writes_thousands_a_minute_and_skipdata_every_window() {
        let topology = Topology::new(7);
        for seed in 0..4 {
            let run = flood(&topology, "overt", 1.0, seed);
            let minutes = per_minute(&run);
            let full: Vec<u64> = minutes.values().copied().take(minutes.len() - 1).collect();
            assert!(!full.is_empty() && full.iter().all(|count| *count >= 3_000), "seed {seed}: {full:?}");
            let skips: Vec<i64> = run
                .records
                .iter()
                .filter(|(_, emission)| matches!(emission, Emission::SkipData(host) if IpAddr::V4(host.address) == run.actors.targets[0]))
                .map(|(time_ms, _)| (time_ms - run.records[0].0) / 60_000)
                .collect();
            assert_eq!(skips, (0..skips.len() as i64).collect::<Vec<_>>(), "seed {seed}: one SKIPDATA a window");
            assert!(skips.len() >= full.len(), "seed {seed}");
        }
    }

    #[test]
    fn the_subtle_form_pulses_under_fifty_a_second_with_quiet_minutes_between() {
        let topology = Topology::new(7);
        for seed in 0..4 {
            let run = flood(&topology, "subtle", 1.0, seed);
            assert!(run.records.iter().all(|(_, emission)| matches!(emission, Emission::Flow { .. })), "no SKIPDATA");
            let times: Vec<i64> = run.records.iter().map(|(time_ms, _)| *time_ms).collect();
            // Pulses: runs of SYNs with gaps of over a minute between them.
            let mut pulses = vec![vec![times[0]]];
            for pair in times.windows(2) {
                if pair[1] - pair[0] > 60_000 {
                    pulses.push(Vec::new());
                }
                pulses.last_mut().unwrap().push(pair[1]);
            }
            assert!(pulses.len() >= 4, "seed {seed}: {} pulses", pulses.len());
            for pulse in &pulses[..pulses.len() - 1] {
                let seconds = (pulse[pulse.len() - 1] - pulse[0]) as f64 / 1_000.0;
                assert!(seconds <= 31.0, "seed {seed}: a pulse of {seconds} s");
                assert!(pulse.len() as f64 / seconds.max(1.0) < 50.0, "seed {seed}: {} SYNs in {seconds} s", pulse.len());
            }
            assert!(per_minute(&run).values().all(|count| *count <= 1_400), "seed {seed}");
        }
    }

    #[test]
    fn intensity_raises_the_overt_rate_and_a_fixed_span_holds_the_flood() {
        let topology = Topology::new(7);
        let span = |intensity, seed| run_timed_in("overt", AnomalyKind::SynFlood, &topology, (&Target::Any, intensity, Some(90_000)), seed);
        for seed in 0..3 {
            let (once, twice) = (span(1.0, seed), span(2.0, seed));
            let ratio = twice.records.len() as f64 / once.records.len() as f64;
            assert!((1.9..2.1).contains(&ratio), "seed {seed}: {ratio}");
            assert!(twice.records.iter().all(|(time_ms, _)| time_ms - twice.records[0].0 < 90_000));
        }
    }

    #[test]
    fn a_service_or_host_target_is_the_flooded_one() {
        let topology = Topology::new(7);
        let run = run_timed_in("subtle", AnomalyKind::SynFlood, &topology, (&Target::Service("ssh".into()), 1.0, Some(60_000)), 1);
        assert_eq!((run.actors.service, run.actors.ports.as_slice()), (Some("ssh"), [22u16].as_slice()));
        let host = topology.hosts.iter().rev().find(|host| host.role == Role::Web).unwrap();
        let run = run_timed_in("overt", AnomalyKind::SynFlood, &topology, (&Target::Host(host.address), 1.0, Some(60_000)), 1);
        assert!(run.records.iter().all(|(_, emission)| super::super::testing::involves(emission, host.address)));
        assert_eq!(run.actors.ports, [443]);
    }

    #[test]
    fn internet_addresses_are_public() {
        let mut rng = crate::network::random::rng_for(3, 3);
        for _ in 0..10_000 {
            let address = internet_address(&mut rng);
            assert!(!address.is_private() && !address.is_loopback() && !address.is_multicast() && address.octets()[0] != 0);
        }
    }
}
