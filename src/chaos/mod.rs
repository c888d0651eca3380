//! Chaos: anomalies are labelled episodes, not noise.
//!
//! An episode has an id, a kind, a start and an end, its parameters and its actors; every record
//! it produces carries `label = {kind, episode_id}`, and its summary goes to the ground-truth
//! episodes file. One file per kind describes what its records look like (DESIGN §4).
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

mod connection_reset;
mod data_exfiltration;
mod latency_spike;
mod port_scan;

use std::collections::VecDeque;
use std::net::IpAddr;

use serde::Serialize;

use crate::network::baseline::Baseline;
use crate::network::random::{LaneRng, chance};
use crate::network::session::{Session, Side};
use crate::records::{AnomalyKind, Timestamp};

pub use connection_reset::ConnectionReset;
pub use data_exfiltration::DataExfiltration;
pub use latency_spike::LatencySpike;
pub use port_scan::PortScan;

/// Expected fraction of records per anomaly kind, and the episode parameters users tune.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChaosSettings {
    pub latency_spike_prob: f64,
    pub port_scan_prob: f64,
    pub data_exfil_prob: f64,
    pub conn_reset_prob: f64,
    /// Bytes one exfiltration episode sends out (at least; up to 1.5×).
    pub exfil_bytes: u64,
}

impl ChaosSettings {
    pub fn probability(&self, kind: AnomalyKind) -> f64 {
        match kind {
            AnomalyKind::LatencySpike => self.latency_spike_prob,
            AnomalyKind::PortScan => self.port_scan_prob,
            AnomalyKind::DataExfiltration => self.data_exfil_prob,
            AnomalyKind::ConnectionReset => self.conn_reset_prob,
        }
    }

    pub fn total(&self) -> f64 {
        AnomalyKind::ALL.iter().map(|kind| self.probability(*kind)).sum()
    }
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
}

impl<'t> Emission<'t> {
    /// Every record of one conversation, in the order they are written: each direction at each of
    /// our ENIs it touches (both ends of an east-west call, our end of an internet one; a refused
    /// session only where it was refused), then the firewall's record when `logged_by_firewall`.
    pub fn conversation(session: Session<'t>, logged_by_firewall: bool, out: &mut VecDeque<Emission<'t>>) {
        use crate::network::session::{Endpoint, Outcome};
        if matches!(session.outcome, Outcome::Denied | Outcome::Dropped) {
            out.push_back(Emission::Flow { session: session.clone(), side: Side::Request, prefer_destination: true });
        } else {
            if matches!(session.client, Endpoint::Host(_)) {
                out.push_back(Emission::Flow { session: session.clone(), side: Side::Request, prefer_destination: false });
                out.push_back(Emission::Flow { session: session.clone(), side: Side::Response, prefer_destination: true });
            }
            if matches!(session.server, Endpoint::Host(_)) {
                out.push_back(Emission::Flow { session: session.clone(), side: Side::Request, prefer_destination: true });
                out.push_back(Emission::Flow { session: session.clone(), side: Side::Response, prefer_destination: false });
            }
        }
        if logged_by_firewall {
            out.push_back(Emission::Firewall(session));
        }
    }

