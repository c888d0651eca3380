//! The command line: one module per subcommand, thin; the logic lives in the library.
//!
//! `main` parses flags (each with an environment-variable fallback), turns them into validated
//! settings in one step that can fail with one clear line, runs the subcommand and maps the outcome
//! to an exit code: 0 success, 1 a failure while running (or `verify` finding loss or
//! duplication), 2 a usage error.
//!
//! A stderr (or stdout) that is gone, such as a pipe whose reader exited (`2>&1 | head -1`), is
//! not an error: nothing written to it can be seen. The process's own messages here ignore a
//! failed write; the log writer swallows a broken pipe and the log subscriber never falls back to
//! printing its own errors; and `eprintln!` / `println!` anywhere else, which panic when the write
//! fails, end the process quietly with [`EXIT_BROKEN_PIPE`] instead of a panic message and 101.

mod args;
mod chaos_args;
mod control_args;
mod ctl;
mod fidelity;
mod generate;
mod generate_format;
mod kafka_args;
mod layout_args;
mod metrics_args;
mod run;
mod scenario;
mod schema;
mod score;
mod sink;
mod sink_args;
mod summary;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::sink::{SinkError, StorageError};

/// netchaos: realistic, labelled network telemetry at a controlled rate, through Kafka into
/// object storage, exactly once.
#[derive(Debug, Parser)]
#[command(name = "netchaos", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log lines on stderr as text, or as one JSON object per line for log collectors (level
    /// with `NETCHAOS_LOG`, e.g. `info` or `netchaos::kafka=debug`).
    #[arg(long, global = true, value_enum, env = "NETCHAOS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The embedded default: generate, validate, batch, compress and store in one process, then verify.
    #[command(after_help = run::EXAMPLES)]
    Run(Box<run::RunArgs>),
    /// Generate telemetry into Kafka (`--brokers`) or as JSON lines to stdout or a file.
    #[command(after_help = generate::EXAMPLES)]
    Generate(Box<generate::GenerateArgs>),
    /// Sink records from Kafka (a consumer-group member) or JSON lines from a file or stdin into an
    /// object store: validated, batched, compressed, exactly once.
    #[command(after_help = sink::EXAMPLES)]
    Sink(Box<sink::SinkCommandArgs>),
    /// Audit a store against generator manifests: lost, duplicated and invalid records.
    #[command(after_help = verify::EXAMPLES)]
    Verify(verify::VerifyArgs),
    /// Check a scenario file, or print its resolved timeline.
    #[command(after_help = scenario::EXAMPLES)]
    Scenario(scenario::ScenarioArgs),
    /// Print the JSON Schema of the records, or (`--athena`) the Athena table for flow logs in AWS's layout.
    #[command(after_help = schema::EXAMPLES)]
    Schema(schema::SchemaArgs),
    /// Drive a running generator through its control API: status, inject, end, rate, speed, watch...
    #[command(after_help = ctl::EXAMPLES)]
    Ctl(ctl::CtlArgs),
    /// Score a detector's alerts (or scores) against a run's ground truth, for a SOC and for ML.
    #[command(after_help = score::EXAMPLES)]
    Score(Box<score::ScoreArgs>),
    /// Compare a candidate's flow logs with a reference export of real ones.
    #[command(after_help = fidelity::EXAMPLES)]
    Fidelity(Box<fidelity::FidelityArgs>),
}

/// A user's mistake: reported as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// The status a shell shows for a process ended by SIGPIPE (128 + 13): what a program that keeps
/// the default signal disposition exits with when its output pipe closes, quietly.
pub const EXIT_BROKEN_PIPE: u8 = 141;

pub fn main() -> ExitCode {
    exit_quietly_when_output_is_gone();
    let matches = match <Cli as clap::CommandFactory>::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => return clap_exit(&error),
    };
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return clap_exit(&error),
    };
    // What a scenario yields to: the flags given on the command line or in the environment.
    if let Some((_, subcommand)) = matches.subcommand() {
        let given = given_flags(subcommand);
        match &mut cli.command {
            Command::Run(args) => args.generator.given = given,
            Command::Generate(args) => args.generator.given = given,
            _ => {}
        }
    }
    init_logging(&cli.command, cli.log_format);
    let outcome = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Generate(args) => generate::run(*args),
        Command::Sink(args) => sink::run(*args),
        Command::Verify(args) => verify::run(&args),
        Command::Scenario(args) => scenario::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Ctl(args) => ctl::run(args),
        Command::Score(args) => score::run(&args),
        Command::Fidelity(args) => fidelity::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

