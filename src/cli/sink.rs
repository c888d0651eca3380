//! `netchaos sink`: records into an object store, from Kafka as a consumer-group member
//! (`--brokers`), or from a file or stdin (`--from`, each line's index its offset in partition 0).
//!
//! Running it again on the same input and store writes nothing twice: the sink resumes where the
//! store says it got to.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::io::BufReader;

use crate::kafka::admin::{ensure_topics, existing_partitions};
use crate::kafka::consumer::{ConsumerSettings, consume};
use crate::kafka::dead_letters::DeadLetterPublisher;
use crate::metrics::{MetricsServer, SinkMetrics, StatusLine};
use crate::runtime;
use crate::sink::Sink;
use crate::sink::lines::{LineOptions, run_lines_with};

use super::UsageError;
use super::args::parse_duration;
use super::generate::DEFAULT_PARTITIONS;
use super::kafka_args::KafkaArgs;
use super::metrics_args::SINK_PORT;
use super::sink_args::{ProcessArgs, SinkArgs, StoreArgs, fit_memory_budget};
use super::summary::{InputSummary, KafkaSummary, SinkSummary, print_json};

mod identity;

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos generate --count 100000 | netchaos sink --from - --store ./lake
  netchaos sink --from flows.jsonl --store file:///data/lake --max-age 5s --compression zstd
  netchaos sink --brokers 127.0.0.1:19092 --topic flows --group lake-writers --store ./lake
  netchaos sink --brokers 127.0.0.1:19092 --store ./lake --idle-exit 30s   # drain the topic, then stop";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["from", "brokers"])))]
pub(crate) struct SinkCommandArgs {
    /// JSON lines to read: a file path, or `-` for stdin (instead of `--brokers`).
    #[arg(long, env = "NETCHAOS_FROM")]
    pub(crate) from: Option<String>,

    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,

    /// Consumer group: sinks in one group split the topic's partitions.
    #[arg(long, env = "KAFKA_GROUP", default_value = "netchaos-sink")]
    pub(crate) group: String,

    /// Topic for rejected records, each with its reason and origin in headers; default `<topic>-dlq`.
    #[arg(long, env = "KAFKA_DLQ_TOPIC")]
    pub(crate) dlq_topic: Option<String>,

    /// Stop (flush, commit, exit 0) once no record has arrived for this long, e.g. to drain a topic.
    #[arg(long, env = "NETCHAOS_IDLE_EXIT", value_parser = parse_duration)]
    pub(crate) idle_exit: Option<std::time::Duration>,

    #[command(flatten)]
    pub(crate) destination: StoreArgs,

    /// Name of the input in object keys (default: the topic, the file's stem, or `stdin`).
    #[arg(long, env = "NETCHAOS_SOURCE")]
    pub(crate) source: Option<String>,

    #[command(flatten)]
    pub(crate) sink: SinkArgs,

    #[command(flatten)]
    pub(crate) process: ProcessArgs,
}

impl SinkCommandArgs {
    /// Serves the sink's metrics (see `--metrics-addr`) and starts the status line.
    fn observe(&self) -> anyhow::Result<(SinkMetrics, Option<MetricsServer>, StatusLine)> {
        let metrics = SinkMetrics::default();
        let server = self.process.metrics.serve("sink", SINK_PORT, |registry| metrics.register(registry))?;
        let status = StatusLine::sink(metrics.clone(), !self.process.quiet && std::io::stderr().is_terminal());
        Ok((metrics, server, status))
    }
}

pub(crate) fn run(args: SinkCommandArgs) -> anyhow::Result<ExitCode> {
    match args.from.clone() {
        Some(from) => run_from(&args, &from),
        None => run_kafka(&args),
    }
}

