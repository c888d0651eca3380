//! `latency_spike` (an operational fault: no ATT&CK technique): conversations of one affected
//! service are slow.
//!
//! # Overt: a spike
//!
//! For a while, flows of the service see 2,000 ms and more where healthy latency is 10–50 ms (a
//! database backup, a GC storm, a saturated link). Records: ordinary conversations with the service (same clients, ports and volumes as
//! baseline), as flows of either direction and as firewall sessions, with `latency_ms` drawn from
//! `[latency_floor_ms, latency_peak_ms]`; about one HTTP answer in ten is a 504 timeout.
//!
//! # Subtle: a slow creep of the slow tail
//!
//! Over one to three hours, a share of the service's conversations gain latency that creeps up
//! from nothing to 200–800 ms, never a timeout; see [`subtle`] for the shape and the calibration
//! (the public latency alerts' 1 s and 3 s, which the overt spike trips and the creep stays under).

use std::collections::VecDeque;
use std::net::IpAddr;

use serde_json::json;

use crate::network::baseline::{Baseline, ServiceTarget};
use crate::network::random::{LaneRng, between, chance, weighted};
use crate::records::{AnomalyKind, AppProto};

use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, ProbabilityFlag, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::LatencySpike,
    short_name: "latency",
    probability: Some(ProbabilityFlag {
        name: "latency_spike_prob",
        flag: "latency-spike-prob",
        env: "LATENCY_SPIKE_PROB",
        default: "0.01",
        help: "Expected fraction of records in latency-spike episodes",
    }),
    per_hour: PerHourFlag {
        name: "latency_spike_per_hour",
        flag: "latency-spike-per-hour",
        env: "LATENCY_SPIKE_PER_HOUR",
        default: "0.5",
        help: "Subtle latency-spike episodes (a slow creep of the slow tail) per logical hour, with --difficulty latency_spike=subtle or mixed",
    },
    technique: None,
    parameters: &[],
    mean_records: 300.0,
    target_span_seconds: 90.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

pub mod subtle;

/// The overt spike, or (by the hour) the subtle creep.
fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    if start.is_subtle() {
        return Box::new(subtle::SlowCreep::start(rng, baseline, start));
    }
    Box::new(LatencySpike::start(rng, baseline, start))
}

/// The affected service: the start's target service (pinned to its host for a host target), else
/// a service drawn from `rng`, internet-facing three times in ten.
fn affected_service<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> ServiceTarget<'t> {
    baseline.target_service(rng, start.target).unwrap_or_else(|| {
        let vpc = weighted(rng, &baseline.topology.vpcs.iter().map(|vpc| vpc.weight).collect::<Vec<_>>());
        let internet_facing = chance(rng, 0.3);
        ServiceTarget::whole(baseline.pick_service(rng, vpc, internet_facing))
    })
}

#[derive(Debug)]
pub struct LatencySpike<'t> {
    target: ServiceTarget<'t>,
    latency_floor_ms: u32,
    latency_peak_ms: u32,
    planned_records: u64,
    actors: Actors,
}

impl<'t> LatencySpike<'t> {
    /// A spike on the start's target service (pinned to its host for a host target; else a
    /// service drawn from `rng`) of about `intensity` times the kind's own number of records.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let target = affected_service(rng, baseline, start);
        let latency_floor_ms = between(rng, 2_000, 3_000) as u32;
        LatencySpike {
            target,
            latency_floor_ms,
            latency_peak_ms: latency_floor_ms + between(rng, 1_000, 6_000) as u32,
            planned_records: start.scaled(between(rng, 100, 500)),
            actors: service_actors(baseline, &target),
        }
    }
}

impl<'t> Episode<'t> for LatencySpike<'t> {
    fn planned_records(&self) -> u64 {
        self.planned_records
    }

    /// One slow conversation with the service, written whole (flows both ways at each of our
    /// ENIs, and the firewall's record for some), every record with the spiked latency.
    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let mut session = baseline.target_session(rng, &self.target);
        session.latency_ms = between(rng, u64::from(self.latency_floor_ms), u64::from(self.latency_peak_ms)) as u32;
        session.duration_ms = (session.duration_ms + u64::from(session.latency_ms)).min(59_000);
        if session.app_proto == AppProto::Http && chance(rng, 0.1) {
            session.http_status = Some(504);
        }
        let logged_by_firewall = chance(rng, 0.5);
        Emission::conversation(session, logged_by_firewall, out);
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "service": self.target.service.name,
            "latency_floor_ms": self.latency_floor_ms,
            "latency_peak_ms": self.latency_peak_ms,
            "planned_records": self.planned_records,
        });
        (parameters, self.actors.clone())
    }
}

/// Actors of a service-wide episode: the service's hosts (its pinned server only, when it has
/// one), its pinned client if any, and its port.
pub(crate) fn service_actors(baseline: &Baseline<'_>, target: &ServiceTarget<'_>) -> Actors {
    let service = target.service;
    let targets = match target.server {
        Some(host) => vec![IpAddr::V4(host.address)],
        None => service.members.iter().map(|index| IpAddr::V4(baseline.topology.hosts[*index].address)).collect(),
    };
    let sources = target.client.map(|host| IpAddr::V4(host.address)).into_iter().collect();
    Actors { sources, targets, ports: vec![service.port], service: Some(service.name) }
}

#[cfg(test)]
mod tests {

    use super::super::testing::{self, assert_draws_as_before};
    use super::*;

    #[test]
    fn any_target_at_intensity_one_draws_as_before() {
        assert_draws_as_before(
            AnomalyKind::LatencySpike,
            1,
            189,
            13_778_230_957_016_301_368,
            r#"{"latency_floor_ms":2558,"latency_peak_ms":4813,"planned_records":187,"service":"web-https"}"#,
        );
        assert_draws_as_before(
            AnomalyKind::LatencySpike,
            2,
            439,
            16_627_844_798_836_423_076,
            r#"{"latency_floor_ms":2795,"latency_peak_ms":7200,"planned_records":438,"service":"api"}"#,
        );
    }

    #[test]
    fn a_host_target_is_in_every_record() {
        testing::check_host_target(AnomalyKind::LatencySpike);
    }

    #[test]
    fn a_service_target_is_its_port_in_every_record() {
        testing::check_service_target(AnomalyKind::LatencySpike);
    }

    #[test]
    fn intensity_scales_the_sessions() {
        testing::check_intensity_scales_sessions(AnomalyKind::LatencySpike);
    }
}
