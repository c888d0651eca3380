//! The subtle form of `connection_reset`: resets on one service rise to a few a minute and hold.
//!
//! Over one to three hours, torn-down connections with one service (the overt form's records: a
//! flow of the side that reset, or the firewall's `reset` session, HTTP 502 / 503 / 504 where the
//! service speaks HTTP) come at a rate that rises linearly over the first half of the episode to a
//! peak of 1–4 a minute and holds there. Against a service carrying 50–400 sessions a minute that
//! is the "few percent" of its sessions a failing instance behind a balancer, a connection-pool
//! limit or a flaky middlebox gives; against a busier service it is less. An episode does not know
//! its run's rate, so it sets a rate, not a share: the parameters record `peak_per_minute`.
//!
//! # Calibration
//!
//! From the public Prometheus alert collection "Awesome Prometheus alerts"
//! (<https://samber.github.io/awesome-prometheus-alerts/rules>): `NginxHighHttp5xxErrorRate`,
//! `sum(rate(nginx_http_requests_total{status=~"^5.."}[1m])) / sum(rate(…[1m])) * 100 > 5`, and
//! the HAProxy and Traefik rules like it (5xx above 5% of a backend's or service's requests). The
//! overt storm's 100–500 resets in about twenty seconds are most of the service's sessions while
//! it lasts, and trip them; the rise's 1–4 a minute stay under 5% of any service with more than
//! 80 sessions a minute. Zeek's `conn.log` marks each reset (`conn_state` `RSTO` / `RSTR`) but
//! ships no threshold on them.

use std::collections::VecDeque;

use serde_json::json;

use crate::network::baseline::{Baseline, ServiceTarget};
use crate::network::random::{LaneRng, between, unit};

use super::super::latency_spike::service_actors;
use super::super::{Actors, Emission, Episode, Start};
use super::{drawn_service, reset_record};

const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: f64 = 60_000.0;
/// The peak rate of resets, a minute.
pub const PEAK_PER_MINUTE: (f64, f64) = (1.0, 4.0);
/// The highest peak intensity may raise it to, a minute.
const MAX_PER_MINUTE: f64 = 30.0;

/// A rise of resets in progress.
#[derive(Debug)]
pub struct ResetRise<'t> {
    target: ServiceTarget<'t>,
    span_ms: u64,
    /// The rate rises linearly over this much of the span, then holds.
    rise_ms: u64,
    planned: u64,
    done: u64,
    next_jitter: f64,
    actors: Actors,
}

impl<'t> ResetRise<'t> {
    /// A rise on the start's target service (else one drawn from `rng`, mostly HTTP) over 1–3
    /// hours (or the start's span); intensity scales the resets.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let target = baseline.target_service(rng, start.target).unwrap_or_else(|| ServiceTarget::whole(drawn_service(rng, baseline)));
        let span_ms = start.span_ms.unwrap_or_else(|| between(rng, HOUR_MS, 3 * HOUR_MS)).max(1);
        let rise_ms = span_ms / 2;
        let peak = PEAK_PER_MINUTE.0 + (PEAK_PER_MINUTE.1 - PEAK_PER_MINUTE.0) * unit(rng);
        let full_rate_ms = span_ms as f64 - rise_ms as f64 / 2.0;
        let own_plan = (peak * full_rate_ms / MINUTE_MS).round().max(1.0) as u64;
        let planned = start.scaled(own_plan).min((MAX_PER_MINUTE * full_rate_ms / MINUTE_MS).max(1.0) as u64);
        ResetRise { target, span_ms, rise_ms, planned, done: 0, next_jitter: 0.9 * unit(rng), actors: service_actors(baseline, &target) }
    }

    /// Resets a minute at the peak.
    fn peak_per_minute(&self) -> f64 {
        self.planned as f64 / (self.span_ms as f64 - self.rise_ms as f64 / 2.0) * MINUTE_MS
    }
}

/// When reset number `count` (fractional) is due, ms after the start, for a rate that rises
/// linearly over `rise` ms to `rate` a ms and then holds (the inverse of its cumulative count).
fn due_after_ms(count: f64, rate: f64, rise: f64) -> f64 {
    if rise > 0.0 && count <= rate * rise / 2.0 { (2.0 * rise * count / rate).sqrt() } else { count / rate + rise / 2.0 }
}

