//! The logical clock through the binary: the same records at any speed, shards that together are
//! one instance's stream (and audit exactly with `verify`), and bursts whose Hurst parameter a
//! reference implementation (PyPI's `nolds`, in the test tools' virtual environment) measures as
//! the flag asked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use netchaos::generator::hurst::aggregated_variance;

use crate::common::cli::netchaos;

/// Runs `generate` with `arguments` into `dir/NAME.jsonl`, its manifest and episodes beside it;
/// returns the records and the episodes.
fn generate(dir: &Path, name: &str, arguments: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let output = dir.join(format!("{name}.jsonl"));
    let episodes = dir.join(format!("{name}.episodes.jsonl"));
    let manifest = dir.join(format!("{name}.manifest.json"));
    let status = netchaos()
        .args(["generate", "--output"])
        .arg(&output)
        .arg("--episodes")
        .arg(&episodes)
        .arg("--manifest")
        .arg(&manifest)
        .args(arguments)
        .status()
        .expect("run netchaos");
    assert!(status.success(), "generate {arguments:?}: {status}");
    (std::fs::read(&output).unwrap(), std::fs::read(&episodes).unwrap())
}

const SHAPED: [&str; 12] =
    ["--seed", "11", "--start-time", "2026-03-02T08:00:00Z", "--eps", "1500", "--duration", "3s", "--hurst", "0.8", "--workers", "3"];

/// Three seconds with everything a scenario shapes: a daily curve, bursts, two phases (the second
/// at twice the rate, with its own chaos) and scheduled episodes, one repeated.
const SCENARIO: &str = "name: three busy seconds
start: 2026-03-02T08:00:00Z
duration: 3s
seed: 13
eps: 1200
profile:
  diurnal: {peak_hour: 9, trough_to_peak: 0.3}
  bursts: {hurst: 0.8}
chaos: {port_scan_prob: 0.02}
timeline:
  phases:
    - name: calm
      duration: 1500ms
    - name: storm
      rate: 2x
      chaos: {conn_reset_prob: 0.05}
  episodes:
    - kind: port_scan
      at: +200ms
      duration: 1s
      target: {service: ssh}
    - kind: latency_spike
      at: +1s
      duration: 500ms
      repeat: {every: 700ms, count: 3}
";

#[test]
fn the_same_run_at_speeds_1_10_and_max_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let chaos = ["--port-scan-prob", "0.02", "--latency-spike-prob", "0.05"];
    let run = |speed: &str| {
        let arguments: Vec<&str> = SHAPED.iter().chain(&chaos).copied().chain(["--speed", speed]).collect();
        generate(dir.path(), &format!("speed-{speed}"), &arguments)
    };
    let started = std::time::Instant::now();
    let real_time = run("1");
    assert!(started.elapsed().as_secs_f64() >= 2.9, "speed 1 runs three logical seconds in three seconds");
    assert_eq!(real_time.0.iter().filter(|byte| **byte == b'\n').count(), 4_500, "eps × duration records, bursts or not");
    for speed in ["10", "max"] {
        let other = run(speed);
        assert!(other.0 == real_time.0, "the records at --speed {speed} differ from --speed 1");
        assert!(other.1 == real_time.1, "the episodes at --speed {speed} differ from --speed 1");
    }
}

#[test]
fn a_scenario_is_byte_identical_at_speeds_1_10_and_max_and_its_shards_are_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("busy.yaml");
    std::fs::write(&file, SCENARIO).unwrap();
    let scenario = file.to_str().unwrap();
    let real_time = generate(dir.path(), "scenario-1", &["--scenario", scenario, "--workers", "3", "--speed", "1"]);
    let episodes = String::from_utf8_lossy(&real_time.1).into_owned();
    assert_eq!(episodes.matches("\"scheduled\"").count(), 4, "the scan and three spikes: {episodes}");
    for speed in ["10", "max"] {
        let other = generate(dir.path(), &format!("scenario-{speed}"), &["--scenario", scenario, "--workers", "3", "--speed", speed]);
        assert!(other.0 == real_time.0, "the records at --speed {speed} differ from --speed 1");
        assert!(other.1 == real_time.1, "the episodes at --speed {speed} differ from --speed 1");
    }
    let mut whole: Vec<&[u8]> = real_time.0.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
    let shards: Vec<(Vec<u8>, Vec<u8>)> = (0..3)
        .map(|shard| {
            let arguments = ["--scenario", scenario, "--workers", "3", "--speed", "max", "--shard", &format!("{shard}/3")];
            generate(dir.path(), &format!("scenario-shard-{shard}"), &arguments)
        })
        .collect();
    let mut joined: Vec<&[u8]> =
        shards.iter().flat_map(|(records, _)| records.split(|byte| *byte == b'\n').filter(|line| !line.is_empty())).collect();
    whole.sort_unstable();
    joined.sort_unstable();
    assert!(joined == whole, "three shards of the scenario emit its records, as a multiset");
}

