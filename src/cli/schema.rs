//! `netchaos schema`: print the JSON Schema of the records, or (`--athena`) the Athena
//! `CREATE TABLE` for the flow logs as written in AWS's layout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::formats::athena::{self, AthenaTable, AwsLayout, FlowFileFormat};
use crate::formats::aws_flow::FieldList;

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos schema | jq '.oneOf | length'
  netchaos schema --athena --location s3://my-bucket/netchaos --account-id 123456789012 --region eu-west-1
  netchaos schema --athena --seed 7 --fields v2-default --file-format parquet --hive --hourly --table flows_hive";

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Print on one line instead of pretty-printed (the JSON Schema only).
    #[arg(long, conflicts_with = "athena")]
    compact: bool,

    /// Print the Athena `CREATE EXTERNAL TABLE` for VPC flow logs in AWS's S3 layout instead,
    /// with partition projection (no `MSCK REPAIR` needed as objects arrive).
    #[arg(long)]
    athena: bool,

    /// The flow log's fields: `v2-default` (AWS's default 14), `v5-all` (all 29 of v2-v5) or a
    /// comma list of AWS's field names (`version,srcaddr,dstaddr,...`), as the objects were written.
    #[arg(long, requires = "athena", default_value = "v5-all", value_parser = FieldList::parse)]
    fields: FieldList,

    /// The objects' body: `text` (space-separated lines after a header) or `parquet`.
    #[arg(long, requires = "athena", value_enum, default_value = "text")]
    file_format: FileFormatArg,

    /// Keys with the hour after the day (`.../{yyyy}/{mm}/{dd}/{HH}/`): adds an `hour` partition.
    #[arg(long, requires = "athena")]
    hourly: bool,

    /// Hive-compatible keys (`aws-account-id=.../aws-service=vpcflowlogs/aws-region=.../year=.../`).
    #[arg(long, requires = "athena")]
    hive: bool,

    /// Bucket and prefix the flow logs were written under (the part before `AWSLogs/`).
    #[arg(long, requires = "athena", default_value = "s3://netchaos")]
    location: String,

    /// The AWS account ids in the keys, a comma list (12 digits each). One account and one region
    /// (non-Hive) give a table on their folder; more become the `accid` partition.
    #[arg(long, requires = "athena", value_delimiter = ',', conflicts_with = "seed")]
    account_id: Vec<String>,

    /// The regions in the keys, a comma list. More than one become the `aws_region` partition.
    #[arg(long, requires = "athena", value_delimiter = ',', conflicts_with = "seed")]
    region: Vec<String>,

    /// Take the accounts and regions from the estate `generate --seed N` builds (the default
    /// estate size). Without `--seed`, `--account-id` and `--region` are both needed.
    #[arg(long, requires = "athena")]
    seed: Option<u64>,

    /// The table's name (lowercase letters, digits, `_`).
    #[arg(long, requires = "athena", default_value = "vpc_flow_logs")]
    table: String,

    /// First day the table's date projection covers (`yyyy/MM/dd`); it ends at NOW.
    #[arg(long, requires = "athena", default_value = "2020/01/01")]
    since: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FileFormatArg {
    Text,
    Parquet,
}

pub(crate) fn run(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let text = if args.athena {
        athena_table(args)?
    } else {
        let schema = crate::records::json_schema();
        let json = if args.compact { serde_json::to_string(&schema) } else { serde_json::to_string_pretty(&schema) };
        json.context("rendering the schema")? + "\n"
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).context("writing the schema to stdout"),
    }
}

/// The flags resolved into the table's options, checked (a bad value is a usage error).
fn athena_table(args: &SchemaArgs) -> Result<String, super::UsageError> {
    let usage = |message: String| super::UsageError(message);
    let (bucket, prefix) = athena::parse_location(&args.location).map_err(|error| usage(format!("--location: {error}")))?;
    let (accounts, regions) = match args.seed {
        Some(seed) => estate_accounts_and_regions(seed),
        None if args.account_id.is_empty() || args.region.is_empty() => {
            return Err(usage(
                "--athena needs the keys' accounts and regions: give --seed (the generator's) or --account-id and --region".into(),
            ));
        }
        None => (args.account_id.clone(), args.region.clone()),
    };
    let options = AthenaTable {
        table: args.table.clone(),
        fields: args.fields.clone(),
        file_format: match args.file_format {
            FileFormatArg::Text => FlowFileFormat::Text,
            FileFormatArg::Parquet => FlowFileFormat::Parquet,
        },
        layout: AwsLayout { hive: args.hive, hourly: args.hourly },
        bucket,
        prefix,
        accounts,
        regions,
        since: args.since.clone(),
    };
    options.check().map_err(|error| usage(format!("--athena: {error}")))?;
    Ok(athena::create_table(&options))
}

/// The distinct accounts and regions of the default estate built from `seed`, in estate order.
fn estate_accounts_and_regions(seed: u64) -> (Vec<String>, Vec<String>) {
    let topology = crate::network::topology::Topology::new(seed);
    let mut accounts: Vec<String> = Vec::new();
    for vpc in &topology.vpcs {
        if !accounts.contains(&vpc.account_id) {
            accounts.push(vpc.account_id.clone());
        }
    }
    let regions = topology.regions().into_iter().map(str::to_owned).collect();
    (accounts, regions)
}
