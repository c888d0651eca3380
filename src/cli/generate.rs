//! `netchaos generate`: the producer, writing records (JSON lines, or `--format`) to Kafka
//! (`--brokers`), stdout or a file, the ground-truth episodes (file and, with Kafka, a topic) and
//! the run manifest.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::chaos::EpisodeSummary;
use crate::formats::aws_flow::FieldList;
use crate::generator::control::Control;
use crate::generator::{Chunk, ChunkSink, GenerateReport, GeneratorSettings, MeteredOutput, generate_controlled};
use crate::kafka::KafkaSettings;
use crate::kafka::admin::ensure_topics;
use crate::kafka::producer::{KafkaCompression, KafkaKey, KafkaOutput, ProducerSettings};
use crate::metrics::{ControlMetrics, GeneratorMetrics, StatusLine};
use crate::runtime::{self, Shutdown};

use super::UsageError;
use super::args::GeneratorArgs;
use super::control_args::ControlArgs;
use super::generate_format::{LineFormat, OutputFormat, Reformat};
use super::kafka_args::KafkaArgs;
use super::metrics_args::{GENERATE_PORT, MetricsArgs};
use super::summary::GenerateSummary;

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos generate --count 1000 | jq -c 'select(.label != null)'
  netchaos generate --count 1000 --format aws-text --fields v2-default --output flows.log
  netchaos generate --seed 7 --count 1000000 --eps 0 --output flows.jsonl --manifest run.json --episodes episodes.jsonl
  EPS_TARGET=15000 WORKER_COUNT=8 DATA_EXFIL_PROB=0.05 netchaos generate --duration 1m --output /dev/null
  netchaos generate --brokers 127.0.0.1:19092 --topic flows --partitions 12 --eps 50000 --duration 10m --manifest run.json
  netchaos generate --brokers b1:9093 -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=u -X sasl.password=p";

/// Partitions of a records' topic netchaos creates.
pub(crate) const DEFAULT_PARTITIONS: u32 = 6;

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    pub(crate) generator: GeneratorArgs,

    /// Where the records go: `stdout` or a file path (without `--brokers`).
    #[arg(long, short, env = "NETCHAOS_OUTPUT", default_value = "stdout", conflicts_with = "brokers")]
    pub(crate) output: String,

    /// The records' format: `json` (netchaos's JSON lines), `ocsf` (OCSF 1.1.0 Network Activity
    /// JSON, one event per record of either kind, docs/ocsf.md) or `aws-text` (AWS VPC Flow Log lines,
    /// as AWS writes them to S3: on stdout or in a file the header line first, then one line per
    /// flow record; on Kafka one line per message, no header and no key). Firewall records have
    /// no flow-log form: aws-text leaves them out and says how many after the run.
    #[arg(long, env = "NETCHAOS_FORMAT", value_enum, default_value = "json")]
    pub(crate) format: OutputFormat,

    /// The fields of `--format aws-text`: `v2-default` (AWS's default 14), `v5-all` (all 29 of
    /// v2-v5, the default) or a comma list of AWS's field names (`version,srcaddr,dstaddr,...`).
    #[arg(long, env = "NETCHAOS_FIELDS", value_parser = FieldList::parse)]
    pub(crate) fields: Option<FieldList>,

    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,

    /// Topic of the ground-truth episodes (one JSON message per episode); default `<topic>-episodes`.
    #[arg(long, env = "KAFKA_EPISODES_TOPIC")]
    pub(crate) episodes_topic: Option<String>,

    /// Partitions of the records' topic when netchaos creates it (an existing topic is kept as it is).
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = DEFAULT_PARTITIONS, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) partitions: u32,

    /// Compression of produced batches.
    #[arg(long, env = "KAFKA_COMPRESSION", value_enum, default_value = "lz4")]
    pub(crate) kafka_compression: KafkaCompression,

    /// Message key: the record's source address (per-source order), or none (sticky partitioning).
    #[arg(long, env = "KAFKA_KEY", value_enum, default_value = "source")]
    pub(crate) kafka_key: KafkaKey,

    /// How long librdkafka waits to fill a batch (`linger.ms`). Keyed records spread over every
    /// partition, so each partition's batch fills at 1/partitions of the rate: 50 ms keeps batches
    /// large (20 ms cost a fifth of the throughput on the 6-partition benchmark).
    #[arg(long, env = "KAFKA_LINGER_MS", default_value_t = 50)]
    pub(crate) linger_ms: u32,

    /// Write the run manifest (JSON) here when the run ends.
    #[arg(long, env = "NETCHAOS_MANIFEST")]
    pub(crate) manifest: Option<PathBuf>,

    /// Write the ground-truth episodes (JSON lines) here.
    #[arg(long, env = "NETCHAOS_EPISODES")]
    pub(crate) episodes: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,

    #[command(flatten)]
    pub(crate) control: ControlArgs,

    /// No live status line and no summary on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// JSON lines to a writer, episodes to an optional file.
