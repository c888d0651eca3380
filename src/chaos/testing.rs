//! What the kinds' unit tests share: one episode run to its end from a given [`Start`], and what
//! its records involve.

use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use rand::RngCore;

use crate::network::baseline::Baseline;
use crate::network::random::rng_for;
use crate::network::session::Session;
use crate::network::target::Target;
use crate::network::topology::{Role, Topology};
use crate::records::{AnomalyKind, PerKind};

use super::{Actors, ChaosSettings, Emission, Start, spec, start_episode};

/// One episode, run to its end.
#[derive(Debug)]
pub(super) struct Run<'t> {
    pub emissions: Vec<Emission<'t>>,
    pub parameters: serde_json::Value,
    pub actors: Actors,
    /// The lane's next draw after the episode: equal only if every draw before it was.
    pub next_draw: u64,
}

/// An episode of `kind` aimed at `target` with `intensity`, its draws from a lane seeded with
/// `seed`, on `topology`, run to its end.
pub(super) fn run<'t>(kind: AnomalyKind, topology: &'t Topology, target: &Target, intensity: f64, seed: u64) -> Run<'t> {
    let baseline = Baseline::new(topology);
    let settings = ChaosSettings::new(PerKind::default());
    let start = Start { target, intensity, ..Start::background(&settings, spec(kind)) };
    let mut rng = rng_for(seed, 1300 + kind as u64);
    let mut episode = start_episode(kind, Rc::from("e-test"), &mut rng, &baseline, &start, 1.0);
    let mut emissions = Vec::new();
    let mut time_ms = 1_767_225_600_000;
    while !episode.is_finished() {
        emissions.push(episode.emit(&mut rng, &baseline, time_ms));
        time_ms += 250;
        assert!(emissions.len() < 10_000_000, "the episode never ends");
    }
    let summary = episode.summary(0);
    Run { emissions, parameters: summary.parameters, actors: summary.actors, next_draw: rng.next_u64() }
}

/// The conversation a record is part of (`None` for a `NODATA` or `SKIPDATA` record).
pub(super) fn session_of<'e, 't>(emission: &'e Emission<'t>) -> Option<&'e Session<'t>> {
    match emission {
        Emission::Flow { session, .. } | Emission::Firewall(session) => Some(session),
        Emission::NoData(_) | Emission::SkipData(_) => None,
    }
}

/// Whether a record involves the host at `address`, at either end.
pub(super) fn involves(emission: &Emission<'_>, address: Ipv4Addr) -> bool {
    match emission {
        Emission::NoData(host) | Emission::SkipData(host) => host.address == address,
        Emission::Flow { session, .. } | Emission::Firewall(session) => {
            session.client.address() == address || session.server.address() == address
        }
    }
}

/// What a run of the code before targets and intensities existed gave for `kind` and `seed`
/// (topology seed 7, [`run`] with any target, intensity 1): records, the next draw, parameters.
pub(super) fn assert_draws_as_before(kind: AnomalyKind, seed: u64, records: usize, next_draw: u64, parameters: &str) {
    let topology = Topology::new(7);
    let today = run(kind, &topology, &Target::Any, 1.0, seed);
    assert_eq!(
        (today.emissions.len(), today.next_draw, today.parameters.to_string()),
        (records, next_draw, parameters.to_owned()),
        "{kind:?} with seed {seed} no longer draws as before"
    );
}

/// A host target: the episode's every record involves the host, and its actors name it.
pub(super) fn check_host_target(kind: AnomalyKind) {
    let topology = Topology::new(7);
    for role in [Role::Api, Role::Web, Role::Worker] {
        let host = topology.hosts.iter().rev().find(|host| host.role == role).unwrap();
        let episode = run(kind, &topology, &Target::Host(host.address), 1.0, 4);
        assert!(episode.emissions.iter().all(|emission| involves(emission, host.address)), "{role:?}");
        let named = episode.actors.targets.iter().chain(&episode.actors.sources).any(|actor| *actor == IpAddr::V4(host.address));
        assert!(named, "{role:?}: {:?}", episode.actors);
    }
}

/// A service target: its port in every record; an address the estate lacks: the kind's own pick.
pub(super) fn check_service_target(kind: AnomalyKind) {
    let topology = Topology::new(7);
    for (name, port) in [("postgres", 5432), ("web-https", 443), ("ssh", 22)] {
        let episode = run(kind, &topology, &Target::Service(name.into()), 1.0, 5);
        assert!(episode.emissions.iter().all(|emission| session_of(emission).unwrap().server_port == port), "{name}");
        assert_eq!((episode.actors.service, episode.actors.ports.as_slice()), (Some(name), [port].as_slice()));
    }
    let unknown = run(kind, &topology, &Target::Host(Ipv4Addr::new(10, 99, 0, 1)), 1.0, 1);
    assert_eq!(unknown.parameters, run(kind, &topology, &Target::Any, 1.0, 1).parameters, "no such host: the kind's own pick");
}

