//! Live control: commands that change a running generator, each taking effect at a logical time
//! no lane has reached yet, so that a run changed live is as reproducible as one planned ahead.
//!
//! **The boundary.** Every lane *claims* logical time before it writes it: before a slice, it
//! raises the shared horizon to the slice's end and takes the commands due before it
//! ([`Control::claim`]). A command accepted later is stamped at the first whole millisecond at or
//! after the horizon ([`Control::accept`]), both under one lock: no lane has written a record at or
//! after that time, and every lane applies the command just before its first record there. The
//! commands come out in time order, and what a lane does with one depends only on the command and
//! the lane's own state, never on when it arrived. Tests: `claims_hold_commands_back_until_their_time`
//! (below) attacks the ordering; `it::control::a_live_session_replays_byte_for_byte` runs a live
//! session changed at chosen moments and replays its journal at speed 1 and at max, and
//! `it::control::a_thousand_commands_at_max_speed_replay_byte_for_byte` sends commands as fast as a
//! client can while the lanes run unpaced.
//!
//! **The journal.** Each accepted command becomes an [`Entry`]: its number, its logical time and
//! the [`Action`]. A run given the same entries up front (`--replay`, or a scenario's `control`
//! list) makes the same records. Pacing actions (speed, pause, resume) are journalled too, for the
//! record and for the console; they change when records are written, never which, and a replay
//! runs at its own speed.
//!
//! (Over 450 lines with its unit tests: the argument above and the tests that attack it stay
//! together.)

pub mod pace;
pub mod rate;
pub mod request;
pub mod view;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::chaos::{Difficulty, KINDS, spec};
use crate::network::target::Target;
use crate::records::{AnomalyKind, Timestamp};

use super::collector::ChunkSink;
use super::timeline::ScheduledEpisode;
pub use pace::Pacer;
pub use rate::RateCurve;
pub use view::{EpisodeState, Event, Observed};

/// Fastest target rate a live change may set, records per second.
pub const MAX_LIVE_EPS: f64 = 1_000_000.0;
/// Longest ramp, and longest injected episode.
pub const MAX_LIVE_SPAN_MS: u64 = 24 * 3_600_000;
/// Injected episodes that may run at once.
pub const MAX_ACTIVE_INJECTED: usize = 64;
/// Highest intensity of an injected episode.
pub const MAX_INTENSITY: f64 = 100.0;
/// Duration of an injected episode when the request gives none.
pub const DEFAULT_INJECT_MS: u64 = 300_000;

/// What a command does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Start an episode at the command's time.
    Inject(Injection),
    /// End an episode at the command's time (its summary says `complete: false`).
    End {
        episode_id: String,
    },
    /// A new target rate, reached linearly over `ramp_ms` of logical time.
    Rate {
        eps: f64,
        #[serde(default)]
        ramp_ms: u64,
    },
    /// New background probabilities or difficulty.
    Chaos(ChaosChange),
    /// A new speed; `null` is as fast as the machine goes.
    Speed {
        speed: Option<f64>,
    },
    Pause,
    Resume,
}

impl Action {
    /// Whether it changes which records are written (pacing changes only when).
    pub fn changes_records(&self) -> bool {
        !matches!(self, Action::Speed { .. } | Action::Pause | Action::Resume)
    }

    /// Its event name: `inject`, `end`, `rate`, `chaos`, `speed`, `pause`, `resume`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Inject(_) => "inject",
            Action::End { .. } => "end",
            Action::Rate { .. } => "rate",
            Action::Chaos(_) => "chaos",
            Action::Speed { .. } => "speed",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }
}

/// An episode started by a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    /// Assigned when accepted: `<run_id>-s<n>`, numbered after the scenario's own episodes.
    pub episode_id: String,
    pub kind: AnomalyKind,
    pub difficulty: String,
    /// `any`, `host 10.16.0.11`, `service ssh`, `subnet 10.16.16.0/20`.
    pub target: String,
    pub duration_ms: u64,
    pub intensity: f64,
    /// How long after the command's time it starts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    #[serde(default)]
    pub parameters: BTreeMap<String, u64>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// New background chaos: any of the probabilities of the kinds that have one (but the port scan's,
