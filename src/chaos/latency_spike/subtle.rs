//! The subtle form of `latency_spike`: a slow creep of the slow tail.
//!
//! Over one to three hours, conversations with one service (a conversation every 10–60 s on
//! average, each written whole as in the overt form) carry extra latency that creeps up
//! linearly, from a tenth of the episode's `tail_added_ms` (200–800 ms) at its start to all of it
//! at its end, give or take 15%: a healthy 10–50 ms becomes at most 850 ms. HTTP answers stay what
//! the service would have said (no 504s). Where these conversations are more than one in twenty
//! of the service's, its p95 rises by up to `tail_added_ms`; at a run's rate where they are fewer,
//! only the tail beyond the p95 moves. The degradation a capacity problem or a slow memory leak
//! gives long before anything times out.
//!
//! # Calibration
//!
//! From the public Prometheus alert collection "Awesome Prometheus alerts"
//! (<https://samber.github.io/awesome-prometheus-alerts/rules>):
//! - `BlackboxProbeSlowHttp`: `avg_over_time(probe_http_duration_seconds[1m]) > 1` for 1 m. The
//!   overt spike's every request takes 2 s or more and trips it; the creep's slowest is 850 ms.
//! - `NginxLatencyHigh`: `histogram_quantile(0.99, …[2m]) > 3` for 2 m. The overt spike's
//!   latencies run from 2–3 s up to 3–9 s, so any share of requests over 1% puts the p99 above 3 s;
//!   the creep never reaches 1 s.
//! - Latency SLO alerts on a p95 (500 ms, 1 s and 1.5 s are common choices in public SLO
//!   examples) are what the creep is meant to approach: the early part of an episode stays under
//!   any of them, the late part of one with a `tail_added_ms` near 800 crosses 500 ms.

use std::collections::VecDeque;

use serde_json::json;

use crate::network::baseline::{Baseline, ServiceTarget};
use crate::network::random::{LaneRng, between, chance, unit};

use super::super::{Actors, Emission, Episode, Start};
use super::{affected_service, service_actors};

const HOUR_MS: u64 = 3_600_000;
/// The latency added at the episode's end, ms.
pub const TAIL_ADDED_MS: (u64, u64) = (200, 800);
/// The mean gap between two affected conversations, ms.
const GAP_MS: (u64, u64) = (10_000, 60_000);
/// The shortest mean gap intensity may pack them into.
const MIN_GAP_MS: u64 = 2_000;

/// A creeping latency degradation in progress.
#[derive(Debug)]
pub struct SlowCreep<'t> {
    target: ServiceTarget<'t>,
    tail_added_ms: u64,
    span_ms: u64,
    /// Mean gap between conversations, ms; conversation *i* is due in `[i, i + 0.9)` of it.
    gap_ms: u64,
    next_jitter: f64,
    conversations: u64,
    done: u64,
    actors: Actors,
}

impl<'t> SlowCreep<'t> {
    /// A creep on the start's target service (else one drawn from `rng`) over 1–3 hours (or the
    /// start's span); intensity scales the conversations, packing them closer.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let target = affected_service(rng, baseline, start);
        let tail_added_ms = between(rng, TAIL_ADDED_MS.0, TAIL_ADDED_MS.1);
        let span_ms = start.span_ms.unwrap_or_else(|| between(rng, HOUR_MS, 3 * HOUR_MS)).max(1);
        let own_gap_ms = between(rng, GAP_MS.0, GAP_MS.1);
        let conversations = start.scaled((span_ms / own_gap_ms).max(1)).min((span_ms / MIN_GAP_MS).max(1));
        SlowCreep {
            target,
            tail_added_ms,
            span_ms,
            gap_ms: span_ms / conversations,
            next_jitter: 0.9 * unit(rng),
            conversations,
            done: 0,
            actors: service_actors(baseline, &target),
        }
    }

    /// The latency added at `after_ms` into the episode, before its ±15%.
    fn added_ms(&self, after_ms: u64) -> f64 {
        let progress = (after_ms as f64 / self.span_ms as f64).min(1.0);
        self.tail_added_ms as f64 * (0.1 + 0.9 * progress)
    }
}

