//! The ground truth a detector is scored against: the run's episodes file, and (when given) its
//! records, indexed by event id for matching alerts by `event_ids` and for the damage figures.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Deserialize;

use super::ScoreError;
use crate::records::{AnomalyKind, Timestamp};

/// One line of the episodes file, as scoring uses it.
#[derive(Debug, Clone)]
pub struct Episode {
    pub id: String,
    /// The run that made it: the id's prefix.
    pub run: String,
    /// For a look-alike, the kind it resembles.
    pub kind: AnomalyKind,
    pub technique: Option<String>,
    /// `overt` or `subtle`.
    pub difficulty: String,
    pub benign: bool,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Its sources and targets: the entities an alert may name.
    pub actors: BTreeSet<IpAddr>,
    pub service: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    episode_id: String,
    kind: String,
    #[serde(default)]
    technique: Option<String>,
    difficulty: String,
    #[serde(default)]
    benign: bool,
    start: String,
    end: String,
    actors: ActorsLine,
}

#[derive(Deserialize)]
struct ActorsLine {
    #[serde(default)]
    sources: Vec<IpAddr>,
    #[serde(default)]
    targets: Vec<IpAddr>,
    #[serde(default)]
    service: Option<String>,
}

/// The episodes of an episodes file (`name` for messages).
pub fn read_episodes(text: &str, name: &str) -> Result<Vec<Episode>, ScoreError> {
    let mut episodes = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{name}:{}", number + 1);
        let line: Line = serde_json::from_str(line).map_err(|error| {
            ScoreError::Input(format!("{} is not an episodes-file line ({error}): give the episodes file the run wrote", at()))
        })?;
        let kind =
            AnomalyKind::from_name(&line.kind).ok_or_else(|| ScoreError::Input(format!("{}: unknown kind `{}`", at(), line.kind)))?;
        let time = |text: &str| {
            Timestamp::parse(text)
                .map(Timestamp::unix_millis)
                .ok_or_else(|| ScoreError::Input(format!("{}: `{text}` is not a timestamp", at())))
        };
        let (start_ms, end_ms) = (time(&line.start)?, time(&line.end)?);
        let run = line.episode_id.split('-').next().unwrap_or_default().to_owned();
        let actors = line.actors.sources.into_iter().chain(line.actors.targets).collect();
        episodes.push(Episode {
            id: line.episode_id,
            run,
            kind,
            technique: line.technique,
            difficulty: line.difficulty,
            benign: line.benign,
            start_ms,
            end_ms: end_ms.max(start_ms),
            actors,
            service: line.actors.service,
        });
    }
    if episodes.is_empty() {
        return Err(ScoreError::Input(format!("{name} holds no episodes: give the episodes file of a run that had some")));
    }
    check_unique(&episodes, name)?;
    Ok(episodes)
}

/// Refuses episodes listed twice (in one file, or in two: a copy beside the original).
pub fn check_unique(episodes: &[Episode], name: &str) -> Result<(), ScoreError> {
    let mut ids = BTreeSet::new();
    match episodes.iter().find(|episode| !ids.insert(episode.id.as_str())) {
        Some(twice) => Err(ScoreError::Input(format!("{name} lists episode {} twice: give each run's episodes once", twice.id))),
        None => Ok(()),
    }
}

/// What the damage figures need of one labelled record.
#[derive(Debug, Clone, Copy)]
pub struct Labelled {
    pub time_ms: i64,
    pub bytes: u64,
    pub port: Option<u16>,
    pub host: Option<IpAddr>,
}

/// The run's records: every event id with its episode (by index; `None` for normal traffic),
/// and each episode's records in time order.
#[derive(Debug, Default)]
pub struct Records {
    /// Event id → (episode index + 1, 0 for normal; its time in ms).
    by_event: HashMap<Box<str>, (u32, i64)>,
    /// Per episode (by index), its labelled records.
    pub by_episode: Vec<Vec<Labelled>>,
    /// Per episode, the interface ids its records carry (an alert's `interface_id` matches them).
    pub interfaces: Vec<BTreeSet<Box<str>>>,
    /// Counts of normal and labelled records.
    pub normal: u64,
    pub labelled: u64,
    /// The first and last record time (ms).
    pub span: Option<(i64, i64)>,
}

