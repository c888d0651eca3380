//! End to end through the binary: `netchaos run`, `netchaos sink --from`, `netchaos verify`.
//! Nothing lost, nothing duplicated, bad input in the DLQ with its reason, memory bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::cli::{
    bad_input_catalogue, netchaos, number, object_files, run_ok, sample, scrape, stored_lines, summary, valid_record, verify,
};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn run_lands_every_record_exactly_once() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let output = run_ok(
        netchaos()
            .args(["run", "--count", "200000", "--eps", "0", "--seed", "1", "--max-records", "30000", "--json"])
            .arg("--store")
            .arg(&store),
    );
    let audit = &summary(&output)["verify"];
    assert_eq!(
        (number(audit, "expected"), number(audit, "lost"), number(audit, "duplicated")),
        (200_000, 0, 0),
        "the summary includes the audit: {audit}"
    );

    let (report, code) = verify(&store, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(number(&report, "expected"), 200_000);
    assert_eq!(number(&report, "landed"), 200_000);
    assert_eq!(number(&report, "lost"), 0);
    assert_eq!(number(&report, "duplicated"), 0);
    assert_eq!(stored_lines(&store, "data").len(), 200_000);

    // The same seed into the same store would be skipped as already stored: refused instead.
    let again = netchaos().args(["run", "--count", "1000", "--eps", "0", "--seed", "1"]).arg("--store").arg(&store).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds run"));
}

#[test]
fn run_stopped_with_ctrl_c_loses_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let mut child = netchaos()
        .args(["run", "--eps", "40000", "--duration", "60s", "--seed", "2", "--quiet", "--max-age", "500ms"])
        .arg("--store")
        .arg(&store)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C is a clean stop");
    assert!(started.elapsed() < Duration::from_secs(20), "stopping took {:?}", started.elapsed());

    let (report, code) = verify(&store, &[]);
    assert_eq!(code, Some(0), "{report}");
    let landed = number(&report, "landed");
    assert!(landed > 20_000, "ran 2.5 s at 40k/s, landed {landed}");
    assert_eq!(number(&report, "lost"), 0);
    assert_eq!(number(&report, "duplicated"), 0);
    let manifests = stored_lines(&store, "manifests").join("\n");
    assert!(manifests.contains("\"complete\": false"), "the manifest says the run was cut short");
}

/// One valid record of the generator's, to mutate.

#[test]
fn sink_routes_the_bad_input_catalogue_to_the_dlq_while_valid_neighbours_land() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let input = directory.path().join("mixed.jsonl");
    let manifest = directory.path().join("manifest.json");
    run_ok(
        netchaos()
            .args(["generate", "--count", "2000", "--seed", "4", "--eps", "0", "--quiet"])
            .arg("--output")
            .arg(&input)
            .arg("--manifest")
            .arg(&manifest),
    );

    let good = valid_record();
    let catalogue = bad_input_catalogue(&good);
    // Interleave: the bad lines go between valid ones.
    let valid = std::fs::read(&input).unwrap();
    let valid_lines: Vec<&[u8]> = valid.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
    let mut mixed = Vec::new();
    for (index, line) in valid_lines.iter().enumerate() {
        mixed.extend_from_slice(line);
        mixed.push(b'\n');
        if let Some((_, bad)) = catalogue.get(index) {
            mixed.extend_from_slice(bad);
            mixed.push(b'\n');
        }
    }
    std::fs::write(&input, &mixed).unwrap();

    run_ok(netchaos().args(["sink", "--from"]).arg(&input).arg("--store").arg(&store));
    let dlq: Vec<serde_json::Value> = stored_lines(&store, "dlq").iter().map(|line| serde_json::from_str(line).unwrap()).collect();
    let mut reasons: Vec<String> = dlq.iter().map(|entry| entry["reason"].as_str().unwrap().to_owned()).collect();
    reasons.sort();
    let mut expected: Vec<String> = catalogue.iter().map(|(reason, _)| (*reason).to_owned()).collect();
    expected.sort();
    assert_eq!(reasons, expected);
    for entry in &dlq {
        assert!(entry["offset"].is_u64() && entry["partition"] == 0, "{entry}");
        assert!(entry["raw"].is_string() || entry["raw_base64"].is_string(), "the raw record is kept: {entry}");
    }
    assert_eq!(stored_lines(&store, "data").len(), 2_000, "every valid neighbour landed");

    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(number(&report, "lost"), 0);
    assert_eq!(number(&report, "duplicated"), 0);

    // A second pass over the same input writes nothing twice.
    run_ok(netchaos().args(["sink", "--from"]).arg(&input).arg("--store").arg(&store));
    assert_eq!(stored_lines(&store, "data").len(), 2_000);
    assert_eq!(stored_lines(&store, "dlq").len(), catalogue.len());
}

