//! Chaos: anomalies are labelled episodes, not noise.
//!
//! An episode has an id, a kind, a start and an end, its parameters and its actors; every record
//! it produces carries `label = {kind, episode_id}`, and its summary goes to the ground-truth
//! episodes file. One file per kind describes what its records look like (DESIGN §4).
//!
//! # One kind, one file
//!
//! Everything about a kind is in its file: a `static KIND: `[`KindSpec`] (its label, its
//! `--…-prob` flag and variable, its parameters with their flags, its mean size and span, where
//! its records go, how an episode starts) and a type implementing [`Episode`] (what the episode
//! emits next, when it is done, its summary). [`KINDS`] lists the specs; the CLI flags, the
//! manifest's settings, a run's recorded settings, the scheduler, the status line and every
//! per-kind count follow from it. Adding a kind `beaconing` takes:
//!
//! 1. `src/chaos/beaconing.rs`: `pub(super) static KIND: KindSpec` (its rate per hour, technique
//!    and forms) and its [`Episode`] type, with the module doc saying what its records look like
//!    in each form, citing the technique and the thresholds each form trips or stays under;
//! 2. one line `Beaconing => "beaconing",` in `records::label` (the label vocabulary: records
//!    sit below chaos, and the validator and the verifier must read a label without the code that
//!    makes it; the enum's doc comment, which counts the kinds, is the JSON Schema's description of
//!    `label.kind`), and the registration here: `mod beaconing;` and `&beaconing::KIND` in [`KINDS`],
//!    at the same position as its variant (the compiler counts the entries, a test checks their
//!    order);
//! 3. its docs: its row in the README's table of anomaly kinds.
//!
//! A kind shaped by time (a beacon every N seconds, a slow lateral sweep) has no probability
//! (`probability: None`): [`HourlyClock`] starts its episodes, `--<kind>-per-hour` of them per
//! logical hour, and the episode keeps its own timetable in [`Episode::next_due_ms`]. Its spec names
//! its ATT&CK `technique` and its `difficulties` (`overt`, `subtle`); [`Start::is_subtle`] tells the
//! episode which form to plan. New kinds run in the traffic lanes ([`Placement::TrafficLanes`]); the
//! schedule has one dedicated lane, the port scan's.
//!
//! # Difficulty and the hourly clock
//!
//! [`Difficulty`] is per kind. For the original four, `overt` is their `*_PROB` share (as before),
//! `subtle` turns that share off and starts subtle episodes on the hourly clock, and `mixed` does
//! both. For the kinds without a probability, every episode comes from the hourly clock, and
//! `mixed` makes each one overt or subtle evenly. [`LOOKALIKES`] (benign traffic shaped like a kind)
//! run on the same clock; their records carry no label.
//!
//! # Holding each kind to its probability
//!
//! `*_PROB` is the expected fraction of all records that belong to that kind. The port scan comes
//! from its own lane, which gets exactly that share of the schedule. The other kinds run inside the
//! traffic lanes under [`EpisodeScheduler`]: every record adds the kind's fraction to a credit,
//! every episode record spends one; a new episode may start (with a random gate, so starts are
//! irregular) only while the credit is positive. The credit stays bounded, so the realised fraction
//! converges to the probability with an error of about one episode per lane, however long the run;
//! the timing of episodes stays random.
//!
//! An active episode emits a record with probability `density` (else the record is baseline), so an
//! episode spreads over time ("for a while") instead of monopolising its lane; the density is at
//! least twice the kind's fraction so that an episode always outpaces its credit.

pub mod beaconing;
pub mod brute_force;
pub mod connection_reset;
pub mod cryptomining;
pub mod data_exfiltration;
pub mod distributed_scan;
mod episode;
mod hourly;
mod kind;
pub mod latency_spike;
pub mod lateral_movement;
pub mod lookalike;
mod outside;
pub mod port_scan;
mod scheduler;
mod settings;
pub mod syn_flood;

use std::collections::VecDeque;
use std::net::IpAddr;

use serde::Serialize;

use crate::network::session::{Session, Side};
use crate::records::{AnomalyKind, PerKind, Timestamp};

pub use episode::{ActiveEpisode, start_episode};
pub use hourly::{HourlyClock, HourlyStart, HourlyWhat};
pub use kind::{Episode, KindSpec, Parameter, ParameterUnit, PerHourFlag, Placement, ProbabilityFlag, Start, parse_bytes};
pub use lookalike::{LOOKALIKES, LookalikeSpec, When};
pub use scheduler::EpisodeScheduler;
pub use settings::{ChaosSettings, Difficulty};

/// Every anomaly kind's spec, at its kind's position in [`AnomalyKind::ALL`].
pub static KINDS: PerKind<&KindSpec> = PerKind::new([
    &latency_spike::KIND,
    &port_scan::KIND,
    &data_exfiltration::KIND,
    &connection_reset::KIND,
    &beaconing::KIND,
    &lateral_movement::KIND,
    &brute_force::KIND,
    &syn_flood::KIND,
    &distributed_scan::KIND,
    &cryptomining::KIND,
]);

/// The spec of `kind`.
pub fn spec(kind: AnomalyKind) -> &'static KindSpec {
    KINDS[kind]
}

