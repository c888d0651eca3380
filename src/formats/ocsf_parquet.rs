//! OCSF Network Activity as Parquet, for a Security Lake custom source: one file of one class
//! (4001), nested columns shaped as OCSF's objects (arrow structs and lists), gzip-compressed
//! pages. Security Lake's custom-source requirements say "for compression within the Parquet
//! object, zstandard is preferred": preferred, not required. parquet 60.1's `zstd` feature needs
//! the zstd 0.14 crates (a C build) where the project has 0.13, so the pages are gzip, the codec
//! AWS's own Parquet flow logs use. Pages stay under the 1 MB the requirements ask for.
//!
//! The rows are the JSON objects [`super::ocsf`] renders, decoded by arrow-json against the fixed
//! schema below in strict mode: a field the JSON writer emits that the schema lacks is an error,
//! not a silently dropped column, so the two cannot drift apart unnoticed (the unit tests render
//! every kind of record through it). Integer attributes are Int32 except times, counts of bytes
//! and packets and `duration`, which are Int64 (OCSF's `long_t` / `timestamp_t`).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel};
use parquet::file::properties::WriterProperties;

use crate::records::{Firewall, VpcFlow};

/// Rows decoded per arrow batch.
const BATCH_ROWS: usize = 8192;

/// OCSF events gathered for one Parquet object.
#[derive(Debug, Default)]
pub struct OcsfParquet {
    /// The events as JSON lines, as [`super::ocsf`] writes them.
    lines: Vec<u8>,
    rows: usize,
}

impl OcsfParquet {
    pub fn new() -> Self {
        OcsfParquet::default()
    }

    pub fn push_flow(&mut self, flow: &VpcFlow<'_>) {
        super::ocsf::write_flow(flow, &mut self.lines);
        self.rows += 1;
    }

    pub fn push_firewall(&mut self, session: &Firewall<'_>) {
        super::ocsf::write_firewall(session, &mut self.lines);
        self.rows += 1;
    }

    /// How many events were pushed.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The Parquet file of every pushed event, in push order.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        let schema = schema();
        let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
            .with_strict_mode(true)
            .with_batch_size(BATCH_ROWS)
            .build_decoder()
            .map_err(|error| format!("ocsf parquet: cannot build the json decoder: {error}"))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::GZIP(GzipLevel::default()))
            .set_data_page_size_limit(1024 * 1024)
            .build();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, schema, Some(properties))
            .map_err(|error| format!("ocsf parquet: cannot start the file: {error}"))?;
        let mut rest = self.lines.as_slice();
        loop {
            let consumed = decoder.decode(rest).map_err(|error| format!("ocsf parquet: an event does not fit the schema: {error}"))?;
            rest = &rest[consumed..];
            match decoder.flush().map_err(|error| format!("ocsf parquet: an event does not fit the schema: {error}"))? {
                Some(batch) => write_batch(&mut writer, &batch)?,
                None if rest.is_empty() => break,
                None => return Err("ocsf parquet: the json decoder made no progress".to_owned()),
            }
        }
        writer.close().map_err(|error| format!("ocsf parquet: cannot finish the file: {error}"))?;
        Ok(file)
    }
}

fn write_batch(writer: &mut ArrowWriter<&mut Vec<u8>>, batch: &RecordBatch) -> Result<(), String> {
    writer.write(batch).map_err(|error| format!("ocsf parquet: cannot write rows: {error}"))
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}

fn long(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn texts(name: &str) -> Field {
    Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true)
}

fn object(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

fn endpoint(name: &str) -> Field {
    object(
        name,
        vec![
            text("ip"),
            int("port"),
            texts("intermediate_ips"),
            text("interface_uid"),
            text("vpc_uid"),
            text("subnet_uid"),
            text("instance_uid"),
        ],
    )
}

/// The arrow schema of the Parquet files: every attribute [`super::ocsf`] writes, nested as OCSF
/// nests it.
pub(crate) fn schema() -> SchemaRef {
    let product = object("product", vec![text("name"), text("vendor_name"), text("version"), object("feature", vec![text("name")])]);
    Arc::new(Schema::new(vec![
        int("activity_id"),
        text("activity_name"),
        int("category_uid"),
        text("category_name"),
        int("class_uid"),
        text("class_name"),
        int("type_uid"),
        text("type_name"),
        long("time"),
        int("severity_id"),
        text("severity"),
        int("action_id"),
        text("action"),
        int("disposition_id"),
        text("disposition"),
        long("start_time"),
        long("end_time"),
        long("duration"),
        int("status_id"),
        text("status"),
        text("status_code"),
        text("app_name"),
        object(
            "metadata",
            vec![text("version"), product, texts("profiles"), text("uid"), text("log_name"), text("correlation_uid"), texts("labels")],
        ),
        object("cloud", vec![text("provider"), object("account", vec![text("uid")]), text("region"), text("zone")]),
        endpoint("src_endpoint"),
        endpoint("dst_endpoint"),
        object(
            "connection_info",
            vec![
                text("uid"),
                int("protocol_num"),
                text("protocol_name"),
                int("protocol_ver_id"),
                text("protocol_ver"),
                int("tcp_flags"),
                int("direction_id"),
                text("direction"),
                int("boundary_id"),
                text("boundary"),
            ],
        ),
        object(
            "traffic",
            vec![long("bytes"), long("packets"), long("bytes_out"), long("bytes_in"), long("packets_out"), long("packets_in")],
        ),
        object("firewall_rule", vec![text("name"), text("uid")]),
        object(
            "unmapped",
            vec![text("session_end_reason"), text("app_proto"), int("http_status"), long("netchaos_latency_ms"), long("session_id")],
        ),
    ]))
}
