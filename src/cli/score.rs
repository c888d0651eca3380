//! `netchaos score`: a detector's alerts against a run's ground truth.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {}

pub(crate) fn run(_args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    Err(super::UsageError("netchaos score is not built yet".into()).into())
}
