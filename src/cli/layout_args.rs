//! The flags that say where and in what form `sink` and `run` store the records
//! ([`crate::sink::layout`]): netchaos's own objects, AWS's VPC Flow Logs and Network Firewall
//! layouts, or OCSF for Security Lake.

use clap::{Args, ValueEnum};

use crate::formats::aws_flow::FieldList;
use crate::sink::layout::{DEFAULT_FIREWALL_ACCOUNT, FileFormat, Layout, Output, Partitioning};

use super::UsageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LayoutName {
    /// netchaos's JSON records in `data/source=…/dt=…/hour=…/part-….json.gz`.
    Netchaos,
    /// As AWS delivers it to S3: `AWSLogs/{account}/vpcflowlogs/…` (flows) or
    /// `AWSLogs/{account}/network-firewall/…` (firewall sessions).
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RecordFormat {
    /// netchaos's JSON, or what `--layout` / `--firewall-layout` say.
    Json,
    /// OCSF 1.1.0 Network Activity (class 4001), under Security Lake's custom-source layout
    /// `ext/{source}/region=…/accountId=…/eventDay=…/`.
    Ocsf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FileFormatName {
    /// Gzip text: AWS's space-separated lines with a header, or OCSF JSON lines.
    Text,
    /// Parquet with gzip pages, AWS's column types.
    Parquet,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct LayoutArgs {
    /// Where VPC flow records land: netchaos's own layout, or AWS's (what Athena, Elastic, Loki,
    /// tailpipe and the OpenTelemetry collector read). Each batch's ground truth (event ids and
    /// labels) stays under `data/`.
    #[arg(long, env = "SINK_LAYOUT", value_enum, default_value = "netchaos")]
    pub(crate) layout: LayoutName,

    /// Where firewall session records land (default: as --layout): `aws` writes AWS Network
    /// Firewall's flow and alert logs (Suricata EVE JSON).
    #[arg(long, env = "SINK_FIREWALL_LAYOUT", value_enum)]
    pub(crate) firewall_layout: Option<LayoutName>,

    /// `ocsf` writes both kinds as OCSF Network Activity for Security Lake (not with --layout aws).
    #[arg(long = "format", env = "SINK_FORMAT", value_enum, default_value = "json")]
    pub(crate) record_format: RecordFormat,

    /// Flow fields of AWS text and Parquet objects: `v2-default` (AWS's default 14), `v5-all`
    /// (all 29 of versions 2-5, AWS's order) or a comma list of AWS field names.
    #[arg(long, env = "SINK_FIELDS", default_value = "v5-all", value_parser = parse_fields)]
    pub(crate) fields: FieldList,

    /// The body of AWS flow objects and OCSF objects.
    #[arg(long, env = "SINK_FILE_FORMAT", value_enum, default_value = "text")]
    pub(crate) file_format: FileFormatName,

    /// AWS flow objects in hourly folders (`…/{yyyy}/{mm}/{dd}/{HH}/`); some readers (Loki's
    /// lambda-promtail) accept only the daily default.
    #[arg(long, env = "SINK_HOURLY")]
    pub(crate) hourly: bool,

    /// AWS flow objects in Hive-compatible folders (`aws-account-id=…/aws-service=vpcflowlogs/…`).
    #[arg(long, env = "SINK_HIVE")]
    pub(crate) hive: bool,

    /// The account in firewall objects' keys: a firewall session record names none.
    #[arg(long, env = "SINK_FIREWALL_ACCOUNT_ID", default_value = DEFAULT_FIREWALL_ACCOUNT, value_parser = parse_account)]
    pub(crate) firewall_account_id: String,
}

fn parse_fields(text: &str) -> Result<FieldList, String> {
    FieldList::parse(text)
}

fn parse_account(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("`{text}` is not an AWS account id: give 12 digits"))
    }
}

impl LayoutArgs {
    pub(crate) fn layout(&self) -> Result<Layout, UsageError> {
        let aws = |name: LayoutName| if name == LayoutName::Aws { Output::Aws } else { Output::Json };
        let (flows, firewall) = match self.record_format {
            RecordFormat::Ocsf => {
                if self.layout == LayoutName::Aws || self.firewall_layout == Some(LayoutName::Aws) {
                    return Err(UsageError(
                        "--format ocsf writes Security Lake's layout: drop --layout aws / --firewall-layout aws, or drop --format ocsf"
                            .into(),
                    ));
                }
                (Output::Ocsf, Output::Ocsf)
            }
            RecordFormat::Json => (aws(self.layout), aws(self.firewall_layout.unwrap_or(self.layout))),
        };
        let flow_options_used = self.hourly || self.hive || self.file_format == FileFormatName::Parquet;
        if flow_options_used && flows == Output::Json {
            return Err(UsageError(
                "--hourly, --hive and --file-format parquet shape AWS flow (or OCSF) objects: add --layout aws (or --format ocsf)".into(),
            ));
        }
        if (self.hourly || self.hive) && flows == Output::Ocsf {
            return Err(UsageError("--hourly and --hive are AWS flow folders; OCSF objects use Security Lake's eventDay folders".into()));
        }
        let partitioning = match (self.hive, self.hourly) {
            (true, hourly) => Partitioning::Hive { hourly },
            (false, true) => Partitioning::Hourly,
            (false, false) => Partitioning::Daily,
        };
        let file_format = match self.file_format {
            FileFormatName::Text => FileFormat::Text,
            FileFormatName::Parquet => FileFormat::Parquet,
        };
        Ok(Layout {
            flows,
            firewall,
            file_format,
            partitioning,
            fields: self.fields.clone(),
            firewall_account: self.firewall_account_id.clone(),
        })
    }
}