/// How one record of the stream is to be written.
#[derive(Debug)]
pub enum Emission<'t> {
    /// As a flow-log record of one direction.
    Flow { session: Session<'t>, side: Side, prefer_destination: bool },
    /// As a firewall session record.
    Firewall(Session<'t>),
    /// As a `NODATA` flow-log record of this host.
    NoData(&'t crate::network::topology::Host),
    /// As a `SKIPDATA` flow-log record of this host: its records for the window were dropped (a
    /// flood overflowing the ENI's flow-log capacity).
    SkipData(&'t crate::network::topology::Host),
}

impl<'t> Emission<'t> {
    /// Every record of one conversation, in the order they are written: each direction at each of
    /// our ENIs it touches (both ends of an east-west call, our end of an internet one; a refused
    /// session only where it was refused; [`flow_records`](crate::network::session::flow_records)),
    /// then the firewall's record when `logged_by_firewall`. For one window of a long conversation
    /// ([`Session::window`]) the firewall's record, which covers the whole session, comes with
    /// the last window only.
    pub fn conversation(session: Session<'t>, logged_by_firewall: bool, out: &mut VecDeque<Emission<'t>>) {
        for (side, prefer_destination) in crate::network::session::flow_records(&session) {
            out.push_back(Emission::Flow { session: session.clone(), side, prefer_destination });
        }
        if logged_by_firewall && session.window.is_none_or(|part| part.is_last()) {
            out.push_back(Emission::Firewall(session));
        }
    }

    /// The earliest time the record written for this emission at `time_ms` covers.
    pub fn start_ms(&self, time_ms: i64) -> i64 {
        use crate::network::session::{flow_window, session_start_ms};
        match self {
            Emission::Flow { session, .. } => flow_window(time_ms, session.duration_ms).0 * 1000,
            Emission::Firewall(session) => session_start_ms(time_ms, session.duration_ms),
            Emission::NoData(_) | Emission::SkipData(_) => flow_window(time_ms, u64::MAX).0 * 1000,
        }
    }
}

/// Who took part in an episode.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Actors {
    pub sources: Vec<IpAddr>,
    pub targets: Vec<IpAddr>,
    pub ports: Vec<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'static str>,
}

/// One line of the ground-truth episodes file.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeSummary {
    pub episode_id: String,
    /// The anomaly kind; for a benign look-alike, the kind it resembles.
    pub kind: AnomalyKind,
    /// Its MITRE ATT&CK technique id (`null` for an operational fault and a look-alike).
    pub technique: Option<&'static str>,
    /// `overt` or `subtle`.
    pub difficulty: &'static str,
    /// True for a look-alike: normal traffic shaped like the kind, its records unlabelled.
    pub benign: bool,
    /// The look-alike's name (`nightly_backup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookalike: Option<&'static str>,
    pub worker: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    pub records: u64,
    /// False when the run stopped before the episode had emitted all its planned records.
    pub complete: bool,
    pub parameters: serde_json::Value,
    pub actors: Actors,
    /// For an episode a scenario's timeline scheduled: what it asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<ScheduledInfo>,
}

/// What a scenario asked of a scheduled episode, as its episodes-file row records it.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledInfo {
    /// When it was due to start.
    pub at: Timestamp,
    pub duration_ms: u64,
    pub ramp_ms: u64,
    /// `any`, `service ssh`, `host 10.16.0.11`, `subnet 10.16.16.0/20`.
    pub target: String,
    pub intensity: f64,
    pub difficulty: &'static str,
    /// Which occurrence of a `repeat` (0 for the first or only one).
    pub occurrence: u32,
    /// The scenario file and line it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_each_kind_at_its_place() {
        for (kind, spec) in KINDS.iter() {
            assert_eq!(spec.kind, kind, "KINDS must list the specs in AnomalyKind::ALL order");
        }
    }

    #[test]
    fn names_flags_and_variables_are_unique() {
        let mut names: Vec<&str> = Vec::new();
        let mut flags: Vec<&str> = Vec::new();
        let mut variables: Vec<&str> = Vec::new();
        for spec in KINDS.values() {
            for (name, flag, env) in spec.probability.iter().map(|flag| (flag.name, flag.flag, flag.env)).chain([(
                spec.per_hour.name,
                spec.per_hour.flag,
                spec.per_hour.env,
            )]) {
                names.push(name);
                flags.push(flag);
                variables.push(env);
            }
            names.extend(spec.parameters.iter().map(|parameter| parameter.name));
            flags.extend(spec.parameters.iter().map(|parameter| parameter.flag));
            variables.extend(spec.parameters.iter().map(|parameter| parameter.env));
        }
        assert!(flags.iter().zip(&names).all(|(flag, name)| flag.replace('-', "_") == **name), "a flag is its name with dashes");
        for list in [&mut names, &mut flags, &mut variables] {
            let count = list.len();
            list.sort_unstable();
            list.dedup();
            assert_eq!(list.len(), count, "{list:?}");
        }
    }

    #[test]
    fn every_probability_default_reads_as_a_probability() {
        for spec in KINDS.values() {
            if let Some(flag) = spec.probability {
                let default: f64 = flag.default.parse().unwrap();
                assert!((0.0..=1.0).contains(&default), "{}", flag.name);
                assert_eq!(ChaosSettings::defaults().probability[spec.kind], default);
            }
            let per_hour: f64 = spec.per_hour.default.parse().unwrap();
            assert!(per_hour >= 0.0, "{}", spec.per_hour.name);
            assert_eq!(ChaosSettings::defaults().per_hour[spec.kind], per_hour);
        }
    }

    #[test]
    fn only_the_port_scan_has_the_dedicated_lane() {
        let dedicated: Vec<AnomalyKind> =
            KINDS.values().filter(|spec| spec.placement == Placement::DedicatedLane).map(|spec| spec.kind).collect();
        assert_eq!(dedicated, [AnomalyKind::PortScan], "the schedule has one dedicated lane");
    }
}
#[cfg(test)]
mod testing;
