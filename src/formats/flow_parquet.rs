//! VPC flow records as one Parquet object, the way AWS's Parquet option for flow logs writes it.
//!
//! Facts, and where they come from:
//! - **Types** (VPC user guide, "Flow log records", the "Parquet data type" of each field):
//!   INT_32 for version, srcport, dstport, protocol, tcp-flags and traffic-path; INT_64 for
//!   packets, bytes, start and end; STRING (UTF-8 byte arrays) for the rest. Every column is
//!   nullable: a field AWS writes as `-` in text is null here.
//! - **Column names**: the field names with `-` turned into `_` (`account_id`, `log_status`,
//!   `pkt_src_aws_service`), [`AwsField::column_name`]. AWS's Athena DDL for its Parquet flow
//!   logs (Athena docs, "vpc-flow-logs-parquet" and "vpc-flow-logs-partition-projection-parquet-
//!   example") declares exactly these columns, and Athena's Parquet SerDe binds columns by name,
//!   so they are the names in AWS's files. The order is the flow log's format order.
//! - **Compression**: gzip, per page (VPC user guide, "Flow log files": Parquet "with Gzip
//!   compression"). The file is not gzipped again as a whole.
//! - One row group per object; no Arrow schema in the footer (AWS's writer is not Arrow), so
//!   readers see the plain Parquet schema.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, GzipLevel};
use parquet::file::properties::WriterProperties;

use super::aws_flow::{AwsField, FieldList, FieldValue};
use crate::records::VpcFlow;

/// One column being filled, typed as AWS's Parquet option types it.
enum Column {
    Int32(Int32Builder),
    Int64(Int64Builder),
    Utf8(StringBuilder),
}

impl std::fmt::Debug for Column {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Column::Int32(_) => "Int32",
            Column::Int64(_) => "Int64",
            Column::Utf8(_) => "Utf8",
        })
    }
}

/// Rows a column has room for before it grows: small, since a batch may span many flow logs and
/// windows, each a builder of its own (arrow's default, 1,024, is ~150 KB a group for v5-all).
const GROUP_ROWS: usize = 16;

impl Column {
    fn for_field(field: AwsField) -> Self {
        if field.is_int32() {
            Column::Int32(Int32Builder::with_capacity(GROUP_ROWS))
        } else if field.is_int64() {
            Column::Int64(Int64Builder::with_capacity(GROUP_ROWS))
        } else {
            Column::Utf8(StringBuilder::with_capacity(GROUP_ROWS, GROUP_ROWS * 16))
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Column::Int32(_) => DataType::Int32,
            Column::Int64(_) => DataType::Int64,
            Column::Utf8(_) => DataType::Utf8,
        }
    }

    fn push(&mut self, value: FieldValue<'_>) {
        use std::fmt::Write as _;
        match (self, value) {
            (Column::Int32(builder), FieldValue::Missing) => builder.append_null(),
            (Column::Int64(builder), FieldValue::Missing) => builder.append_null(),
            (Column::Utf8(builder), FieldValue::Missing) => builder.append_null(),
            // The INT_32 fields are all u8 or u16 in the record: they always fit.
            (Column::Int32(builder), FieldValue::Unsigned(number)) => builder.append_option(i32::try_from(number).ok()),
            (Column::Int32(builder), FieldValue::Signed(number)) => builder.append_option(i32::try_from(number).ok()),
            // Counts above i64::MAX (never generated) would not fit INT_64: saturate.
            (Column::Int64(builder), FieldValue::Unsigned(number)) => builder.append_value(i64::try_from(number).unwrap_or(i64::MAX)),
            (Column::Int64(builder), FieldValue::Signed(number)) => builder.append_value(number),
            (Column::Utf8(builder), FieldValue::Text(text)) => builder.append_value(text),
            (Column::Utf8(builder), FieldValue::Address(address)) => {
                // The builder's `fmt::Write` appends to the current value (cannot fail);
                // `append_value("")` ends it.
                let _ = write!(builder, "{address}");
                builder.append_value("");
            }
            (Column::Utf8(builder), FieldValue::Unsigned(number)) => builder.append_value(itoa::Buffer::new().format(number)),
            (Column::Utf8(builder), FieldValue::Signed(number)) => builder.append_value(itoa::Buffer::new().format(number)),
            // A string in an integer field does not occur (each field has one kind of value).
            (Column::Int32(builder), FieldValue::Text(_) | FieldValue::Address(_)) => builder.append_null(),
            (Column::Int64(builder), FieldValue::Text(_) | FieldValue::Address(_)) => builder.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Int32(builder) => Arc::new(builder.finish()),
            Column::Int64(builder) => Arc::new(builder.finish()),
            Column::Utf8(builder) => Arc::new(builder.finish()),
        }
    }
}

/// Builds one Parquet object of flow records as AWS's Parquet option writes it (see the module
/// doc for the types, names and compression).
#[derive(Debug)]
pub struct FlowParquet {
    fields: FieldList,
    columns: Vec<Column>,
    rows: usize,
}

impl FlowParquet {
    pub fn new(fields: &FieldList) -> Self {
        let columns = fields.fields().iter().map(|field| Column::for_field(*field)).collect();
        FlowParquet { fields: fields.clone(), columns, rows: 0 }
    }