/// whose share is its own lane's rate), and the difficulty list (`subtle`, `mixed,beaconing=overt`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosChange {
    /// By kind name (`latency_spike`).
    #[serde(default)]
    pub probability: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<String>,
}

/// A request that cannot be taken as it is: which field, what is wrong, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub allowed: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>, allowed: impl Into<String>) -> Self {
        FieldError { field: field.to_owned(), message: message.into(), allowed: allowed.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (allowed: {})", self.field, self.message, self.allowed)
    }
}

impl Injection {
    /// Checks it as the API and a journal take it.
    pub fn check(&self) -> Result<(), FieldError> {
        let spec = spec(self.kind);
        if !spec.difficulties.contains(&self.difficulty.as_str()) {
            return Err(FieldError::new(
                "difficulty",
                format!("{} has no form `{}`", self.kind, self.difficulty),
                spec.difficulties.join(", "),
            ));
        }
        Target::parse(&self.target).map_err(|message| FieldError::new("target", message, Target::FORMS))?;
        if self.delay_ms > MAX_LIVE_SPAN_MS {
            return Err(FieldError::new("in", format!("{} ms is too far ahead", self.delay_ms), "0 to 24h"));
        }
        if self.duration_ms == 0 || self.duration_ms > MAX_LIVE_SPAN_MS {
            return Err(FieldError::new("duration", format!("{} ms is out of range", self.duration_ms), "1ms to 24h"));
        }
        if !(self.intensity > 0.0 && self.intensity <= MAX_INTENSITY) {
            return Err(FieldError::new("intensity", format!("{} is out of range", self.intensity), "more than 0, at most 100"));
        }
        for (name, value) in &self.parameters {
            let names: Vec<&str> = spec.parameters.iter().map(|parameter| parameter.name).collect();
            if !names.contains(&name.as_str()) {
                let allowed = if names.is_empty() { format!("none ({} takes no parameters)", self.kind) } else { names.join(", ") };
                return Err(FieldError::new("parameters", format!("{} has no parameter `{name}`", self.kind), allowed));
            }
            if *value == 0 {
                return Err(FieldError::new("parameters", format!("`{name}` is 0"), "more than 0"));
            }
        }
        Ok(())
    }

    /// The episode it schedules at `at_ms` (logical ms from t0).
    pub fn scheduled(&self, at_ms: u64) -> ScheduledEpisode {
        let spec = spec(self.kind);
        let difficulty = spec.difficulties.iter().find(|form| **form == self.difficulty).copied().unwrap_or(spec.difficulties[0]);
        let parameters = spec
            .parameters
            .iter()
            .filter_map(|parameter| self.parameters.get(parameter.name).map(|value| (parameter.name, *value)))
            .collect();
        ScheduledEpisode {
            kind: self.kind,
            at_ms: at_ms.saturating_add(self.delay_ms),
            duration_ms: self.duration_ms,
            difficulty,
            target: Target::parse(&self.target).unwrap_or_default(),
            intensity: self.intensity,
            ramp_ms: 0,
            parameters,
            occurrence: 0,
            origin: None,
        }
    }
}

impl ChaosChange {
    pub fn check(&self) -> Result<(), FieldError> {
        let flags: Vec<&str> =
            KINDS.values().filter_map(|spec| spec.probability).map(|flag| flag.name).filter(|name| *name != "port_scan_prob").collect();
        let allowed = flags.join(", ");
        for (name, value) in &self.probability {
            let kind = AnomalyKind::from_name(name);
            let field = kind.and_then(|kind| spec(kind).probability).map_or_else(|| format!("{name}_prob"), |flag| flag.name.to_owned());
            match kind {
                Some(AnomalyKind::PortScan) => {
                    return Err(FieldError::new(
                        "port_scan_prob",
                        "the port scan's share is its own lane's rate, set when the run starts",
                        format!("{allowed}; inject port_scan episodes instead"),
                    ));
                }
                Some(kind) if spec(kind).probability.is_some() => {}
                _ => return Err(FieldError::new(&field, "no such probability", allowed)),
            }
            if !(0.0..=1.0).contains(value) {
                return Err(FieldError::new(&field, format!("{value} is out of range"), "0 to 1"));
            }
        }
        if let Some(text) = &self.difficulty {
            Difficulty::parse_list(text, Default::default())
                .map_err(|message| FieldError::new("difficulty", message, "overt, subtle, mixed, or KIND=FORM pairs"))?;
        }
        Ok(())
    }
}

