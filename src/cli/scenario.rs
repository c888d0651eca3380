//! `netchaos scenario validate FILE` and `netchaos scenario plan FILE [--json]`: check a scenario
//! file (every mistake at once, each as `FILE:LINE:COLUMN: what is wrong; what to write instead`,
//! exit 2), and print its resolved timeline. `netchaos scenario export JOURNAL` turns a live
//! session's journal into a scenario file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::scenario::{self, Scenario};

use super::UsageError;

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos scenario validate scenarios/monday-morning.yaml
  netchaos scenario plan scenarios/incident-drill.yaml
  netchaos scenario plan scenarios/incident-drill.yaml --json | jq '.episodes[].start'
  netchaos scenario export drill.journal --output drill.yaml";

#[derive(Debug, Args)]
pub(crate) struct ScenarioArgs {
    #[command(subcommand)]
    command: ScenarioCommand,
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// Check a scenario file: every mistake, each with its line and column and what to write
    /// instead (exit 2), or one line saying it is valid.
    Validate {
        /// The scenario file (YAML).
        file: PathBuf,
    },
    /// Print a scenario's resolved timeline: phases with their spans, rates and chaos, and each
    /// episode with its kind, start, end, target, difficulty and intensity.
    Plan {
        /// The scenario file (YAML).
        file: PathBuf,
        /// One JSON object on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Turn a live session's journal (`--journal`) into a scenario file: the run's settings and
    /// its commands as a `control` list, which run again make the same records.
    Export {
        /// The journal (JSON lines, as `--journal` writes it).
        journal: PathBuf,
        /// Write the scenario here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub(crate) fn run(args: &ScenarioArgs) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match &args.command {
        ScenarioCommand::Validate { file } => {
            let scenario = checked(file)?;
            writeln!(stdout, "{}", summary(&scenario)).context("writing to stdout")?;
        }
        ScenarioCommand::Plan { file, json } => {
            let plan = checked(file)?.plan();
            if *json {
                serde_json::to_writer(&mut stdout, &plan).context("writing the plan")?;
                writeln!(stdout).context("writing to stdout")?;
            } else {
                write!(stdout, "{plan}").context("writing to stdout")?;
            }
        }
        ScenarioCommand::Export { journal, output } => {
            let (header, entries) = super::control_args::read_journal_file(journal)?;
            let text = scenario::export(&header, &entries, &journal.display().to_string())
                .map_err(|problem| UsageError(format!("{}: {problem}", journal.display())))?;
            match output {
                Some(path) => std::fs::write(path, text)
                    .map_err(|error| UsageError(format!("cannot write the scenario {}: {error}", path.display())))?,
                None => write!(stdout, "{text}").context("writing to stdout")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The scenario, or every mistake in it on stderr and a usage error (exit 2) counting them: what
/// `run` and `generate` call for `--scenario FILE` too.
pub(crate) fn checked(file: &std::path::Path) -> anyhow::Result<Scenario> {
    match scenario::load(file) {
        Ok(scenario) => Ok(scenario),
        Err(errors) => {
            let mut stderr = std::io::stderr().lock();
            for error in &errors {
                // A stderr that is gone has nobody to tell.
                let _ = writeln!(stderr, "{error}");
            }
            let count = if errors.len() == 1 { "1 mistake".to_owned() } else { format!("{} mistakes", errors.len()) };
            Err(UsageError(format!("{}: {count}; fix them and run `netchaos scenario validate` again", file.display())).into())
        }
    }
}

/// `FILE: valid: scenario NAME, 1d from START, 2 phases, 6 scheduled episodes`.
fn summary(scenario: &Scenario) -> String {
    let name = scenario.name.as_deref().map_or(String::new(), |name| format!(" `{name}`"));
    let span = match (scenario.duration, scenario.start) {
        (Some(duration), Some(start)) => format!("{} from {start}", humantime::format_duration(duration)),
        (Some(duration), None) => humantime::format_duration(duration).to_string(),
        (None, Some(start)) => format!("from {start}"),
        (None, None) => "no start or duration (the run's flags give them)".to_owned(),
    };
    let phases = scenario.timeline.phases.len();
    let episodes = scenario.timeline.episodes.len();
    format!("{}: valid scenario{name}: {span}, {phases} phase(s), {episodes} scheduled episode(s)", scenario.file)
}
