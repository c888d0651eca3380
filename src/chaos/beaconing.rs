//! `beaconing`: a compromised internal host checks in with its command-and-control server on a
//! timer, for hours (MITRE ATT&CK T1071.001, Application Layer Protocol: Web Protocols,
//! <https://attack.mitre.org/techniques/T1071/001/>).
//!
//! Every check-in is one short TCP conversation from the host to one external address the baseline
//! never uses, on 443 (TLS) or, less often, 80 / 8080 (HTTP): its two flow records at the host's
//! ENI (egress request, ingress reply), and the firewall's session record for a quarter of them.
//! Check-ins are `S` seconds apart with a jitter, as implants sleep: with 10% jitter on a 60-s
//! sleep, Cobalt Strike sleeps 54–60 s (one-sided, `[S·(1 − J), S]`), PoshC2 and Empire 54–66 s
//! (symmetric, `[S·(1 − J), S·(1 + J)]`) (Fox-IT, "Hunting for beacons", 2020,
//! <https://blog.fox-it.com/2020/01/15/hunting-for-beacons/>). The episode's `parameters` hold
//! `interval_s`, `jitter` (a fraction) and `jitter_mode`.
//!
//! - **Overt**: `S` 30 s–30 min (log-uniform), jitter 0–20% of either mode, for 2–8 hours and
//!   at least 8 intervals; check-ins of near-constant size (each direction within ±2% of its own
//!   size, under 1 KB).
//! - **Subtle**: `S` 2–20 min, symmetric jitter of 30–50%, for 3–10 hours; sizes that vary
//!   (log-normal, σ 0.45, a coefficient of variation near 0.5), now and then a task download of
//!   a few KB.
//!
//! # Calibration
//!
//! Elastic's Network Beaconing Identification transform (`elastic/integrations`,
//! `packages/beaconing/.../pivot_transform/transform.yml`) splits 6 hours into 60-s buckets and
//! flags a host's traffic when, after discarding buckets outside the 10th–80th percentiles, the
//! mean bytes of a bucket vary with a coefficient of variation of at most
//! `max_beaconing_bytes_cov` = 0.05 (once for bytes sent, once for bytes received), or the counts
//! per bucket are regular (`max_beaconing_count_rv` 0.1) or periodic (autocovariance at least
//! `min_beaconing_count_autocovariance` 0.7), with at least `min_number_periods` = 6 periods seen.
//! Its prebuilt rule "Statistical Model Detected C2 Beaconing Activity with High Confidence"
//! (`elastic/detection-rules`, `rules/integrations/beaconing/`) fires at `beaconing_score: 3`:
//! both byte tests and the timing test. The overt form trips it: sizes within ±2% (a
//! coefficient of variation of at most 0.012, under 0.05 both ways), at least 8 intervals long (a
//! 6-hour window over it holds the 7 non-empty buckets the transform asks for), jitter of at most
//! 20% (an interval coefficient of variation of at most 0.12). The subtle form stays under it: both byte tests fail (sizes vary with a
//! coefficient of variation near 0.5, ten times 0.05), so its score is at most 1; its symmetric
//! 30–50% jitter (an interval coefficient of variation of 0.17–0.29) on sleeps of minutes blurs
//! the timing test too, though a lucky stretch may still set the low-confidence rule's
//! `is_beaconing`: subtle, not invisible.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency};
use crate::network::random::{LaneRng, between, chance, log_normal, unit};
use crate::network::session::{Endpoint, Session};
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::outside::unseen_address;
use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::Beaconing,
    short_name: "beacon",
    probability: None,
    per_hour: PerHourFlag {
        name: "beaconing_per_hour",
        flag: "beaconing-per-hour",
        env: "BEACONING_PER_HOUR",
        // An episode lasts hours: at one every 4 hours about one beacon is running at any time,
        // six a logical day, each a tiny share of the records.
        default: "0.25",
        help: "Beaconing episodes (a host checking in with a C2 server every 30 s-30 min, for hours) per logical hour",
    },
    technique: Some("T1071.001"),
    parameters: &[],
    mean_records: 400.0,
    target_span_seconds: 5.0 * 3600.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(Beaconing::start(rng, baseline, start))
}

