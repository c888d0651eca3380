//! `netchaos schema`: print the JSON Schema of the records.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Print on one line instead of pretty-printed.
    #[arg(long)]
    compact: bool,
}

pub(crate) fn run(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let schema = crate::records::json_schema();
    let text = if args.compact { serde_json::to_string(&schema) } else { serde_json::to_string_pretty(&schema) }
        .context("rendering the schema")?;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).context("writing the schema to stdout"),
    }
}
