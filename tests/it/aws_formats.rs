//! AWS's native formats, read by third-party readers: `generate --format aws-text` read by DuckDB
//! the way AWS's Athena DDL describes the text (space-delimited, a header line, `-` as null, the
//! DDL's column types), the Elastic rule on field counts, and `schema --athena` against the
//! column list of AWS's own DDL.
//!
//! DuckDB runs in the test tools' Python (`NETCHAOS_TEST_PYTHON`, with `duckdb` from
//! scripts/test-requirements.txt); the test fails without it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::cli::{netchaos, run_ok};

/// AWS's column list for flow logs v2-v5 (Athena docs, "vpc-flow-logs-partition-projection" and
/// "vpc-flow-logs-parquet"), copied here so that the test does not read it from netchaos.
const AWS_COLUMNS: [(&str, &str); 29] = [
    ("version", "int"),
    ("account_id", "string"),
    ("interface_id", "string"),
    ("srcaddr", "string"),
    ("dstaddr", "string"),
    ("srcport", "int"),
    ("dstport", "int"),
    ("protocol", "bigint"),
    ("packets", "bigint"),
    ("bytes", "bigint"),
    ("start", "bigint"),
    ("end", "bigint"),
    ("action", "string"),
    ("log_status", "string"),
    ("vpc_id", "string"),
    ("subnet_id", "string"),
    ("instance_id", "string"),
    ("tcp_flags", "int"),
    ("type", "string"),
    ("pkt_srcaddr", "string"),
    ("pkt_dstaddr", "string"),
    ("region", "string"),
    ("az_id", "string"),
    ("sublocation_type", "string"),
    ("sublocation_id", "string"),
    ("pkt_src_aws_service", "string"),
    ("pkt_dst_aws_service", "string"),
    ("flow_direction", "string"),
    ("traffic_path", "int"),
];

/// The same generator run each time: same seed, workers, start and count.
fn generate(dir: &Path, name: &str, format: &[&str]) -> (std::path::PathBuf, Value, String) {
    let output = dir.join(format!("{name}.out"));
    let manifest = dir.join(format!("{name}.manifest.json"));
    let run = run_ok(
        netchaos()
            .args(["generate", "--seed", "11", "--workers", "2", "--count", "3000", "--eps", "0", "--start-time", "1767225600"])
            .args(format)
            .arg("--output")
            .arg(&output)
            .arg("--manifest")
            .arg(&manifest),
    );
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    (output, manifest, String::from_utf8_lossy(&run.stderr).into_owned())
}

/// What DuckDB reads of `path` with `columns` (name, Athena type), in AWS's text form.
fn duckdb_read(path: &Path, columns: &[(&str, &str)]) -> Value {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with duckdb (scripts/test sets it up)");
    // Pairs, not an object: the order is the columns' positions in a line.
    let duck_types: Vec<(&str, &str)> = columns.iter().map(|(name, athena)| (*name, duck_type(athena))).collect();
    let script = r#"
import duckdb, json, sys
path, pairs = sys.argv[1], json.loads(sys.argv[2])
columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in pairs) + "}"
con = duckdb.connect()
con.sql(f"""CREATE TEMP VIEW flows AS SELECT * FROM read_csv('{path}', delim=' ', header=true, nullstr='-',
            columns={columns}, auto_detect=false, strict_mode=true)""")
names = [row[0] for row in con.sql("DESCRIBE flows").fetchall()]
types = [row[1] for row in con.sql("DESCRIBE flows").fetchall()]
def one(sql):
    return con.sql(sql).fetchall()[0][0]
