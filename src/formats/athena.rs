//! The Athena `CREATE EXTERNAL TABLE` that reads the flow logs netchaos writes in AWS's layout, in
//! the form AWS documents it (Athena docs, "vpc-flow-logs", "vpc-flow-logs-partition-projection",
//! "vpc-flow-logs-parquet"; VPC user guide, "flow-logs-athena"):
//!
//! - columns: the flow log's fields in its format order, named with `_`
//!   ([`AwsField::column_name`]), typed `int` / `bigint` / `string` as AWS's DDL types them
//!   ([`AwsField::athena_type`]); each is back-quoted (`end` is a reserved word);
//! - text: `ROW FORMAT DELIMITED FIELDS TERMINATED BY ' '` and `"skip.header.line.count"="1"`
//!   (each object starts with its header line). Like AWS's DDL it declares no null format: a `-`
//!   reads as NULL in an `int` / `bigint` column and as the string `-` in a `string` column;
//! - Parquet: `STORED AS PARQUET` (the same SerDe as AWS's long `ParquetHiveSerDe` form);
//! - the default daily layout: `LOCATION 's3://{bucket}/{prefix}/AWSLogs/{account}/vpcflowlogs/{region}/'`,
//!   one `day` partition by partition projection (type `date`, format `yyyy/MM/dd`), and a
//!   `storage.location.template` ending in `${day}`, as AWS's projection example does;
//! - hourly (`{HH}/` after the day): a second partition `hour`, projected as an integer 00-23,
//!   as AWS's Parquet projection example projects its hour;
//! - more than one account or region: the location stops at `AWSLogs/` and the account and the
//!   region become partitions too, enum-projected over the given values, as AWS's multi-account
//!   projection example does. That example names them `accid` and `region` and drops the `region`
//!   column (a partition cannot share a column's name); but text columns are read by position, so
//!   dropping one shifts every later field of a line that carries `region`. Here the partitions
//!   are `accid` and `aws_region`, and every field keeps its column;
//! - Hive-compatible keys (`aws-account-id={id}/aws-service=vpcflowlogs/aws-region={r}/year=/month=/day=[/hour=]`):
//!   AWS's Hive DDL, LOCATION at `AWSLogs/` and the partitions `aws-account-id`, `aws-service`,
//!   `aws-region`, `year`, `month`, `day` (and `hour`). AWS loads them with `MSCK REPAIR TABLE`;
//!   here they are projected instead (accounts, service and regions as enums, the rest as
//!   zero-padded integers), so no repair is needed as new objects arrive.
//!
//! Each value put into the statement is checked first
//! ([`AthenaTable::check`]), so none can break out of its quotes.

use super::aws_flow::FieldList;

/// The body of the stored objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowFileFormat {
    /// Gzipped text lines with a header, AWS's default.
    #[default]
    Text,
    /// AWS's Parquet option.
    Parquet,
}

/// Where in the key the objects' time goes (AWS's S3 options for flow logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AwsLayout {
    /// Hive-compatible prefixes: `aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…/`.
    pub hive: bool,
    /// Hourly partitions: the hour after the day.
    pub hourly: bool,
}

/// What `create_table` needs to know about the table and the stored flow logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaTable {
    /// Table name: lowercase letters, digits and `_`.
    pub table: String,
    pub fields: FieldList,
    pub file_format: FlowFileFormat,
    pub layout: AwsLayout,
    /// The bucket the flow logs are in.
    pub bucket: String,
    /// The key prefix before `AWSLogs/`, without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// The accounts in the keys (at least one).
    pub accounts: Vec<String>,
    /// The regions in the keys (at least one).
    pub regions: Vec<String>,
    /// First day of the projected date range, `yyyy/MM/dd` (the range ends at `NOW`).
    pub since: String,
}

