//! `netchaos fidelity`: a candidate's flow logs against a reference export of real ones.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct FidelityArgs {}

pub(crate) fn run(_args: &FidelityArgs) -> anyhow::Result<ExitCode> {
    Err(super::UsageError("netchaos fidelity is not built yet".into()).into())
}
