//! Flags of live control, shared by `generate` and `run`: where the control server listens, its
//! token and allowed origin, the journal to write and the journal to replay.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::{Value, json};

use crate::control::{ControlAddr, ControlServer, DEFAULT_PORT, RunFacts, ServerSettings};
use crate::generator::GeneratorSettings;
use crate::generator::control::{Action, Control, Entry, Pacer};
use crate::generator::manifest::ManifestSettings;
use crate::metrics::ControlMetrics;

use super::UsageError;

/// The version of the journal's format, in its first line.
const JOURNAL_FORMAT: u64 = 1;

#[derive(Clone, Args)]
pub(crate) struct ControlArgs {
    /// Serve the live control API (`/v1`) and the web console on http://ADDR/, or `off`. Default
    /// 127.0.0.1:9760 (taken: another loopback port, with a warning). An address other than
    /// loopback needs --control-token.
    #[arg(long, env = "NETCHAOS_CONTROL_ADDR", value_name = "ADDR")]
    pub(crate) control_addr: Option<ControlAddr>,

    /// Bearer token every control request must carry (`Authorization: Bearer TOKEN`). Never
    /// logged, never written to the manifest or the journal.
    #[arg(long, env = "NETCHAOS_CONTROL_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub(crate) control_token: Option<String>,

    /// A web origin (`https://ops.example.com`) whose pages may call the control API; others are
    /// refused.
    #[arg(long, env = "NETCHAOS_CONTROL_CORS", value_name = "ORIGIN")]
    pub(crate) control_cors: Option<String>,

    /// Write every accepted live command here, one JSON line each, at its logical time:
    /// `--replay` reproduces the run from it, `netchaos scenario export` turns it into a scenario.
    #[arg(long, env = "NETCHAOS_JOURNAL", value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,

    /// Replay a journal: its commands at their logical times, without the API (with the same seed
    /// and settings the run is byte-for-byte the same, at any speed).
    #[arg(long, value_name = "JOURNAL")]
    pub(crate) replay: Option<PathBuf>,
}

// By hand: the token must never reach a log line, and a derived Debug would print it.
impl std::fmt::Debug for ControlArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlArgs")
            .field("control_addr", &self.control_addr)
            .field("control_token", &self.control_token.as_ref().map(|_| "<redacted>"))
            .field("control_cors", &self.control_cors)
            .field("journal", &self.journal)
            .field("replay", &self.replay)
            .finish()
    }
}

/// A run's live control: the shared commands, and its server when one is serving.
#[derive(Debug)]
pub(crate) struct LiveControl {
    pub(crate) control: Arc<Control>,
    pub(crate) server: Option<ControlServer>,
}

impl LiveControl {
    /// Says on stderr where the console is (unless `quiet`).
    pub(crate) fn announce(&self, quiet: bool) {
        if let Some(server) = self.server.as_ref().filter(|_| !quiet) {
            eprintln!("netchaos: control API and console on http://{}/", server.address());
        }
    }
}

impl ControlArgs {
    /// Where to serve, and whether it is the default.
    fn address(&self) -> Option<(SocketAddr, bool)> {
        match self.control_addr {
            Some(ControlAddr::Off) => None,
            Some(ControlAddr::At(address)) => Some((address, false)),
            None => Some((SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)), true)),
        }
    }

    /// The flags' own mistakes, before anything starts: a non-loopback address without a token,
    /// an empty token.
    pub(crate) fn check(&self) -> Result<(), UsageError> {
        if self.control_token.as_deref().is_some_and(|token| token.trim().is_empty()) {
            return Err(UsageError("--control-token is empty: give a token, or leave the flag out".into()));
        }
        if let Some((address, _)) = self.address()
            && !address.ip().is_loopback()
            && self.control_token.is_none()
        {
            return Err(UsageError(format!(
                "--control-addr {address} is not a loopback address: anyone who can reach it could change the run; set --control-token (or NETCHAOS_CONTROL_TOKEN), or bind 127.0.0.1"
            )));
        }
        Ok(())
    }

    /// With `--replay`, the journal's commands become the plan's, after checking that the journal
    /// is of a run with these settings.
    /// The journal's seed and start time are taken when the flags give none.
    pub(crate) fn replay_into(&self, settings: &mut GeneratorSettings, seed_given: bool, start_given: bool) -> Result<(), UsageError> {
        let Some(path) = &self.replay else { return Ok(()) };
        let (header, _) = read_journal_file(path)?;
        if !seed_given && let Some(seed) = header.get("seed").and_then(Value::as_u64) {
            settings.seed = seed;
        }
        if !start_given
            && let Some(start) = header.pointer("/settings/start_time").and_then(Value::as_str).and_then(crate::records::Timestamp::parse)
        {
            settings.start_time_ms = start.unix_millis();
        }
        if !settings.plan.control.is_empty() {
            return Err(UsageError(format!(
                "--replay {} and the scenario's `control` list both give commands: use one of them",
                path.display()
            )));
        }
        settings.plan.control = read_journal(path, settings)?;
        settings.plan.replay = true;
        Ok(())
    }

    /// The run's control, its journal opened, and its server started (unless `off`).
    pub(crate) fn start(&self, settings: &GeneratorSettings, metrics: &ControlMetrics) -> anyhow::Result<LiveControl> {
        self.check()?;
        let control = Arc::new(settings.control(Pacer::new(Instant::now(), None)));
        if let Some(path) = &self.journal {
            let file = std::fs::File::create(path)
                .map_err(|error| UsageError(format!("cannot create the journal file {}: {error}", path.display())))?;
            control.journal_to(Box::new(file), &journal_header(settings))?;
        }
        let server = match self.address() {
            None => None,
            Some((addr, is_default)) => {
                let facts = RunFacts { start_ms: settings.start_time_ms, eps: settings.eps, chaos: settings.chaos.clone() };
                let server_settings =
                    ServerSettings { addr, is_default, token: self.control_token.clone(), cors: self.control_cors.clone() };
                Some(
                    crate::control::serve(server_settings, control.clone(), facts, metrics.clone())
                        .map_err(|error| UsageError(error.to_string()))?,
                )
            }
        };
        Ok(LiveControl { control, server })
    }
}