report = {
    "names": names,
    "types": types,
    "rows": one("SELECT count(*) FROM flows"),
    "versions": [row[0] for row in con.sql("SELECT DISTINCT version FROM flows ORDER BY 1").fetchall()],
    "bytes": one("SELECT coalesce(sum(bytes), 0) FROM flows"),
    "packets": one("SELECT coalesce(sum(packets), 0) FROM flows"),
    "dstport": one("SELECT coalesce(sum(dstport), 0) FROM flows"),
    "no_source": one("SELECT count(*) FROM flows WHERE srcaddr IS NULL"),
    "rejected": one("SELECT count(*) FROM flows WHERE action = 'REJECT'"),
    "accounts": [row[0] for row in con.sql("SELECT DISTINCT account_id FROM flows ORDER BY 1").fetchall()],
}
if "tcp_flags" in names:
    report["tcp_flags"] = one("SELECT coalesce(sum(tcp_flags), 0) FROM flows")
    report["no_tcp_flags"] = one("SELECT count(*) FROM flows WHERE tcp_flags IS NULL")
print(json.dumps(report))
"#;
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(path)
        .arg(serde_json::to_string(&duck_types).unwrap())
        .output()
        .expect("run the test tools' Python");
    assert!(output.status.success(), "DuckDB could not read {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// DuckDB's type for an Athena column type.
fn duck_type(athena: &str) -> &'static str {
    match athena {
        "int" => "INTEGER",
        "bigint" => "BIGINT",
        _ => "VARCHAR",
    }
}

/// The same figures, from the netchaos JSON of the same run.
fn json_figures(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let flows: Vec<Value> =
        text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()).filter(|record| record["event_type"] == "vpc_flow").collect();
    let sum = |field: &str| flows.iter().map(|flow| flow[field].as_u64().unwrap_or(0)).sum::<u64>();
    let accounts: BTreeSet<&str> = flows.iter().map(|flow| flow["account_id"].as_str().unwrap()).collect();
    serde_json::json!({
        "rows": flows.len(),
        "bytes": sum("bytes"),
        "packets": sum("packets"),
        "dstport": sum("dstport"),
        "tcp_flags": sum("tcp_flags"),
        "no_source": flows.iter().filter(|flow| flow["srcaddr"].is_null()).count(),
        "no_tcp_flags": flows.iter().filter(|flow| flow["tcp_flags"].is_null()).count(),
        "rejected": flows.iter().filter(|flow| flow["action"] == "REJECT").count(),
        "accounts": accounts,
    })
}

/// The Elastic rule: every line after the header has exactly as many fields as the header.
fn assert_field_counts(text: &str, expected: usize) {
    assert!(!text.contains('\r'), "CR in the output");
    let mut lines = text.split_terminator('\n');
    let header = lines.next().expect("a header line");
    assert_eq!(header.split(' ').count(), expected, "header: {header}");
    let mut records = 0;
    for line in lines {
        assert_eq!(line.split(' ').count(), expected, "line: {line:?}");
        assert!(!line.ends_with(' ') && !line.contains("  ") && !line.is_empty(), "line: {line:?}");
        records += 1;
    }
    assert!(records > 0);
}

#[test]
fn duckdb_reads_aws_text_as_athenas_ddl_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (json, json_manifest, _) = generate(dir.path(), "json", &[]);
    let expected = json_figures(&json);
    let flows = json_manifest["by_event_type"]["vpc_flow"].as_u64().unwrap();
    let firewalls = json_manifest["by_event_type"]["firewall"].as_u64().unwrap();
    assert_eq!(expected["rows"], flows);
    assert!(firewalls > 0, "the run should have firewall records to leave out");

    for (fields, columns, version) in [("v2-default", &AWS_COLUMNS[..14], 2), ("v5-all", &AWS_COLUMNS[..], 5)] {
        let (path, manifest, stderr) = generate(dir.path(), fields, &["--format", "aws-text", "--fields", fields]);
        assert_eq!(manifest["by_event_type"], json_manifest["by_event_type"], "{fields}: the same run");
        assert!(stderr.contains(&format!("{firewalls} firewall records left out")), "{fields}: {stderr}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_field_counts(&text, columns.len());
        let header: Vec<String> = columns.iter().map(|(name, _)| name.replace('_', "-")).collect();
        assert_eq!(text.lines().next().unwrap(), header.join(" "), "{fields}: AWS's hyphenated names");

        let read = duckdb_read(&path, columns);
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        assert_eq!(read["names"], serde_json::json!(names), "{fields}");
        let types: Vec<&str> = columns.iter().map(|(_, athena)| duck_type(athena)).collect();
        assert_eq!(read["types"], serde_json::json!(types), "{fields}");
        // Every flow record, none more: the count is the generator's.
        assert_eq!(read["rows"], flows, "{fields}: DuckDB's count against the manifest's");
        assert_eq!(read["versions"], serde_json::json!([version]), "{fields}: the flow log's version");
        for figure in ["bytes", "packets", "dstport", "no_source", "rejected", "accounts"] {
            assert_eq!(read[figure], expected[figure], "{fields}: {figure}");
        }
        if version == 5 {
            assert_eq!(read["tcp_flags"], expected["tcp_flags"]);
            assert_eq!(read["no_tcp_flags"], expected["no_tcp_flags"]);
        }
    }
}

