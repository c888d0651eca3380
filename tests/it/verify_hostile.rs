//! `netchaos verify` against what a hostile tester tried (issue 11): expected records that exist
//! only in the DLQ, lanes that mean different things, manifests that prove nothing, manifests and
//! objects built to exhaust memory. Each test runs the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{netchaos, run_ok};

/// `generate --count COUNT --seed SEED` into `NAME.jsonl`, its manifest into `NAME.json`.
fn generate(directory: &Path, name: &str, seed: u64, count: u64, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (input, manifest) = (directory.join(format!("{name}.jsonl")), directory.join(format!("{name}.json")));
    run_ok(
        netchaos()
            .args(["generate", "--eps", "0", "--quiet", "--count", &count.to_string(), "--seed", &seed.to_string()])
            .args(extra)
            .arg("--output")
            .arg(&input)
            .arg("--manifest")
            .arg(&manifest),
    );
    (input, manifest)
}

fn sink(input: &Path, store: &Path) {
    run_ok(netchaos().args(["sink", "--quiet", "--from"]).arg(input).arg("--store").arg(store));
}

/// `verify --store STORE --manifest M... FLAGS...`, killed after 60 s (a hang is a failure).
fn verify(store: &Path, manifests: &[&Path], flags: &[&str]) -> Output {
    let mut command = netchaos();
    command.arg("verify").arg("--store").arg(store).args(flags);
    for manifest in manifests {
        command.arg("--manifest").arg(manifest);
    }
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // The child is ours; if it already exited the pid is not reused this fast in a test.
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    });
    let output = child.wait_with_output().unwrap();
    drop(watchdog);
    output
}

fn text(output: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("no JSON report ({error}): {}", text(output)))
}

/// Rewrites `manifest` through `edit`.
fn edit_manifest(manifest: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(manifest, serde_json::to_vec(&value).unwrap()).unwrap();
}

/// A usage error: exit 2 and exactly one line on stderr, containing `needle`.
fn assert_one_line_usage_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", text(output));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("netchaos: error: ") && stderr.contains(needle), "{stderr}");
}

#[test]
fn expected_records_that_sit_only_in_the_dlq_fail_unless_allow_invalid() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (input, manifest) = generate(directory.path(), "run", 11, 500, &[]);
    // Three records made invalid (a port out of range), their event ids kept: the sink rejects
    // them into the DLQ, so the store holds them only as rejects.
    let original = std::fs::read_to_string(&input).unwrap();
    let mut spoiled = String::new();
    for (index, line) in original.lines().enumerate() {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        if [7, 250, 499].contains(&index) {
            let port = if record["event_type"] == "vpc_flow" { "dstport" } else { "dest_port" };
            record[port] = serde_json::json!(70_000);
        }
        spoiled.push_str(&record.to_string());
        spoiled.push('\n');
    }
    std::fs::write(&input, spoiled).unwrap();
    sink(&input, &store);

    let strict = verify(&store, &[&manifest], &[]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict));
    let shown = String::from_utf8_lossy(&strict.stdout);
    assert!(shown.starts_with("verify: FAILED"), "{shown}");
    assert!(shown.contains("3 expected records exist only in the DLQ") && shown.contains("--allow-invalid"), "{shown}");

    let report = json(&verify(&store, &[&manifest], &["--json"]));
    assert_eq!((report["invalid"].as_u64(), report["lost"].as_u64(), report["landed"].as_u64()), (Some(3), Some(0), Some(497)));
    assert_eq!(report["invalid_examples"].as_array().unwrap().len(), 3, "the rejected ids are named: {report}");

    let accepted = verify(&store, &[&manifest], &["--allow-invalid"]);
    assert_eq!(accepted.status.code(), Some(0), "{}", text(&accepted));
}

