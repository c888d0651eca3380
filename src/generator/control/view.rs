//! [`Observed`]: what the control server tells about a run, as its collector saw it written:
//! counts, the achieved rate, active and finished episodes, and a stream of [`Event`]s.
//!
//! Memory stays bounded on a run of any length: the achieved rate keeps 12 logical seconds, the
//! finished episodes the last [`KEEP_FINISHED`] (with the ids of all, to tell "finished" from
//! "unknown"), and a slow event reader loses the oldest events rather than holding them.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::chaos::EpisodeSummary;
use crate::records::{AnomalyKind, EventType, PerLabel, Timestamp};

use super::{Entry, Injection};

/// Finished episodes the view lists.
pub const KEEP_FINISHED: usize = 1_000;
/// Events a reader may fall behind by.
const EVENT_BACKLOG: usize = 1_024;
/// The window of the achieved rate, logical seconds.
const RATE_WINDOW_S: u64 = 10;

/// One server-sent event: its name and its JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: &'static str,
    pub data: String,
}

/// An episode that has started and not finished (or an injected one not yet started).
#[derive(Debug, Clone, Serialize)]
pub struct ActiveView {
    pub episode_id: String,
    pub kind: AnomalyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<u32>,
    pub records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// When an injection was accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// When an injection is due to start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    pub injected: bool,
}

#[derive(Debug, Default)]
struct State {
    records: u64,
    by_event_type: [u64; 2],
    by_label: PerLabel<u64>,
    /// End of the last slice written, logical ns from t0.
    written_ns: u64,
    /// Records per logical second, the last few seconds.
    seconds: VecDeque<(u64, u64)>,
    active: BTreeMap<String, ActiveView>,
    /// As `GET /v1/episodes` lists them.
    finished: VecDeque<Value>,
    finished_ids: HashSet<String>,
    injected: HashSet<String>,
    target_eps: f64,
    ramp: Option<Value>,
    ended: bool,
}

/// What the run's collector has seen, for the control server.
#[derive(Debug)]
pub struct Observed {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
}

impl Default for Observed {
    fn default() -> Self {
        Observed { state: Mutex::default(), events: broadcast::channel(EVENT_BACKLOG).0 }
    }
}

/// Whether an episode can be ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpisodeState {
    Active,
    Finished,
    Unknown,
}

impl State {
    fn finish(&mut self, id: &str, value: Value) {
        self.finished_ids.insert(id.to_owned());
        self.finished.push_back(value);
        if self.finished.len() > KEEP_FINISHED {
            self.finished.pop_front();
        }
    }
}