impl AthenaTable {
    /// Every value that goes into the statement, checked: Err is one line naming the value, what
    /// is wrong and what is accepted.
    pub fn check(&self) -> Result<(), String> {
        let table_ok = !self.table.is_empty()
            && self.table.len() <= 255
            && self.table.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !table_ok {
            return Err(format!("table name `{}`: use lowercase letters, digits and `_` (Athena's table names)", self.table));
        }
        check_bucket(&self.bucket)?;
        check_prefix(&self.prefix)?;
        if self.accounts.is_empty() || self.regions.is_empty() {
            return Err("no account or no region given: name at least one of each".into());
        }
        for account in &self.accounts {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("account id `{account}`: an AWS account id is 12 digits"));
            }
        }
        for region in &self.regions {
            if !region_ok(region) {
                return Err(format!("region `{region}`: give an AWS region code such as us-east-1"));
            }
        }
        if !date_ok(&self.since) {
            return Err(format!("start day `{}`: give a day as yyyy/MM/dd, e.g. 2026/01/01", self.since));
        }
        Ok(())
    }

    /// `s3://bucket/prefix/AWSLogs/`, with no double slash when the prefix is empty.
    fn logs_root(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/AWSLogs/", self.bucket)
        } else {
            format!("s3://{}/{}/AWSLogs/", self.bucket, self.prefix)
        }
    }

    /// One account and one region, in the default (non-Hive) layout: both are in the location.
    fn single_folder(&self) -> bool {
        !self.layout.hive && self.accounts.len() == 1 && self.regions.len() == 1
    }

    /// The table's location, ending in `/`.
    fn location(&self) -> String {
        match (self.accounts.as_slice(), self.regions.as_slice()) {
            ([account], [region]) if self.single_folder() => format!("{}{account}/vpcflowlogs/{region}/", self.logs_root()),
            _ => self.logs_root(),
        }
    }

    /// The partition columns, in key order.
    fn partitions(&self) -> Vec<&'static str> {
        let mut names = if self.layout.hive {
            vec!["aws-account-id", "aws-service", "aws-region", "year", "month", "day"]
        } else if self.single_folder() {
            vec!["day"]
        } else {
            vec!["accid", "aws_region", "day"]
        };
        if self.layout.hourly {
            names.push("hour");
        }
        names
    }

    /// Where each partition's value goes below the location: `storage.location.template`.
    fn location_template(&self) -> String {
        let partitions = self.partitions();
        let folders: Vec<String> = if self.layout.hive {
            partitions.iter().map(|name| format!("{name}=${{{name}}}")).collect()
        } else {
            partitions
                .iter()
                .map(|name| match *name {
                    "accid" => "${accid}/vpcflowlogs".to_owned(),
                    other => format!("${{{other}}}"),
                })
                .collect()
        };
        format!("{}{}", self.location(), folders.join("/"))
    }
}

/// `s3://bucket[/prefix]` → (bucket, prefix without surrounding `/`). Err is one line.
pub fn parse_location(text: &str) -> Result<(String, String), String> {
    let Some(rest) = text.strip_prefix("s3://") else {
        return Err(format!("location `{text}`: give the bucket and prefix as s3://bucket/prefix"));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(bucket)?;
    let prefix = prefix.trim_matches('/');
    check_prefix(prefix)?;
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// S3's bucket naming rules, as far as the statement needs them: 3-63 of `a-z 0-9 . -`.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok =
        (3..=63).contains(&bucket.len()) && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok { Ok(()) } else { Err(format!("bucket `{bucket}`: a bucket name is 3-63 lowercase letters, digits, `.` and `-`")) }
}

/// A prefix goes inside quotes and a location template: printable, no quotes, `\`, `$` or space.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = prefix.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'\'' | b'"' | b'\\' | b'$' | b'`'))
        && !prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//");
    if ok { Ok(()) } else { Err(format!("prefix `{prefix}`: use printable characters without quotes, `\\`, `$`, spaces or empty folders")) }
}

fn region_ok(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let letters = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |part: &str| part.len() == 1 && part.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [area, place, number] => area.len() == 2 && letters(area) && letters(place) && digit(number),
        [area, "gov", place, number] => area.len() == 2 && letters(area) && letters(place) && digit(number),
        _ => false,
    }
}

