//! What the look-alikes' unit tests share: one occurrence driven by its own timetable over hours
//! of logical time, as `generator::hourly` drives it (each conversation at its due time, its
//! further records right after), with every record's time.

use std::rc::Rc;

use crate::network::baseline::Baseline;
use crate::network::random::rng_for;
use crate::network::session::{Endpoint, Session, Side};
use crate::network::target::Target;
use crate::network::topology::Topology;
use crate::records::PerKind;

use super::super::{ActiveEpisode, Actors, ChaosSettings, Emission, Start, spec};
use super::LookalikeSpec;

/// The logical t0 of a driven occurrence (2026-01-01T00:00:00Z).
pub(super) const T0_MS: i64 = 1_767_225_600_000;

/// One occurrence, run to its end.
#[derive(Debug)]
pub(super) struct Timed<'t> {
    /// Each record with its logical time (Unix ms), in the order written.
    pub records: Vec<(i64, Emission<'t>)>,
    pub parameters: serde_json::Value,
    pub actors: Actors,
    /// The summary's span, Unix ms.
    pub start_ms: i64,
    pub end_ms: i64,
}

impl<'t> Timed<'t> {
    /// The conversations, each once, with the time it was written: a conversation's first record
    /// is its request direction at the client's ENI (at the server's, for an external client; see
    /// [`Emission::conversation`]).
    pub(super) fn sessions(&self) -> Vec<(i64, &Session<'t>)> {
        self.records
            .iter()
            .filter_map(|(time_ms, emission)| match emission {
                Emission::Flow { session, side: Side::Request, prefer_destination }
                    if *prefer_destination == matches!(session.client, Endpoint::External(_)) =>
                {
                    Some((*time_ms, session))
                }
                _ => None,
            })
            .collect()
    }
}

/// An occurrence of `lookalike` on `topology`, its draws from a lane seeded with `seed`, driven to
/// its end by its timetable; `span_ms` as a scenario would fix it.
pub(super) fn run_timed<'t>(
    lookalike: &LookalikeSpec,
    topology: &'t Topology,
    target: &Target,
    span_ms: Option<u64>,
    seed: u64,
) -> Timed<'t> {
    let baseline = Baseline::new(topology);
    let settings = ChaosSettings::new(PerKind::default());
    let start = Start { target, span_ms, difficulty: "benign", ..Start::background(&settings, spec(lookalike.resembles)) };
    let mut rng = rng_for(seed, 0x1007);
    let mut episode = ActiveEpisode::new(Rc::from("b-test"), lookalike.resembles, (lookalike.start)(&mut rng, &baseline, &start), 1.0);
    episode.lookalike = Some(lookalike.name);
    let mut records = Vec::new();
    let mut time_ms = T0_MS;
    while !episode.is_finished() {
        if !episode.has_pending_records() {
            let due = episode.shape.next_due_ms().expect("a look-alike keeps its own timetable");
            time_ms = time_ms.max(T0_MS + due as i64);
        }
        records.push((time_ms, episode.emit(&mut rng, &baseline, time_ms)));
        assert!(records.len() < 2_000_000, "the occurrence never ends");
    }
    let summary = episode.summary(0);
    Timed {
        records,
        parameters: summary.parameters,
        actors: summary.actors,
        start_ms: summary.start.unix_millis(),
        end_ms: summary.end.unix_millis(),
    }
}

/// The internal host of a conversation's client side, if it is one.
pub(super) fn client_host(session: &Session<'_>) -> Option<std::net::Ipv4Addr> {
    match session.client {
        Endpoint::Host(host) => Some(host.address),
        Endpoint::External(_) => None,
    }
}
