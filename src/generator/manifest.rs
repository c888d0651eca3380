//! The run manifest: what a run was asked to do and exactly what it emitted.
//!
//! Written when the run ends, including after Ctrl-C. `lanes[].records` is the count of records
//! each lane handed to the output, and lane *w*'s event ids are `<run_id>-<w>-<seq>` for
//! `seq` in `0..records`: the manifest names the exact set of emitted ids, which `verify` checks the
//! store against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chaos::ChaosSettings;
use crate::records::{EventType, Timestamp};

use super::GeneratorSettings;
use super::collector::Tally;
use super::profile::RateProfile;
use super::schedule::{LaneRole, Schedule};
use crate::network::topology::TopologySize;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSettings {
    pub workers: u32,
    /// Target records per second; 0 means as fast as possible.
    pub eps: f64,
    pub count: Option<u64>,
    pub duration_ms: Option<u64>,
    /// t0 of the logical schedule.
    pub start_time: Timestamp,
    /// Each kind's `…_prob`, then each kind's parameters (`exfil_bytes`).
    #[serde(flatten)]
    pub chaos: ChaosSettings,
    pub firewall_ratio: f64,
    /// `1`, `60`, `max`: how fast logical time ran (it changes when records came, never which).
    #[serde(default = "real_time")]
    pub speed: String,
    /// `K/N`: the shard of the stream this run emitted (`0/1`: all of it).
    #[serde(default = "whole_stream")]
    pub shard: String,
    /// How the rate moved: daily curve, weekend, time zones, bursts.
    #[serde(default)]
    pub profile: RateProfile,
    #[serde(default)]
    pub topology: TopologySize,
    /// The scenario file the run came from, with its phases and scheduled episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ManifestScenario>,
}

/// What a run's scenario scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestScenario {
    pub file: String,
    pub phases: u64,
    pub scheduled_episodes: u64,
}

fn real_time() -> String {
    "1".to_owned()
}

fn whole_stream() -> String {
    "0/1".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestLane {
    pub worker: u32,
    /// `traffic` or `port_scan`.
    pub role: String,
    pub records: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub netchaos_version: String,
    pub run_id: String,
    pub seed: u64,
    pub instance_id: u32,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// True when the run emitted everything it was asked to (no Ctrl-C, no output error).
    pub complete: bool,
    pub settings: ManifestSettings,
    /// How to enumerate the emitted event ids.
    pub event_ids: String,
    pub lanes: Vec<ManifestLane>,
    pub records: u64,
    pub by_event_type: BTreeMap<String, u64>,
    /// Records per label: `normal` and each anomaly kind.
    pub by_label: BTreeMap<String, u64>,
    /// Episodes per anomaly kind.
    pub episodes: BTreeMap<String, u64>,
    /// Each anomaly kind's share of all records, as realised (the probabilities and rates per hour
    /// set what is expected).
    #[serde(default)]
    pub realised_fraction: BTreeMap<String, f64>,
    /// Each anomaly kind's MITRE ATT&CK technique id (`null` for an operational fault).
    #[serde(default)]
    pub techniques: BTreeMap<String, Option<String>>,
    /// Occurrences of each benign look-alike (their records count as `normal`).
    #[serde(default)]
    pub benign_episodes: BTreeMap<String, u64>,
    /// In the Kafka mode, what Kafka acknowledged; the records it did not are named there, and
    /// `verify` does not count them as lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<DeliveryReport>,
    /// The live commands of the run, at their logical times: its journal (`--replay` takes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub control: Vec<super::control::Entry>,
}

/// What an acknowledging transport (today Kafka, `generate --brokers`) reports of a run's delivery,
/// as the run manifest records it: where the records went, how many were acknowledged, and which
/// were not. The transport fills it in; the field names are the manifest's (under `kafka`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub brokers: String,
    pub topic: String,
    pub episodes_topic: String,
    /// Partitions of `topic` when the run started.
    pub partitions: u32,
    pub acks: String,
    /// Records handed to librdkafka.
    pub sent: u64,
    /// Records whose delivery Kafka acknowledged.
    pub acknowledged: u64,
    /// Records Kafka did not acknowledge (an error or a purge at exit).
    pub failed: u64,
    /// The event ids of the failed records: they may or may not be in the topic, and `verify`
    /// does not count them as lost.
    pub unacknowledged_event_ids: Vec<String>,
    pub episodes_sent: u64,
    pub episodes_acknowledged: u64,
}

impl ManifestSettings {
    /// The settings of a run, as its manifest (and its journal) records them.
    pub fn of(settings: &GeneratorSettings) -> Self {
        ManifestSettings {
            workers: settings.workers.get(),
            eps: settings.eps,
            count: settings.count,
            duration_ms: settings.duration.map(|duration| duration.as_millis() as u64),
            start_time: Timestamp::from_unix_millis(settings.start_time_ms),
            chaos: settings.chaos.clone(),
            firewall_ratio: settings.firewall_ratio,
            speed: settings.plan.speed.to_string(),
            shard: settings.plan.shard.to_string(),
            profile: settings.plan.profile.clone(),
            topology: settings.plan.topology,
            scenario: settings.plan.scenario.as_ref().map(|file| ManifestScenario {
                file: file.clone(),
                phases: settings.plan.timeline.phases.len() as u64,
                scheduled_episodes: settings.plan.timeline.episodes.len() as u64,
            }),
        }
    }
}

impl RunManifest {
    pub fn new(
        settings: &GeneratorSettings,
        schedule: &Schedule,
        lanes: &[usize],
        tally: &Tally,
        started_at: Timestamp,
        finished_at: Timestamp,
        complete: bool,
    ) -> Self {
        let lanes = lanes
            .iter()
            .map(|lane| &schedule.lanes[*lane])
            .zip(&tally.lane_records)
            .map(|(lane, records)| ManifestLane {
                worker: lane.worker,
                role: match lane.role {
                    LaneRole::Traffic => "traffic".into(),
                    LaneRole::PortScan => "port_scan".into(),
                },
                records: *records,
            })
            .collect();
        let by_label = tally.by_label.iter().map(|(label, count)| (label.to_owned(), *count)).collect();
        let episodes = tally.episodes.iter().map(|(kind, count)| (kind.as_str().to_owned(), *count)).collect();
        let total = tally.records().max(1) as f64;
        let realised_fraction =
            tally.by_label.kinds.iter().map(|(kind, count)| (kind.as_str().to_owned(), *count as f64 / total)).collect();
        let techniques =
            crate::chaos::KINDS.iter().map(|(kind, spec)| (kind.as_str().to_owned(), spec.technique.map(str::to_owned))).collect();
        let benign_episodes = tally.benign.iter().map(|(name, count)| ((*name).to_owned(), *count)).collect();
        RunManifest {
            netchaos_version: env!("CARGO_PKG_VERSION").to_owned(),
            run_id: settings.run_id(),
            seed: settings.seed,
            instance_id: settings.instance_id,
            started_at,
            finished_at,
            complete,
            settings: ManifestSettings::of(settings),
            event_ids: "lane w emitted `<run_id>-<w>-<seq>` for every seq in 0..lanes[w].records".to_owned(),
            lanes,
            records: tally.records(),
            by_event_type: EventType::ALL.iter().map(|kind| (kind.as_str().to_owned(), tally.by_event_type[kind.index()])).collect(),
            by_label,
            episodes,
            realised_fraction,
            techniques,
            benign_episodes,
            kafka: None,
            control: Vec::new(),
        }
    }
}