/// Intensity 2 plans twice the records of intensity 1, and writes about twice as many.
pub(super) fn check_intensity_scales_sessions(kind: AnomalyKind) {
    let topology = Topology::new(7);
    let records = |run: &Run<'_>| run.emissions.len() as f64;
    let (mut once, mut twice) = (0.0, 0.0);
    for seed in 0..8 {
        let single = run(kind, &topology, &Target::Any, 1.0, seed);
        let double = run(kind, &topology, &Target::Any, 2.0, seed);
        let planned = |run: &Run<'_>| run.parameters["planned_records"].as_u64().unwrap();
        assert_eq!(planned(&double), 2 * planned(&single));
        once += records(&single);
        twice += records(&double);
    }
    assert!((1.9..2.1).contains(&(twice / once)), "{twice} records at intensity 2, {once} at 1");
}

/// One episode's records with the logical time each was written at.
#[derive(Debug)]
pub(super) struct TimedRun<'t> {
    /// Each record with its time, Unix ms.
    pub records: Vec<(i64, Emission<'t>)>,
    /// The time of its first record, Unix ms.
    pub first_ms: i64,
    pub parameters: serde_json::Value,
    pub actors: Actors,
}

impl TimedRun<'_> {
    /// The times at which conversations began: the first record of each due time.
    pub(super) fn conversation_times(&self) -> Vec<i64> {
        let mut times: Vec<i64> = self.records.iter().map(|(time, _)| *time).collect();
        times.dedup();
        times
    }

    /// The most records whose times fall inside any window of `window_ms`.
    pub(super) fn most_in_window(&self, window_ms: i64, counts: impl Fn(&Emission<'_>) -> u64) -> u64 {
        let mut most = 0;
        let mut total = 0;
        let mut first = 0;
        for (time, emission) in &self.records {
            total += counts(emission);
            while self.records[first].0 <= time - window_ms {
                total -= counts(&self.records[first].1);
                first += 1;
            }
            most = most.max(total);
        }
        most
    }
}

/// An episode of `kind` in its subtle form (aimed at `target`, with `intensity`, fitted into
/// `span_ms` when given), driven by its own timetable: each conversation written at the time
/// [`super::Episode::next_due_ms`] names, its further records at the same time, to its end.
pub(super) fn run_timed<'t>(
    kind: AnomalyKind,
    topology: &'t Topology,
    target: &Target,
    intensity: f64,
    span_ms: Option<u64>,
    seed: u64,
) -> TimedRun<'t> {
    run_timed_form(kind, topology, target, intensity, "subtle", span_ms, seed)
}

/// [`run_timed`] in the form `difficulty` (`overt`, `subtle`) of a kind that keeps its own
/// timetable in each.
pub(super) fn run_timed_form<'t>(
    kind: AnomalyKind,
    topology: &'t Topology,
    target: &Target,
    intensity: f64,
    difficulty: &'static str,
    span_ms: Option<u64>,
    seed: u64,
) -> TimedRun<'t> {
    let baseline = Baseline::new(topology);
    let settings = ChaosSettings::new(PerKind::default());
    let start = Start { target, intensity, difficulty, span_ms, ..Start::background(&settings, spec(kind)) };
    let mut rng = rng_for(seed, 1400 + kind as u64);
    let mut episode = start_episode(kind, Rc::from("e-test"), &mut rng, &baseline, &start, 1.0);
    let first_ms = 1_767_225_600_000;
    let mut time_ms = first_ms;
    let mut records = Vec::new();
    while !episode.is_finished() {
        if !episode.has_pending_records() {
            let due = episode.shape.next_due_ms().expect("the form keeps its own timetable");
            let at = first_ms + i64::try_from(due).unwrap();
            assert!(at >= time_ms, "the timetable went back from {time_ms} to {at}");
            time_ms = at;
        }
        records.push((time_ms, episode.emit(&mut rng, &baseline, time_ms)));
        assert!(records.len() < 1_000_000, "the episode never ends");
    }
    let summary = episode.summary(0);
    assert_eq!(summary.difficulty, difficulty);
    TimedRun { records, first_ms, parameters: summary.parameters, actors: summary.actors }
}

/// [`run_timed_form`] with its aim (target, intensity, fixed span) as one argument.
pub(super) fn run_timed_in<'t>(
    difficulty: &'static str,
    kind: AnomalyKind,
    topology: &'t Topology,
    aim: (&Target, f64, Option<u64>),
    seed: u64,
) -> TimedRun<'t> {
    let (target, intensity, span_ms) = aim;
    run_timed_form(kind, topology, target, intensity, difficulty, span_ms, seed)
}
