//! Issue 11, section 1, through the binary into the real S3 server (and a local store): a
//! failpoint makes a later batch of a partition durable before an earlier one and crashes the
//! process (`overtake:N`); the restart loses nothing and duplicates nothing, in each mode (`sink
//! --from`, `run`, `sink --brokers`). A second failpoint holds a batch back until the next one is
//! waiting for its turn and crashes (`stall:N`): nothing past the held batch may be in the store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::cli::{netchaos, number, object_files, run_ok};
use crate::common::kafka::{assert_exactly_once, brokers, generate_command, s3_server, serial, unique};

/// A fresh `s3://` prefix on the stack's S3 server.
struct S3Store {
    url: String,
    endpoint: String,
}

impl S3Store {
    fn new() -> Self {
        let (endpoint, bucket) = s3_server();
        S3Store { url: format!("s3://{bucket}/{}", unique("o")), endpoint }
    }

    fn args<'a>(&'a self, command: &'a mut Command) -> &'a mut Command {
        command.args(["--store", &self.url, "--s3-endpoint", &self.endpoint])
    }

    fn verify(&self, manifest: Option<&Path>) -> (serde_json::Value, Option<i32>) {
        let mut command = netchaos();
        self.args(command.args(["verify", "--json"]));
        if let Some(manifest) = manifest {
            command.arg("--manifest").arg(manifest);
        }
        let output = command.output().unwrap();
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("verify printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stderr)));
        (report, output.status.code())
    }
}

/// Runs a command that must crash at its failpoint: killed by SIGABRT, saying why.
fn crashes_at(command: &mut Command, failpoint: &str) -> String {
    let output: Output = command.env("NETCHAOS_FAILPOINT", failpoint).stdout(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), None, "killed by its failpoint, not exited: {stderr}");
    let moment =
        if failpoint.starts_with("stall") { "a later batch waiting for its turn" } else { "a later batch stored before an earlier one" };
    assert!(stderr.contains(moment), "{stderr}");
    stderr
}

/// `count` records of a seeded generator in a file, and its manifest.
fn generated_file(directory: &Path, name: &str, seed: u64, count: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let (file, manifest) = (directory.join(format!("{name}.jsonl")), directory.join(format!("{name}.json")));
    let output = run_ok(
        netchaos()
            .args(["generate", "--eps", "0", "--workers", "2", "--seed", &seed.to_string(), "--count", &count.to_string()])
            .args(["--start-time", "2026-01-01T00:00:00Z"])
            .arg("--manifest")
            .arg(&manifest),
    );
    std::fs::write(&file, output.stdout).unwrap();
    (file, manifest)
}

/// The `(first, last)` ranges of a local store's data objects, in offset order.
fn local_ranges(store: &Path) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = object_files(&store.join("data"))
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            let numbers: Vec<u64> = name.split(['-', '.']).filter_map(|part| part.parse().ok()).collect();
            (numbers[1], numbers[2])
        })
        .collect();
    ranges.sort();
    ranges
}

#[test]
fn sink_from_a_file_into_s3_recovers_a_later_batch_stored_before_an_earlier_one() {
    let directory = tempfile::tempdir().unwrap();
    let (file, manifest) = generated_file(directory.path(), "flows", 41, 60_000);
    let store = S3Store::new();
    let sink = |command: &mut Command| {
        store.args(command.arg("sink").arg("--from").arg(&file).args(["--max-records", "5000", "--flushes-in-flight", "2"]));
    };
    let mut crashing = netchaos();
    sink(&mut crashing);
    crashes_at(&mut crashing, "overtake:3");
    let (report, _) = store.verify(Some(&manifest));
    // Batches 0..=2 and 4 are stored; batch 3 (records 15,000..19,999) is not.
    assert_eq!(number(&report, "landed"), 20_000, "{report}");

    let mut rerun = netchaos();
    sink(&mut rerun);
    let output = run_ok(&mut rerun);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not count"), "the restart found the object past the hole: {stderr}");
    let (report, code) = store.verify(Some(&manifest));
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 60_000);
}

#[test]
fn sink_from_a_file_never_shows_a_batch_before_the_one_held_back() {
    let directory = tempfile::tempdir().unwrap();
    let (file, manifest) = generated_file(directory.path(), "flows", 43, 60_000);
    let store = directory.path().join("store");
    let sink = |command: &mut Command| {
        command.arg("sink").arg("--from").arg(&file).arg("--store").arg(&store).args(["--max-records", "5000", "--flushes-in-flight", "4"]);
    };
    let mut crashing = netchaos();
    sink(&mut crashing);
    crashes_at(&mut crashing, "stall:2");
    assert_eq!(local_ranges(&store), vec![(0, 4_999), (5_000, 9_999)], "nothing past the held batch reached the store");

    let mut rerun = netchaos();
    sink(&mut rerun);
    run_ok(&mut rerun);
    let (report, code) = crate::common::cli::verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 60_000);
}

#[test]
fn run_into_s3_recovers_a_later_batch_stored_before_an_earlier_one() {
    let store = S3Store::new();
    let run = |command: &mut Command| {
        store.args(command.args(["run", "--count", "120000", "--eps", "0", "--seed", "7", "--workers", "2", "--quiet"]));
        command.args(["--max-records", "4000", "--flushes-in-flight", "2"]);
    };
    let mut crashing = netchaos();
    run(&mut crashing);
    crashes_at(&mut crashing, "overtake:5");

    let mut rerun = netchaos();
    run(&mut rerun);
    let output = run_ok(&mut rerun);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not count"), "the restart found the object past the hole: {stderr}");
    let (report, code) = store.verify(None);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 120_000);
}

#[test]
fn sink_from_kafka_into_s3_recovers_a_later_batch_stored_before_an_earlier_one() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("manifest.json");
    let topic = unique("overtake");
    let group = unique("overtake-group");
    run_ok(&mut generate_command(&topic, 47, 120_000, 0, &manifest));
    let store = S3Store::new();
    let sink = |command: &mut Command| {
        command.args(["sink", "--brokers", &brokers(), "--topic", &topic, "--group", &group, "--max-age", "1s"]);
        store.args(command.args(["--max-records", "2000", "--flushes-in-flight", "3"]));
    };
    let mut crashing = netchaos();
    sink(&mut crashing);
    crashes_at(crashing.args(["--idle-exit", "20s"]), "overtake:1");

    let mut rerun = netchaos();
    sink(&mut rerun);
    let output = run_ok(rerun.args(["--idle-exit", "5s"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not count"), "the restart found the object past the hole: {stderr}");
    let (report, code) = store.verify(Some(&manifest));
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 120_000);
}
