//! Issue 17 §3–4 through the binary: `--firewall-layout aws` writes AWS Network Firewall's flow and
//! alert objects, consistent with the VPC flows of the same sessions, and `--format ocsf` writes
//! OCSF 1.1.0 Network Activity that validates against the class's published JSON Schema, as JSON
//! lines (`generate` and the sink) and as Parquet under Security Lake's custom-source layout. The
//! readers are third-party code (`aws_security/readers.py`): Python's gzip and json, jsonschema
//! with schema.ocsf.io's 1.1.0 export (PyPI `ocsf-json-schema`), pyarrow, DuckDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::aws_layout::{assert_verifies, sink_into};
use crate::common::cli::{netchaos, run_ok};
use crate::common::kafka::{brokers, generate_command, serial, unique};

/// Runs one of `aws_security/readers.py`'s readers in the test tools' Python.
fn reader(args: &[&str]) -> Value {
    let python = std::env::var("NETCHAOS_TEST_PYTHON").expect(
        "NETCHAOS_TEST_PYTHON names the test tools' Python with jsonschema, ocsf-json-schema, duckdb and pyarrow (scripts/test sets it up)",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/aws_security/readers.py");
    let output = Command::new(python).arg(script).args(args).output().expect("run the test tools' Python");
    assert!(output.status.success(), "readers.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// `count` generated records (flows, firewall sessions, port scans among them), their manifest.
fn generated(directory: &Path, count: u64, format: &str) -> (PathBuf, Value) {
    let (lines, manifest) = (directory.join(format!("records.{format}")), directory.join(format!("manifest.{format}.json")));
    run_ok(
        netchaos()
            .args(["generate", "--seed", "43", "--count", &count.to_string(), "--eps", "0", "--quiet", "--port-scan-prob", "0.05"])
            .args(["--format", format])
            .arg("--output")
            .arg(&lines)
            .arg("--manifest")
            .arg(&manifest),
    );
    (lines, serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap())
}

/// What the firewall objects must hold, counted from the session records themselves: one
/// `netflow` event per direction that carried packets, one `alert` per stopped session.
fn expected_events(lines: &Path) -> (u64, u64, u64) {
    let (mut sessions, mut netflow, mut alerts) = (0, 0, 0);
    for line in std::fs::read_to_string(lines).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["event_type"] != "firewall" {
            continue;
        }
        sessions += 1;
        netflow += 1 + u64::from(record["packets_received"].as_u64().unwrap() > 0);
        alerts += u64::from(record["action"] != "allow");
    }
    (sessions, netflow, alerts)
}

#[test]
fn firewall_objects_are_network_firewalls_keys_and_eve_lines_consistent_with_the_flows() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 20_000, "json");
    let store = directory.path().join("store");
    sink_into(&lines, &store, &["--layout", "aws", "--firewall-layout", "aws", "--fields", "v5-all"]);
    assert_verifies(&store, &directory.path().join("manifest.json.json"), 20_000);
    let (sessions, netflow, alerts) = expected_events(&lines);
    assert_eq!(manifest["by_event_type"]["firewall"].as_u64(), Some(sessions));
    assert!(sessions > 1_000 && alerts > 0 && netflow > sessions, "a mix worth testing: {sessions} sessions, {alerts} alerts");
    let read = reader(&["firewall", store.to_str().unwrap()]);
    assert_eq!(read["bad_keys"], serde_json::json!([]), "every key is Network Firewall's: {read}");
    assert_eq!(read["bad_lines"], serde_json::json!([]), "every line is an envelope around an EVE event: {read}");
    assert!(read["keys"].as_u64().unwrap() > 2, "{read}");
    assert_eq!(read["dynatrace"], read["keys"], "Dynatrace's S3 log forwarder takes every key as Network Firewall's: {read}");
    assert_eq!((read["netflow"].as_u64(), read["alert"].as_u64()), (Some(netflow), Some(alerts)), "{read}");
    assert_eq!(read["sessions"].as_u64(), Some(sessions), "one flow_id per session: {read}");
    assert_eq!((read["alert_sessions"].as_u64(), read["alerts_without_flow"].as_u64()), (Some(alerts), Some(0)), "{read}");
    // The same conversations in the VPC flow objects: every normal session's client-to-server
    // tuple is a flow record's packet addresses, ports and protocol. (An anomaly kind writes one
    // record per attack connection, the firewall's or a flow, so its sessions are left out.)
    let joined = reader(&["consistency", store.to_str().unwrap(), lines.to_str().unwrap()]);
    let normal = joined["normal"].as_u64().unwrap();
    assert!(normal > 1_000 && normal < sessions, "{joined}");
    assert!(joined["sessions"].as_u64().unwrap() >= normal, "every normal session among the EVE events: {joined}");
    assert_eq!(joined["matched"], joined["sessions"], "every one of them is among the flows: {joined}");
}