/// The column lines of a `CREATE TABLE`, as (name, type).
fn ddl_columns(sql: &str) -> Vec<(String, String)> {
    let body = sql.split_once("(\n").unwrap().1.split_once("\n)\n").unwrap().0;
    body.lines()
        .map(|line| {
            let (name, kind) = line.trim().trim_end_matches(',').split_once(' ').unwrap();
            (name.trim_matches('`').to_owned(), kind.to_owned())
        })
        .collect()
}

#[test]
fn schema_athena_names_every_field_with_awss_types_in_order() {
    let output = run_ok(netchaos().args(["schema", "--athena", "--account-id", "123456789012", "--region", "eu-west-1"]));
    let sql = String::from_utf8(output.stdout).unwrap();
    let expected: Vec<(String, String)> = AWS_COLUMNS.iter().map(|(name, kind)| (name.to_string(), kind.to_string())).collect();
    assert_eq!(ddl_columns(&sql), expected, "{sql}");
    assert!(sql.contains("LOCATION 's3://netchaos/AWSLogs/123456789012/vpcflowlogs/eu-west-1/'"), "{sql}");
    assert!(sql.contains("FIELDS TERMINATED BY ' '") && sql.contains("\"skip.header.line.count\"=\"1\""), "{sql}");

    let output = run_ok(netchaos().args(["schema", "--athena", "--seed", "11", "--fields", "v2-default", "--file-format", "parquet"]));
    let sql = String::from_utf8(output.stdout).unwrap();
    assert_eq!(ddl_columns(&sql), expected[..14].to_vec(), "{sql}");
    assert!(sql.contains("STORED AS PARQUET"), "{sql}");
    // `--seed` projects the accounts the generator's estate writes (all of them).
    let dir = tempfile::tempdir().unwrap();
    let (json, _, _) = generate(dir.path(), "json", &[]);
    let accounts = json_figures(&json)["accounts"].clone();
    let projected = sql.split("\"projection.accid.values\"=\"").nth(1).unwrap().split('"').next().unwrap();
    for account in accounts.as_array().unwrap() {
        assert!(projected.split(',').any(|value| value == account.as_str().unwrap()), "{account} not in {projected}");
    }
}

#[test]
fn bad_format_flags_are_one_line_and_exit_2() {
    let cases: [&[&str]; 7] = [
        &["schema", "--athena", "--region", "eu-west-1", "--account-id", "12"],
        &["schema", "--athena", "--region", "nowhere", "--account-id", "123456789012"],
        &["schema", "--athena", "--fields", "version,nonsense", "--seed", "1"],
        &["schema", "--athena", "--location", "http://bucket/p", "--seed", "1"],
        &["schema", "--athena"],
        &["schema", "--hive"],
        &["generate", "--count", "5", "--fields", "version"],
    ];
    for args in cases {
        let output = netchaos().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let output = netchaos().args(["generate", "--count", "5", "--format", "aws-text", "--fields", "srcaddr,srcaddr"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`srcaddr` is given twice"));
}
