//! Which layout a source's objects are in, so that a restart with other layout flags cannot mix
//! two layouts under one source.
//!
//! A batch's keys depend on the layout (`--layout`, `--firewall-layout`, `--format`, `--fields`,
//! `--file-format`, `--hourly`, `--hive`, `--firewall-account-id`), and recovery resumes a
//! source from whatever layout its batches were in: a restart with other flags would leave the
//! first run's records under `AWSLogs/` and the rest under `ext/`, or flow objects of 29 and of
//! 14 fields under one flow-log id, and every reader would see part of the stream or misread
//! it. So the sink's first recovery of a source records its layout in
//! `meta/source={source}/layout.json`, and a later sink with another stops before it writes
//! ([`SinkError::Layout`], exit 2). A source with objects and no record was written by a
//! netchaos before layouts, hence in netchaos's own. Attacked by `tests/it/aws_layout.rs`'s
//! `a_restart_with_other_layout_flags_is_refused`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::SinkError;
use super::keys::{self, ObjectKind};
use super::layout::{FileFormat, Layout, Output, Partitioning};
use super::recovery::Recovery;
use super::retry;

const LAYOUT_FILE: &str = "layout.json";

/// A layout as recorded: plain words, so that the record reads the same across versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Recorded {
    flows: String,
    firewall: String,
    /// The rest only where a piece layout gives them a meaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partitioning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fields: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    firewall_account: Option<String>,
}

fn output(output: Output) -> &'static str {
    match output {
        Output::Json => "netchaos",
        Output::Aws => "aws",
        Output::Ocsf => "ocsf",
    }
}

impl Recorded {
    fn of(layout: &Layout) -> Self {
        let flows_aws = layout.flows == Output::Aws;
        let pieces = !layout.is_netchaos();
        Recorded {
            flows: output(layout.flows).to_owned(),
            firewall: output(layout.firewall).to_owned(),
            file_format: (pieces && layout.flows != Output::Json).then(|| {
                match layout.file_format {
                    FileFormat::Text => "text",
                    FileFormat::Parquet => "parquet",
                }
                .to_owned()
            }),
            partitioning: flows_aws.then(|| match layout.partitioning {
                Partitioning::Daily => "daily".to_owned(),
                Partitioning::Hourly => "hourly".to_owned(),
                Partitioning::Hive { hourly: false } => "hive".to_owned(),
                Partitioning::Hive { hourly: true } => "hive hourly".to_owned(),
            }),
            fields: flows_aws.then(|| layout.fields.header()),
            firewall_account: (layout.firewall != Output::Json).then(|| layout.firewall_account.clone()),
        }
    }

    fn netchaos() -> Self {
        Recorded {
            flows: "netchaos".into(),
            firewall: "netchaos".into(),
            file_format: None,
            partitioning: None,
            fields: None,
            firewall_account: None,
        }
    }

    fn describe(&self) -> String {
        let mut parts = vec![format!("flows {}", self.flows), format!("firewall {}", self.firewall)];
        parts.extend(self.file_format.iter().map(|format| format!("file format {format}")));
        parts.extend(self.partitioning.iter().map(|folders| format!("{folders} folders")));
        parts.extend(self.fields.iter().map(|fields| format!("fields `{fields}`")));
        parts.extend(self.firewall_account.iter().map(|account| format!("firewall account {account}")));
        parts.join(", ")
    }
}

impl Recovery<'_> {
    /// Records the sink's layout as its source's on the source's first use, or checks it against
    /// the record: [`SinkError::Layout`] when they differ. Store operations are retried as
    /// recovery's are.
    pub(super) async fn claim_layout(&self) -> Result<(), SinkError> {
        let (storage, policy) = (self.storage, self.settings.retry);
        let source = &self.settings.source;
        let this = Recorded::of(&self.settings.layout);
        let key = keys::source_meta_key(source, LAYOUT_FILE);
        let abandon = |key: &str| {
            let key = key.to_owned();
            move |abandoned: retry::Abandoned| SinkError::Abandoned { key, last_error: Box::new(abandoned.last_error) }
        };
        let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder).to_owned();
        let listing =
            retry::retry("list", &folder, policy, self.abort, self.retries, || storage.list(&folder)).await.map_err(abandon(&folder))?;
        let recorded = if listing.iter().any(|(listed, _)| *listed == key) {
            let body = retry::retry("read", &key, policy, self.abort, self.retries, || storage.get(&key)).await.map_err(abandon(&key))?;
            Some(serde_json::from_slice::<Recorded>(&body).map_err(|error| {
                SinkError::Layout(format!(
                    "{key} in the store cannot be read ({error}): delete it only if you know the layout of source `{source}`"
                ))
            })?)
        } else {
            let data = keys::source_prefix(ObjectKind::Data, source);
            let objects =
                retry::retry("list", &data, policy, self.abort, self.retries, || storage.list(&data)).await.map_err(abandon(&data))?;
            (!objects.is_empty()).then(Recorded::netchaos)
        };
        match recorded {
            Some(recorded) if recorded == this => Ok(()),
            Some(recorded) => Err(SinkError::Layout(format!(
                "source `{source}` in the store is in another layout ({}) than these flags ask for ({}): give its flags again, \
                 or another --store or --source",
                recorded.describe(),
                this.describe()
            ))),
            None => {
                let body = Bytes::from(serde_json::to_vec(&this).map_err(|error| SinkError::Task(error.to_string()))?);
                retry::retry("write", &key, policy, self.abort, self.retries, || storage.put(&key, body.clone()))
                    .await
                    .map_err(abandon(&key))?;
                Ok(())
            }
        }
    }
}
