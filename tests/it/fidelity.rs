//! `netchaos fidelity`: a sample against itself, against a perturbed copy, and two seeds; the AWS
//! text format against the JSON of the same records; the figures against scipy; bad input.

mod inputs;
mod scipy;

use std::path::Path;

use serde_json::Value;

use crate::common::cli::{netchaos, run_ok, stored_lines};
use inputs::{generate, perturbed, read_records, write_aws_gz, write_records};

/// `fidelity --json`: the report.
fn fidelity(reference: &Path, candidate: &Path) -> Value {
    let output = run_ok(netchaos().arg("fidelity").arg("--reference").arg(reference).arg("--candidate").arg(candidate).arg("--json"));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"].as_array().unwrap().iter().find(|row| row["key"] == key).unwrap_or_else(|| panic!("no row `{key}` in {report}"))
}

fn distance(report: &Value, key: &str) -> f64 {
    row(report, key)["distance"].as_f64().unwrap_or_else(|| panic!("row `{key}` has no distance: {}", row(report, key)))
}

/// The rows whose figure is a distance (lower is better), with it.
fn distances(report: &Value) -> Vec<(String, f64)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["better"] == "lower")
        .filter_map(|row| Some((row["key"].as_str()?.to_owned(), row["distance"].as_f64()?)))
        .collect()
}

fn print_distances(label: &str, report: &Value) {
    let figures: Vec<String> = distances(report).iter().map(|(key, d)| format!("{key} {d:.3}")).collect();
    eprintln!("{label}: {}", figures.join(", "));
}

#[test]
fn a_sample_against_itself_scores_zero_on_every_distance() {
    let dir = tempfile::tempdir().unwrap();
    let sample = generate(dir.path(), "a", 1, 6000);
    let report = fidelity(&sample, &sample);
    let all = distances(&report);
    assert!(all.len() >= 19, "{all:?}");
    for (key, d) in &all {
        assert!(d.abs() < 1e-12, "{key}: {d} against itself");
    }
    assert_eq!(distance(&report, "dstport_top10_overlap"), 1.0);
    assert_eq!(report["reference"]["flows"], report["candidate"]["flows"]);
    assert!(report["reference"]["firewall_skipped"].as_u64().unwrap() > 0, "the sample has firewall records, counted as skipped");
}

#[test]
fn a_perturbed_copy_is_far_on_each_distance_it_affects_and_close_on_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let sample = generate(dir.path(), "a", 1, 20_000);
    let copy = dir.path().join("perturbed.jsonl");
    write_records(&copy, &perturbed(&read_records(&sample), 7));
    let report = fidelity(&sample, &copy);
    print_distances("perturbed", &report);
    // Each perturbation against the row's own `far` threshold (stated in the JSON), and the
    // figures those are: ranks 0.50, TVD 0.30, log1p EMD 0.50, a check's share 0.10, ACF 0.40.
    let affected = [
        "srcaddr_rank_emd", // three sources
        "action_tvd",       // every flow REJECT
        "bytes_emd",        // ×3: ln 3 ≈ 1.1 in log1p
        "duration_emd",     // 30 s longer
        "check_dns_udp",    // port 53 now on TCP flows
        "per_minute_acf",   // a spike every ten minutes
        "hurst",            // likewise
    ];
    for key in affected {
        let row = row(&report, key);
        let far = row["far"].as_f64().unwrap();
        assert!(distance(&report, key) > far, "{key}: {} not beyond {far}: {row}", distance(&report, key));
        assert_eq!(row["verdict"], "far", "{row}");
    }
    // Ports 80/443 land on UDP flows by the UDP share of flows (a tenth): no longer close.
    for key in ["check_web_tcp", "check_bytes_per_packet"] {
        let close = row(&report, key)["close"].as_f64().unwrap();
        assert!(distance(&report, key) > close, "{key}: {} not beyond {close}", distance(&report, key));
    }
    // What was not changed stays close: the ports' marginal (shuffled, not changed), protocol,
    // packets, tcp_flags, log_status, the destinations.
    for key in ["dstport_tvd", "srcport_tvd", "protocol_tvd", "packets_emd", "tcp_flags_tvd", "log_status_tvd", "dstaddr_rank_emd"] {
        let close = row(&report, key)["close"].as_f64().unwrap();
        assert!(distance(&report, key) <= close, "{key}: {} above {close}", distance(&report, key));
    }
    assert_eq!(distance(&report, "dstport_top10_overlap"), 1.0, "a shuffle keeps the top ports");
}

