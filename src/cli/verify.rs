//! `netchaos verify`: audit a store (data and DLQ) against generator manifests. Exit 0 only when
//! nothing is lost or duplicated.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::generator::RunManifest;

use super::UsageError;
use super::sink_args::{S3Args, open_store};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos verify --store ./netchaos-data
  netchaos verify --store ./lake --manifest run-a.json --manifest run-b.json --json | jq .lost";

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The store to audit: a local directory, a `file://` URL or `s3://bucket/prefix`.
    #[arg(long, env = "NETCHAOS_STORE")]
    pub(crate) store: String,

    #[command(flatten)]
    pub(crate) s3: S3Args,

    /// Generator manifests (repeat for several runs or instances); default: those stored under
    /// `manifests/` in the store, as `netchaos run` leaves them.
    #[arg(long = "manifest")]
    pub(crate) manifests: Vec<PathBuf>,

    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let local_path = args.store.strip_prefix("file://").unwrap_or(&args.store);
    let is_local = !args.store.contains("://") || args.store.starts_with("file://");
    if is_local && !std::path::Path::new(local_path).is_dir() {
        return Err(UsageError(format!("there is no store at {}: check --store", args.store)).into());
    }
    let storage = open_store(&args.store, &args.s3)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the runtime")?;
    let mut manifests = Vec::new();
    for path in &args.manifests {
        let text = std::fs::read(path).map_err(|error| UsageError(format!("cannot read the manifest {}: {error}", path.display())))?;
        let manifest: RunManifest = serde_json::from_slice(&text)
            .map_err(|error| UsageError(format!("{} is not a netchaos run manifest: {error}", path.display())))?;
        manifests.push(manifest);
    }
    if manifests.is_empty() {
        manifests = runtime.block_on(crate::verify::find_manifests(&storage)).context("reading the manifests stored in the store")?;
    }
    if manifests.is_empty() {
        return Err(UsageError(format!("no manifest given and none stored under {}/manifests: pass --manifest PATH", args.store)).into());
    }
    let report = runtime.block_on(crate::verify::verify(&storage, &manifests)).context("auditing the store")?;
    let text = if args.json { serde_json::to_string_pretty(&report).context("encoding the report")? } else { report.to_string() };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        // A reader that closed the pipe (`| head`) has what it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