#[test]
fn three_shards_emit_one_instance_stream_and_their_manifests_audit_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<&str> = SHAPED.iter().copied().chain(["--speed", "max", "--port-scan-prob", "0.03"]).collect();
    let (whole, whole_episodes) = generate(dir.path(), "whole", &base);
    let mut lines_of_shards: Vec<&[u8]> = Vec::new();
    let mut shards = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let arguments: Vec<&str> = base.iter().copied().chain(["--shard", shard]).collect();
        shards.push(generate(dir.path(), &format!("shard-{}", &shard[..1]), &arguments));
    }
    for (records, _) in &shards {
        assert!(!records.is_empty(), "every shard has lanes to run");
        lines_of_shards.extend(records.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()));
    }
    let mut lines_of_whole: Vec<&[u8]> = whole.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
    lines_of_shards.sort_unstable();
    lines_of_whole.sort_unstable();
    assert!(lines_of_shards == lines_of_whole, "the shards' records, as a multiset, are the whole run's");
    let episode_count = |episodes: &[u8]| episodes.iter().filter(|byte| **byte == b'\n').count();
    assert_eq!(shards.iter().map(|(_, episodes)| episode_count(episodes)).sum::<usize>(), episode_count(&whole_episodes));

    // One store holds what the three shards wrote; their three manifests audit it exactly.
    let store = dir.path().join("store");
    for shard in 0..3 {
        let status = netchaos()
            .args(["sink", "--from"])
            .arg(dir.path().join(format!("shard-{shard}.jsonl")))
            .arg("--store")
            .arg(&store)
            .args(["--source", &format!("shard-{shard}")])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let verify = |shards: &[usize]| {
        let mut command = netchaos();
        command.args(["verify", "--store"]).arg(&store);
        for shard in shards {
            command.arg("--manifest").arg(dir.path().join(format!("shard-{shard}.manifest.json")));
        }
        command.output().unwrap()
    };
    let all = verify(&[0, 1, 2]);
    assert!(all.status.success(), "{}", String::from_utf8_lossy(&all.stdout));
    let two = verify(&[0, 1]);
    assert_eq!(two.status.code(), Some(1), "a shard's records without its manifest are unexpected");
}

/// Records per logical second of `records`, by each record's own time (a flow's `end`, a firewall
/// session's `timestamp`), over `seconds` from `start`.
fn per_second(records: &[u8], start: i64, seconds: usize) -> Vec<f64> {
    let mut counts = vec![0.0; seconds];
    for line in records.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
        let record: serde_json::Value = serde_json::from_slice(line).unwrap();
        let second = match record.get("end").and_then(serde_json::Value::as_i64) {
            Some(end) => end,
            None => humantime::parse_rfc3339(record["timestamp"].as_str().unwrap())
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        };
        if let Some(slot) = usize::try_from(second - start).ok().and_then(|index| counts.get_mut(index)) {
            *slot += 1.0;
        }
    }
    counts
}

/// `nolds.hurst_rs` (rescaled range, Anis-Lloyd-Peters corrected) of `series`, run by the test
/// tools' Python.
fn nolds_hurst(series: &[f64]) -> f64 {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with nolds (scripts/test sets it up)");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("series.txt");
    std::fs::write(&file, series.iter().map(|value| format!("{value}\n")).collect::<String>()).unwrap();
    let script = "import sys, nolds, numpy\nprint(nolds.hurst_rs(numpy.loadtxt(sys.argv[1])))";
    let output = Command::new(python).args(["-c", script]).arg(&file).output().expect("run the test tools' Python");
    assert!(output.status.success(), "nolds: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

#[test]
fn bursts_measure_at_the_hurst_parameter_asked_for_by_two_estimators() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_772_438_400; // 2026-03-02T08:00:00Z
    let mut estimates = BTreeMap::new();
    for hurst in ["0.5", "0.85"] {
        let arguments = [
            "--seed",
            "12",
            "--start-time",
            "2026-03-02T08:00:00Z",
            "--eps",
            "20",
            "--duration",
            "6h",
            "--hurst",
            hurst,
            "--speed",
            "max",
            "--workers",
            "2",
            "--latency-spike-prob",
            "0",
            "--port-scan-prob",
            "0",
            "--data-exfil-prob",
            "0",
            "--conn-reset-prob",
            "0",
        ];
        let (records, _) = generate(dir.path(), &format!("hurst-{hurst}"), &arguments);
        let series = per_second(&records, start, 6 * 3600);
        let ours = aggregated_variance(&series, 10).unwrap();
        let reference = nolds_hurst(&series);
        estimates.insert(hurst, (ours, reference));
        eprintln!("--hurst {hurst}: aggregated variance {ours:.3}, nolds R/S {reference:.3}");
    }
    let (bursty, bursty_reference) = estimates["0.85"];
    assert!(bursty >= 0.7 && bursty_reference >= 0.7, "--hurst 0.85: aggregated variance {bursty}, nolds R/S {bursty_reference}");
    let (poisson, poisson_reference) = estimates["0.5"];
    assert!(
        (0.4..=0.6).contains(&poisson) && (0.4..=0.62).contains(&poisson_reference),
        "--hurst 0.5: aggregated variance {poisson}, nolds R/S {poisson_reference}"
    );
}
