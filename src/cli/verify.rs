//! `netchaos verify`: audit a store (data and DLQ) against generator manifests. Exit 0 only when
//! the audit proves every expected record landed exactly once (see `crate::verify`), 1 when it
//! fails, 2 for a bad flag or manifest.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::verify::{Acceptance, VerifyError};

use super::UsageError;
use super::sink_args::{S3Args, open_store};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos verify --store ./netchaos-data
  netchaos verify --store ./lake --manifest run-a.json --manifest run-b.json --json | jq .lost
  netchaos verify --store ./lake --manifest run.json --allow-invalid    # accept records the sink rejected

Exit codes:
  0  OK: every expected record landed exactly once, with the manifests' counts per label and type
  1  FAILED: records lost or duplicated, a count per label or type differs, an object could not be
     read, or (unless --allow-invalid, --allow-empty, --allow-unexpected) expected records only in
     the DLQ, manifests that name no records, records no manifest names; or the store failed
  2  a bad flag, or a manifest that cannot be read, is not a manifest or is out of bounds";

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

    /// Accept expected records that exist only in the DLQ (rejected or truncated, so not landed).
    #[arg(long)]
    pub(crate) allow_invalid: bool,

    /// Accept manifests that name no records (the audit then proves nothing).
    #[arg(long)]
    pub(crate) allow_empty: bool,

    /// Accept records in data objects that no manifest names (other runs sharing the store).
    #[arg(long)]
    pub(crate) allow_unexpected: bool,
}

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let local_path = args.store.strip_prefix("file://").unwrap_or(&args.store);
    let is_local = !args.store.contains("://") || args.store.starts_with("file://");
    if is_local && !std::path::Path::new(local_path).is_dir() {
        return Err(UsageError(format!("there is no store at {}: check --store", args.store)).into());
    }
    let storage = open_store(&args.store, &args.s3)?;
    let runtime = crate::runtime::start(2)?;
    let mut manifests = Vec::new();
    for path in &args.manifests {
        manifests.push(crate::verify::load_manifest_file(path).map_err(usage_or_failure)?);
    }
    if manifests.is_empty() {
        manifests = runtime.block_on(crate::verify::find_manifests(&storage)).map_err(usage_or_failure)?;
    }
    if manifests.is_empty() {
        return Err(UsageError(format!("no manifest given and none stored under {}/manifests: pass --manifest PATH", args.store)).into());
    }
    let accept = Acceptance { invalid: args.allow_invalid, empty: args.allow_empty, unexpected: args.allow_unexpected };
    let report = runtime.block_on(crate::verify::verify_with(&storage, &manifests, accept)).map_err(usage_or_failure)?;
    let text = if args.json { serde_json::to_string_pretty(&report).context("encoding the report")? } else { report.to_string() };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        // A reader that closed the pipe (`| head`) has what it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    if args.json {
        // The JSON holds the failures too; a person watching the terminal sees why on stderr
        // (if stderr is gone, the exit code still says it).
        let mut stderr = std::io::stderr().lock();
        for damaged in &report.damaged_objects {
            let _ = writeln!(stderr, "netchaos: verify: damaged object {} ({})", damaged.key, damaged.reason);
        }
        for failure in &report.failures {
            let _ = writeln!(stderr, "netchaos: verify: FAILED: {failure}");
        }
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A manifest at fault is the user's mistake (one line, exit 2); anything else is a failure.
fn usage_or_failure(error: VerifyError) -> anyhow::Error {
    if error.is_bad_manifest() {
        return UsageError(error.to_string()).into();
    }
    anyhow::Error::new(error).context("auditing the store")
}
