//! Issue 17 §1–2 through the binary: `--layout aws` writes what AWS writes, read by third-party
//! readers (DuckDB as Athena's DDL describes the text objects, pyarrow for Parquet, the key
//! patterns of Loki's lambda-promtail and of tailpipe), and keeps exactly once: a sink killed
//! three times mid-run into S3 loses and duplicates nothing, in text and in Parquet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::cli::{netchaos, number, run_ok, verify};
use crate::common::kafka::{Background, assert_exactly_once, generate_command, s3_server, serial, sink_command, unique};

/// Runs one of `aws_layout/readers.py`'s readers in the test tools' Python.
fn reader(args: &[&str]) -> Value {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with duckdb and pyarrow (scripts/test sets it up)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/aws_layout/readers.py");
    let output = Command::new(python).arg(script).args(args).output().expect("run the test tools' Python");
    assert!(output.status.success(), "readers.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// A generated file of `count` records (both kinds, some NODATA) and its manifest.
fn generated(directory: &Path, count: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let (lines, manifest) = (directory.join("records.jsonl"), directory.join("manifest.json"));
    run_ok(
        netchaos()
            .args(["generate", "--seed", "41", "--count", &count.to_string(), "--eps", "0", "--quiet"])
            .arg("--output")
            .arg(&lines)
            .arg("--manifest")
            .arg(&manifest),
    );
    (lines, manifest)
}

fn flows_in(manifest: &Path) -> u64 {
    let manifest: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    manifest["by_event_type"]["vpc_flow"].as_u64().expect("flow count in the manifest")
}

/// `sink --from lines` into a local store with `layout`'s flags, batches of 4,000.
pub(crate) fn sink_into(lines: &Path, store: &Path, layout: &[&str]) {
    run_ok(netchaos().args(["sink", "-q", "--max-records", "4000"]).arg("--from").arg(lines).arg("--store").arg(store).args(layout));
}

/// `verify` passes with every record once, and the store has pieces.
pub(crate) fn assert_verifies(store: &Path, manifest: &Path, expected: u64) {
    let (report, code) = verify(store, &[manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, expected);
    assert!(number(&report, "piece_objects") > 0, "{report}");
}

#[test]
fn duckdb_reads_every_flow_of_the_text_objects_as_athenas_ddl_describes_them() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 30_000);
    let flows = flows_in(&manifest);
    for (fields, width) in [("v5-all", 29), ("v2-default", 14)] {
        let store = directory.path().join(fields);
        sink_into(&lines, &store, &["--layout", "aws", "--fields", fields]);
        assert_verifies(&store, &manifest, 30_000);
        let read = reader(&["text", store.to_str().unwrap()]);
        assert_eq!(read["rows"].as_u64(), Some(flows), "DuckDB reads every flow once: {read}");
        assert_eq!(read["fields"].as_array().unwrap().len(), width, "{read}");
        // The Elastic rule: every line has as many fields as its header (14 or 29).
        assert_eq!((read["token_lines"].as_u64(), read["token_bad"].as_u64()), (Some(flows), Some(0)), "{read}");
        let types = &read["types"];
        assert_eq!(
            (types["version"].as_str(), types["dstport"].as_str(), types["bytes"].as_str()),
            (Some("INTEGER"), Some("INTEGER"), Some("BIGINT")),
            "{read}"
        );
        assert!(read["bytes"].as_u64().unwrap() > 0 && read["files"].as_u64().unwrap() > 1, "{read}");
        if fields == "v5-all" {
            assert_eq!(types["flow-direction"].as_str(), Some("VARCHAR"), "{read}");
        }
        // Every default-layout key matches the readers' published patterns.
        let keys = reader(&["keys", store.to_str().unwrap()]);
        let total = keys["keys"].as_u64().unwrap();
        assert!(total > 0 && keys["loki"].as_u64() == Some(total) && keys["tailpipe"].as_u64() == Some(total), "{keys}");
    }
}

#[test]
fn the_hourly_and_hive_folders_are_what_aws_writes_and_what_loki_refuses() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 5_000);
    let hourly = directory.path().join("hourly");
    sink_into(&lines, &hourly, &["--layout", "aws", "--hourly"]);
    assert_verifies(&hourly, &manifest, 5_000);
    let keys = reader(&["keys", hourly.to_str().unwrap()]);
    assert_eq!(keys["tailpipe"], keys["keys"], "tailpipe reads the hourly folders: {keys}");
    assert_eq!(keys["loki"].as_u64(), Some(0), "lambda-promtail's regex takes no hourly key: {keys}");
    let hive = directory.path().join("hive");
    sink_into(&lines, &hive, &["--layout", "aws", "--hive"]);
    assert_verifies(&hive, &manifest, 5_000);
    let keys = reader(&["keys", hive.to_str().unwrap()]);
    assert_eq!((keys["loki"].as_u64(), keys["tailpipe"].as_u64()), (Some(0), Some(0)), "{keys}");
    let read = reader(&["text", hive.to_str().unwrap()]);
    assert_eq!(read["rows"].as_u64(), Some(flows_in(&manifest)), "{read}");
}

