//! Pieces (a store written in a layout other than netchaos's own, [`crate::sink::layout`]):
//! every piece a counting batch's table names is there and holds the rows the table says, text
//! pieces have as many fields on each line as their header, and no piece lies under a piece root
//! that no counting batch claims, since a reader other than netchaos would read that one too.
//!
//! The ids themselves are audited as everywhere else, from the batches' data objects (the
//! ground-truth lines); this module audits what readers of the AWS or OCSF layout read.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::sink::pieces::PieceTable;
use crate::sink::{Compression, Storage};

use super::read;
use super::{IN_FLIGHT_MIB, MAX_OBJECT_BYTES, VerifyError};

/// What the audit of pieces found: damaged or stray objects, and how many pieces were read.
#[derive(Debug, Default)]
pub(super) struct PieceFindings {
    pub(super) damaged: Vec<(String, String)>,
    pub(super) pieces: u64,
    pub(super) rows: u64,
}

/// Reads each counting table in `tables` and the pieces it names; `listed` is every key under
/// the piece roots with its size.
pub(super) async fn audit_pieces(
    storage: &Storage,
    tables: Vec<String>,
    mut listed: BTreeMap<String, u64>,
) -> Result<PieceFindings, VerifyError> {
    let mut findings = PieceFindings::default();
    let mut claimed = BTreeMap::new();
    for table_key in tables {
        let body = storage.get(&table_key).await?;
        let Some(table) = PieceTable::parse(&body) else {
            findings.damaged.push((table_key, "a piece table that cannot be read".to_owned()));
            continue;
        };
        for entry in table.pieces {
            if let Some(earlier) = claimed.insert(entry.key.clone(), table_key.clone()) {
                findings.damaged.push((entry.key, format!("claimed by two batches: {earlier} and {table_key}")));
                continue;
            }
            let Some(size) = listed.remove(&entry.key) else {
                findings.damaged.push((entry.key, format!("missing: the piece table {table_key} names it")));
                continue;
            };
            if size > MAX_OBJECT_BYTES {
                findings.damaged.push((entry.key, format!("{size} bytes, larger than the {} MiB verify reads", IN_FLIGHT_MIB)));
                continue;
            }
            let body = storage.get(&entry.key).await?;
            let key = entry.key.clone();
            let counted = tokio::task::spawn_blocking(move || count_rows(&key, &body))
                .await
                .map_err(|join_error| VerifyError::Task(join_error.to_string()))?;
            match counted {
                Ok(rows) if rows == entry.rows => {
                    findings.pieces += 1;
                    findings.rows += rows;
                }
                Ok(rows) => findings.damaged.push((entry.key, format!("holds {rows} rows where its table says {}", entry.rows))),
                Err(reason) => findings.damaged.push((entry.key, reason)),
            }
        }
    }
    for (key, _) in listed {
        findings.damaged.push((key, "a piece no counting batch claims: a reader would read its records twice or without their ground truth; the sink's next recovery deletes it when a piece table of a batch that does not count names it; otherwise it is left for you to inspect".to_owned()));
    }
    Ok(findings)
}

/// Rows of one piece: Parquet rows, or lines (after the header of an AWS flow text object, each
/// with as many fields as the header).
fn count_rows(key: &str, body: &Bytes) -> Result<u64, String> {
    if key.ends_with(".parquet") {
        use parquet::file::reader::FileReader;
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(body.clone())
            .map_err(|error| format!("not a Parquet file: {error}"))?;
        return u64::try_from(reader.metadata().file_metadata().num_rows()).map_err(|_| "a negative row count".to_owned());
    }
    let flow_text = key.contains("/vpcflowlogs/") || key.contains("/aws-service=vpcflowlogs/");
    let mut header_fields = None;
    let mut rows = 0u64;
    let mut bad_line = None;
    read::for_each_line(body, Compression::Gzip, |line| {
        if !flow_text {
            rows += 1;
            return;
        }
        let fields = line.split(|byte| *byte == b' ').count();
        match header_fields {
            None => header_fields = Some(fields),
            Some(expected) => {
                if fields != expected && bad_line.is_none() {
                    bad_line = Some((rows + 2, fields, expected));
                }
                rows += 1;
            }
        }
    })
    .map_err(|error| error.to_string())?;
    match bad_line {
        Some((line, fields, expected)) => Err(format!("line {line} has {fields} fields where its header has {expected}")),
        None => Ok(rows),
    }
}