struct LineOutput {
    writer: Box<dyn Write + Send>,
    episodes: Option<BufWriter<File>>,
}

impl ChunkSink for LineOutput {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        Ok(self.writer.write_all(&chunk.data)?)
    }

    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()> {
        if let Some(file) = &mut self.episodes {
            serde_json::to_writer(&mut *file, episode)?;
            file.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.writer.flush()?;
        if let Some(file) = &mut self.episodes {
            file.flush()?;
        }
        Ok(())
    }
}

/// The manifest is written to a staging file beside its path and renamed into place, so a run
/// killed before its end leaves no empty or partial manifest. Special files (`/dev/stdout`) are
/// written directly.
struct ManifestFile {
    path: PathBuf,
    staging: Option<PathBuf>,
    file: File,
}

impl ManifestFile {
    fn create(path: &std::path::Path) -> Result<Self, UsageError> {
        let special = std::fs::metadata(path).is_ok_and(|metadata| !metadata.is_file());
        if special {
            return Ok(ManifestFile { path: path.to_owned(), staging: None, file: create(path, "manifest")? });
        }
        let mut staging_name = path.file_name().unwrap_or_default().to_owned();
        staging_name.push(".partial");
        let staging = path.with_file_name(staging_name);
        Ok(ManifestFile { path: path.to_owned(), file: create(&staging, "manifest")?, staging: Some(staging) })
    }

    fn write(self, manifest: &crate::generator::RunManifest) -> anyhow::Result<()> {
        let mut writer = BufWriter::new(self.file);
        serde_json::to_writer_pretty(&mut writer, manifest).context("writing the manifest")?;
        writer.write_all(b"\n").and_then(|()| writer.flush()).context("writing the manifest")?;
        if let Some(staging) = &self.staging {
            std::fs::rename(staging, &self.path).with_context(|| format!("moving the manifest into {}", self.path.display()))?;
        }
        Ok(())
    }
}

fn create(path: &std::path::Path, what: &str) -> Result<File, UsageError> {
    File::create(path).map_err(|error| UsageError(format!("cannot create the {what} file {}: {error}", path.display())))
}