#[test]
fn pyarrow_reads_the_parquet_objects_with_aws_column_types() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 20_000);
    let store = directory.path().join("parquet");
    sink_into(&lines, &store, &["--layout", "aws", "--file-format", "parquet"]);
    assert_verifies(&store, &manifest, 20_000);
    let read = reader(&["parquet", store.to_str().unwrap()]);
    assert_eq!(read["rows"].as_u64(), Some(flows_in(&manifest)), "{read}");
    let types = read["types"].as_object().unwrap();
    assert_eq!(types.len(), 29, "{read}");
    for (name, kind) in types {
        let expected = match name.replace('_', "-").as_str() {
            "version" | "srcport" | "dstport" | "protocol" | "tcp-flags" | "traffic-path" => "int32",
            "packets" | "bytes" | "start" | "end" => "int64",
            _ => "string",
        };
        assert_eq!(kind.as_str(), Some(expected), "{name}: {read}");
    }
    assert_eq!(read["codecs"], serde_json::json!(["GZIP"]), "{read}");
}

/// The moment step 8 of the argument covers: a batch's table and some of its pieces stored, its
/// data object not (the `pieces` failpoint aborts there). `verify` sees the stray pieces; the
/// restarted sink removes them and resumes exactly, and DuckDB then reads every flow once. For
/// text and Parquet flows, and for OCSF.
#[test]
fn a_sink_aborted_between_its_pieces_and_its_data_object_resumes_exactly() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 20_000);
    let layouts: [&[&str]; 3] =
        [&["--layout", "aws"], &["--layout", "aws", "--file-format", "parquet"], &["--format", "ocsf", "--file-format", "parquet"]];
    for (case, layout) in layouts.into_iter().enumerate() {
        let store = directory.path().join(format!("case-{case}"));
        let aborted = netchaos()
            .args(["sink", "-q", "--max-records", "4000"])
            .arg("--from")
            .arg(&lines)
            .arg("--store")
            .arg(&store)
            .args(layout)
            .env("NETCHAOS_FAILPOINT", "pieces:2")
            .output()
            .unwrap();
        assert_eq!(aborted.status.code(), None, "the failpoint aborts the sink: {}", String::from_utf8_lossy(&aborted.stderr));
        assert!(String::from_utf8_lossy(&aborted.stderr).contains("some pieces stored, not the data object"), "{layout:?}");
        let (report, code) = verify(&store, &[&manifest]);
        assert_ne!(code, Some(0), "the stray pieces and the lost batches are reported: {report}");
        assert!(number(&report, "lost") > 0, "{report}");
        sink_into(&lines, &store, layout);
        assert_verifies(&store, &manifest, 20_000);
        if case < 2 {
            let read = reader(&[if case == 0 { "text" } else { "parquet" }, store.to_str().unwrap()]);
            assert_eq!(read["rows"].as_u64(), Some(flows_in(&manifest)), "every flow once after the restart: {read}");
        }
    }
}

