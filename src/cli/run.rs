//! `netchaos run`: the embedded default. Generator and sink in one process, joined by a bounded
//! in-process queue instead of Kafka, a local directory instead of S3. Same generation,
//! validation, batching, compression and storage code as the distributed mode.
//!
//! The run's manifest and episodes go into the store beside the data (`manifests/`, `episodes/`),
//! so `netchaos verify --store DIR` alone audits it; the summary at the end includes that audit.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use tokio::sync::mpsc;

use crate::generator::control::Control;
use crate::generator::{Chunk, GenerateReport, MeteredOutput, generate_controlled};
use crate::metrics::{ControlMetrics, GeneratorMetrics, SinkMetrics, StatusLine};
use crate::runtime::{self, Shutdown, publish_interval, sleep_until};
use crate::sink::Sink;
use crate::transport::queue::{self, QueueProducer};

use super::UsageError;
use super::args::GeneratorArgs;
use super::control_args::ControlArgs;
use super::metrics_args::RUN_PORT;
use super::sink_args::{ProcessArgs, SinkArgs, StoreArgs, fit_memory_budget};
use super::summary::{GenerateSummary, RunSummary, SinkSummary, print_json};

mod settings_record;

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos run                                   # 10 s at 5,000 records/s into ./netchaos-data
  netchaos run --count 200000 --eps 0            # as fast as possible
  netchaos run --duration 5m --store /data/nc --compression zstd --max-age 10s
  netchaos verify --store ./netchaos-data        # audit what landed";

/// Largest in-process queue, in chunks (each up to a few MiB).
const MAX_QUEUE_CHUNKS: usize = 4096;

/// How long a run lasts when neither --count nor --duration is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// `run`'s `--store` has a default, and its memory budget covers the generator's lanes.
const DEFAULT_STORE: &str = "./netchaos-data";
const MEMORY_BUDGET_HELP: &str = "Memory for the sink: its batch buffers, all partitions (generator workers) together, and \
                                  the process; `--max-bytes` is lowered to fit it";

#[derive(Debug, Args)]
#[command(mut_arg("store", |store| store.required(false).default_value(DEFAULT_STORE)))]
#[command(mut_arg("memory_budget", |budget| budget.help(MEMORY_BUDGET_HELP)))]
#[command(mut_arg("quiet", |quiet| quiet.help("No live status line and no summary")))]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) generator: GeneratorArgs,

    #[command(flatten)]
    pub(crate) sink: SinkArgs,

    #[command(flatten)]
    pub(crate) destination: StoreArgs,

    /// Chunks the in-process queue holds before the generator waits (backpressure).
    #[arg(long, env = "NETCHAOS_QUEUE_CHUNKS", default_value_t = 16)]
    pub(crate) queue_chunks: usize,

    #[command(flatten)]
    pub(crate) process: ProcessArgs,

    #[command(flatten)]
    pub(crate) control: ControlArgs,
}