fn run_from(args: &SinkCommandArgs, from: &str) -> anyhow::Result<ExitCode> {
    let input = Input::open(from)?;
    let source = match (&args.source, &input) {
        (Some(name), _) => name.clone(),
        (None, Input::Stdin) => "stdin".to_owned(),
        (None, Input::File(_) | Input::Stream(_)) => {
            Path::new(from).file_stem().map_or_else(|| "input".to_owned(), |stem| stem.to_string_lossy().into_owned())
        }
    };
    let mut settings = args.sink.settings(&source)?;
    fit_memory_budget(&mut settings, args.process.memory_budget, 1, 0)?;
    let storage = args.destination.open()?;

    let runtime = runtime::start(2)?;
    runtime.block_on(identity::claim(&storage, &settings.source, &input, args.source.is_some()))?;
    let shutdown = runtime::stop_on_signals(&runtime);
    // The first SIGTERM / Ctrl-C stops the reading; what was read is stored, then exit 0. A file
    // stops at once (a rerun resumes from the store) and gives up on a failing store. Stdin (or a
    // fifo) cannot be read again: it is read on for a moment, so that a producer stopped by the same
    // Ctrl-C can close the pipe and everything it emitted lands, and a failing store is retried
    // until it is back. A second signal exits at once (130).
    let (metrics, _server, status) = args.observe()?;
    let mut sink = Sink::new(storage.clone(), settings).with_metrics(metrics);
    let options = match &input {
        Input::File(_) => {
            sink = sink.with_abort_on(shutdown.clone());
            LineOptions { hold_unterminated: true, shutdown_grace: Duration::ZERO }
        }
        Input::Stdin | Input::Stream(_) => LineOptions { hold_unterminated: false, shutdown_grace: STREAM_SHUTDOWN_GRACE },
    };
    let outcome = runtime.block_on(async {
        match &input {
            Input::Stdin => run_lines_with(BufReader::with_capacity(1 << 20, tokio::io::stdin()), &mut sink, &shutdown, options).await,
            Input::File(path) | Input::Stream(path) => {
                let file = tokio::fs::File::open(path).await.map_err(|error| UsageError(format!("cannot read {from}: {error}")))?;
                run_lines_with(BufReader::with_capacity(1 << 20, file), &mut sink, &shutdown, options).await
            }
        }
        .map_err(anyhow::Error::from)
    });
    runtime.shutdown_background();
    status.finish();
    let read = outcome.with_context(|| format!("sinking {from} into {}", args.destination.store))?;
    let input =
        InputSummary { from: from.to_owned(), lines: read.lines, held_back_bytes: read.held_back, cut_by_stop_bytes: read.cut_by_shutdown };
    finish(args, SinkSummary { input: Some(input), ..SinkSummary::new(sink.stats(), storage.location(), &source) })?;
    if let Some(bytes) = read.held_back {
        eprintln!(
            "netchaos: warning: the last line of {from} (line {}, {bytes} bytes) has no newline yet, so it was left unread: \
             rerun once the file is complete (if it is, add the missing newline) and it will be stored",
            read.lines + 1
        );
    }
    if let Some(bytes) = read.cut_by_shutdown {
        eprintln!(
            "netchaos: warning: the stop came in the middle of line {} of {from}: its first {bytes} bytes were read and not stored",
            read.lines + 1
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a stream is read on after the first SIGTERM / Ctrl-C, unless it ends first.
const STREAM_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What `--from` names.
#[derive(Debug)]
enum Input {
    Stdin,
    /// A regular file, by its canonical path.
    File(PathBuf),
    /// Anything else that can be read (a fifo, a character device): a stream, like stdin.
    Stream(PathBuf),
}

impl Input {
    fn open(from: &str) -> Result<Input, UsageError> {
        if from == "-" {
            return Ok(Input::Stdin);
        }
        let cannot = |error: std::io::Error| UsageError(format!("cannot read {from}: {error}"));
        let metadata = std::fs::metadata(from).map_err(cannot)?;
        if metadata.is_dir() {
            return Err(UsageError(format!("{from} is a directory: give --from a file of JSON lines, or - for stdin")));
        }
        let path = std::fs::canonicalize(from).map_err(cannot)?;
        Ok(if metadata.is_file() { Input::File(path) } else { Input::Stream(path) })
    }
}

/// A consumer-group member: until SIGTERM / Ctrl-C (or `--idle-exit`), then flush, commit, exit 0.
fn run_kafka(args: &SinkCommandArgs) -> anyhow::Result<ExitCode> {
    let Some(kafka) = args.kafka.kafka()? else {
        return Err(UsageError("give --brokers (or KAFKA_BROKERS) or --from".into()).into());
    };
    let topic = args.kafka.topic.trim().to_owned();
    let dlq_topic = args.dlq_topic.clone().unwrap_or_else(|| format!("{topic}-dlq"));
    if dlq_topic == topic {
        return Err(UsageError("--dlq-topic must differ from --topic".into()).into());
    }
    if args.group.trim().is_empty() {
        return Err(UsageError("--group is empty: name the consumer group".into()).into());
    }
    let source = args.source.clone().unwrap_or_else(|| topic.clone());
    let mut settings = args.sink.settings(&source)?;
    let storage = args.destination.open()?;

    let runtime = runtime::start(2)?;
    let partitions = match runtime.block_on(existing_partitions(&kafka, &topic))? {
        Some(partitions) => partitions,
        None => {
            tracing::warn!(
                %topic,
                assumed = DEFAULT_PARTITIONS,
                "the topic does not exist yet: waiting for it; the memory budget assumes the partitions `generate` creates by default"
            );
            DEFAULT_PARTITIONS
        }
    };
    // librdkafka stops fetching once its queue holds `queued.max.messages.kbytes`, but fetches from
    // each of the brokers may be under way past it, each up to that size and then decompressed:
    // the queue gets a quarter of what is set aside for it.
    let prefetch = (args.process.memory_budget / 8).clamp(4 << 20, 64 << 20);
    fit_memory_budget(&mut settings, args.process.memory_budget, u64::from(partitions), prefetch)?;
    let shutdown = runtime::stop_on_signals(&runtime);
    let consumer = ConsumerSettings {
        kafka: kafka.clone(),
        topic: topic.clone(),
        group: args.group.clone(),
        idle_exit: args.idle_exit,
        prefetch_kbytes: prefetch / 4 / 1024,
    };
    // Store failures are retried until the store is back: Kafka keeps the records, a second
    // Ctrl-C exits at once, and a restart resumes from the store.
    let (metrics, _server, status) = args.observe()?;
    let outcome = runtime.block_on(async {
        ensure_topics(&kafka, &[(&dlq_topic, args.kafka.topic_spec(3))]).await?;
        let dead_letters = DeadLetterPublisher::connect(&kafka, &dlq_topic, &topic)?;
        // The consumer waits for room itself, polling meanwhile (see `kafka::consumer`).
        let mut sink = Sink::new(storage.clone(), settings)
            .with_dead_letter_topic(Arc::new(dead_letters))
            .with_metrics(metrics)
            .with_caller_backpressure();
        let report = consume(&consumer, &mut sink, &shutdown).await?;
        anyhow::Ok((sink, report))
    });
    status.finish();
    let (sink, report) = match outcome {
        Ok(done) => done,
        Err(error) => {
            runtime.shutdown_background();
            return Err(error.context(format!("sinking Kafka topic {topic} into {}", args.destination.store)));
        }
    };
    runtime.shutdown_background();
    let kafka = KafkaSummary::new(&report, sink.stats(), &topic, &args.group, &dlq_topic);
    finish(args, SinkSummary { kafka: Some(kafka), ..SinkSummary::new(sink.stats(), storage.location(), &source) })?;
    Ok(ExitCode::SUCCESS)
}

/// The summary on stderr (unless `--quiet`) and as JSON on stdout (with `--json`), then what a
/// rerun of the same input skipped.
fn finish(args: &SinkCommandArgs, summary: SinkSummary) -> anyhow::Result<()> {
    if !args.process.quiet {
        eprintln!("{summary}");
    }
    if args.process.json {
        print_json(&summary)?;
    }
    let skipped = summary.skipped_replayed;
    if skipped > 0 && args.from.is_some() {
        eprintln!(
            "netchaos: the store already held {skipped} lines of source `{}` from an earlier pass over this input, \
             so they were not written again",
            summary.source
        );
    }
    Ok(())
}