fn date_ok(day: &str) -> bool {
    let parts: Vec<&str> = day.split('/').collect();
    let number = |part: &str, width: usize| part.len() == width && part.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [year, month, day] if number(year, 4) && number(month, 2) && number(day, 2) => {
            let (month, day): (u32, u32) = (month.parse().unwrap_or(0), day.parse().unwrap_or(0));
            (1..=12).contains(&month) && (1..=31).contains(&day)
        }
        _ => false,
    }
}

/// The `CREATE EXTERNAL TABLE` statement for `options` (see the module doc for its form). The
/// options are assumed checked ([`AthenaTable::check`]).
pub fn create_table(options: &AthenaTable) -> String {
    let partitions = options.partitions();
    let mut sql = format!("CREATE EXTERNAL TABLE IF NOT EXISTS `{}` (\n", options.table);
    let columns: Vec<String> =
        options.fields.fields().iter().map(|field| format!("  `{}` {}", field.column_name(), field.athena_type())).collect();
    sql.push_str(&columns.join(",\n"));
    sql.push_str("\n)\n");
    let declared: Vec<String> = partitions.iter().map(|name| format!("`{name}` string")).collect();
    sql.push_str(&format!("PARTITIONED BY ({})\n", declared.join(", ")));
    match options.file_format {
        FlowFileFormat::Text => sql.push_str("ROW FORMAT DELIMITED\nFIELDS TERMINATED BY ' '\n"),
        FlowFileFormat::Parquet => sql.push_str("STORED AS PARQUET\n"),
    }
    sql.push_str(&format!("LOCATION '{}'\n", options.location()));

    let mut properties: Vec<(String, String)> = Vec::new();
    let mut property = |key: &str, value: String| properties.push((key.to_owned(), value));
    if options.file_format == FlowFileFormat::Text {
        property("skip.header.line.count", "1".into());
    }
    property("projection.enabled", "true".into());
    for name in &partitions {
        match *name {
            "accid" | "aws-account-id" => enum_projection(&mut property, name, &options.accounts.join(",")),
            "aws_region" | "aws-region" => enum_projection(&mut property, name, &options.regions.join(",")),
            "aws-service" => enum_projection(&mut property, name, "vpcflowlogs"),
            "year" => {
                let year = options.since.get(..4).unwrap_or("2020");
                property("projection.year.type", "date".into());
                property("projection.year.format", "yyyy".into());
                property("projection.year.range", format!("{year},NOW"));
                property("projection.year.interval", "1".into());
                property("projection.year.interval.unit", "YEARS".into());
            }
            "month" => integer_projection(&mut property, name, "1,12"),
            "day" if options.layout.hive => integer_projection(&mut property, name, "1,31"),
            "day" => {
                property("projection.day.type", "date".into());
                property("projection.day.format", "yyyy/MM/dd".into());
                property("projection.day.range", format!("{},NOW", options.since));
                property("projection.day.interval", "1".into());
                property("projection.day.interval.unit", "DAYS".into());
            }
            _ => integer_projection(&mut property, name, "0,23"),
        }
    }
    property("storage.location.template", options.location_template());

    let rendered: Vec<String> = properties.iter().map(|(key, value)| format!("  \"{key}\"=\"{value}\"")).collect();
    sql.push_str(&format!("TBLPROPERTIES (\n{}\n);\n", rendered.join(",\n")));
    sql
}

fn enum_projection(property: &mut impl FnMut(&str, String), name: &str, values: &str) {
    property(&format!("projection.{name}.type"), "enum".into());
    property(&format!("projection.{name}.values"), values.into());
}