#[test]
fn two_seeds_of_netchaos_stay_close() {
    let dir = tempfile::tempdir().unwrap();
    let one = generate(dir.path(), "one", 1, 20_000);
    for seed in [2, 3] {
        let other = generate(dir.path(), &format!("seed{seed}"), seed, 20_000);
        let report = fidelity(&one, &other);
        print_distances(&format!("seeds 1 and {seed}"), &report);
        // NetShare's distributional measures: close (TVD ≤ 0.10, log1p EMD ≤ 0.25, ranks ≤ 0.20).
        for (key, d) in distances(&report) {
            let row = row(&report, &key);
            if key.ends_with("_tvd") || key.ends_with("_emd") || key.starts_with("check_") {
                assert_eq!(row["verdict"], "close", "seeds 1 and {seed}, {key}: {d}: {row}");
            } else {
                // The ACF and Hurst rows, on 111 minutes of counts, are noisy: not far.
                assert_ne!(row["verdict"], "far", "seeds 1 and {seed}, {key}: {d}: {row}");
            }
        }
        assert!(distance(&report, "dstport_top10_overlap") >= 0.7);
    }
}

#[test]
fn the_aws_text_format_reads_as_the_json_of_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let sample = generate(dir.path(), "a", 4, 6000);
    let aws = dir.path().join("export.log.gz");
    write_aws_gz(&aws, &read_records(&sample));
    let report = fidelity(&sample, &aws);
    for (key, d) in distances(&report) {
        assert!(d.abs() < 1e-12, "{key}: {d} between the JSON and the AWS text of the same records");
    }
    assert_eq!(report["reference"]["flows"], report["candidate"]["flows"]);
    assert_eq!(report["candidate"]["firewall_skipped"], 0);
    // Against a perturbed copy in the AWS format, the same figures as the JSON copy.
    let copy = perturbed(&read_records(&sample), 3);
    let (copy_json, copy_aws) = (dir.path().join("copy.jsonl"), dir.path().join("copy.log.gz"));
    write_records(&copy_json, &copy);
    write_aws_gz(&copy_aws, &copy);
    assert_eq!(fidelity(&sample, &copy_json)["rows"], fidelity(&sample, &copy_aws)["rows"]);
}

#[test]
fn a_store_reads_as_the_file_of_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    run_ok(netchaos().args(["run", "--count", "4000", "--eps", "0", "--seed", "5"]).arg("--store").arg(&store));
    let file = dir.path().join("landed.jsonl");
    let lines = stored_lines(&store, "data");
    std::fs::write(&file, lines.iter().map(|line| format!("{line}\n")).collect::<String>()).unwrap();
    let report = fidelity(&store, &file);
    assert!(report["reference"]["flows"].as_u64().unwrap() > 3000, "{}", report["reference"]);
    for (key, d) in distances(&report) {
        assert!(d.abs() < 1e-12, "{key}: {d} between a store and its records");
    }
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    write_records(
        &good,
        &[serde_json::json!({"event_type": "vpc_flow", "srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2", "start": 1, "end": 2})],
    );
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"\x00\x01garbage, not flow logs\n").unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let firewall_only = dir.path().join("firewall.jsonl");
    std::fs::write(&firewall_only, b"{\"event_type\":\"firewall\",\"protocol\":\"TCP\"}\n").unwrap();
    let bad_gzip = dir.path().join("bad.log.gz");
    std::fs::write(&bad_gzip, b"\x1f\x8b\x08\x00not really gzip").unwrap();
    let bad_header = dir.path().join("short-header.log");
    std::fs::write(&bad_header, b"version srcaddr dstaddr\n2 1.2.3.4 5.6.7.8\n").unwrap();
    let bad_field = dir.path().join("bad-field.jsonl");
    std::fs::write(&bad_field, b"{\"event_type\":\"vpc_flow\",\"start\":1,\"end\":2,\"srcport\":70000}\n").unwrap();
    let missing = dir.path().join("missing.jsonl");
    let no_store = format!("file://{}", dir.path().join("no-store").display());
    let cases: [(&str, &str, &str); 8] = [
        ("a missing file", missing.to_str().unwrap(), "there is no file or store"),
        ("garbage", garbage.to_str().unwrap(), "neither netchaos JSON lines nor an AWS flow log"),
        ("an empty file", empty.to_str().unwrap(), "holds no flow records"),
        ("firewall records only", firewall_only.to_str().unwrap(), "only 1 firewall records"),
        ("broken gzip", bad_gzip.to_str().unwrap(), "cannot read"),
        ("an AWS header without the measured fields", bad_header.to_str().unwrap(), "no `srcport` field"),
        ("a field out of range", bad_field.to_str().unwrap(), ":1: not a netchaos flow record"),
        ("a store that does not exist", &no_store, "there is no file or store"),
    ];
    for (what, candidate, expected) in cases {
        let output = netchaos().arg("fidelity").arg("--reference").arg(&good).args(["--candidate", candidate]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: one line, got: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("--candidate"), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}