/// Checks a rate change.
pub fn check_rate(eps: f64, ramp_ms: u64) -> Result<(), FieldError> {
    if !(1.0..=MAX_LIVE_EPS).contains(&eps) {
        return Err(FieldError::new("eps", format!("{eps} is out of range"), format!("1 to {MAX_LIVE_EPS} records per second")));
    }
    if ramp_ms > MAX_LIVE_SPAN_MS {
        return Err(FieldError::new("ramp", format!("{ramp_ms} ms is too long"), "0 to 24h"));
    }
    Ok(())
}

/// Checks a speed (`None` is max).
pub fn check_speed(speed: Option<f64>) -> Result<(), FieldError> {
    match speed {
        Some(speed) if !(speed > 0.0 && speed <= 1e6) => {
            Err(FieldError::new("speed", format!("{speed} is out of range"), "more than 0 and at most 1000000, or \"max\""))
        }
        _ => Ok(()),
    }
}

/// One journalled command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, ...: its place in the journal.
    pub command: u32,
    /// Logical ms from t0 at which it takes effect.
    pub offset_ms: u64,
    /// When it was accepted, on the wall clock (for the record; nothing depends on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall: Option<Timestamp>,
    pub action: Action,
}

impl Entry {
    pub fn offset_ns(&self) -> u64 {
        self.offset_ms.saturating_mul(1_000_000)
    }

    /// Checks what it asks, as the API checks a request.
    pub fn check(&self) -> Result<(), FieldError> {
        match &self.action {
            Action::Inject(injection) => injection.check(),
            Action::Rate { eps, ramp_ms } => check_rate(*eps, *ramp_ms),
            Action::Chaos(change) => change.check(),
            Action::Speed { speed } => check_speed(*speed),
            Action::End { .. } | Action::Pause | Action::Resume => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct Commands {
    /// No lane has written, or will write without taking the commands due before it, any record
    /// before this logical time (ns from t0).
    horizon_ns: u64,
    entries: Vec<Entry>,
    injected: u32,
}

/// The commands of a run, shared by its lanes, its control server and its collector.
pub struct Control {
    commands: Mutex<Commands>,
    /// Scheduled episodes of the scenario (injected ones are numbered after them).
    scheduled: u32,
    run_id: String,
    /// Replaying a journal: the records' commands are fixed.
    replay: bool,
    journal: Mutex<Option<Box<dyn Write + Send>>>,
    pub pacer: Pacer,
    pub view: Observed,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("run_id", &self.run_id).field("replay", &self.replay).finish_non_exhaustive()
    }
}

/// Why a command was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 409: it cannot apply now.
    Conflict(String),
}

impl Control {
    /// `entries` are the commands given up front (a replayed journal, a scenario's `control`).
    pub fn new(run_id: &str, scheduled: u32, entries: Vec<Entry>, replay: bool, pacer: Pacer) -> Self {
        let injected = entries.iter().filter(|entry| matches!(entry.action, Action::Inject(_))).count() as u32;
        Control {
            commands: Mutex::new(Commands { horizon_ns: 0, entries, injected }),
            scheduled,
            run_id: run_id.to_owned(),
            replay,
            journal: Mutex::new(None),
            pacer,
            view: Observed::default(),
        }
    }