/// How an implant spreads its sleeps around the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JitterMode {
    /// `[S·(1 − J), S]`: Cobalt Strike.
    OneSided,
    /// `[S·(1 − J), S·(1 + J)]`.
    Symmetric,
}

#[derive(Debug)]
pub struct Beaconing<'t> {
    host: &'t Host,
    server: Ipv4Addr,
    port: u16,
    subtle: bool,
    interval_ms: u64,
    jitter: f64,
    mode: JitterMode,
    /// Bytes of a check-in each way, before its own variation.
    request_bytes: u64,
    response_bytes: u64,
    /// How long the episode beacons, ms after its first check-in.
    duration_ms: u64,
    /// When the next check-in is due, ms after the first.
    next_at_ms: u64,
    check_ins: u64,
}

impl<'t> Beaconing<'t> {
    /// Beaconing from the start's target host (else a worker, API or web host), in the start's
    /// form, for the start's span when it fixes one (else the form's own hours times the
    /// intensity).
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let host = match baseline.target_host(rng, start.target) {
            Some(host) => host,
            None => {
                let vpc = (unit(rng) * baseline.topology.vpcs.len() as f64) as usize % baseline.topology.vpcs.len();
                baseline.caller_host(rng, vpc, &[Role::Worker, Role::Api, Role::Web])
            }
        };
        let subtle = start.is_subtle();
        let port = match between(rng, 0, 9) {
            0..=6 => 443,
            7 | 8 => 80,
            _ => 8080,
        };
        let (interval_s, jitter, hours) = if subtle {
            (between(rng, 120, 1_200) as f64, 0.3 + 0.2 * unit(rng), 3.0 + 7.0 * unit(rng))
        } else {
            // Log-uniform over 30 s-30 min: as many 1-minute beacons as 15-minute ones.
            (30.0 * 60f64.powf(unit(rng)), 0.2 * unit(rng), 2.0 + 6.0 * unit(rng))
        };
        // Implants that mean to hide spread their sleeps both ways.
        let mode = if !subtle && chance(rng, 0.5) { JitterMode::OneSided } else { JitterMode::Symmetric };
        // An overt beacon runs long enough for a 6-hour window to see it 8 times.
        let hours = if subtle { hours } else { hours.max(8.0 * interval_s / 3600.0) };
        let duration_ms = start.span_ms.unwrap_or_else(|| start.scaled((hours * 3_600_000.0) as u64));
        Beaconing {
            host,
            server: unseen_address(rng, baseline.topology),
            port,
            subtle,
            interval_ms: (interval_s * 1000.0).round() as u64,
            jitter,
            mode,
            request_bytes: between(rng, 250, 700),
            response_bytes: between(rng, 150, 600),
            duration_ms,
            next_at_ms: 0,
            check_ins: 0,
        }
    }

    /// The sleep before the next check-in.
    fn sleep_ms(&self, rng: &mut LaneRng) -> u64 {
        let interval = self.interval_ms as f64;
        let factor = match self.mode {
            JitterMode::OneSided => 1.0 - self.jitter * unit(rng),
            JitterMode::Symmetric => 1.0 + self.jitter * (2.0 * unit(rng) - 1.0),
        };
        ((interval * factor).round() as u64).max(1_000)
    }

    /// A check-in's bytes one way around `base`: near-constant overt, varying subtle.
    fn size(&self, rng: &mut LaneRng, base: u64) -> u64 {
        let bytes = if self.subtle {
            let varied = log_normal(rng, base as f64, 0.45);
            // Now and then the implant fetches a task or a module.
            if chance(rng, 0.05) { varied + between(rng, 2_000, 8_000) as f64 } else { varied }
        } else {
            base as f64 * (0.98 + 0.04 * unit(rng))
        };
        (bytes.round() as u64).max(120)
    }

    fn mean_sleep_ms(&self) -> f64 {
        match self.mode {
            JitterMode::OneSided => self.interval_ms as f64 * (1.0 - self.jitter / 2.0),
            JitterMode::Symmetric => self.interval_ms as f64,
        }
    }
}

