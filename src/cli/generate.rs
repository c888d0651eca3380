//! `netchaos generate`: the producer, writing JSON lines to stdout or a file (Kafka comes with
//! `--brokers` in a later issue), the ground-truth episodes file and the run manifest.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;

use crate::chaos::EpisodeSummary;
use crate::generator::{Chunk, ChunkSink, GenerateReport, generate};

use super::args::GeneratorArgs;
use super::{UsageError, signals};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos generate --count 1000 | jq -c 'select(.label != null)'
  netchaos generate --seed 7 --count 1000000 --eps 0 --output flows.jsonl --manifest run.json --episodes episodes.jsonl
  EPS_TARGET=15000 WORKER_COUNT=8 DATA_EXFIL_PROB=0.05 netchaos generate --duration 1m --output /dev/null";

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    pub(crate) generator: GeneratorArgs,

    /// Where the JSON lines go: `stdout` or a file path.
    #[arg(long, short, env = "NETCHAOS_OUTPUT", default_value = "stdout")]
    pub(crate) output: String,

    /// Write the run manifest (JSON) here when the run ends.
    #[arg(long, env = "NETCHAOS_MANIFEST")]
    pub(crate) manifest: Option<PathBuf>,

    /// Write the ground-truth episodes (JSON lines) here.
    #[arg(long, env = "NETCHAOS_EPISODES")]
    pub(crate) episodes: Option<PathBuf>,

    /// No summary on stderr.
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
    let settings = args.generator.resolve()?;
    let writer: Box<dyn Write + Send> = match args.output.as_str() {
        "stdout" | "-" => Box::new(std::io::stdout()),
        path => Box::new(create(std::path::Path::new(path), "output")?),
    };
    let episodes = args.episodes.as_deref().map(|path| create(path, "episodes")).transpose()?.map(BufWriter::new);
    // Fail before generating anything if the manifest cannot be written.
    let manifest_file = args.manifest.as_deref().map(ManifestFile::create).transpose()?;

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().context("starting the signal handler")?;
    let stop = Arc::new(AtomicBool::new(false));
    // The watch it returns is not needed: the generator polls the flag.
    let _signalled = signals::install(&runtime, stop.clone());

    let mut output = LineOutput { writer, episodes };
    let report = generate(&settings, &mut output, &stop);
    if let Some(file) = manifest_file {
        file.write(&report.manifest)?;
    }
    if !args.quiet {
        eprintln!("{}", summary(&report));
    }
    runtime.shutdown_background();
    match report.error {
        Some(error) if is_broken_pipe(&error) => Ok(ExitCode::SUCCESS),
        Some(error) => Err(error.context(format!("writing to {}", args.output))),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// One line for the terminal: records, rate, anomalies, episodes.
pub(crate) fn summary(report: &GenerateReport) -> String {
    let manifest = &report.manifest;
    let seconds = report.elapsed.as_secs_f64().max(1e-9);
    let anomalies: Vec<String> =
        manifest.by_label.iter().filter(|(label, _)| *label != "normal").map(|(label, count)| format!("{label} {count}")).collect();
    let episodes: u64 = manifest.episodes.values().sum();
    format!(
        "netchaos: {} records in {:.2}s ({:.0}/s), run {} seed {}; anomalies: {}; {} episodes{}",
        manifest.records,
        seconds,
        manifest.records as f64 / seconds,
        manifest.run_id,
        manifest.seed,
        anomalies.join(", "),
        episodes,
        if manifest.complete { "" } else { " (stopped early)" }
    )
}