pub(crate) fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let mut settings = args.generator.resolve()?;
    args.control.replay_into(&mut settings, args.generator.seed.is_some(), args.generator.start_time.is_some())?;
    args.control.check()?;
    let line_format = line_format(&args)?;
    let producer = args.kafka.kafka()?.map(|kafka| producer_settings(&args, kafka)).transpose()?;
    let episodes = args.episodes.as_deref().map(|path| create(path, "episodes")).transpose()?.map(BufWriter::new);
    // Fail before generating anything if the manifest cannot be written.
    let manifest_file = args.manifest.as_deref().map(ManifestFile::create).transpose()?;

    // One worker: the signal handler and the topic creation run on it.
    let runtime = runtime::start(1)?;
    let stop = runtime::stop_on_signals(&runtime);
    let metrics = GeneratorMetrics::default();
    metrics.target_rate.set(settings.eps);
    let control_metrics = ControlMetrics::default();
    let _server = args.metrics.serve("generate", GENERATE_PORT, |registry| {
        metrics.register(registry);
        control_metrics.register(registry);
    })?;
    let live = args.control.start(&settings, &control_metrics)?;
    live.announce(args.quiet);
    // Records printed on the same terminal would be interleaved with the line: none then.
    let records_on_terminal =
        args.kafka.brokers.is_none() && matches!(args.output.as_str(), "stdout" | "-") && std::io::stdout().is_terminal();
    let status = StatusLine::generator(metrics.clone(), !args.quiet && !records_on_terminal && std::io::stderr().is_terminal());

    let left_out;
    let (report, delivery_failures) = match producer {
        Some(producer) => {
            let spec = args.kafka.topic_spec(args.partitions);
            let episodes_spec = args.kafka.topic_spec(1);
            let topics =
                runtime.block_on(ensure_topics(&producer.kafka, &[(&producer.topic, spec), (&producer.episodes_topic, episodes_spec)]))?;
            let partitions = topics.first().map_or(args.partitions, |topic| topic.partitions);
            let mut output = KafkaOutput::connect(producer, partitions, episodes, metrics.clone())?;
            let (mut report, left) = generate_into(&mut output, line_format.as_ref(), &settings, (&metrics, false), &stop, &live.control);
            left_out = left;
            if report.error.is_some() {
                // The collector skips `finish` after an error: flush (and purge) here, so that every
                // record handed to librdkafka has its delivery report in the manifest.
                if let Err(error) = output.finish() {
                    tracing::warn!(%error, "flushing the Kafka producer after a failed run");
                }
            }
            let delivery = output.delivery_report();
            drop(output);
            let failures = delivery.failed;
            report.manifest.kafka = Some(delivery);
            (report, failures)
        }
        None => {
            let (report, left) = generate_lines(&args, line_format.as_ref(), &settings, episodes, &stop, &metrics, &live.control)?;
            left_out = left;
            (report, 0)
        }
    };
    status.finish();
    if let Some(file) = manifest_file {
        file.write(&report.manifest)?;
    }
    if !args.quiet {
        eprintln!("{}", GenerateSummary::new(&report));
        if let Some(message) = line_format.as_ref().and_then(|format| format.left_out_message(left_out)) {
            eprintln!("{message}");
        }
    }
    runtime.shutdown_background();
    let destination = if args.kafka.brokers.is_some() { format!("Kafka topic {}", args.kafka.topic) } else { args.output.clone() };
    match report.error {
        Some(error) if is_broken_pipe(&error) => Ok(ExitCode::SUCCESS),
        Some(error) => Err(error.context(format!("writing to {destination}"))),
        None if delivery_failures > 0 => Err(anyhow::anyhow!(
            "Kafka did not acknowledge {delivery_failures} of {} records; their event ids are in the manifest (kafka.unacknowledged_event_ids)",
            report.manifest.records
        )),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn producer_settings(args: &GenerateArgs, kafka: KafkaSettings) -> Result<ProducerSettings, UsageError> {
    let topic = args.kafka.topic.trim().to_owned();
    let episodes_topic = args.episodes_topic.clone().unwrap_or_else(|| format!("{topic}-episodes"));
    if episodes_topic == topic {
        return Err(UsageError("--episodes-topic must differ from --topic: episodes are not records".into()));
    }
    Ok(ProducerSettings {
        kafka,
        topic,
        episodes_topic,
        compression: args.kafka_compression,
        linger_ms: args.linger_ms,
        key: args.kafka_key,
    })
}

/// `--format` and `--fields` resolved: `None` for JSON.
fn line_format(args: &GenerateArgs) -> Result<Option<LineFormat>, UsageError> {
    if args.fields.is_some() && args.format != OutputFormat::AwsText {
        return Err(UsageError("--fields applies to --format aws-text only: add --format aws-text, or drop --fields".into()));
    }
    Ok(LineFormat::new(args.format, args.fields.clone().unwrap_or_else(FieldList::v5_all)))
}

/// Records to stdout or a file (a format's header line first); with the count of records the
/// format left out.
fn generate_lines(
    args: &GenerateArgs,
    format: Option<&LineFormat>,
    settings: &GeneratorSettings,
    episodes: Option<BufWriter<File>>,
    stop: &Shutdown,
    metrics: &GeneratorMetrics,
    control: &Control,
) -> anyhow::Result<(GenerateReport, u64)> {
    let mut writer: Box<dyn Write + Send> = match args.output.as_str() {
        "stdout" | "-" => Box::new(std::io::stdout()),
        path => Box::new(create(std::path::Path::new(path), "output")?),
    };
    if let Some(header) = format.and_then(LineFormat::header) {
        match writeln!(writer, "{header}") {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.with_context(|| format!("writing to {}", args.output))?,
        }
    }
    let mut output = LineOutput { writer, episodes };
    Ok(generate_into(&mut output, format, settings, (metrics, true), stop, control))
}

/// The generator into `output`, through `format` when there is one, counted into `metrics`
/// (`.1`: count what the output accepts as delivered); with the count of records the format
/// left out.
fn generate_into(
    output: &mut dyn ChunkSink,
    format: Option<&LineFormat>,
    settings: &GeneratorSettings,
    metrics: (&GeneratorMetrics, bool),
    stop: &Shutdown,
    control: &Control,
) -> (GenerateReport, u64) {
    let (metrics, accepted_is_delivered) = metrics;
    match format {
        None => (generate_controlled(settings, &mut MeteredOutput::new(output, metrics.clone(), accepted_is_delivered), stop, control), 0),
        Some(format) => {
            let mut reformat = Reformat::new(output, format.clone());
            let report = generate_controlled(
                settings,
                &mut MeteredOutput::new(&mut reformat, metrics.clone(), accepted_is_delivered),
                stop,
                control,
            );
            (report, reformat.left_out)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