#[derive(Deserialize)]
struct RecordProbe<'a> {
    #[serde(borrow)]
    event_id: &'a str,
    #[serde(default)]
    label: Option<LabelProbe<'a>>,
    // Flow records.
    #[serde(default)]
    start: Option<i64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    dstport: Option<u16>,
    #[serde(default)]
    dstaddr: Option<IpAddr>,
    #[serde(default, borrow)]
    interface_id: Option<&'a str>,
    // Firewall records.
    #[serde(default, borrow)]
    timestamp: Option<&'a str>,
    #[serde(default)]
    bytes_sent: Option<u64>,
    #[serde(default)]
    dest_port: Option<u16>,
    #[serde(default)]
    dest_ip: Option<IpAddr>,
}

#[derive(Deserialize)]
struct LabelProbe<'a> {
    #[serde(borrow)]
    episode_id: &'a str,
}

impl Records {
    pub fn new(episodes: &[Episode]) -> Records {
        Records { by_episode: vec![Vec::new(); episodes.len()], interfaces: vec![BTreeSet::new(); episodes.len()], ..Records::default() }
    }

    /// Adds one record line; `episodes` maps an episode id to its index. A line that is not a
    /// record, or a label naming an episode the file does not hold, is an error.
    pub fn add(&mut self, line: &[u8], episodes: &HashMap<&str, u32>, where_: &dyn Fn() -> String) -> Result<(), ScoreError> {
        let record: RecordProbe =
            serde_json::from_slice(line).map_err(|error| ScoreError::Input(format!("{} is not a netchaos record ({error})", where_())))?;
        let time_ms = match (record.start, record.timestamp) {
            (Some(seconds), _) => seconds.saturating_mul(1000),
            (None, Some(text)) => Timestamp::parse(text).map_or(0, Timestamp::unix_millis),
            (None, None) => 0,
        };
        if time_ms != 0 {
            let span = self.span.get_or_insert((time_ms, time_ms));
            *span = (span.0.min(time_ms), span.1.max(time_ms));
        }
        let slot = match record.label {
            None => {
                self.normal += 1;
                0
            }
            Some(label) => {
                let Some(&index) = episodes.get(label.episode_id) else {
                    return Err(ScoreError::Input(format!(
                        "{}: record {} belongs to episode {}, which the episodes file does not hold: the episodes file is from another run",
                        where_(),
                        record.event_id,
                        label.episode_id
                    )));
                };
                self.labelled += 1;
                self.by_episode[index as usize].push(Labelled {
                    time_ms,
                    bytes: record.bytes.or(record.bytes_sent).unwrap_or(0),
                    port: record.dstport.or(record.dest_port),
                    host: record.dstaddr.or(record.dest_ip),
                });
                if let Some(interface) = record.interface_id {
                    self.interfaces[index as usize].insert(interface.into());
                }
                index + 1
            }
        };
        self.by_event.insert(record.event_id.into(), (slot, time_ms));
        Ok(())
    }

    /// Sorts each episode's records by time (once every record is in).
    pub fn finish(&mut self) {
        for records in &mut self.by_episode {
            records.sort_by_key(|record| record.time_ms);
        }
    }

    /// The episode of an event id: `Some(None)` for a normal record, `None` for an id not seen.
    pub fn episode_of(&self, event_id: &str) -> Option<Option<usize>> {
        self.by_event.get(event_id).map(|(slot, _)| slot.checked_sub(1).map(|index| index as usize))
    }

    /// The time (ms) of the record with this event id.
    pub fn time_of(&self, event_id: &str) -> Option<i64> {
        self.by_event.get(event_id).map(|(_, time)| *time)
    }

    /// Every record's label, as (event id, episode): for record-level figures.
    pub fn labels(&self) -> impl Iterator<Item = (&str, Option<usize>)> {
        self.by_event.iter().map(|(id, (slot, _))| (&**id, slot.checked_sub(1).map(|index| index as usize)))
    }
}
