//! `netchaos sink --from PATH|-`: JSON lines from a file or stdin into an object store, each
//! line's index its offset in partition 0 (Kafka comes with `--brokers` in a later issue).
//!
//! Running it again on the same input and store writes nothing twice: the sink resumes where the
//! store says it got to.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use tokio::io::BufReader;

use crate::sink::{AbortSignal, Sink, run_lines};

use super::run::sink_summary;
use super::sink_args::{SinkArgs, open_store};
use super::{UsageError, signals};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos generate --count 100000 | netchaos sink --from - --store ./lake
  netchaos sink --from flows.jsonl --store file:///data/lake --max-age 5s --compression zstd";

#[derive(Debug, Args)]
pub(crate) struct SinkCommandArgs {
    /// JSON lines to read: a file path, or `-` for stdin.
    #[arg(long, env = "NETCHAOS_FROM")]
    pub(crate) from: String,

    /// Where batches land: a local directory or `file://` URL.
    #[arg(long, env = "NETCHAOS_STORE")]
    pub(crate) store: String,

    /// Name of the input in object keys (default: the file's stem, or `stdin`).
    #[arg(long, env = "NETCHAOS_SOURCE")]
    pub(crate) source: Option<String>,

    #[command(flatten)]
    pub(crate) sink: SinkArgs,

    /// No summary on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

pub(crate) fn run(args: SinkCommandArgs) -> anyhow::Result<ExitCode> {
    let source = match (&args.source, args.from.as_str()) {
        (Some(name), _) => name.clone(),
        (None, "-") => "stdin".to_owned(),
        (None, path) => Path::new(path).file_stem().map_or_else(|| "input".to_owned(), |stem| stem.to_string_lossy().into_owned()),
    };
    let settings = args.sink.settings(&source)?;
    let storage = open_store(&args.store)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the runtime")?;
    let signalled = signals::install(&runtime, Arc::new(AtomicBool::new(false)));
    // A file stops at the first Ctrl-C (flushing; a rerun resumes from the store). Stdin cannot be
    // read again, and the producer upstream got the same Ctrl-C: keep reading until it closes the
    // pipe, so that everything it emitted lands. A second Ctrl-C exits at once.
    let shutdown = if args.from == "-" { tokio::sync::watch::channel(false).1 } else { signalled };
    let mut sink = Sink::new(storage.clone(), settings).with_abort(AbortSignal::from_watch(shutdown.clone()));
    let outcome = runtime.block_on(async {
        if args.from == "-" {
            run_lines(BufReader::with_capacity(1 << 20, tokio::io::stdin()), &mut sink, shutdown).await
        } else {
            let file =
                tokio::fs::File::open(&args.from).await.map_err(|error| UsageError(format!("cannot read {}: {error}", args.from)))?;
            run_lines(BufReader::with_capacity(1 << 20, file), &mut sink, shutdown).await
        }
        .map_err(anyhow::Error::from)
    });
    runtime.shutdown_background();
    outcome.with_context(|| format!("sinking {} into {}", args.from, args.store))?;
    if !args.quiet {
        eprintln!("{}", sink_summary(sink.stats(), storage.location()));
    }
    let skipped = sink.stats().skipped_replayed;
    if skipped > 0 {
        eprintln!(
            "netchaos: warning: the store already held {skipped} lines of source `{source}`, so they were not written again; \
             if this is a different input, rerun with --source NAME"
        );
    }
    Ok(ExitCode::SUCCESS)
}