    /// Writes each accepted command as a JSON line to `journal`, after `header`.
    pub fn journal_to(&self, mut journal: Box<dyn Write + Send>, header: &serde_json::Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut journal, header)?;
        journal.write_all(b"\n")?;
        for entry in self.entries() {
            write_line(&mut journal, &entry)?;
        }
        journal.flush()?;
        *self.journal.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(journal);
        Ok(())
    }

    fn commands(&self) -> std::sync::MutexGuard<'_, Commands> {
        self.commands.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_replay(&self) -> bool {
        self.replay
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Every command so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.commands().entries.clone()
    }

    /// Where the lanes have got to: no record before this has still to be written.
    pub fn horizon_ns(&self) -> u64 {
        self.commands().horizon_ns
    }

    /// The id the next injected episode gets.
    pub fn next_episode_id(&self) -> String {
        format!("{}-s{}", self.run_id, self.scheduled + self.commands().injected)
    }

    /// Takes `action` (checked by the caller), stamps it at the first whole millisecond no lane
    /// has reached, journals it and returns its entry. An injection gets its episode id here.
    pub fn accept(&self, mut action: Action) -> Result<Entry, Refusal> {
        if self.replay && action.changes_records() {
            return Err(Refusal::Conflict("this run replays a journal: only speed, pause and resume apply".into()));
        }
        if self.view.has_ended() {
            return Err(Refusal::Conflict("the run has ended".into()));
        }
        let entry = {
            let mut commands = self.commands();
            if let Action::Inject(injection) = &mut action {
                injection.episode_id = format!("{}-s{}", self.run_id, self.scheduled + commands.injected);
                commands.injected += 1;
            }
            let last = commands.entries.last().map_or(0, |entry| entry.offset_ms);
            let offset_ms = commands.horizon_ns.div_ceil(1_000_000).max(last);
            let entry = Entry { command: commands.entries.len() as u32 + 1, offset_ms, wall: Some(Timestamp::now()), action };
            commands.entries.push(entry.clone());
            entry
        };
        let mut journal = self.journal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(file) = journal.as_mut()
            && let Err(error) = write_line(file, &entry).and_then(|()| file.flush())
        {
            tracing::error!(%error, "cannot write the journal: commands from now on are in the manifest only");
            *journal = None;
        }
        Ok(entry)
    }

    /// A lane about to write logical time up to `until_ns` (exclusive): raises the horizon and
    /// moves the commands due before it, from `cursor` on, into `due`.
    pub fn claim(&self, until_ns: u64, cursor: &mut usize, due: &mut VecDeque<Entry>) {
        let mut commands = self.commands();
        commands.horizon_ns = commands.horizon_ns.max(until_ns);
        while let Some(entry) = commands.entries.get(*cursor).filter(|entry| entry.offset_ns() < until_ns) {
            if entry.action.changes_records() {
                due.push_back(entry.clone());
            }
            *cursor += 1;
        }
    }
}

impl Control {
    /// The commands from `cursor` on.
    pub fn entries_from(&self, cursor: usize) -> Vec<Entry> {
        self.commands().entries.get(cursor..).map(<[Entry]>::to_vec).unwrap_or_default()
    }
}

/// The collector's sink, seen by the control server on its way: counts and episodes go to the
/// [`Observed`] view, and each new command to the sink once (for the episodes topic).
pub struct Observing<'a> {
    inner: &'a mut dyn ChunkSink,
    control: &'a Control,
    slice_ns: u64,
    commands: usize,
}

impl std::fmt::Debug for Observing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observing").field("commands", &self.commands).finish_non_exhaustive()
    }
}

impl<'a> Observing<'a> {
    pub fn new(inner: &'a mut dyn ChunkSink, control: &'a Control, slice_ns: u64) -> Self {
        Observing { inner, control, slice_ns, commands: 0 }
    }

    fn forward_commands(&mut self) -> anyhow::Result<()> {
        for entry in self.control.entries_from(self.commands) {
            self.inner.write_command(&entry)?;
            self.commands += 1;
        }
        Ok(())
    }
}