/// The ids of the flags in `matches` whose value came from the command line or the environment,
/// not from a default.
fn given_flags(matches: &clap::ArgMatches) -> std::collections::BTreeSet<String> {
    use clap::parser::ValueSource;
    matches
        .ids()
        .filter(|id| matches!(matches.value_source(id.as_str()), Some(ValueSource::CommandLine | ValueSource::EnvVariable)))
        .map(|id| id.as_str().to_owned())
        .collect()
}

/// Logs go to stderr, filtered by `NETCHAOS_LOG` (`RUST_LOG` syntax, e.g. `debug` or
/// `netchaos::kafka=debug`). By default a Kafka sink, a long-running service, logs at info
/// (assignments, recoveries); the other commands only warn, so that their one-line summaries stay
/// readable.
fn init_logging(command: &Command, format: LogFormat) {
    let default = match command {
        Command::Sink(args) if args.from.is_none() => "info",
        _ => "warn",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("NETCHAOS_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A second initialisation (never done here) would be the only failure: nothing to report.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A log line that cannot be written is dropped: the fallback of printing that failure to the
    // same stderr (with a panicking `eprintln!`) is turned off.
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| crate::metrics::LogWriter).log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => logs.with_ansi(ansi).try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
}

/// Help and version go to stdout as clap prints them; every other parse error becomes one line.
fn clap_exit(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        // Nothing useful can be done if printing the help itself fails.
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.render().to_string();
    let first_line = rendered.lines().find(|line| !line.trim().is_empty()).unwrap_or("invalid arguments");
    let message = first_line.trim_start_matches("error: ");
    error_line(&format!("{message} (see --help)"));
    ExitCode::from(2)
}

fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(usage) = error.downcast_ref::<UsageError>() {
        error_line(&usage.to_string());
        return ExitCode::from(2);
    }
    if let Some(SinkError::Layout(message)) = error.chain().find_map(|cause| cause.downcast_ref::<SinkError>()) {
        error_line(message);
        return ExitCode::from(2);
    }
    let mut parts = Vec::new();
    for cause in error.chain() {
        if let Some(SinkError::Abandoned { key, last_error }) = cause.downcast_ref::<SinkError>() {
            parts.push(abandoned(key, last_error));
            break;
        }
        if let Some(storage_error) = cause.downcast_ref::<StorageError>()
            && let Some(permanent) = storage_error.permanent_cause()
        {
            parts.push(format!(
                "{storage_error}: retrying cannot help: {}; nothing past the stored batches was committed, and a rerun resumes from the store",
                permanent.advice()
            ));
            break;
        }
        parts.push(cause.to_string());
    }
    error_line(&parts.join(": "));
    ExitCode::from(1)
}

/// Why the sink gave a store operation up, and what to do: a permanent error names its cause and
/// the fix; any other was retried until `--give-up-after` or a Ctrl-C.
fn abandoned(key: &str, last_error: &StorageError) -> String {
    let outcome = "nothing past the stored batches was committed, and a rerun resumes from the store";
    match last_error.permanent_cause() {
        Some(cause) => format!("the store cannot take `{key}` and retrying cannot help ({last_error}): {}; {outcome}", cause.advice()),
        None => format!(
            "gave up on `{key}`: the store kept failing ({last_error}) until the sink stopped retrying (--give-up-after, or Ctrl-C); {outcome}"
        ),
    }
}

/// `netchaos: error: MESSAGE` on stderr; a stderr that is gone has nobody to tell.
fn error_line(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "netchaos: error: {message}");
}

/// `eprintln!` and `println!` panic when the write fails; when it failed because the output is
/// gone (or cannot take more), exit with [`EXIT_BROKEN_PIPE`] and no message instead: there is no
/// one to show a message to. Every other panic is reported as usual.
fn exit_quietly_when_output_is_gone() {
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(is_failed_print) {
            std::process::exit(i32::from(EXIT_BROKEN_PIPE));
        }
        report_panic(info);
    }));
}

/// std's message when `eprintln!` / `eprint!` fail, and when `println!` / `print!` fail on a
/// closed pipe.
fn is_failed_print(message: &str) -> bool {
    message.starts_with("failed printing to stderr")
        || (message.starts_with("failed printing to stdout") && message.contains("Broken pipe"))
}
