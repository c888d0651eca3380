//! Runs of scenarios through the binary: the plan `scenario plan` prints is what a run of the
//! scenario schedules (its episodes file's scheduled rows), a diurnal day follows its curve in
//! each region's local time, and flags given with a scenario override it.

use std::collections::BTreeMap;
use std::path::Path;

use netchaos::generator::profile::{DailyCurve, RateProfile};

use crate::common::cli::netchaos;

fn generate(dir: &Path, arguments: &[&str]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>, serde_json::Value) {
    let output = dir.join("records.jsonl");
    let episodes = dir.join("episodes.jsonl");
    let manifest = dir.join("manifest.json");
    let status = netchaos()
        .args(["generate", "--speed", "max", "--output"])
        .arg(&output)
        .arg("--episodes")
        .arg(&episodes)
        .arg("--manifest")
        .arg(&manifest)
        .args(arguments)
        .status()
        .unwrap();
    assert!(status.success(), "generate {arguments:?}: {status}");
    let lines = |path: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    };
    (lines(&output), lines(&episodes), serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap())
}

#[test]
fn the_plan_is_what_a_run_of_the_scenario_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/incident-drill.yaml");
    let plan = netchaos().args(["scenario", "plan", "--json", file]).output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    // A lower rate than the file's keeps the test short; the timeline does not depend on it.
    let (_, episodes, manifest) = generate(dir.path(), &["--scenario", file, "--eps", "10", "--workers", "2"]);
    assert!(manifest["complete"].as_bool().unwrap());
    assert_eq!(manifest["settings"]["eps"], 10.0, "the flag overrides the file's eps");
    assert_eq!(manifest["settings"]["scenario"]["file"], file);
    let scheduled: Vec<&serde_json::Value> = episodes.iter().filter(|episode| episode.get("scheduled").is_some()).collect();
    let planned = plan["episodes"].as_array().unwrap();
    assert_eq!(planned.len(), 6, "two episodes, three times each");
    assert_eq!(scheduled.len(), planned.len(), "one episodes-file row per planned episode");
    for planned in planned {
        let row = scheduled
            .iter()
            .find(|row| row["scheduled"]["at"] == planned["start"] && row["kind"] == planned["kind"])
            .unwrap_or_else(|| panic!("no episode ran as planned: {planned}"));
        let info = &row["scheduled"];
        for (ours, theirs) in [("duration_ms", "duration_ms"), ("ramp_ms", "ramp_ms"), ("target", "target"), ("intensity", "intensity")] {
            assert_eq!(info[ours], planned[theirs], "{ours} of {planned}");
        }
        assert_eq!(info["occurrence"], planned["occurrence"]);
        assert_eq!(info["line"], planned["origin"]["line"]);
        assert!(row["complete"].as_bool().unwrap(), "{row}");
        assert!(row["records"].as_u64().unwrap() > 0);
        // The episode's records lie inside its planned span (a flow window reaches back up to a minute).
        let start = humantime::parse_rfc3339(row["start"].as_str().unwrap()).unwrap();
        let planned_start = humantime::parse_rfc3339(planned["start"].as_str().unwrap()).unwrap();
        assert!(planned_start.duration_since(start).unwrap_or_default().as_secs() <= 60, "{row} starts before {planned}");
        assert!(row["end"].as_str().unwrap() <= planned["end"].as_str().unwrap(), "{row} ends after {planned}");
    }
}

