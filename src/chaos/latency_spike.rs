//! `latency_spike`: for a while, flows of one affected service see 2,000 ms and more where
//! healthy latency is 10–50 ms (a database backup, a GC storm, a saturated link).
//!
//! Records: ordinary conversations with the service (same clients, ports and volumes as
//! baseline), as flows of either direction and as firewall sessions, with `latency_ms` drawn from
//! `[latency_floor_ms, latency_peak_ms]`; about one HTTP answer in ten is a 504 timeout.

use std::collections::VecDeque;
use std::net::IpAddr;

use serde_json::json;

use crate::network::baseline::Baseline;
use crate::network::random::{LaneRng, between, chance, weighted};
use crate::network::topology::Service;
use crate::records::{AnomalyKind, AppProto};

use super::{Actors, Emission, Episode, KindSpec, Placement, ProbabilityFlag, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::LatencySpike,
    short_name: "latency",
    probability: ProbabilityFlag {
        name: "latency_spike_prob",
        flag: "latency-spike-prob",
        env: "LATENCY_SPIKE_PROB",
        default: "0.01",
        help: "Expected fraction of records in latency-spike episodes",
    },
    parameters: &[],
    mean_records: 300.0,
    target_span_seconds: 90.0,
    difficulties: &["overt"],
    placement: Placement::TrafficLanes,
    start,
};

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, _start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(LatencySpike::start(rng, baseline))
}

#[derive(Debug)]
pub struct LatencySpike<'t> {
    service: &'t Service,
    latency_floor_ms: u32,
    latency_peak_ms: u32,
    planned_records: u64,
    actors: Actors,
}

impl<'t> LatencySpike<'t> {
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>) -> Self {
        let vpc = weighted(rng, &baseline.topology.vpcs.iter().map(|vpc| vpc.weight).collect::<Vec<_>>());
        let internet_facing = chance(rng, 0.3);
        let service = baseline.pick_service(rng, vpc, internet_facing);
        let latency_floor_ms = between(rng, 2_000, 3_000) as u32;
        LatencySpike {
            service,
            latency_floor_ms,
            latency_peak_ms: latency_floor_ms + between(rng, 1_000, 6_000) as u32,
            planned_records: between(rng, 100, 500),
            actors: service_actors(baseline, service),
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
        let client = baseline.client_of(rng, self.service);
        let mut session = baseline.service_session(rng, self.service, client);
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
            "service": self.service.name,
            "latency_floor_ms": self.latency_floor_ms,
            "latency_peak_ms": self.latency_peak_ms,
            "planned_records": self.planned_records,
        });
        (parameters, self.actors.clone())
    }
}

/// Actors of a service-wide episode: the service's hosts and its port.
pub(crate) fn service_actors(baseline: &Baseline<'_>, service: &Service) -> Actors {
    let targets = service.members.iter().map(|index| IpAddr::V4(baseline.topology.hosts[*index].address)).collect();
    Actors { sources: Vec::new(), targets, ports: vec![service.port], service: Some(service.name) }
}