impl Observed {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// New readers of the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn send(&self, name: &'static str, data: &impl Serialize) {
        // Nobody listening is not an error.
        let _ = self.events.send(Event { name, data: serde_json::to_string(data).unwrap_or_default() });
    }

    pub fn set_target(&self, eps: f64) {
        self.state().target_eps = eps;
    }

    /// A chunk of `records` written for the slice ending at `end_ns`, with its counts and the
    /// episodes whose first record it holds.
    pub fn written(
        &self,
        end_ns: u64,
        records: u64,
        by_event_type: [u64; 2],
        by_label: &PerLabel<u64>,
        started: &[super::super::StartedEpisode],
    ) {
        let mut starts = Vec::new();
        {
            let mut state = self.state();
            state.records += records;
            for (total, add) in state.by_event_type.iter_mut().zip(by_event_type) {
                *total += add;
            }
            state.by_label.add(by_label);
            state.written_ns = state.written_ns.max(end_ns);
            let second = end_ns.saturating_sub(1) / 1_000_000_000;
            match state.seconds.back_mut() {
                Some((last, count)) if *last == second => *count += records,
                _ => state.seconds.push_back((second, records)),
            }
            while state.seconds.front().is_some_and(|(first, _)| first + RATE_WINDOW_S + 1 < second) {
                state.seconds.pop_front();
            }
            for start in started {
                if state.finished_ids.contains(&start.episode_id) {
                    continue;
                }
                let injected = state.injected.contains(&start.episode_id);
                let entry = state.active.entry(start.episode_id.clone()).or_insert_with(|| ActiveView {
                    episode_id: start.episode_id.clone(),
                    kind: start.kind,
                    difficulty: None,
                    start: None,
                    worker: None,
                    records: 0,
                    target: None,
                    duration_ms: None,
                    at: None,
                    due: None,
                    injected,
                });
                if entry.start.is_none() {
                    entry.start = Some(Timestamp::from_unix_millis(start.time_ms));
                    entry.worker = Some(start.worker);
                    starts.push(entry.clone());
                }
            }
        }
        for start in &starts {
            self.send("episode_start", start);
        }
    }

    /// An episode whose records have all been written.
    pub fn finished(&self, episode: &EpisodeSummary) {
        let value = {
            let mut state = self.state();
            state.active.remove(&episode.episode_id);
            let value = episode_json(episode, state.injected.contains(&episode.episode_id));
            state.finish(&episode.episode_id, value.clone());
            value
        };
        self.send("episode_end", &value);
    }

    /// An accepted command: an injection is listed at once, as pending.
    pub fn command(&self, entry: &Entry, at: Timestamp) {
        if let super::Action::Inject(Injection { episode_id, kind, difficulty, target, duration_ms, delay_ms, .. }) = &entry.action {
            let mut state = self.state();
            state.injected.insert(episode_id.clone());
            state.active.insert(
                episode_id.clone(),
                ActiveView {
                    episode_id: episode_id.clone(),
                    kind: *kind,
                    difficulty: Some(difficulty.clone()),
                    start: None,
                    worker: None,
                    records: 0,
                    target: Some(target.clone()),
                    duration_ms: Some(*duration_ms),
                    at: Some(at),
                    due: Some(Timestamp::from_unix_millis(at.0 + *delay_ms as i64)),
                    injected: true,
                },
            );
        }
        // An injection ended before it was due never starts, and no summary of it will come.
        let mut cancelled = None;
        if let super::Action::End { episode_id: id } = &entry.action {
            let mut state = self.state();
            if state.active.get(id).is_some_and(|view| view.start.is_none() && view.due.is_some_and(|due| due.0 >= at.0))
                && let Some(view) = state.active.remove(id)
            {
                let mut value = serde_json::to_value(&view).unwrap_or(Value::Null);
                if let Some(object) = value.as_object_mut() {
                    object.insert("end".into(), json!(at));
                    object.insert("complete".into(), Value::Bool(false));
                    object.insert("cancelled".into(), Value::Bool(true));
                }
                state.finish(id, value.clone());
                cancelled = Some(value);
            }
        }
        if let super::Action::Rate { eps, ramp_ms } = entry.action {
            let mut state = self.state();
            let from = state.target_eps;
            state.target_eps = eps;
            state.ramp =
                (ramp_ms > 0).then(|| json!({"from": from, "to": eps, "until": Timestamp::from_unix_millis(at.0 + ramp_ms as i64)}));
        }
        self.send(entry.action.name(), entry);
        if let Some(value) = cancelled {
            self.send("episode_end", &value);
        }
    }

    /// Whether `id` is running (or pending), finished, or unknown.
    pub fn episode_state(&self, id: &str) -> EpisodeState {
        let state = self.state();
        if state.active.contains_key(id) {
            EpisodeState::Active
        } else if state.finished_ids.contains(id) {
            EpisodeState::Finished
        } else {
            EpisodeState::Unknown
        }
    }

    pub fn active_injected(&self) -> usize {
        self.state().active.values().filter(|view| view.injected).count()
    }

    /// The run has written its last record.
    pub fn end(&self) {
        self.state().ended = true;
        self.send("ended", &json!({}));
    }

    pub fn has_ended(&self) -> bool {
        self.state().ended
    }

    /// Logical ns from t0 written so far.
    pub fn written_ns(&self) -> u64 {
        self.state().written_ns
    }

    /// `GET /v1/status`, less what the pacer knows (speed, paused), which the server adds.
    pub fn status(&self, start_ms: i64) -> Value {
        let state = self.state();
        let latest = state.seconds.back().map_or(0, |(second, _)| *second);
        // Whole seconds before the one being written.
        let window: Vec<u64> =
            state.seconds.iter().filter(|(second, _)| *second < latest && second + RATE_WINDOW_S >= latest).map(|(_, n)| *n).collect();
        let achieved = if window.is_empty() { 0.0 } else { window.iter().sum::<u64>() as f64 / RATE_WINDOW_S.min(latest).max(1) as f64 };
        let by_kind: BTreeMap<&str, u64> = state.by_label.kinds.iter().map(|(kind, n)| (kind.as_str(), *n)).collect();
        let by_event_type: BTreeMap<&str, u64> =
            EventType::ALL.iter().map(|event_type| (event_type.as_str(), state.by_event_type[event_type.index()])).collect();
        let offset_ms = state.written_ns / 1_000_000;
        json!({
            "logical_time": Timestamp::from_unix_millis(start_ms + offset_ms as i64),
            "offset_ms": offset_ms,
            "rate": {"target": state.target_eps, "achieved": achieved, "ramp": state.ramp},
            "records": state.records,
            "by_event_type": by_event_type,
            "by_kind": by_kind,
            "normal": state.by_label.normal,
            "active_episodes": state.active.values().filter(|view| view.start.is_some()).count(),
            "ended": state.ended,
        })
    }

    /// `GET /v1/episodes`.
    pub fn episodes(&self) -> Value {
        let state = self.state();
        json!({"active": state.active.values().collect::<Vec<_>>(), "finished": state.finished})
    }
}