fn assert_valid_ocsf(read: &Value, events: u64) {
    assert_eq!(read["events"].as_u64(), Some(events), "{read}");
    assert_eq!(read["invalid"].as_u64(), Some(0), "every event validates against OCSF 1.1.0 Network Activity: {read}");
    assert_eq!(read["rule_breaks"], serde_json::json!([]), "{read}");
    assert_eq!(read["profiles"], serde_json::json!([["cloud", "security_control"]]), "{read}");
    // The validator is a real check: each damaged copy of a valid event fails it.
    assert_eq!((read["damaged_rejected"].as_u64(), read["damaged"].as_u64()), (Some(4), Some(4)), "{read}");
    let activities = read["activities"].as_object().unwrap();
    assert!(activities.contains_key("6") && activities.contains_key("5"), "traffic and refusals both: {read}");
    assert!(read["correlated"].as_u64().unwrap() > 0, "episode ids in metadata.correlation_uid: {read}");
}

#[test]
fn generated_ocsf_validates_against_the_ocsf_1_1_0_network_activity_schema() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 10_000, "ocsf");
    assert_eq!(manifest["records"].as_u64(), Some(10_000), "{manifest}");
    assert_valid_ocsf(&reader(&["ocsf-validate", lines.to_str().unwrap()]), 10_000);
}

#[test]
fn the_sinks_ocsf_objects_validate_and_parquet_lands_under_security_lakes_layout() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, _) = generated(directory.path(), 12_000, "json");
    let manifest = directory.path().join("manifest.json.json");
    let text = directory.path().join("ocsf-json");
    sink_into(&lines, &text, &["--format", "ocsf"]);
    assert_verifies(&text, &manifest, 12_000);
    assert_valid_ocsf(&reader(&["ocsf-validate", text.to_str().unwrap()]), 12_000);
    let parquet = directory.path().join("ocsf-parquet");
    sink_into(&lines, &parquet, &["--format", "ocsf", "--file-format", "parquet"]);
    assert_verifies(&parquet, &manifest, 12_000);
    let read = reader(&["ocsf-parquet", parquet.to_str().unwrap()]);
    assert_eq!(read["bad_keys"], serde_json::json!([]), "every key under ext/{{source}}/region=/accountId=/eventDay=/: {read}");
    assert_eq!(read["rows"].as_u64(), Some(12_000), "pyarrow reads every record once: {read}");
    assert_eq!(read["classes"], serde_json::json!([4001]), "{read}");
    assert_eq!(read["codecs"], serde_json::json!(["GZIP"]), "{read}");
    let columns: Vec<&str> = read["columns"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for column in ["activity_id", "type_uid", "time", "src_endpoint", "dst_endpoint", "traffic", "cloud", "metadata"] {
        assert!(columns.contains(&column), "{column} in {columns:?}");
    }
}

/// Kafka's own console consumer reads `count` messages of `topic` into a file.
fn consume(topic: &str, count: u64, into: &Path) {
    let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stack");
    let output = Command::new(stack)
        .args(["tool", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", &brokers(), "--topic", topic])
        .args(["--from-beginning", "--max-messages", &count.to_string(), "--timeout-ms", "60000"])
        .output()
        .expect("run Kafka's console consumer");
    assert!(output.status.success(), "ConsoleConsumer: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(into, &output.stdout).unwrap();
}

/// `generate --brokers --format ocsf|aws-text`: one event or one flow-log line per message, as
/// Kafka's own console consumer reads them back: the OCSF events validate, the flow lines have
/// AWS's 29 fields.
#[test]
fn generate_writes_ocsf_and_aws_text_to_kafka() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let topic = unique("ocsf");
    let manifest = directory.path().join("ocsf.json");
    run_ok(generate_command(&topic, 23, 3_000, 0, &manifest).args(["--format", "ocsf", "--port-scan-prob", "0.05"]));
    let events = directory.path().join("ocsf.jsonl");
    consume(&topic, 3_000, &events);
    assert_valid_ocsf(&reader(&["ocsf-validate", events.to_str().unwrap()]), 3_000);
    let topic = unique("flowtext");
    let manifest = directory.path().join("text.json");
    run_ok(generate_command(&topic, 23, 3_000, 0, &manifest).args(["--format", "aws-text"]));
    let flows = serde_json::from_slice::<Value>(&std::fs::read(&manifest).unwrap()).unwrap()["by_event_type"]["vpc_flow"].as_u64().unwrap();
    let lines = directory.path().join("flows.log");
    consume(&topic, flows, &lines);
    let text = std::fs::read_to_string(&lines).unwrap();
    assert_eq!(text.lines().count() as u64, flows, "one flow line per message, no header");
    assert!(text.lines().all(|line| line.split(' ').count() == 29 && !line.starts_with("version")), "{}", &text[..300.min(text.len())]);
}