/// A zero-padded two-digit integer partition (`01`..`31`, `00`..`23`), as the keys write them.
fn integer_projection(property: &mut impl FnMut(&str, String), name: &str, range: &str) {
    property(&format!("projection.{name}.type"), "integer".into());
    property(&format!("projection.{name}.range"), range.into());
    property(&format!("projection.{name}.digits"), "2".into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::aws_flow::AwsField;

    fn table(file_format: FlowFileFormat, hive: bool, hourly: bool) -> AthenaTable {
        AthenaTable {
            table: "vpc_flow_logs".into(),
            fields: FieldList::v5_all(),
            file_format,
            layout: AwsLayout { hive, hourly },
            bucket: "flow-bucket".into(),
            prefix: "netchaos/run1".into(),
            accounts: vec!["123456789012".into()],
            regions: vec!["us-east-1".into()],
            since: "2026/01/01".into(),
        }
    }

    #[test]
    fn daily_text_is_awss_form() {
        let options = table(FlowFileFormat::Text, false, false);
        assert_eq!(options.check(), Ok(()));
        let sql = create_table(&options);
        assert!(
            sql.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `vpc_flow_logs` (\n  `version` int,\n  `account_id` string,\n"),
            "{sql}"
        );
        for expected in [
            "  `protocol` bigint,\n",
            "  `end` bigint,\n",
            "  `traffic_path` int\n)\n",
            "PARTITIONED BY (`day` string)\n",
            "ROW FORMAT DELIMITED\nFIELDS TERMINATED BY ' '\n",
            "LOCATION 's3://flow-bucket/netchaos/run1/AWSLogs/123456789012/vpcflowlogs/us-east-1/'\n",
            "\"skip.header.line.count\"=\"1\"",
            "\"projection.enabled\"=\"true\"",
            "\"projection.day.type\"=\"date\"",
            "\"projection.day.format\"=\"yyyy/MM/dd\"",
            "\"projection.day.range\"=\"2026/01/01,NOW\"",
            "\"storage.location.template\"=\"s3://flow-bucket/netchaos/run1/AWSLogs/123456789012/vpcflowlogs/us-east-1/${day}\"",
        ] {
            assert!(sql.contains(expected), "missing {expected:?} in\n{sql}");
        }
        assert!(sql.ends_with("\n);\n"));
        assert!(!sql.contains("PARQUET") && !sql.contains("hour"));
    }

    #[test]
    fn columns_are_the_fields_in_order_with_awss_types() {
        let sql = create_table(&table(FlowFileFormat::Text, false, false));
        let body = sql.split_once("(\n").unwrap().1.split_once("\n)\n").unwrap().0;
        let columns: Vec<&str> = body.lines().map(|line| line.trim().trim_end_matches(',')).collect();
        let expected: Vec<String> =
            AwsField::ALL.iter().map(|field| format!("`{}` {}", field.column_name(), field.athena_type())).collect();
        assert_eq!(columns, expected);
        let custom = AthenaTable { fields: FieldList::parse("dstport,srcaddr").unwrap(), ..table(FlowFileFormat::Text, false, false) };
        assert!(create_table(&custom).contains("(\n  `dstport` int,\n  `srcaddr` string\n)\n"));
    }

    #[test]
    fn hourly_adds_an_hour_partition() {
        let sql = create_table(&table(FlowFileFormat::Text, false, true));
        assert!(sql.contains("PARTITIONED BY (`day` string, `hour` string)\n"), "{sql}");
        assert!(sql.contains("\"projection.hour.type\"=\"integer\""));
        assert!(sql.contains("\"projection.hour.range\"=\"0,23\""));
        assert!(sql.contains("\"projection.hour.digits\"=\"2\""));
        assert!(sql.contains("/vpcflowlogs/us-east-1/${day}/${hour}\""), "{sql}");
    }

    #[test]
    fn hive_is_awss_partitions_projected() {
        let sql = create_table(&table(FlowFileFormat::Parquet, true, true));
        assert!(
            sql.contains(
                "PARTITIONED BY (`aws-account-id` string, `aws-service` string, `aws-region` string, `year` string, `month` string, `day` string, `hour` string)\n"
            ),
            "{sql}"
        );
        assert!(sql.contains("STORED AS PARQUET\n") && !sql.contains("DELIMITED") && !sql.contains("skip.header"), "{sql}");
        assert!(sql.contains("LOCATION 's3://flow-bucket/netchaos/run1/AWSLogs/'\n"), "{sql}");
        let template = "s3://flow-bucket/netchaos/run1/AWSLogs/aws-account-id=${aws-account-id}/aws-service=${aws-service}/\
                        aws-region=${aws-region}/year=${year}/month=${month}/day=${day}/hour=${hour}";
        assert!(sql.contains(&format!("\"storage.location.template\"=\"{template}\"")), "{sql}");
        assert!(sql.contains("\"projection.aws-account-id.values\"=\"123456789012\""));
        assert!(sql.contains("\"projection.aws-service.values\"=\"vpcflowlogs\""));
        assert!(sql.contains("\"projection.year.range\"=\"2026,NOW\""));
        assert!(sql.contains("\"projection.month.range\"=\"1,12\"") && sql.contains("\"projection.day.range\"=\"1,31\""));
        // AWS's Hive DDL keeps the `region` column: its partition is `aws-region`.
        assert!(sql.contains("  `region` string,\n"));
        let daily = create_table(&table(FlowFileFormat::Text, true, false));
        assert!(daily.contains("`day` string)\n") && !daily.contains("hour"), "{daily}");
    }

    #[test]
    fn several_accounts_and_regions_become_partitions() {
        let options = AthenaTable {
            accounts: vec!["123456789012".into(), "210987654321".into()],
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            ..table(FlowFileFormat::Text, false, true)
        };
        assert_eq!(options.check(), Ok(()));
        let sql = create_table(&options);
        assert!(sql.contains("PARTITIONED BY (`accid` string, `aws_region` string, `day` string, `hour` string)\n"), "{sql}");
        assert!(sql.contains("LOCATION 's3://flow-bucket/netchaos/run1/AWSLogs/'\n"), "{sql}");
        assert!(sql.contains("\"projection.accid.values\"=\"123456789012,210987654321\""));
        assert!(sql.contains("\"projection.aws_region.values\"=\"us-east-1,eu-west-1\""));
        assert!(
            sql.contains(
                "\"storage.location.template\"=\"s3://flow-bucket/netchaos/run1/AWSLogs/${accid}/vpcflowlogs/${aws_region}/${day}/${hour}\""
            ),
            "{sql}"
        );
        // Every field keeps its column, in position: text columns are read by position.
        assert!(sql.contains("  `pkt_dstaddr` string,\n  `region` string,\n  `az_id` string,\n"), "{sql}");
    }

    #[test]
    fn an_empty_prefix_leaves_no_double_slash() {
        let options = AthenaTable { prefix: String::new(), ..table(FlowFileFormat::Text, false, false) };
        assert!(create_table(&options).contains("LOCATION 's3://flow-bucket/AWSLogs/123456789012/vpcflowlogs/us-east-1/'"));
    }

    #[test]
    fn locations_parse_and_bad_values_are_refused() {
        assert_eq!(parse_location("s3://my-bucket"), Ok(("my-bucket".into(), String::new())));
        assert_eq!(parse_location("s3://my-bucket/a/b/"), Ok(("my-bucket".into(), "a/b".into())));
        for bad in ["my-bucket/p", "s3://UPPER/p", "s3://b/p", "s3://bucket/it's", "s3://bucket/a//b", "s3://bucket/${x}"] {
            let error = parse_location(bad).unwrap_err();
            assert!(!error.contains('\n') && error.contains('`'), "{bad}: {error}");
        }
        let good = table(FlowFileFormat::Text, false, false);
        let cases = [
            AthenaTable { table: "Flow-Logs".into(), ..good.clone() },
            AthenaTable { accounts: vec!["12345".into()], ..good.clone() },
            AthenaTable { accounts: Vec::new(), ..good.clone() },
            AthenaTable { regions: vec!["us-east-1".into(), "us-east".into()], ..good.clone() },
            AthenaTable { regions: vec!["us-east-1'".into()], ..good.clone() },
            AthenaTable { since: "2026-01-01".into(), ..good.clone() },
            AthenaTable { since: "2026/13/01".into(), ..good.clone() },
        ];
        for case in cases {
            assert!(case.check().is_err(), "{case:?}");
        }
        assert_eq!(AthenaTable { regions: vec!["us-gov-west-1".into()], ..good }.check(), Ok(()));
    }
}