impl<'t> Episode<'t> for SlowCreep<'t> {
    /// About three records per conversation (two or four flows, the firewall's for half).
    fn planned_records(&self) -> u64 {
        self.conversations * 3
    }

    /// One conversation with the service, written whole, its latency raised by the creep so far.
    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let due_ms = self.next_due_ms().unwrap_or(0);
        self.done += 1;
        let mut session = baseline.target_session(rng, &self.target);
        let added = self.added_ms(due_ms) * (0.85 + 0.15 * unit(rng));
        session.latency_ms = session.latency_ms.saturating_add(added.round() as u32);
        session.duration_ms = (session.duration_ms + u64::from(session.latency_ms)).min(59_000);
        self.next_jitter = 0.9 * unit(rng);
        Emission::conversation(session, chance(rng, 0.5), out);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.done >= self.conversations
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "form": "creep",
            "service": self.target.service.name,
            "tail_added_ms": self.tail_added_ms,
            "span_ms": self.span_ms,
            "mean_gap_ms": self.gap_ms,
            "planned_conversations": self.conversations,
            "conversations": self.done,
        });
        (parameters, self.actors.clone())
    }

    /// Conversation *i* at `(i + jitter) × gap`, the jitter in `[0, 0.9)`.
    fn next_due_ms(&self) -> Option<u64> {
        Some(((self.done as f64 + self.next_jitter) * self.gap_ms as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{TimedRun, involves, run_timed, session_of};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::Topology;
    use crate::records::AnomalyKind;

    fn latencies(run: &TimedRun<'_>) -> Vec<(i64, u32)> {
        run.records.iter().map(|(time, emission)| (*time - run.first_ms, session_of(emission).unwrap().latency_ms)).collect()
    }

    #[test]
    fn the_latency_creeps_up_for_hours_and_never_reaches_a_second() {
        let topology = Topology::new(7);
        for seed in 0..8 {
            let run = run_timed(AnomalyKind::LatencySpike, &topology, &Target::Any, 1.0, None, seed);
            let tail = run.parameters["tail_added_ms"].as_u64().unwrap();
            assert!((TAIL_ADDED_MS.0..=TAIL_ADDED_MS.1).contains(&tail));
            let latencies = latencies(&run);
            let span = latencies.last().unwrap().0;
            assert!((3_600_000 - 60_000..=3 * 3_600_000).contains(&span), "seed {seed}: {span} ms");
            assert!(latencies.iter().all(|(_, latency)| *latency < 1_000), "seed {seed}: under the 1 s alerts");
            let mean = |from: i64, to: i64| {
                let part: Vec<f64> = latencies.iter().filter(|(at, _)| (from..to).contains(at)).map(|(_, ms)| f64::from(*ms)).collect();
                part.iter().sum::<f64>() / part.len() as f64
            };
            let (early, late) = (mean(0, span / 4), mean(span * 3 / 4, span + 1));
            assert!(late - early > 0.5 * 0.9 * tail as f64 * 0.85, "seed {seed}: {early} ms early, {late} ms late, tail {tail}");
            assert!(late < 50.0 + tail as f64 * 1.0 && early > 10.0 + tail as f64 * 0.08, "seed {seed}: {early} / {late}");
        }
    }

    #[test]
    fn conversations_come_10_to_60_s_apart_on_average_and_no_http_answer_times_out() {
        let topology = Topology::new(7);
        for seed in 0..8 {
            let run = run_timed(AnomalyKind::LatencySpike, &topology, &Target::Any, 1.0, None, seed);
            let times = run.conversation_times();
            let mean_gap = (times.last().unwrap() - times[0]) as f64 / (times.len() - 1) as f64;
            assert!((9_000.0..=61_000.0).contains(&mean_gap), "seed {seed}: {mean_gap} ms");
            let gap = run.parameters["mean_gap_ms"].as_u64().unwrap() as i64;
            assert!(times.windows(2).all(|pair| pair[1] - pair[0] < 2 * gap), "seed {seed}: at most two gaps apart");
            // Rate bound: at most 60 s / 10 s conversations a minute, each at most 5 records.
            assert!(run.most_in_window(60_000, |_| 1) <= 8 * 5, "seed {seed}");
            assert!(run.records.iter().all(|(_, emission)| session_of(emission).unwrap().http_status != Some(504)));
        }
    }

    #[test]
    fn a_host_target_is_in_every_record_and_a_fixed_span_holds_the_creep() {
        let topology = Topology::new(7);
        let host = topology.hosts.iter().rev().find(|host| host.role == crate::network::topology::Role::Api).unwrap();
        let run = run_timed(AnomalyKind::LatencySpike, &topology, &Target::Host(host.address), 1.0, Some(1_800_000), 4);
        assert!(run.records.iter().all(|(_, emission)| involves(emission, host.address)));
        assert!(run.records.last().unwrap().0 - run.first_ms < 1_800_000);
        let twice = run_timed(AnomalyKind::LatencySpike, &topology, &Target::Host(host.address), 2.0, Some(1_800_000), 4);
        let conversations = |run: &TimedRun<'_>| run.parameters["planned_conversations"].as_u64().unwrap();
        assert_eq!(conversations(&twice), 2 * conversations(&run));
    }
}