/// A sink into S3 in the AWS layout, SIGKILLed three times while a generator feeds Kafka, then
/// left to finish: `verify` finds every record once, and pyarrow's own S3 client reads exactly
/// the flows the manifest counts.
fn killed_three_times(file_format: &str) {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (endpoint, bucket) = s3_server();
    // Short: s3s-fs names an internal file after the base64 of the whole key, so keys there stay
    // under about 190 bytes, and Network Firewall's own keys are 170 (S3 allows 1,024).
    let tag = unique("w");
    let prefix = format!("w{}", &tag[tag.len() - 6..]);
    let store = format!("s3://{bucket}/{prefix}");
    let (topic, group) = (unique("aws"), unique("aws-group"));
    let manifest = directory.path().join("manifest.json");
    run_ok(&mut generate_command(&topic, 19, 0, 0, &directory.path().join("empty.json")));
    let sink = |name: &str| {
        let mut command = sink_command(&topic, &group, Path::new(&store), 20_000);
        // Firewall sessions in netchaos's own layout: Network Firewall's keys (170 bytes) are
        // longer than s3s-fs can store (see above); they are read from a local store in
        // tests/it/aws_security.rs. So this is also the mixed layout.
        command.args(["--s3-endpoint", &endpoint, "--layout", "aws", "--firewall-layout", "netchaos", "--file-format", file_format]);
        Background::spawn(name, &mut command, directory.path())
    };
    let mut state = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let pauses: Vec<u64> = match std::env::var("NETCHAOS_TEST_KILLS") {
        Ok(list) => list.split(',').map(|ms| ms.trim().parse().unwrap()).collect(),
        Err(_) => (0..3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                1_500 + state % 2_000
            })
            .collect(),
    };
    eprintln!("SIGKILL after {pauses:?} ms (NETCHAOS_TEST_KILLS={})", pauses.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
    let mut feed = generate_command(&topic, 19, 400_000, 40_000, &manifest);
    let mut generator = Background::spawn("generate", &mut feed, directory.path());
    let mut current = sink("sink-0");
    for (round, pause_ms) in pauses.into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(pause_ms));
        assert!(generator.child.try_wait().unwrap().is_none(), "records still flow at kill {round}");
        current.child.kill().unwrap();
        current.child.wait().unwrap();
        current = sink(&format!("sink-{}", round + 1));
    }
    generator.wait_success(Duration::from_secs(120));
    let started = std::time::Instant::now();
    let report = loop {
        let (report, _) = verify_s3(&endpoint, &store, &manifest);
        if report["lost"].as_u64() == Some(0) || started.elapsed() > Duration::from_secs(120) {
            break report;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    current.terminate();
    current.wait_success(Duration::from_secs(60));
    let (report_after, code) = verify_s3(&endpoint, &store, &manifest);
    assert_eq!(code, Some(0), "{report_after}\n(before the sink stopped: {report})");
    assert_exactly_once(&report_after, 400_000);
    assert!(flows_in(&manifest) < 400_000, "firewall sessions too, in the other layout");
    let read = reader(&["s3-rows", &endpoint, &bucket, &prefix]);
    assert_eq!(read["rows"].as_u64(), Some(flows_in(&manifest)), "pyarrow reads every flow once from S3: {read}");
}

/// `verify --json` of an S3 store.
fn verify_s3(endpoint: &str, store: &str, manifest: &Path) -> (Value, Option<i32>) {
    let output =
        netchaos().args(["verify", "--json", "--s3-endpoint", endpoint, "--store", store, "--manifest"]).arg(manifest).output().unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("verify printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stderr)));
    (report, output.status.code())
}

#[test]
fn a_sink_killed_three_times_into_s3_with_aws_text_lands_every_record_once() {
    killed_three_times("text");
}

#[test]
fn a_sink_killed_three_times_into_s3_with_aws_parquet_lands_every_record_once() {
    killed_three_times("parquet");
}

/// Hostile layout flags: each is one line on stderr, exit 2, and nothing written.
#[test]
fn bad_layout_flags_are_one_line_and_exit_2() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let store = store.to_str().unwrap();
    let cases: [&[&str]; 9] = [
        &["--format", "ocsf", "--layout", "aws"],
        &["--format", "ocsf", "--firewall-layout", "aws"],
        &["--format", "ocsf", "--hourly"],
        &["--hive"],
        &["--file-format", "parquet"],
        &["--layout", "aws", "--firewall-account-id", "12"],
        &["--layout", "aws", "--fields", "version,bogus"],
        &["--layout", "s3"],
        &["--layout", "aws", "--file-format", "orc"],
    ];
    for flags in cases {
        for command in ["run", "sink"] {
            let mut invocation = netchaos();
            invocation.args([command, "--store", store]).args(flags);
            if command == "sink" {
                invocation.args(["--from", "-"]);
            } else {
                invocation.args(["--count", "10"]);
            }
            let output = invocation.stdin(std::process::Stdio::null()).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{command} {flags:?}: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{command} {flags:?}: {stderr}");
        }
    }
    assert!(!Path::new(store).exists(), "nothing written");
}

/// A source's layout is recorded on its first use: a restart with other layout flags would mix
/// two layouts under one source, so it is refused (one line, exit 2) and stores nothing.
#[test]
fn a_restart_with_other_layout_flags_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let (lines, manifest) = generated(directory.path(), 3_000);
    let store = directory.path().join("store");
    sink_into(&lines, &store, &["--layout", "aws"]);
    let others: [&[&str]; 5] = [
        &["--format", "ocsf"],
        &[],
        &["--layout", "aws", "--fields", "v2-default"],
        &["--layout", "aws", "--file-format", "parquet"],
        &["--layout", "aws", "--hourly"],
    ];
    let before = crate::common::cli::object_files(&store).len();
    for flags in others {
        let output = netchaos().args(["sink", "-q"]).arg("--from").arg(&lines).arg("--store").arg(&store).args(flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.trim_end().lines().count() == 1 && stderr.contains("another layout"), "{flags:?}: {stderr}");
    }
    assert_eq!(crate::common::cli::object_files(&store).len(), before, "nothing stored");
    sink_into(&lines, &store, &["--layout", "aws"]);
    assert_verifies(&store, &manifest, 3_000);
}