pub(crate) fn run(mut args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.generator.count.is_none() && args.generator.duration.is_none() {
        args.generator.duration = Some(DEFAULT_DURATION);
    }
    let mut settings = args.generator.resolve()?;
    args.control.replay_into(&mut settings, args.generator.seed.is_some(), args.generator.start_time.is_some())?;
    args.control.check()?;
    let run_id = settings.run_id();
    let source = format!("run-{run_id}");
    let mut sink_settings = args.sink.settings(&source)?;
    // After every flag is checked: opening a local store creates its directory.
    let storage = args.destination.open()?;
    // One partition per lane: the workers and the port-scan lane.
    fit_memory_budget(&mut sink_settings, args.process.memory_budget, u64::from(settings.workers.get()) + 1, 0)?;
    if !(1..=MAX_QUEUE_CHUNKS).contains(&args.queue_chunks) {
        return Err(UsageError(format!("--queue-chunks must be 1-{MAX_QUEUE_CHUNKS}")).into());
    }

    let runtime = runtime::start(2)?;
    // A rerun with the same seed and instance has the same run id, hence the same keys: recovery
    // would skip every record as already stored, under a manifest that may describe other settings.
    let manifest_key = format!("manifests/manifest-{run_id}.json");
    let existing = runtime.block_on(storage.list("manifests")).context("reading the store")?;
    if existing.iter().any(|(key, _)| *key == manifest_key) {
        return Err(UsageError(format!(
            "{} already holds run {run_id} (seed {}): pass another --seed, --instance-id or --store",
            args.destination.store, settings.seed
        ))
        .into());
    }
    // An unfinished run of this id (killed before its manifest) resumes only with its settings.
    runtime.block_on(settings_record::claim(&storage, &sink_settings.source, &mut settings, args.generator.start_time.is_some()))?;
    // Ctrl-C asks for a stop; the generator is told once `Stopping` lets it (see there). A failing
    // store is retried until it is back (or a second Ctrl-C exits): the sink has no abort.
    let requested = runtime::stop_on_signals(&runtime);
    let stop = Shutdown::new();
    let (generator_metrics, sink_metrics) = (GeneratorMetrics::default(), SinkMetrics::default());
    generator_metrics.target_rate.set(settings.eps);
    let control_metrics = ControlMetrics::default();
    let _server = args.process.metrics.serve("run", RUN_PORT, |registry| {
        generator_metrics.register(registry);
        sink_metrics.register(registry);
        control_metrics.register(registry);
    })?;
    let live_control = args.control.start(&settings, &control_metrics)?;
    live_control.announce(args.process.quiet);
    let control = live_control.control.clone();
    let live = !args.process.quiet && std::io::stderr().is_terminal();
    let stopping = stop.clone();
    let kind_names = crate::chaos::KINDS.map(|spec| spec.short_name);
    let status = StatusLine::run(generator_metrics.clone(), sink_metrics.clone(), move || stopping.is_requested(), kind_names, live);
    let mut sink = Sink::new(storage.clone(), sink_settings).with_metrics(sink_metrics);

    let (producer, receiver) = queue::bounded(args.queue_chunks);
    let generator_stop = stop.clone();
    let generator = std::thread::spawn(move || run_generator(&settings, producer, &generator_metrics, &generator_stop, &control));

    // A rerun after a crash regenerates the run from its start, and the sink skips what an earlier
    // attempt stored; a graceful stop takes effect only once every lane is past that point, so
    // that the manifest covers every record of the run in the store.
    let floors = runtime.block_on(sink.stored_positions()).context("reading the store")?;
    let stopping = Stopping { requested, stop: stop.clone(), floors, reached: BTreeMap::new(), announced: false };
    let sink_result = runtime.block_on(drain_queue(&mut sink, receiver, stopping));
    if sink_result.is_err() {
        stop.request();
    }
    let (report, episodes) = generator.join().map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    status.finish();
    sink_result.context("sinking the generated records")?;
    if let Some(error) = &report.error {
        anyhow::bail!("the generator stopped: {error}");
    }

    let manifest = report.manifest.clone();
    runtime.block_on(store_ground_truth(&storage, &manifest, &episodes))?;
    let verdict = runtime.block_on(crate::verify::verify(&storage, std::slice::from_ref(&manifest))).context("verifying the store")?;
    runtime.shutdown_background();

    let summary = RunSummary {
        generator: GenerateSummary::new(&report),
        sink: SinkSummary::new(sink.stats(), storage.location(), &source),
        verify: verdict,
    };
    if !args.process.quiet {
        if live {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{summary}");
    }
    if args.process.json {
        print_json(&summary)?;
    }
    Ok(if summary.verify.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run_generator(
    settings: &crate::generator::GeneratorSettings,
    mut producer: QueueProducer,
    metrics: &GeneratorMetrics,
    stop: &Shutdown,
    control: &Control,
) -> (GenerateReport, Vec<crate::chaos::EpisodeSummary>) {
    // The queue has no acknowledgement: what it took counts as delivered.
    let report = generate_controlled(settings, &mut MeteredOutput::new(&mut producer, metrics.clone(), true), stop, control);
    (report, producer.episodes)
}

/// Feeds every chunk to the sink, flushes aged batches on time, publishes the sink's metrics;
/// flushes everything when the generator is done (or stopped).
/// When a requested stop reaches the generator.
struct Stopping {
    /// Requested by the first Ctrl-C or SIGTERM.
    requested: Shutdown,
    /// What the generator obeys.
    stop: Shutdown,
    /// Per lane, how far the store already holds it (from an earlier attempt of this run).
    floors: BTreeMap<u32, u64>,
    /// Per lane, one past the highest offset fed to the sink.
    reached: BTreeMap<u32, u64>,
    /// The wait for the floors was logged.
    announced: bool,
}

impl Stopping {
    /// Passes a requested stop on once every lane has been fed past its floor.
    fn pass_on(&mut self) {
        if self.stop.is_requested() || !self.requested.is_requested() {
            return;
        }
        let behind: u64 = self.floors.iter().map(|(lane, floor)| floor.saturating_sub(self.reached.get(lane).copied().unwrap_or(0))).sum();
        if behind == 0 {
            self.stop.request();
        } else if !self.announced {
            self.announced = true;
            tracing::info!(
                behind,
                "stopping once this rerun has regenerated what an earlier attempt stored (at the run's rate); \
                 Ctrl-C again to stop now without a manifest"
            );
        }
    }
}

async fn drain_queue(sink: &mut Sink, mut receiver: mpsc::Receiver<Chunk>, mut stopping: Stopping) -> anyhow::Result<()> {
    let mut publish = publish_interval();
    loop {
        let deadline = sink.next_deadline();
        tokio::select! {
            chunk = receiver.recv() => match chunk {
                Some(chunk) => feed(sink, chunk, &mut stopping.reached).await?,
                None => break,
            },
            () = sleep_until(deadline) => sink.flush_expired().await?,
            _ = publish.tick() => sink.publish_metrics(),
        }
        stopping.pass_on();
    }
    sink.flush_all().await?;
    sink.publish_metrics();
    Ok(())
}

async fn feed(sink: &mut Sink, chunk: Chunk, reached: &mut BTreeMap<u32, u64>) -> anyhow::Result<()> {
    for message in queue::messages(chunk) {
        let lane = reached.entry(message.partition).or_default();
        *lane = (*lane).max(message.offset + 1);
        sink.push(message).await?;
    }
    Ok(())
}

/// Writes the manifest and the episodes file into the store, so `verify --store` alone suffices.
async fn store_ground_truth(
    storage: &crate::sink::Storage,
    manifest: &crate::generator::RunManifest,
    episodes: &[crate::chaos::EpisodeSummary],
) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for episode in episodes {
        serde_json::to_writer(&mut lines, episode).context("encoding an episode")?;
        lines.push(b'\n');
    }
    let run_id = &manifest.run_id;
    storage.put(&format!("episodes/episodes-{run_id}.jsonl"), Bytes::from(lines)).await.context("storing the episodes file")?;
    let manifest_json = serde_json::to_vec_pretty(manifest).context("encoding the manifest")?;
    storage.put(&format!("manifests/manifest-{run_id}.json"), Bytes::from(manifest_json)).await.context("storing the manifest")?;
    Ok(())
}
