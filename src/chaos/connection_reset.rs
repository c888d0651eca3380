//! `connection_reset` (an operational fault: no ATT&CK technique): torn-down connections on one
//! affected service.
//!
//! # Overt: a storm
//!
//! A burst of 100–500 resets within about twenty seconds (a crashing backend, an overloaded load
//! balancer). Records: TCP flows whose flags carry RST, in the direction of whichever side reset, and
//! firewall sessions with action `reset`, `session_end_reason` `tcp-rst-from-server` and, where the
//! service speaks HTTP, a 502 / 503 / 504.
//!
//! # Subtle: a few percent, rising
//!
//! The same records, but a reset every few tens of seconds, the rate rising over an hour or more
//! to 1–4 a minute and holding: see [`subtle`] for the shape and the calibration (the public 5%
//! 5xx-rate alerts, which the storm trips and the rise stays under).

use std::collections::VecDeque;

use serde_json::json;

use crate::network::baseline::{Baseline, ServiceTarget};
use crate::network::random::{LaneRng, between, chance, pick, weighted};
use crate::network::session::{Outcome, Side};
use crate::network::topology::Service;
use crate::records::{AnomalyKind, AppProto, TcpFlags};

use super::latency_spike::service_actors;
use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, ProbabilityFlag, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::ConnectionReset,
    short_name: "reset",
    probability: Some(ProbabilityFlag {
        name: "conn_reset_prob",
        flag: "conn-reset-prob",
        env: "CONN_RESET_PROB",
        default: "0.01",
        help: "Expected fraction of records in connection-reset episodes",
    }),
    per_hour: PerHourFlag {
        name: "conn_reset_per_hour",
        flag: "conn-reset-per-hour",
        env: "CONN_RESET_PER_HOUR",
        default: "0.5",
        help: "Subtle connection-reset episodes (RSTs at a few percent of one service) per logical hour, with --difficulty connection_reset=subtle or mixed",
    },
    technique: None,
    parameters: &[],
    mean_records: 300.0,
    target_span_seconds: 20.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

pub mod subtle;

/// The overt storm, or (by the hour) the subtle rise.
fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    if start.is_subtle() {
        return Box::new(subtle::ResetRise::start(rng, baseline, start));
    }
    Box::new(ConnectionReset::start(rng, baseline, start))
}

#[derive(Debug)]
pub struct ConnectionReset<'t> {
    target: ServiceTarget<'t>,
    planned_records: u64,
    actors: Actors,
}

impl<'t> ConnectionReset<'t> {
    /// A storm on the start's target service (pinned to its host for a host target; else a
    /// service drawn from `rng`) of about `intensity` times the kind's own number of records.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let target = baseline.target_service(rng, start.target).unwrap_or_else(|| ServiceTarget::whole(drawn_service(rng, baseline)));
        ConnectionReset { target, planned_records: start.scaled(between(rng, 100, 500)), actors: service_actors(baseline, &target) }
    }
}

impl<'t> Episode<'t> for ConnectionReset<'t> {
    fn planned_records(&self) -> u64 {
        self.planned_records
    }

    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        out.push_back(reset_record(rng, baseline, &self.target));
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        (json!({ "service": self.target.service.name, "planned_records": self.planned_records }), self.actors.clone())
    }
}

/// The kind's own pick: HTTP services most of the time, so the 5xx side of the storm shows.
fn drawn_service<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>) -> &'t Service {
    let vpc = weighted(rng, &baseline.topology.vpcs.iter().map(|vpc| vpc.weight).collect::<Vec<_>>());
    let mut service = baseline.pick_service(rng, vpc, false);
    for _ in 0..8 {
        if service.app_proto == AppProto::Http || chance(rng, 0.2) {
            break;
        }
        let internet_facing = chance(rng, 0.3);
        service = baseline.pick_service(rng, vpc, internet_facing);
    }
    service
}

/// One torn-down connection with `target`, as a flow of the side that reset or as the firewall's
/// session.
fn reset_record<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, target: &ServiceTarget<'t>) -> Emission<'t> {
    let mut session = baseline.target_session(rng, target);
    session.outcome = Outcome::Reset;
    session.bytes_down = session.bytes_down.min(session.packets_down * 600).max(session.packets_down * 40);
    session.duration_ms = between(rng, 2, 3_000);
    let server_reset = chance(rng, 0.75);
    // SYN from the client, the server's SYN-ACK, then an RST from one side; flows of the side
    // that reset carry RST, mid-connection flows of it carry only RST.
    if server_reset {
        session.flags_up = if chance(rng, 0.5) { TcpFlags::SYN } else { TcpFlags::NONE };
        session.flags_down = if chance(rng, 0.5) { TcpFlags::RST } else { TcpFlags::SYN_ACK | TcpFlags::RST };
    } else {
        session.flags_up = TcpFlags::RST;
        session.flags_down = if chance(rng, 0.5) { TcpFlags::SYN_ACK } else { TcpFlags::NONE };
    }
    if session.app_proto == AppProto::Http {
        session.http_status = Some(*pick(rng, &[502u16, 503, 504]));
    }
    if chance(rng, 0.35) {
        return Emission::Firewall(session);
    }
    let side = if server_reset { Side::Response } else { Side::Request };
    Emission::Flow { session, side, prefer_destination: chance(rng, 0.5) }
}

#[cfg(test)]
mod tests {

    use super::super::testing::{self, assert_draws_as_before};
    use super::*;

    #[test]
    fn any_target_at_intensity_one_draws_as_before() {
        assert_draws_as_before(
            AnomalyKind::ConnectionReset,
            1,
            319,
            10_468_285_999_412_537_042,
            r#"{"planned_records":319,"service":"api"}"#,
        );
        assert_draws_as_before(
            AnomalyKind::ConnectionReset,
            2,
            412,
            16_471_344_486_152_910_161,
            r#"{"planned_records":412,"service":"api"}"#,
        );
    }

    #[test]
    fn a_host_target_is_in_every_record() {
        testing::check_host_target(AnomalyKind::ConnectionReset);
    }

    #[test]
    fn a_service_target_is_its_port_in_every_record() {
        testing::check_service_target(AnomalyKind::ConnectionReset);
    }

    #[test]
    fn intensity_scales_the_sessions() {
        testing::check_intensity_scales_sessions(AnomalyKind::ConnectionReset);
    }
}
