//! The command line: one module per subcommand, thin; the logic lives in the library.
//!
//! `main` parses flags (each with an environment-variable fallback), turns them into validated
//! settings in one step that can fail with one clear line, runs the subcommand and maps the outcome
//! to an exit code: 0 success, 1 a failure while running (or `verify` finding loss or
//! duplication), 2 a usage error.

mod args;
mod generate;
mod kafka_args;
mod metrics_args;
mod run;
mod schema;
mod signals;
mod sink;
mod sink_args;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Print the JSON Schema of the records.
    Schema(schema::SchemaArgs),
}

/// A user's mistake: reported as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_exit(&error),
    };
    init_logging(&cli.command, cli.log_format);
    let outcome = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Generate(args) => generate::run(*args),
        Command::Sink(args) => sink::run(*args),
        Command::Verify(args) => verify::run(&args),
        Command::Schema(args) => schema::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => report(&error),
    }
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
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| crate::metrics::LogWriter);
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
    eprintln!("netchaos: error: {message} (see --help)");
    ExitCode::from(2)
}

fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(usage) = error.downcast_ref::<UsageError>() {
        eprintln!("netchaos: error: {usage}");
        return ExitCode::from(2);
    }
    let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
    eprintln!("netchaos: error: {}", chain.join(": "));
    ExitCode::from(1)
}