/// The journal's first line: what run it is of.
fn journal_header(settings: &GeneratorSettings) -> Value {
    let scenario = settings.plan.scenario.as_ref().and_then(|file| std::fs::read_to_string(file).ok());
    json!({
        "journal": JOURNAL_FORMAT,
        "netchaos_version": env!("CARGO_PKG_VERSION"),
        "run_id": settings.run_id(),
        "seed": settings.seed,
        "instance_id": settings.instance_id,
        "settings": ManifestSettings::of(settings),
        "scenario_text": scenario,
    })
}

/// The settings a replay must share with its journal: all but the speed.
fn comparable(settings: &Value) -> Value {
    let mut settings = settings.clone();
    if let Some(object) = settings.as_object_mut() {
        object.remove("speed");
    }
    settings
}

/// A journal's header and commands, checked against the run about to replay it.
pub(crate) fn read_journal(path: &Path, settings: &GeneratorSettings) -> Result<Vec<Entry>, UsageError> {
    let (header, entries) = read_journal_file(path)?;
    let name = path.display();
    let run_id = header.get("run_id").and_then(Value::as_str).unwrap_or_default();
    if run_id != settings.run_id() {
        let seed = header.get("seed").map_or_else(|| "?".to_owned(), Value::to_string);
        return Err(UsageError(format!(
            "{name} is the journal of run {run_id} (seed {seed}); this run would be {}: replay with --seed {seed} and the journal's other settings",
            settings.run_id()
        )));
    }
    let recorded = comparable(header.get("settings").unwrap_or(&Value::Null));
    let current = comparable(&serde_json::to_value(ManifestSettings::of(settings)).unwrap_or(Value::Null));
    if recorded != current {
        let differing = recorded
            .as_object()
            .into_iter()
            .flatten()
            .find(|(key, value)| current.get(key.as_str()) != Some(*value))
            .map(|(key, value)| format!("`{key}` was {value}, now {}", current.get(key.as_str()).unwrap_or(&Value::Null)))
            .unwrap_or_else(|| "they differ".into());
        return Err(UsageError(format!("{name} was recorded with other settings ({differing}): replay with the journal's settings")));
    }
    let scheduled = settings.plan.timeline.episodes.len();
    let mut injected = 0;
    for entry in &entries {
        if let Action::Inject(injection) = &entry.action {
            let expected = format!("{}-s{}", settings.run_id(), scheduled + injected);
            if injection.episode_id != expected {
                return Err(UsageError(format!(
                    "{name}: command {} injects episode {}, but this run numbers it {expected}: the journal is damaged or of another scenario",
                    entry.command, injection.episode_id
                )));
            }
            injected += 1;
        }
    }
    Ok(entries)
}

/// A journal's header and commands, each line checked (order, numbering, what it asks).
pub(crate) fn read_journal_file(path: &Path) -> Result<(Value, Vec<Entry>), UsageError> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|error| UsageError(format!("cannot read the journal {name}: {error}")))?;
    let mut lines = BufReader::new(file).lines();
    let bad = |line: usize, what: String| UsageError(format!("the journal {name}:{line}: {what}"));
    let header: Value = match lines.next() {
        Some(Ok(line)) => serde_json::from_str(&line).map_err(|error| bad(1, format!("the header is not JSON: {error}")))?,
        Some(Err(error)) => return Err(bad(1, error.to_string())),
        None => return Err(UsageError(format!("{name} is empty: a journal starts with its header line"))),
    };
    if header.get("journal").and_then(Value::as_u64) != Some(JOURNAL_FORMAT) {
        return Err(bad(
            1,
            format!("this is not a netchaos journal (format {JOURNAL_FORMAT}): its first line must be the header `--journal` writes"),
        ));
    }
    let mut entries: Vec<Entry> = Vec::new();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line.map_err(|error| bad(number, error.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(&line).map_err(|error| bad(number, format!("not a command: {error}")))?;
        entry.check().map_err(|error| bad(number, error.to_string()))?;
        if entry.command as usize != entries.len() + 1 {
            return Err(bad(
                number,
                format!("command {} where {} was due: commands are numbered 1, 2, ... in order", entry.command, entries.len() + 1),
            ));
        }
        if entries.last().is_some_and(|last| last.offset_ms > entry.offset_ms) {
            return Err(bad(number, "this command is earlier than the one before it: commands are in time order".into()));
        }
        entries.push(entry);
    }
    Ok((header, entries))
}