impl<'t> Episode<'t> for Beaconing<'t> {
    /// Two flow records a check-in, and the firewall's for a quarter of them.
    fn planned_records(&self) -> u64 {
        let check_ins = (self.duration_ms as f64 / self.mean_sleep_ms()).floor() as u64 + 1;
        (check_ins as f64 * 2.25).round() as u64
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let bytes_up = self.size(rng, self.request_bytes);
        let bytes_down = self.size(rng, self.response_bytes);
        // Small segments: a check-in is a handful of packets each way.
        let packets_up = (bytes_up / between(rng, 90, 160)).clamp(2, bytes_up / 40);
        let packets_down = (bytes_down / between(rng, 90, 160)).clamp(2, bytes_down / 40);
        let (app_proto, rule, http_status) =
            if self.port == 443 { (AppProto::Tls, "allow-egress-https", None) } else { (AppProto::Http, "allow-egress-web", Some(200)) };
        let session = Session::new(
            (Endpoint::Host(self.host), ephemeral_port(rng)),
            (Endpoint::External(self.server), self.port),
            protocol::TCP,
            app_proto,
            rule,
        )
        .with_request(packets_up, bytes_up)
        .with_response(packets_down, bytes_down)
        .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
        .with_timing(between(rng, 150, 1_500), normal_latency(rng))
        .with_http_status(http_status);
        Emission::conversation(session, chance(rng, 0.25), out);
        self.check_ins += 1;
        self.next_at_ms += self.sleep_ms(rng);
    }

    /// Once the next check-in would fall after the episode's duration.
    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.check_ins > 0 && self.next_at_ms > self.duration_ms
    }

    fn next_due_ms(&self) -> Option<u64> {
        Some(self.next_at_ms)
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "interval_s": self.interval_ms as f64 / 1000.0,
            "jitter": self.jitter,
            "jitter_mode": match self.mode { JitterMode::OneSided => "one_sided", JitterMode::Symmetric => "symmetric" },
            "duration_s": self.duration_ms / 1000,
            "check_ins": self.check_ins,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
        });
        let actors = Actors {
            sources: vec![IpAddr::V4(self.host.address)],
            targets: vec![IpAddr::V4(self.server)],
            ports: vec![self.port],
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
    use crate::network::topology::Topology;

    /// The check-ins' request records: (time, bytes up, bytes down).
    fn check_ins(run: &TimedRun<'_>) -> Vec<(i64, u64, u64)> {
        run.records
            .iter()
            .filter_map(|(time, emission)| match emission {
                Emission::Flow { session, side: Side::Request, .. } => Some((*time, session.bytes_up, session.bytes_down)),
                _ => None,
            })
            .collect()
    }

    fn coefficient_of_variation(values: &[f64]) -> f64 {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let variance = values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / values.len() as f64;
        variance.sqrt() / mean
    }

    fn gaps(check_ins: &[(i64, u64, u64)]) -> Vec<f64> {
        check_ins.windows(2).map(|pair| (pair[1].0 - pair[0].0) as f64).collect()
    }

    #[test]
    fn overt_check_ins_keep_their_interval_and_their_size_for_hours() {
        let topology = Topology::new(7);
        for seed in 0..12 {
            let run = run_timed_form(AnomalyKind::Beaconing, &topology, &Target::Any, 1.0, "overt", None, seed);
            let interval_ms = run.parameters["interval_s"].as_f64().unwrap() * 1000.0;
            let jitter = run.parameters["jitter"].as_f64().unwrap();
            assert!((30_000.0..=1_800_000.0).contains(&interval_ms) && (0.0..=0.2).contains(&jitter), "{}", run.parameters);
            let check_ins = check_ins(&run);
            let span_ms = check_ins.last().unwrap().0 - check_ins[0].0;
            assert!(span_ms as f64 >= 2.0 * 3_600_000.0 - interval_ms * 1.2, "seed {seed}: {span_ms} ms");
            let symmetric = run.parameters["jitter_mode"] == "symmetric";
            let (low, high) = if symmetric { (1.0 - jitter, 1.0 + jitter) } else { (1.0 - jitter, 1.0) };
            for gap in gaps(&check_ins) {
                // A record takes the first 10-ms slot at or after its due time.
                let (shortest, longest) = (interval_ms * low - 10.0, interval_ms * high + 10.0);
                assert!(
                    (shortest..=longest).contains(&gap),
                    "seed {seed}: a gap of {gap} ms, not {shortest}-{longest}: {}",
                    run.parameters
                );
            }
            assert!(coefficient_of_variation(&gaps(&check_ins)) <= 0.12, "seed {seed}");
            for direction in [1, 2] {
                let sizes: Vec<f64> =
                    check_ins.iter().map(|check_in| if direction == 1 { check_in.1 } else { check_in.2 } as f64).collect();
                assert!(sizes.iter().all(|size| *size < 1_000.0), "seed {seed}: a check-in of 1 KB or more");
                assert!(coefficient_of_variation(&sizes) < 0.05, "seed {seed}: sizes vary");
            }
            assert!(run.records.iter().all(|(_, emission)| {
                let session = session_of(emission).unwrap();
                session.client.address() == run.actors.sources[0] && IpAddr::V4(session.server.address()) == run.actors.targets[0]
            }));
        }
    }

    #[test]
    fn subtle_check_ins_are_minutes_apart_with_wide_jitter_and_varying_sizes() {
        let topology = Topology::new(7);
        for seed in 0..12 {
            let run = run_timed_form(AnomalyKind::Beaconing, &topology, &Target::Any, 1.0, "subtle", None, seed);
            let interval_ms = run.parameters["interval_s"].as_f64().unwrap() * 1000.0;
            let jitter = run.parameters["jitter"].as_f64().unwrap();
            assert!((120_000.0..=1_200_000.0).contains(&interval_ms) && (0.3..=0.5).contains(&jitter), "{}", run.parameters);
            let check_ins = check_ins(&run);
            assert_eq!(run.parameters["jitter_mode"], "symmetric");
            assert!(coefficient_of_variation(&gaps(&check_ins)) > 0.1, "seed {seed}: too regular");
            let sizes: Vec<f64> = check_ins.iter().map(|check_in| check_in.1 as f64).collect();
            assert!(coefficient_of_variation(&sizes) > 0.25, "seed {seed}: sizes too steady");
            // Minutes apart: at most 30 check-ins an hour.
            let hours = (check_ins.last().unwrap().0 - check_ins[0].0) as f64 / 3_600_000.0;
            assert!(check_ins.len() as f64 <= 30.0 * hours + 1.0, "seed {seed}");
        }
    }

    #[test]
    fn a_fixed_span_holds_every_check_in_and_a_target_is_the_host() {
        let topology = Topology::new(7);
        let host = &topology.hosts[30];
        let run = run_timed_form(AnomalyKind::Beaconing, &topology, &Target::Host(host.address), 1.0, "overt", Some(3_600_000), 2);
        let check_ins = check_ins(&run);
        assert!(check_ins.last().unwrap().0 - check_ins[0].0 <= 3_600_000);
        assert_eq!(run.actors.sources, [IpAddr::V4(host.address)]);
    }
}