#[test]
fn a_diurnal_day_follows_its_curve_in_each_regions_local_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("day.yaml");
    std::fs::write(
        &file,
        "name: a quiet day\nstart: 2026-03-02T00:00:00Z\nduration: 24h\nseed: 5\neps: 6\n\
         profile:\n  diurnal: {peak_hour: 14, trough_to_peak: 0.25}\n\
         chaos: {latency_spike_prob: 0, port_scan_prob: 0, data_exfil_prob: 0, conn_reset_prob: 0, beaconing_per_hour: 0, \
         lateral_movement_per_hour: 0, brute_force_per_hour: 0, syn_flood_per_hour: 0, distributed_scan_per_hour: 0, \
         cryptomining_per_hour: 0}\nlookalikes: off\n",
    )
    .unwrap();
    let (records, _, manifest) = generate(dir.path(), &["--scenario", file.to_str().unwrap(), "--workers", "2"]);
    assert_eq!(records.len(), 6 * 86_400, "eps × duration records, however the day moves them");
    assert_eq!(manifest["settings"]["profile"]["daily"]["diurnal"]["peak_hour"], 14.0);
    // Business records per region and UTC hour, by each record's own time. The estate's own
    // records (the internet's refused probes, NODATA) come at their own rates, whatever the
    // business volume, and are left out.
    let mut counts: BTreeMap<String, [f64; 24]> = BTreeMap::new();
    let estate = |record: &serde_json::Value| {
        record["action"] == "REJECT"
            || record["log_status"] == "NODATA"
            || ["deny", "drop"].contains(&record["action"].as_str().unwrap_or(""))
    };
    for record in records.iter().filter(|record| !estate(record)) {
        let (region, seconds) = match record.get("region").and_then(serde_json::Value::as_str) {
            Some(region) => (region.to_owned(), record["end"].as_i64().unwrap()),
            None => {
                let zone = record["availability_zone"].as_str().unwrap();
                let time = humantime::parse_rfc3339(record["timestamp"].as_str().unwrap()).unwrap();
                (zone[..zone.len() - 1].to_owned(), time.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64)
            }
        };
        let hour = ((seconds - 1_772_409_600).clamp(0, 86_399) / 3600) as usize;
        counts.entry(region).or_insert([0.0; 24])[hour] += 1.0;
    }
    let profile = RateProfile { daily: DailyCurve::Diurnal { peak_hour: 14.0, trough_to_peak: 0.25 }, ..RateProfile::default() };
    for (region, offset, peak_utc) in [("us-east-1", -5.0, 19), ("eu-west-1", 0.0, 14), ("us-west-2", -8.0, 22)] {
        let hourly = &counts[region];
        let total: f64 = hourly.iter().sum();
        let curve: Vec<f64> = (0..24).map(|hour| profile.factor(1_772_409_600_000 + hour * 3_600_000 + 1_800_000, offset)).collect();
        let curve_total: f64 = curve.iter().sum();
        // Records come in conversations (two to five at once), so an hour of a small region
        // (~1,500 records at its trough) wanders by several percent: each hour within 20%, and
        // the day within 4% on average.
        let mut total_error = 0.0;
        for hour in 0..24 {
            let expected = total * curve[hour] / curve_total;
            let error = (hourly[hour] - expected).abs() / expected;
            total_error += error;
            assert!(error < 0.2, "{region} at {hour}:00 UTC: {} records, the curve says {expected:.0}", hourly[hour]);
        }
        assert!(total_error / 24.0 < 0.04, "{region}: a mean error of {:.1}% against its curve", total_error / 24.0 * 100.0);
        let peak = (0..24).max_by(|a, b| hourly[*a].total_cmp(&hourly[*b])).unwrap();
        assert!(peak.abs_diff(peak_utc) <= 1, "{region} peaks at {peak}:00 UTC, its 14:00 local is {peak_utc}:00 UTC");
    }
}

#[test]
fn a_broken_scenario_stops_a_run_with_every_mistake_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, "start: 2026-03-02T00:00:00Z\nduration: 1h\neps: 10\nchaos: {port_scan_prob: 2}\ntimeline:\n  episodes:\n    - {kind: beacon, at: +1m, duration: 1m}\n").unwrap();
    let output = netchaos().args(["run", "--scenario"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.yaml:4:") && stderr.contains("broken.yaml:7:"), "both mistakes, with their lines: {stderr}");
    // A host the estate does not have: known only once the estate is laid out.
    std::fs::write(&file, "start: 2026-03-02T00:00:00Z\nduration: 1h\neps: 10\ntimeline:\n  episodes:\n    - {kind: port_scan, at: +1m, duration: 1m, target: {host: 10.99.0.1}}\n").unwrap();
    let output = netchaos().args(["generate", "--scenario"]).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.yaml:6") && stderr.contains("no host has the address 10.99.0.1"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