#[test]
fn sink_reads_stdin_and_valid_records_land_byte_for_byte() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let input = run_ok(netchaos().args(["generate", "--count", "3000", "--seed", "5", "--eps", "0", "--quiet"])).stdout;
    let mut child = netchaos()
        .args(["sink", "--from", "-", "--quiet", "--compression", "zstd", "--max-records", "1000"])
        .arg("--store")
        .arg(&store)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    assert!(child.wait().unwrap().success());
    let mut landed: Vec<Vec<u8>> = Vec::new();
    for path in object_files(&store.join("data")) {
        assert!(path.to_string_lossy().ends_with(".json.zst"));
        let plain = zstd::decode_all(&std::fs::read(&path).unwrap()[..]).unwrap();
        landed.extend(plain.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(<[u8]>::to_vec));
    }
    let mut expected: Vec<Vec<u8>> = input.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(<[u8]>::to_vec).collect();
    landed.sort();
    expected.sort();
    assert_eq!(landed.len(), 3_000);
    assert!(landed == expected, "stored records differ from the input bytes");
}

/// Peak resident memory of a finished `netchaos run`, read from /proc while it runs.
fn peak_rss_kib(arguments: &[&str], store: &Path) -> u64 {
    let mut child = netchaos().args(arguments).arg("--store").arg(store).stderr(Stdio::null()).spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|line| line.starts_with("VmHWM:"))
        {
            peak = peak.max(line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).unwrap_or(0));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn memory_is_bounded_by_queue_and_buffers_not_by_volume() {
    let directory = tempfile::tempdir().unwrap();
    let settings = ["--eps", "0", "--seed", "6", "--max-bytes", "4MiB", "--queue-chunks", "4", "--quiet"];
    let small: Vec<&str> = ["run", "--count", "300000"].iter().chain(settings.iter()).copied().collect();
    let large: Vec<&str> = ["run", "--count", "1500000"].iter().chain(settings.iter()).copied().collect();
    let small_peak = peak_rss_kib(&small, &directory.path().join("small"));
    let large_peak = peak_rss_kib(&large, &directory.path().join("large"));
    assert!(small_peak > 0 && large_peak > 0);
    // Five times the records, about the same memory: the queue and the buffers bound it.
    assert!(large_peak < small_peak + 64 * 1024, "peak RSS grew with volume: {small_peak} KiB for 300k, {large_peak} KiB for 1.5M");
    assert!(large_peak < 400 * 1024, "peak RSS {large_peak} KiB");
}

#[test]
fn run_serves_the_generator_and_sink_metrics_while_it_runs() {
    let directory = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = netchaos()
        .args(["run", "--duration", "6s", "--eps", "5000", "--max-age", "1s", "--quiet", "--metrics-addr", &format!("127.0.0.1:{port}")])
        .arg("--store")
        .arg(directory.path().join("store"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let exposition = scrape(port);
    assert!(child.try_wait().unwrap().is_none(), "scraped while running");
    let generated = sample(&exposition, "netchaos_generated_records_total{event_type=\"vpc_flow\"}")
        + sample(&exposition, "netchaos_generated_records_total{event_type=\"firewall\"}");
    let delivered = sample(&exposition, "netchaos_delivered_records_total{event_type=\"vpc_flow\"}")
        + sample(&exposition, "netchaos_delivered_records_total{event_type=\"firewall\"}");
    let landed = sample(&exposition, "netchaos_sink_records_valid_total");
    assert!(generated >= delivered && delivered >= landed && landed > 0.0, "{generated} >= {delivered} >= {landed} > 0:\n{exposition}");
    assert!((8_000.0..=30_000.0).contains(&generated), "about 4 s at 5,000/s: {generated}");
    assert_eq!(sample(&exposition, "netchaos_target_rate_records_per_second"), 5000.0);
    assert!(sample(&exposition, "netchaos_sink_batches_total{trigger=\"age\"}") >= 1.0, "{exposition}");
    assert!(exposition.contains("netchaos_build_info{version=") && exposition.contains("command=\"run\""), "{exposition}");
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn a_graceful_stop_of_a_resumed_run_still_covers_what_an_earlier_attempt_stored() {
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let run = || {
        let mut command = netchaos();
        command
            .args(["run", "--eps", "20000", "--duration", "60s", "--seed", "12", "--quiet", "--max-age", "300ms"])
            .arg("--store")
            .arg(&store);
        command.stderr(Stdio::null()).spawn().unwrap()
    };
    let mut first = run();
    std::thread::sleep(Duration::from_millis(3000));
    first.kill().unwrap();
    first.wait().unwrap();
    let stored_before = stored_lines(&store, "data").len();
    assert!(stored_before > 10_000, "the first attempt stored {stored_before}");

    // The rerun regenerates from the start; a Ctrl-C half a second in must not end it before it
    // is back where the first attempt got to, or its manifest would not cover those records.
    let mut second = run();
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-INT", &second.id().to_string()]).status().unwrap().success());
    assert_eq!(second.wait().unwrap().code(), Some(0));
    let (report, code) = verify(&store, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(number(&report, "unexpected"), 0, "{report}");
    assert_eq!(number(&report, "lost"), 0, "{report}");
    assert!(number(&report, "landed") >= stored_before as u64, "{report}");
}