impl ChunkSink for Observing<'_> {
    fn write_chunk(&mut self, chunk: super::Chunk) -> anyhow::Result<()> {
        let end_ns = (chunk.slice + 1).saturating_mul(self.slice_ns);
        self.control.view.written(end_ns, chunk.records, chunk.by_event_type, &chunk.by_label, &chunk.started);
        self.forward_commands()?;
        self.inner.write_chunk(chunk)
    }

    fn write_episode(&mut self, episode: &crate::chaos::EpisodeSummary) -> anyhow::Result<()> {
        self.control.view.finished(episode);
        self.inner.write_episode(episode)
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.forward_commands()?;
        self.inner.finish()
    }

    fn write_command(&mut self, entry: &Entry) -> anyhow::Result<()> {
        self.inner.write_command(entry)
    }
}

fn write_line(out: &mut dyn Write, entry: &Entry) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, entry)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn control() -> Control {
        Control::new("r", 2, Vec::new(), false, Pacer::new(Instant::now(), Some(1.0)))
    }

    #[test]
    fn claims_hold_commands_back_until_their_time() {
        let control = control();
        let (mut cursor, mut due) = (0, VecDeque::new());
        control.claim(10_500_000, &mut cursor, &mut due);
        let rate = control.accept(Action::Rate { eps: 10.0, ramp_ms: 0 }).ok();
        // No lane has reached 11 ms: the command waits there.
        assert_eq!(rate.map(|entry| entry.offset_ms), Some(11));
        control.claim(11_000_000, &mut cursor, &mut due);
        assert!(due.is_empty());
        control.claim(11_000_001, &mut cursor, &mut due);
        assert_eq!(due.len(), 1);
        // A later command never goes before an earlier one, whatever the horizon.
        let pause = control.accept(Action::Pause).ok();
        assert_eq!(pause.map(|entry| entry.offset_ms), Some(12));
        control.claim(20_000_000, &mut cursor, &mut due);
        assert_eq!(due.len(), 1, "pacing is not a lane's business");
        assert_eq!(cursor, 2);
    }

    #[test]
    fn injected_episodes_are_numbered_after_the_scenarios() {
        let control = control();
        let injection = Injection {
            episode_id: String::new(),
            kind: AnomalyKind::PortScan,
            difficulty: "overt".into(),
            target: "any".into(),
            duration_ms: 60_000,
            intensity: 1.0,
            delay_ms: 0,
            parameters: BTreeMap::new(),
        };
        assert_eq!(injection.check(), Ok(()));
        let entry = control.accept(Action::Inject(injection.clone())).ok();
        assert!(matches!(entry.map(|entry| entry.action), Some(Action::Inject(Injection { episode_id, .. })) if episode_id == "r-s2"));
        assert_eq!(control.next_episode_id(), "r-s3");
        let bad = Injection { difficulty: "loud".into(), ..injection.clone() };
        assert_eq!(bad.check().map_err(|error| error.field), Err("difficulty".to_owned()));
        let bad = Injection { target: "host 192.168.1.1".into(), ..injection };
        assert_eq!(bad.check().map_err(|error| error.field), Err("target".to_owned()));
    }

    #[test]
    fn a_replay_takes_pacing_only() {
        let control = Control::new("r", 0, Vec::new(), true, Pacer::new(Instant::now(), Some(1.0)));
        assert!(control.accept(Action::Rate { eps: 10.0, ramp_ms: 0 }).is_err());
        assert!(control.accept(Action::Pause).is_ok());
    }

    #[test]
    fn journal_entries_read_back_as_written() {
        let entry = Entry { command: 3, offset_ms: 1200, wall: None, action: Action::Rate { eps: 500.0, ramp_ms: 60_000 } };
        let text = serde_json::to_string(&entry).unwrap_or_default();
        assert_eq!(text, r#"{"command":3,"offset_ms":1200,"action":{"rate":{"eps":500.0,"ramp_ms":60000}}}"#);
        assert_eq!(serde_json::from_str::<Entry>(&text).ok(), Some(entry));
        assert!(serde_json::from_str::<Entry>(r#"{"command":1,"offset_ms":0,"action":"pause"}"#).is_ok());
    }
}