#[test]
fn lanes_that_mean_different_things_fail_on_the_label_and_type_counts() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    // The same seed (so the same run id) with other settings: lane 2 is a traffic lane in the
    // first run and the port-scan lane in the second. Every id the second manifest names is in
    // the store, once: only the counts per label and type can tell.
    let (input, _first) = generate(directory.path(), "four", 5, 20_000, &["--workers", "4", "--port-scan-prob", "0.05"]);
    let (_, second) = generate(directory.path(), "two", 5, 5_000, &["--workers", "2", "--port-scan-prob", "0.2"]);
    sink(&input, &store);

    let output = verify(&store, &[&second], &["--allow-unexpected"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("0 lost and 0 duplicated of 5000 expected"), "every id is there: {shown}");
    assert!(shown.contains("label port_scan: the manifests say 1000 records, the store holds 0"), "{shown}");
    let report = json(&verify(&store, &[&second], &["--allow-unexpected", "--json"]));
    let mismatches: Vec<&serde_json::Value> =
        report["failures"].as_array().unwrap().iter().filter(|failure| failure["kind"] == "count_mismatch").collect();
    assert!(mismatches.iter().any(|failure| failure["dimension"] == "label" && failure["name"] == "port_scan"), "{report}");
    assert_eq!(report["by_label"]["port_scan"]["expected"], 1000, "{report}");
}

#[test]
fn a_manifest_with_no_lanes_proves_nothing_and_fails() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (input, manifest) = generate(directory.path(), "run", 12, 2_000, &[]);
    sink(&input, &store);
    let empty = directory.path().join("empty.json");
    std::fs::copy(&manifest, &empty).unwrap();
    edit_manifest(&empty, |value| {
        value["lanes"] = serde_json::json!([]);
        value["records"] = serde_json::json!(0);
        for counts in ["by_label", "by_event_type"] {
            for (_, count) in value[counts].as_object_mut().unwrap() {
                *count = serde_json::json!(0);
            }
        }
    });

    let output = verify(&store, &[&empty], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("nothing was proved") && shown.contains("--allow-empty"), "{shown}");
    assert!(shown.contains("2000 records in data objects are named by no manifest") && shown.contains("--allow-unexpected"), "{shown}");
    // One flag waives one check only.
    assert_eq!(verify(&store, &[&empty], &["--allow-empty"]).status.code(), Some(1));
    assert_eq!(verify(&store, &[&empty], &["--allow-unexpected"]).status.code(), Some(1));
    let waived = verify(&store, &[&empty], &["--allow-empty", "--allow-unexpected"]);
    assert_eq!(waived.status.code(), Some(0), "{}", text(&waived));
    // With the right manifest the same store verifies.
    let right = verify(&store, &[&manifest], &[]);
    assert_eq!(right.status.code(), Some(0), "{}", text(&right));
}

#[test]
fn records_of_a_run_no_manifest_names_fail_unless_allow_unexpected() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (first, first_manifest) = generate(directory.path(), "first", 13, 1_000, &[]);
    let (second, second_manifest) = generate(directory.path(), "second", 14, 300, &[]);
    sink(&first, &store);
    sink(&second, &store);
    let output = verify(&store, &[&first_manifest], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("300 records in data objects are named by no manifest"), "{}", text(&output));
    assert_eq!(verify(&store, &[&first_manifest], &["--allow-unexpected"]).status.code(), Some(0));
    assert_eq!(verify(&store, &[&first_manifest, &second_manifest], &[]).status.code(), Some(0));
}

#[test]
fn manifests_out_of_bounds_are_refused_with_one_line_and_exit_2() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (input, manifest) = generate(directory.path(), "run", 15, 100, &[]);
    sink(&input, &store);

    // A lane count that would need an exabyte of bitsets (it aborted on allocation, exit 134).
    let huge_lane = directory.path().join("huge-lane.json");
    std::fs::copy(&manifest, &huge_lane).unwrap();
    edit_manifest(&huge_lane, |value| value["lanes"][0]["records"] = serde_json::json!(u64::MAX / 2));
    assert_one_line_usage_error(&verify(&store, &[&huge_lane], &[]), "records");

    // More lanes than any run has.
    let many_lanes = directory.path().join("many-lanes.json");
    std::fs::copy(&manifest, &many_lanes).unwrap();
    edit_manifest(&many_lanes, |value| {
        let lanes: Vec<serde_json::Value> =
            (0..100_000).map(|worker| serde_json::json!({"worker": worker, "role": "traffic", "records": 1})).collect();
        value["lanes"] = serde_json::Value::Array(lanes);
    });
    assert_one_line_usage_error(&verify(&store, &[&many_lanes], &[]), "lanes");

    // Endless input (it read until memory ran out).
    let started = Instant::now();
    assert_one_line_usage_error(&verify(&store, &[Path::new("/dev/zero")], &[]), "/dev/zero");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());

    // A file larger than any manifest, that JSON alone would not refuse before its end.
    let oversized = directory.path().join("oversized.json");
    let mut file = std::fs::File::create(&oversized).unwrap();
    file.write_all(b"{\"run_id\": \"").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..80 {
        file.write_all(&chunk).unwrap();
    }
    file.write_all(b"\"}").unwrap();
    drop(file);
    assert_one_line_usage_error(&verify(&store, &[&oversized], &[]), "larger than");
}

