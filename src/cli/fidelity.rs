//! `netchaos fidelity`: a candidate's flow logs against a reference export of real ones. Each of
//! `--reference` and `--candidate` is a file (netchaos JSON lines or the AWS text format, plain or
//! gzip; `-` for stdin) or a store (a directory, `file://` or `s3://` URL): told by its path, and a
//! file's format by its content. Exit 0 with the report, 2 for an input that cannot be compared.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::fidelity::{FidelityError, Profile};

use super::UsageError;
use super::sink_args::{S3Args, open_store};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos fidelity --reference vpc-flow-logs.log.gz --candidate ./netchaos-data
  netchaos fidelity --reference real.jsonl --candidate synthetic.jsonl.gz --json | jq '.rows[] | select(.verdict == \"far\")'
  zcat export/*.log.gz | netchaos fidelity --reference - --candidate s3://lake/netchaos --s3-endpoint http://127.0.0.1:19000

Inputs: netchaos JSON lines (firewall records are skipped) or AWS VPC flow logs as AWS writes them
(a header line naming the fields, any order and version; or headerless version 2 records).

Exit codes:
  0  the report was printed (its verdicts are the answer; fidelity never fails on them)
  2  an input is missing, unreadable, not flow records, or holds none";

#[derive(Debug, Args)]
pub(crate) struct FidelityArgs {
    /// The real flow logs: a file (`-` for stdin) or a store.
    #[arg(long)]
    pub(crate) reference: String,

    /// The flow logs to judge: a store (a directory, `file://` or `s3://` URL) or a file.
    #[arg(long)]
    pub(crate) candidate: String,

    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    /// The largest lag, in minutes, of the per-minute count autocorrelation.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1440))]
    pub(crate) max_lag: u16,

    #[command(flatten)]
    pub(crate) s3: S3Args,
}

pub(crate) fn run(args: &FidelityArgs) -> anyhow::Result<ExitCode> {
    if args.reference == "-" && args.candidate == "-" {
        return Err(UsageError("only one of --reference and --candidate can be stdin (`-`)".into()).into());
    }
    let reference = read_input(&args.reference, "--reference", &args.s3)?;
    let candidate = read_input(&args.candidate, "--candidate", &args.s3)?;
    let report = crate::fidelity::compare(&args.reference, &reference, &args.candidate, &candidate, usize::from(args.max_lag));
    let text = if args.json { serde_json::to_string_pretty(&report).context("encoding the report")? } else { report.to_string() };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        // A reader that closed the pipe (`| head`) has what it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads one input: a store when `input` is a URL or a directory, else a file.
fn read_input(input: &str, flag: &str, s3: &S3Args) -> anyhow::Result<Profile> {
    let local = input.strip_prefix("file://").unwrap_or(input);
    let is_url = input.contains("://");
    if input != "-" && !Path::new(local).exists() && (!is_url || input.starts_with("file://")) {
        return Err(UsageError(format!("there is no file or store at {input}: check {flag}")).into());
    }
    let profile = if is_url || Path::new(local).is_dir() {
        let storage = open_store(input, s3)?;
        let runtime = crate::runtime::start(2)?;
        runtime.block_on(crate::fidelity::profile_store(input, &storage))
    } else {
        crate::fidelity::profile_file(Path::new(input))
    };
    profile.map_err(|error| match error {
        // A store that cannot be reached is a failure while running; every other error is the
        // input's, for the user to fix.
        FidelityError::Store { .. } if is_url && !input.starts_with("file://") => anyhow::Error::new(error),
        other => UsageError(format!("{other} ({flag})")).into(),
    })
}
