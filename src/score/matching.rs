//! Which episode an alert detected, by the strongest rule it allows:
//!
//! 1. **event ids**: the episodes its `event_ids` belong to, through the records' labels;
//! 2. **time and entity**: its span overlaps an episode's span plus the collar (one aggregation
//!    window plus `--slack`: a flow record is logged up to a window after its traffic), and its
//!    entity is one of the episode's actors, one of the interfaces its records carry, or its
//!    service;
//! 3. **time** alone (`--match time`).
//!
//! An alert that names a kind matches episodes of that kind only. One that matches no episode
//! but would match a benign look-alike by the same rule is a look-alike false positive; one whose
//! entity matches an episode whose collar had ended is a late detection of the latest such
//! episode (also a false positive, and reported as late).

use std::collections::BTreeSet;

use super::ScoreError;
use super::alerts::{Alert, Entity};
use super::truth::{Episode, Records};

/// The rule that matched an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    EventIds,
    TimeEntity,
    Time,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::EventIds => "event_ids",
            Rule::TimeEntity => "time+entity",
            Rule::Time => "time",
        }
    }
}

/// `--match`: the weakest rule allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatchMode {
    /// By event ids, else by time and entity.
    Entity,
    /// Also by time alone, for alerts without an entity.
    Time,
}

/// What one alert came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It detected these episodes (indexes into the episodes).
    Detected { rule: Rule, episodes: Vec<usize> },
    /// A false positive on these benign look-alikes.
    Lookalike { rule: Rule, episodes: Vec<usize> },
    /// A false positive that names an episode's entity after the episode's collar.
    Late { episodes: Vec<usize> },
    /// A plain false positive.
    Unmatched,
}

/// The episodes, bucketed by time for quick lookups.
#[derive(Debug)]
pub struct Matcher<'a> {
    episodes: &'a [Episode],
    records: Option<&'a Records>,
    runs: BTreeSet<&'a str>,
    collar_ms: i64,
    mode: MatchMode,
    /// Bucket → the episodes whose span plus collar touches it.
    buckets: std::collections::HashMap<i64, Vec<u32>>,
    /// The first and last bucket that holds an episode.
    bucket_range: (i64, i64),
    /// Episodes longer than [`MAX_EPISODE_BUCKETS`] buckets (with the collar): checked for every
    /// alert instead, so that an episode of centuries costs no memory.
    long: Vec<u32>,
    /// Episodes by actor address and by service, for late detections.
    by_actor: std::collections::HashMap<std::net::IpAddr, Vec<u32>>,
    by_service: std::collections::HashMap<&'a str, Vec<u32>>,
}

/// The width of a lookup bucket.
const BUCKET_MS: i64 = 300_000;

/// The most buckets an episode is filed under: about 3.5 days.
const MAX_EPISODE_BUCKETS: i64 = 1_000;