    /// The earliest time the record written for this emission at `time_ms` covers.
    pub fn start_ms(&self, time_ms: i64) -> i64 {
        use crate::network::session::{flow_window, session_start_ms};
        match self {
            Emission::Flow { session, .. } => flow_window(time_ms, session.duration_ms).0 * 1000,
            Emission::Firewall(session) => session_start_ms(time_ms, session.duration_ms),
            Emission::NoData(_) => flow_window(time_ms, u64::MAX).0 * 1000,
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
    pub kind: AnomalyKind,
    pub worker: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    pub records: u64,
    /// False when the run stopped before the episode had emitted all its planned records.
    pub complete: bool,
    pub parameters: serde_json::Value,
    pub actors: Actors,
}

/// The shape of an active episode: one variant per kind.
#[derive(Debug)]
pub enum Shape<'t> {
    LatencySpike(LatencySpike<'t>),
    PortScan(PortScan<'t>),
    DataExfiltration(DataExfiltration<'t>),
    ConnectionReset(ConnectionReset<'t>),
}

impl<'t> Shape<'t> {
    fn start(kind: AnomalyKind, rng: &mut LaneRng, baseline: &Baseline<'t>, settings: &ChaosSettings) -> Self {
        match kind {
            AnomalyKind::LatencySpike => Shape::LatencySpike(LatencySpike::start(rng, baseline)),
            AnomalyKind::PortScan => Shape::PortScan(PortScan::start(rng, baseline)),
            AnomalyKind::DataExfiltration => Shape::DataExfiltration(DataExfiltration::start(rng, baseline, settings.exfil_bytes)),
            AnomalyKind::ConnectionReset => Shape::ConnectionReset(ConnectionReset::start(rng, baseline)),
        }
    }

    fn planned_records(&self) -> u64 {
        match self {
            Shape::LatencySpike(shape) => shape.planned_records,
            Shape::PortScan(shape) => shape.planned_records(),
            Shape::DataExfiltration(shape) => shape.planned_records(),
            Shape::ConnectionReset(shape) => shape.planned_records,
        }
    }

    /// Adds the episode's next record(s) to `out`: one, or a whole conversation.
    fn next(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, out: &mut VecDeque<Emission<'t>>) {
        match self {
            Shape::LatencySpike(shape) => shape.next(rng, baseline, out),
            Shape::PortScan(shape) => out.push_back(shape.next(rng, baseline)),
            Shape::DataExfiltration(shape) => out.push_back(shape.next(rng)),
            Shape::ConnectionReset(shape) => out.push_back(shape.next(rng, baseline)),
        }
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        match self {
            Shape::LatencySpike(shape) => shape.describe(),
            Shape::PortScan(shape) => shape.describe(),
            Shape::DataExfiltration(shape) => shape.describe(),
            Shape::ConnectionReset(shape) => shape.describe(),
        }
    }

    /// Logical span the episode aims to cover, in seconds (drives its density).
    fn target_span_seconds(&self) -> f64 {
        match self {
            Shape::LatencySpike(_) => 90.0,
            Shape::PortScan(_) => 10.0,
            Shape::DataExfiltration(_) => 240.0,
            Shape::ConnectionReset(_) => 20.0,
        }
    }
}

/// An episode in progress.
#[derive(Debug)]
pub struct ActiveEpisode<'t> {
    pub episode_id: std::rc::Rc<str>,
    pub kind: AnomalyKind,
    pub shape: Shape<'t>,
    pub planned: u64,
    pub emitted: u64,
    pub density: f64,
    /// Logical time of the first record (the port-scan lane times its probes from it).
    pub first_ms: i64,
    /// Earliest time any of its records covers (a flow's window start, a session's start): the
    /// episode's start in the ground truth, so that every record lies inside [start, end].
    pub earliest_ms: i64,
    pub last_ms: i64,
    /// Records of the episode's current conversation still to write.
    pending: VecDeque<Emission<'t>>,
}

impl<'t> ActiveEpisode<'t> {
    pub fn new(episode_id: std::rc::Rc<str>, kind: AnomalyKind, shape: Shape<'t>, density: f64) -> Self {
        let planned = shape.planned_records().max(1);
        ActiveEpisode {
            episode_id,
            kind,
            shape,
            planned,
            emitted: 0,
            density,
            first_ms: 0,
            earliest_ms: i64::MAX,
            last_ms: 0,
            pending: VecDeque::new(),
        }
    }

    /// The next record of the episode, stamped at `time_ms`.
    pub fn emit(&mut self, rng: &mut LaneRng, baseline: &Baseline<'t>, time_ms: i64) -> Emission<'t> {
        if self.emitted == 0 {
            self.first_ms = time_ms;
        }
        self.last_ms = time_ms;
        self.emitted += 1;
        if self.pending.is_empty() {
            self.shape.next(rng, baseline, &mut self.pending);
        }
        // Every shape adds at least one record; the fallback only keeps this total.
        let emission = self.pending.pop_front().unwrap_or_else(|| Emission::NoData(baseline.random_host(rng, 0)));
        self.earliest_ms = self.earliest_ms.min(emission.start_ms(time_ms));
        emission
    }

    /// True once the planned records are out and no conversation is half written.
    pub fn is_finished(&self) -> bool {
        let planned_out = match &self.shape {
            Shape::PortScan(scan) => scan.is_done(),
            _ => self.emitted >= self.planned,
        };
        planned_out && self.pending.is_empty()
    }

    /// In the middle of a conversation: its next record comes before anything else.
    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn summary(&self, worker: u32) -> EpisodeSummary {
        let (parameters, actors) = self.shape.describe();
        EpisodeSummary {
            episode_id: self.episode_id.to_string(),
            kind: self.kind,
            worker,
            start: Timestamp::from_unix_millis(self.earliest_ms.min(self.first_ms)),
            end: Timestamp::from_unix_millis(self.last_ms),
            records: self.emitted,
            complete: self.is_finished(),
            parameters,
            actors,
        }
    }
}

/// Starts a new episode of `kind`.
pub fn start_episode<'t>(
    kind: AnomalyKind,
    episode_id: std::rc::Rc<str>,
    rng: &mut LaneRng,
    baseline: &Baseline<'t>,
    settings: &ChaosSettings,
    density: f64,
) -> ActiveEpisode<'t> {
    ActiveEpisode::new(episode_id, kind, Shape::start(kind, rng, baseline, settings), density)
}

/// An active episode emits at this multiple of its kind's fraction at least, so it always spends
/// credit faster than the credit accrues (any factor above 1 would do; larger means shorter spans).
const DENSITY_OVER_FRACTION: f64 = 2.0;

/// Kinds that live inside traffic lanes (the port scan has its own lane).
const IN_LANE_KINDS: [AnomalyKind; 3] = [AnomalyKind::LatencySpike, AnomalyKind::DataExfiltration, AnomalyKind::ConnectionReset];

/// Decides, record by record, whether a traffic lane emits an episode record or baseline, holding
/// each kind to its fraction (see the module docs).
#[derive(Debug)]
pub struct EpisodeScheduler<'t> {
    settings: ChaosSettings,
    /// Fraction of this lane's records that belong to each kind (indexed by `AnomalyKind::index`).
    fractions: [f64; 4],
    credit: [f64; 4],
    active: [Option<ActiveEpisode<'t>>; 4],
    /// This lane's logical rate, records per second.
    lane_rate: f64,
    run_id: String,
    worker: u32,
    next_number: u64,
}

impl<'t> EpisodeScheduler<'t> {
    /// `traffic_share` is the share of all records that traffic lanes carry (1 − port-scan share).
    pub fn new(settings: ChaosSettings, traffic_share: f64, lane_rate: f64, run_id: &str, worker: u32) -> Self {
        let mut fractions = [0.0; 4];
        for kind in IN_LANE_KINDS {
            fractions[kind.index()] = if traffic_share > 0.0 { (settings.probability(kind) / traffic_share).min(1.0) } else { 0.0 };
        }
        EpisodeScheduler {
            settings,
            fractions,
            credit: [0.0; 4],
            active: [None, None, None, None],
            lane_rate,
            run_id: run_id.to_owned(),
            worker,
            next_number: 0,
        }
    }

    /// Picks what the next record is. Returns the anomaly kind when it belongs to an episode.
    /// Episodes that end with this record are pushed onto `finished`.
    pub fn next(
        &mut self,
        rng: &mut LaneRng,
        baseline: &Baseline<'t>,
        time_ms: i64,
        finished: &mut Vec<EpisodeSummary>,
    ) -> Option<(AnomalyKind, std::rc::Rc<str>, Emission<'t>)> {
        for kind in IN_LANE_KINDS {
            let fraction = self.fractions[kind.index()];
            if fraction <= 0.0 {
                continue;
            }
            self.credit[kind.index()] += fraction;
            if self.active[kind.index()].is_none() && self.credit[kind.index()] > 0.0 {
                self.maybe_start(kind, rng, baseline);
            }
        }
        let continuing = IN_LANE_KINDS.into_iter().find(|kind| self.active[kind.index()].as_ref().is_some_and(ActiveEpisode::has_pending));
        for kind in continuing.into_iter().chain(IN_LANE_KINDS) {
            let index = kind.index();
            let emits = self.active[index].as_ref().is_some_and(|episode| episode.has_pending() || chance(rng, episode.density));
            if !emits {
                continue;
            }
            let Some(episode) = self.active[index].as_mut() else { continue };
            let emission = episode.emit(rng, baseline, time_ms);
            let episode_id = episode.episode_id.clone();
            self.credit[index] -= 1.0;
            if episode.is_finished() {
                finished.push(episode.summary(self.worker));
                self.active[index] = None;
            }
            return Some((kind, episode_id, emission));
        }
        None
    }

    fn maybe_start(&mut self, kind: AnomalyKind, rng: &mut LaneRng, baseline: &Baseline<'t>) {
        let fraction = self.fractions[kind.index()];
        let mean_length = mean_episode_records(kind);
        // Starts wait a random (geometric) number of records. While active, an episode spends
        // credit at `density - fraction` per record, i.e. half its length in total; the mean wait of
        // `length / (4 × fraction)` records earns back only a quarter, so the credit drifts down
        // whenever it is positive and stays bounded. A large debt starts an episode at once.
        let gate = (4.0 * fraction / mean_length).min(1.0);
        let owed = self.credit[kind.index()] > mean_length / 2.0;
        if !owed && !chance(rng, gate) {
            return;
        }
        let episode_id: std::rc::Rc<str> = format!("{}-{}-e{}", self.run_id, self.worker, self.next_number).into();
        self.next_number += 1;
        let mut episode = start_episode(kind, episode_id, rng, baseline, &self.settings, 1.0);
        let spread = episode.planned as f64 / (episode.shape.target_span_seconds() * self.lane_rate);
        episode.density = spread.max(DENSITY_OVER_FRACTION * fraction).clamp(1e-6, 1.0);
        self.active[kind.index()] = Some(episode);
    }

    /// Episodes still open (when the lane stops), summarised as they stand.
    pub fn open_episodes(&self) -> Vec<EpisodeSummary> {
        self.active.iter().flatten().filter(|episode| episode.emitted > 0).map(|episode| episode.summary(self.worker)).collect()
    }
}

/// Mean records per episode, used for the start gate.
fn mean_episode_records(kind: AnomalyKind) -> f64 {
    match kind {
        AnomalyKind::LatencySpike => latency_spike::MEAN_RECORDS,
        AnomalyKind::PortScan => port_scan::MEAN_RECORDS,
        AnomalyKind::DataExfiltration => data_exfiltration::MEAN_RECORDS,
        AnomalyKind::ConnectionReset => connection_reset::MEAN_RECORDS,
    }
}