fn episode_json(episode: &EpisodeSummary, injected: bool) -> Value {
    let mut value = serde_json::to_value(episode).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("injected".into(), Value::Bool(injected));
    }
    value
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::Action;
    use super::*;

    fn entry(command: u32, offset_ms: u64, action: Action) -> Entry {
        Entry { command, offset_ms, wall: None, action }
    }

    fn injection(delay_ms: u64) -> Action {
        Action::Inject(Injection {
            episode_id: "r-s0".into(),
            kind: AnomalyKind::PortScan,
            difficulty: "overt".into(),
            target: "any".into(),
            duration_ms: 60_000,
            intensity: 1.0,
            delay_ms,
            parameters: BTreeMap::new(),
        })
    }

    #[test]
    fn an_injection_ended_before_it_is_due_is_finished_at_once_and_says_so() {
        let view = Observed::default();
        let mut events = view.subscribe();
        view.command(&entry(1, 1_000, injection(30_000)), Timestamp::from_unix_millis(1_000));
        assert_eq!(view.episode_state("r-s0"), EpisodeState::Active);
        assert_eq!(view.episodes()["active"][0]["due"], json!(Timestamp::from_unix_millis(31_000)));
        view.command(&entry(2, 2_000, Action::End { episode_id: "r-s0".into() }), Timestamp::from_unix_millis(2_000));
        assert_eq!(view.episode_state("r-s0"), EpisodeState::Finished);
        let episodes = view.episodes();
        assert_eq!(episodes["active"], json!([]));
        assert_eq!(episodes["finished"][0]["cancelled"], true);
        assert_eq!(episodes["finished"][0]["records"], 0);
        let names: Vec<&str> = std::iter::from_fn(|| events.try_recv().ok()).map(|event| event.name).collect();
        assert_eq!(names, ["inject", "end", "episode_end"]);
    }

    #[test]
    fn an_injection_ended_after_it_is_due_waits_for_its_summary() {
        let view = Observed::default();
        view.command(&entry(1, 1_000, injection(0)), Timestamp::from_unix_millis(1_000));
        view.command(&entry(2, 2_000, Action::End { episode_id: "r-s0".into() }), Timestamp::from_unix_millis(2_000));
        // Its first record may be written and not yet seen: the collector's summary finishes it.
        assert_eq!(view.episode_state("r-s0"), EpisodeState::Active);
    }
}