/// A gzip object whose members all inflate `plain`: `copies × plain.len()` bytes from a few
/// megabytes.
fn gzip_bomb(plain: &[u8], copies: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(plain).unwrap();
    let member = encoder.finish().unwrap();
    member.repeat(copies)
}

/// Peak resident memory (VmHWM) of `command` while it runs, in KiB, and its exit code.
fn peak_rss_kib(command: &mut Command) -> (u64, Option<i32>) {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let started = Instant::now();
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|line| line.starts_with("VmHWM:"))
        {
            peak = peak.max(line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak, status.code());
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("verify ran for more than 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_gzip_bomb_is_reported_and_fails_while_memory_stays_small() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (input, manifest) = generate(directory.path(), "run", 16, 1_000, &[]);
    sink(&input, &store);
    let hour = store.join("data/source=foreign/dt=2026-01-01/hour=00");
    std::fs::create_dir_all(&hour).unwrap();
    // 1 GiB of zeros, one endless line, from about 1 MB; and 1 GiB of one endless line of text.
    let zeros = hour.join("part-00000-00000000000000000000-00000000000000000009.json.gz");
    std::fs::write(&zeros, gzip_bomb(&vec![0; 16 << 20], 64)).unwrap();
    let text_line = hour.join("part-00001-00000000000000000000-00000000000000000009.json.gz");
    std::fs::write(&text_line, gzip_bomb(&vec![b'a'; 16 << 20], 64)).unwrap();

    let mut command = netchaos();
    command.arg("verify").arg("--store").arg(&store).arg("--manifest").arg(&manifest);
    let (peak, code) = peak_rss_kib(&mut command);
    assert!(peak > 0 && peak < 96 * 1024, "peak RSS {peak} KiB");
    assert_eq!(code, Some(1), "an object verify cannot read fails the audit");

    let report = json(&verify(&store, &[&manifest], &["--json"]));
    let damaged: Vec<&str> = report["damaged_objects"].as_array().unwrap().iter().map(|object| object["key"].as_str().unwrap()).collect();
    assert_eq!(damaged.len(), 2, "{report}");
    assert!(damaged.iter().all(|key| key.starts_with("data/source=foreign/")), "{damaged:?}");
    assert!(report["damaged_objects"][0]["reason"].as_str().unwrap().contains("longer than"), "{report}");
    assert_eq!(report["landed"], 1000, "the real run still verifies: {report}");
}

#[test]
fn keys_under_meta_are_ignored_and_foreign_keys_under_data_fail() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (input, manifest) = generate(directory.path(), "run", 17, 400, &[]);
    sink(&input, &store);
    // Metadata objects, even ones shaped like data objects, are not audited.
    let meta = store.join("meta/data/source=x/dt=2026-01-01/hour=00");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(meta.join("part-00000-00000000000000000000-00000000000000000009.json"), b"{\"event_id\":\"x\"}\n").unwrap();
    std::fs::write(store.join("meta/epochs.json"), b"not json at all").unwrap();
    let clean = verify(&store, &[&manifest], &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));

    // An object under data/ that is no netchaos object may hold records: reported, and a failure.
    std::fs::write(store.join("data/stray.json.gz"), b"anything").unwrap();
    let output = verify(&store, &[&manifest], &["--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report = json(&output);
    assert_eq!(report["damaged_objects"][0]["key"], "data/stray.json.gz", "{report}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("data/stray.json.gz"), "{}", text(&output));
}

#[test]
fn verify_help_documents_the_exit_codes_and_the_waivers() {
    let output = run_ok(netchaos().args(["verify", "--help"]));
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in ["Exit codes", "0 ", "1 ", "2 ", "--allow-invalid", "--allow-empty", "--allow-unexpected"] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
}