    pub fn push(&mut self, flow: &VpcFlow<'_>) {
        let version = self.fields.version();
        for (field, column) in self.fields.fields().iter().zip(&mut self.columns) {
            column.push(field.value(flow, version));
        }
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The whole Parquet file's bytes: one row group, gzip pages, nullable columns.
    pub fn finish(mut self) -> Result<Vec<u8>, String> {
        let schema_fields: Vec<Field> = self
            .fields
            .fields()
            .iter()
            .zip(&self.columns)
            .map(|(field, column)| Field::new(field.column_name(), column.data_type(), true))
            .collect();
        let schema = Arc::new(Schema::new(schema_fields));
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|error| format!("building the Parquet rows: {error}"))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::GZIP(GzipLevel::default()))
            .set_max_row_group_row_count(Some(self.rows.max(1)))
            .build();
        let options = ArrowWriterOptions::new().with_properties(properties).with_skip_arrow_metadata(true);
        let mut writer = ArrowWriter::try_new_with_options(Vec::new(), schema, options)
            .map_err(|error| format!("starting the Parquet object: {error}"))?;
        writer.write(&batch).map_err(|error| format!("writing the Parquet rows: {error}"))?;
        writer.into_inner().map_err(|error| format!("finishing the Parquet object: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Type as PhysicalType;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;
    use crate::formats::aws_flow::tests::{accepted_flow, no_data_flow};

    fn object(fields: &FieldList, flows: &[VpcFlow<'_>]) -> Bytes {
        let mut parquet = FlowParquet::new(fields);
        assert!(parquet.is_empty());
        for flow in flows {
            parquet.push(flow);
        }
        assert_eq!(parquet.len(), flows.len());
        Bytes::from(parquet.finish().unwrap())
    }

    #[test]
    fn columns_have_awss_names_types_and_gzip() {
        let bytes = object(&FieldList::v5_all(), &[accepted_flow(), no_data_flow()]);
        let reader = SerializedFileReader::new(bytes).unwrap();
        let metadata = reader.metadata();
        assert_eq!(metadata.file_metadata().num_rows(), 2);
        assert_eq!(metadata.num_row_groups(), 1);
        let schema = metadata.file_metadata().schema_descr();
        assert_eq!(schema.num_columns(), 29);
        for (index, field) in AwsField::ALL.into_iter().enumerate() {
            let column = schema.column(index);
            assert_eq!(column.name(), field.column_name());
            let expected = if field.is_int32() {
                PhysicalType::INT32
            } else if field.is_int64() {
                PhysicalType::INT64
            } else {
                PhysicalType::BYTE_ARRAY
            };
            assert_eq!(column.physical_type(), expected, "{}", field.name());
            if expected == PhysicalType::BYTE_ARRAY {
                assert_eq!(column.logical_type_ref(), Some(&parquet::basic::LogicalType::String), "{}", field.name());
            }
            assert!(column.self_type().is_optional(), "{} is nullable", field.name());
            assert!(matches!(metadata.row_group(0).column(index).compression(), Compression::GZIP(_)), "{}", field.name());
        }
        assert!(metadata.file_metadata().key_value_metadata().is_none_or(|pairs| pairs.iter().all(|pair| pair.key != "ARROW:schema")));
    }

    #[test]
    fn values_and_nulls_read_back() {
        use arrow_array::{Array, Int32Array, Int64Array, StringArray};
        let bytes = object(&FieldList::v5_all(), &[accepted_flow(), no_data_flow()]);
        let batches: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        let int32 = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<Int32Array>().unwrap().clone();
        let int64 = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
        let text = |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        assert_eq!(int32("version").values(), &[5, 5]);
        assert_eq!(int32("srcport").value(0), 20641);
        assert!(int32("srcport").is_null(1));
        assert_eq!(int32("tcp_flags").value(0), 19);
        assert_eq!(int32("traffic_path").value(0), 1);
        assert_eq!(int64("bytes").value(0), 4249);
        assert!(int64("packets").is_null(1));
        assert_eq!(int64("start").values(), &[1418530010, 1431280876]);
        assert_eq!(int64("end").value(1), 1431280934);
        assert_eq!(text("account_id").value(1), "123456789010");
        assert_eq!(text("srcaddr").value(0), "172.31.16.139");
        assert!(text("srcaddr").is_null(1));
        assert_eq!(text("action").value(0), "ACCEPT");
        assert!(text("action").is_null(1));
        assert_eq!(text("log_status").value(1), "NODATA");
        assert_eq!(text("type").value(0), "IPv4");
        assert_eq!(text("pkt_dst_aws_service").value(0), "S3");
        assert!(text("pkt_src_aws_service").is_null(0));
        assert_eq!(text("flow_direction").value(0), "egress");
        assert_eq!(text("az_id").value(0), "use2-az2");
    }

    #[test]
    fn a_custom_list_keeps_its_order_and_version() {
        let fields = FieldList::parse("srcaddr,version,dstport").unwrap();
        let bytes = object(&fields, &[accepted_flow()]);
        let reader = SerializedFileReader::new(bytes).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let names: Vec<String> = (0..schema.num_columns()).map(|index| schema.column(index).name().to_owned()).collect();
        assert_eq!(names, ["srcaddr", "version", "dstport"]);
        let mut rows = reader.get_row_iter(None).unwrap();
        let row = rows.next().unwrap().unwrap();
        assert_eq!(row.to_string(), "{srcaddr: \"172.31.16.139\", version: 2, dstport: 22}");
    }

    #[test]
    fn an_empty_object_is_still_a_valid_file() {
        let bytes = object(&FieldList::v2_default(), &[]);
        let reader = SerializedFileReader::new(bytes).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(reader.metadata().file_metadata().schema_descr().num_columns(), 14);
    }
}