impl<'a> Matcher<'a> {
    pub fn new(episodes: &'a [Episode], records: Option<&'a Records>, collar_ms: i64, mode: MatchMode) -> Matcher<'a> {
        let mut buckets: std::collections::HashMap<i64, Vec<u32>> = std::collections::HashMap::new();
        let mut long = Vec::new();
        for (index, episode) in episodes.iter().enumerate() {
            let (first, last) = (episode.start_ms.div_euclid(BUCKET_MS), episode.end_ms.saturating_add(collar_ms).div_euclid(BUCKET_MS));
            if last - first > MAX_EPISODE_BUCKETS {
                long.push(index as u32);
                continue;
            }
            for bucket in first..=last {
                buckets.entry(bucket).or_default().push(index as u32);
            }
        }
        let (mut by_actor, mut by_service) = (std::collections::HashMap::new(), std::collections::HashMap::new());
        for (index, episode) in episodes.iter().enumerate() {
            for address in &episode.actors {
                by_actor.entry(*address).or_insert_with(Vec::new).push(index as u32);
            }
            if let Some(service) = &episode.service {
                by_service.entry(service.as_str()).or_insert_with(Vec::new).push(index as u32);
            }
        }
        // Each actor's and service's episodes by the end of their collar, for the latest late one.
        let ends = |list: &mut Vec<u32>| list.sort_by_key(|index| episodes[*index as usize].end_ms.saturating_add(collar_ms));
        by_actor.values_mut().for_each(ends);
        by_service.values_mut().for_each(ends);
        let runs = episodes.iter().map(|episode| episode.run.as_str()).collect();
        let bucket_range = (buckets.keys().min().copied().unwrap_or(0), buckets.keys().max().copied().unwrap_or(-1));
        Matcher { episodes, records, runs, collar_ms, mode, buckets, bucket_range, long, by_actor, by_service }
    }

    /// What `alert` came to.
    pub fn outcome(&self, alert: &Alert) -> Result<Outcome, ScoreError> {
        if !alert.event_ids.is_empty() {
            if let Some(records) = self.records {
                return self.by_event_ids(alert, records);
            }
            if alert.span.is_none() {
                return Err(ScoreError::Input(format!(
                    "alert `{}` matches only by event_ids, which needs the records: give --store or --records",
                    alert.id
                )));
            }
        }
        let Some(span) = alert.span else { return Ok(Outcome::Unmatched) };
        let rule = if !alert.entity.is_empty() {
            Rule::TimeEntity
        } else if self.mode == MatchMode::Time {
            Rule::Time
        } else {
            return Err(ScoreError::Input(format!(
                "alert `{}` has a time but no entity or event_ids: give it an `entity`, or score with --match time",
                alert.id
            )));
        };
        let (mut detected, mut lookalikes) = (Vec::new(), Vec::new());
        // Only the buckets that hold episodes: an alert spanning centuries costs no more.
        let (first, last) = (span.0.div_euclid(BUCKET_MS).max(self.bucket_range.0), span.1.div_euclid(BUCKET_MS).min(self.bucket_range.1));
        let mut seen = BTreeSet::new();
        let filed = (first..=last).flat_map(|bucket| self.buckets.get(&bucket).map_or(&[][..], Vec::as_slice));
        for &index in filed.chain(&self.long) {
            let episode = &self.episodes[index as usize];
            if !seen.insert(index) || !self.same_kind(alert, episode) {
                continue;
            }
            let overlaps = span.0 <= episode.end_ms.saturating_add(self.collar_ms) && span.1 >= episode.start_ms;
            if overlaps && (rule == Rule::Time || self.entity_matches(&alert.entity, index as usize)) {
                if episode.benign { &mut lookalikes } else { &mut detected }.push(index as usize);
            }
        }
        if !detected.is_empty() {
            detected.sort_unstable();
            return Ok(Outcome::Detected { rule, episodes: detected });
        }
        if !lookalikes.is_empty() {
            lookalikes.sort_unstable();
            return Ok(Outcome::Lookalike { rule, episodes: lookalikes });
        }
        if rule == Rule::TimeEntity {
            // The latest episode with its entity whose collar ended before the alert began.
            if let Some(late) = self.latest_ended(alert, span.0) {
                return Ok(Outcome::Late { episodes: vec![late] });
            }
        }
        Ok(Outcome::Unmatched)
    }
    /// Of the attack episodes (of the alert's kind) whose actors or service its entity names, the
    /// one whose collar ended last before `at` (interfaces are left out: late detections by
    /// interface alone are not told apart). Each list is sorted by the collar's end.
    fn latest_ended(&self, alert: &Alert, at: i64) -> Option<usize> {
        let entity = &alert.entity;
        let lists = [entity.src, entity.dst]
            .into_iter()
            .flatten()
            .filter_map(|address| self.by_actor.get(&address))
            .chain(entity.service.as_deref().and_then(|service| self.by_service.get(service)));
        let mut latest: Option<(i64, usize)> = None;
        for list in lists {
            let ended = list.partition_point(|index| self.episodes[*index as usize].end_ms.saturating_add(self.collar_ms) < at);
            let found = list[..ended].iter().rev().map(|index| *index as usize).find(|&index| {
                let episode = &self.episodes[index];
                !episode.benign && self.same_kind(alert, episode)
            });
            if let Some(index) = found {
                let end = self.episodes[index].end_ms;
                if latest.is_none_or(|(best, _)| end > best) {
                    latest = Some((end, index));
                }
            }
        }
        latest.map(|(_, index)| index)
    }

    fn same_kind(&self, alert: &Alert, episode: &Episode) -> bool {
        alert.kind.is_none_or(|kind| kind == episode.kind)
    }

    fn entity_matches(&self, entity: &Entity, index: usize) -> bool {
        let episode = &self.episodes[index];
        entity.src.is_some_and(|address| episode.actors.contains(&address))
            || entity.dst.is_some_and(|address| episode.actors.contains(&address))
            || entity.service.as_deref().is_some_and(|service| episode.service.as_deref() == Some(service))
            || entity
                .interface_id
                .as_deref()
                .is_some_and(|interface| self.records.is_some_and(|records| records.interfaces[index].contains(interface)))
    }

    fn by_event_ids(&self, alert: &Alert, records: &Records) -> Result<Outcome, ScoreError> {
        let mut detected = BTreeSet::new();
        for id in &alert.event_ids {
            match records.episode_of(id) {
                Some(Some(index)) if self.same_kind(alert, &self.episodes[index]) => {
                    detected.insert(index);
                }
                Some(_) => {}
                None => {
                    let run = id.split('-').next().unwrap_or_default();
                    let why = if self.runs.contains(run) {
                        "which the records do not hold: give the store or records file of the whole run"
                    } else {
                        "of another run than the episodes file's: give the episodes file of the run the detector read"
                    };
                    return Err(ScoreError::Input(format!("alert `{}` names event id `{id}`, {why}", alert.id)));
                }
            }
        }
        Ok(if detected.is_empty() {
            Outcome::Unmatched
        } else {
            Outcome::Detected { rule: Rule::EventIds, episodes: detected.into_iter().collect() }
        })
    }
}