impl<'t> Episode<'t> for ResetRise<'t> {
    fn planned_records(&self) -> u64 {
        self.planned
    }

    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        self.done += 1;
        out.push_back(reset_record(rng, baseline, &self.target));
        self.next_jitter = 0.9 * unit(rng);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.done >= self.planned
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "form": "rise",
            "service": self.target.service.name,
            "peak_per_minute": (self.peak_per_minute() * 100.0).round() / 100.0,
            "span_ms": self.span_ms,
            "rise_ms": self.rise_ms,
            "planned_records": self.planned,
            "resets": self.done,
        });
        (parameters, self.actors.clone())
    }

    /// Reset *j* where the rising rate's count reaches `j + jitter`, the jitter in `[0, 0.9)`.
    fn next_due_ms(&self) -> Option<u64> {
        let rate = self.peak_per_minute() / MINUTE_MS;
        Some(due_after_ms(self.done as f64 + self.next_jitter, rate, self.rise_ms as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{self, TimedRun, run_timed, session_of};
    use super::*;
    use crate::network::session::Outcome;
    use crate::network::target::Target;
    use crate::network::topology::Topology;
    use crate::records::AnomalyKind;

    #[test]
    fn resets_rise_to_their_peak_and_hold_under_it() {
        let topology = Topology::new(7);
        for seed in 0..8 {
            let run = run_timed(AnomalyKind::ConnectionReset, &topology, &Target::Any, 1.0, None, seed);
            let peak = run.parameters["peak_per_minute"].as_f64().unwrap();
            assert!((PEAK_PER_MINUTE.0 - 0.05..=PEAK_PER_MINUTE.1 + 0.05).contains(&peak), "seed {seed}: {peak}");
            let times: Vec<i64> = run.records.iter().map(|(time, _)| time - run.first_ms).collect();
            let span = run.parameters["span_ms"].as_i64().unwrap();
            assert!(*times.last().unwrap() < span && span >= 3_600_000, "seed {seed}");
            // Rate bound: never more than the peak (and one at a minute's edge) in any minute.
            let most = run.most_in_window(60_000, |_| 1) as f64;
            assert!(most <= peak.ceil() + 1.0, "seed {seed}: {most} in a minute, peak {peak}");
            // Rising: the first quarter has about a quarter of the rate of the held half.
            let count = |from: i64, to: i64| times.iter().filter(|time| (from..to).contains(*time)).count() as f64;
            let (first_quarter, second_half) = (count(0, span / 4), count(span / 2, span));
            assert!(first_quarter * 2.0 < second_half / 2.0 + 2.0, "seed {seed}: {first_quarter} then {second_half}");
            assert!((second_half - peak * span as f64 / 2.0 / 60_000.0).abs() <= 2.0, "seed {seed}: {second_half} at {peak}/min");
        }
    }

    #[test]
    fn every_record_is_a_reset_of_the_one_service() {
        let topology = Topology::new(7);
        let run = run_timed(AnomalyKind::ConnectionReset, &topology, &Target::Any, 1.0, None, 3);
        let port = run.actors.ports[0];
        for (_, emission) in &run.records {
            let session = session_of(emission).unwrap();
            assert_eq!((session.outcome, session.server_port), (Outcome::Reset, port));
            assert!(session.flags_up.contains(crate::records::TcpFlags::RST) || session.flags_down.contains(crate::records::TcpFlags::RST));
        }
    }

    #[test]
    fn a_fixed_span_holds_the_rise_and_intensity_doubles_it() {
        let topology = Topology::new(7);
        for seed in 0..4 {
            let once = run_timed(AnomalyKind::ConnectionReset, &topology, &Target::Any, 1.0, Some(1_800_000), seed);
            let twice = run_timed(AnomalyKind::ConnectionReset, &topology, &Target::Any, 2.0, Some(1_800_000), seed);
            let planned = |run: &TimedRun<'_>| run.parameters["planned_records"].as_u64().unwrap();
            assert_eq!(planned(&twice), 2 * planned(&once));
            assert!(twice.records.last().unwrap().0 - twice.first_ms < 1_800_000);
        }
    }

    #[test]
    fn a_host_target_is_in_every_record() {
        let topology = Topology::new(7);
        let host = topology.hosts.iter().rev().find(|host| host.role == crate::network::topology::Role::Api).unwrap();
        let run = run_timed(AnomalyKind::ConnectionReset, &topology, &Target::Host(host.address), 1.0, None, 4);
        assert!(run.records.iter().all(|(_, emission)| testing::involves(emission, host.address)));
    }
}
