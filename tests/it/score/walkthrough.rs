//! The README's walk-through, end to end: a short scenario (`scenarios/detectors-walkthrough.yaml`,
//! three logical hours with six kinds overt and subtle and the look-alikes) → `netchaos run` → the
//! reference detector pack (`examples/detectors/run.py`, DuckDB SQL over the store) → `netchaos
//! score`. Plain SOC rules catch the overt forms, miss the subtle ones (made to stay under such
//! rules' thresholds) and fire on the benign look-alikes (made to resemble attacks).
//!
//! The detectors run on the test tools' Python (`NETCHAOS_TEST_PYTHON`, with `duckdb` from
//! scripts/test-requirements.txt); the test fails without it and installs nothing itself.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::soc::group;
use crate::common::cli::{netchaos, run_ok, summary};

const SCENARIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/detectors-walkthrough.yaml");
const DETECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/detectors/run.py");

/// Runs the detector pack over `store` into `alerts`, and returns what it said on stderr.
fn run_detectors(store: &Path, alerts: &Path) -> String {
    let python = std::env::var("NETCHAOS_TEST_PYTHON")
        .expect("NETCHAOS_TEST_PYTHON names the test tools' Python with duckdb (scripts/test sets it up)");
    let output = Command::new(&python)
        .arg(DETECTORS)
        .arg("--store")
        .arg(store)
        .arg("--out")
        .arg(alerts)
        .args(["--no-install", "--threads", "2"])
        .env("NETCHAOS_DETECTORS_PYTHON", &python)
        .output()
        .expect("run the test tools' Python");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the detectors failed: {stderr}");
    stderr
}

/// Episodes and detected episodes over the groups `KIND/difficulty`.
fn detected(report: &Value, difficulty: &str) -> (u64, u64) {
    let suffix = format!("/{difficulty}");
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|group| group["group"].as_str().is_some_and(|name| name.ends_with(&suffix)))
        .map(|group| (group["soc"]["episodes"].as_u64().unwrap(), group["soc"]["detected"].as_u64().unwrap()))
        .fold((0, 0), |(episodes, found), (more, more_found)| (episodes + more, found + more_found))
}

#[test]
fn reference_detectors_catch_overt_episodes_miss_subtle_ones_and_fire_on_lookalikes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let alerts = dir.path().join("alerts.jsonl");
    run_ok(netchaos().args(["run", "--scenario", SCENARIO, "--speed", "max", "--quiet"]).arg("--store").arg(&store));
    let said = run_detectors(&store, &alerts);
    println!("{said}");

    let score = |extra: &[&str]| run_ok(netchaos().arg("score").arg("--store").arg(&store).arg("--alerts").arg(&alerts).args(extra));
    // The table a user sees, for the test log.
    println!("{}", String::from_utf8_lossy(&score(&[]).stdout));
    let report = summary(&score(&["--json"]));

    // Every rule's kind is scored, each once overt and once subtle.
    for kind in ["port_scan", "distributed_scan", "data_exfiltration", "brute_force", "lateral_movement", "beaconing"] {
        for difficulty in ["overt", "subtle"] {
            assert_eq!(group(&report, &format!("{kind}/{difficulty}"))["soc"]["episodes"], 1, "{kind}/{difficulty}");
        }
    }
    let (overt, overt_found) = detected(&report, "overt");
    let (subtle, subtle_found) = detected(&report, "subtle");
    println!("overt episodes detected {overt_found}/{overt}, subtle {subtle_found}/{subtle}");
    // High recall on the overt forms: at least 5 of the 6 (each rule catches its kind's).
    assert!(overt == 6 && overt_found >= 5, "overt recall {overt_found}/{overt}: {report}");
    // The subtle forms stay under these rules' thresholds: at most 2 of 6, and below the overt.
    assert!(subtle == 6 && subtle_found <= 2 && subtle_found < overt_found, "subtle recall {subtle_found}/{subtle}: {report}");

    let overall = &group(&report, "overall")["soc"];
    // The look-alikes draw false positives: the vulnerability scanner's sweep trips the REJECT
    // burst rule, the load balancer's health checks the beacon rule.
    assert!(overall["lookalike_alerts"].as_u64().unwrap() > 0, "no look-alike alerts: {overall}");
    assert!(group(&report, "port_scan")["soc"]["lookalike_alerts"].as_u64().unwrap() > 0, "{report}");
    assert!(group(&report, "beaconing")["soc"]["lookalike_alerts"].as_u64().unwrap() > 0, "{report}");
    // Most alerts are true ones (the distributed scan's sources each raise one), yet not all.
    let precision = overall["precision"].as_f64().unwrap();
    assert!(precision > 0.5 && precision < 1.0, "precision {precision}: {overall}");
}
