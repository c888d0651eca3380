//! `netchaos scenario validate` and `plan` through the binary: a catalogue of broken files, each
//! mistake named at its line and column (all of them in one run) with exit code 2; the shipped
//! scenarios validate, and their plans say what the files say.

use std::path::{Path, PathBuf};

use crate::common::cli::netchaos;

/// One mistake a file must be refused for: where, and words the message must contain.
struct Expected {
    line: u32,
    column: u32,
    mentions: &'static [&'static str],
}

const fn at(line: u32, column: u32, mentions: &'static [&'static str]) -> Expected {
    Expected { line, column, mentions }
}

/// An episode with `extra` lines (each indented under it) in a one-hour scenario starting at
/// 2026-11-30T00:00:00Z; the episode's own keys are on lines 5–7, the extra lines from line 8.
fn episode(kind: &str, extra: &str) -> String {
    format!(
        "start: 2026-11-30T00:00:00Z\nduration: 1h\ntimeline:\n  episodes:\n    - kind: {kind}\n      at: +10m\n      duration: 5m\n{extra}"
    )
}

fn catalogue() -> Vec<(&'static str, String, Vec<Expected>)> {
    let hourly_23 = format!("profile:\n  hourly: [{}]\n", vec!["1"; 23].join(", "));
    vec![
        ("unknown top-level key", "name: x\nsede: 4\n".into(), vec![at(2, 1, &["unknown key `sede`", "did you mean `seed`?"])]),
        ("unknown kind", episode("portscan", ""), vec![at(5, 13, &["unknown kind `portscan`", "did you mean `port_scan`?"])]),
        (
            "unknown parameter for a kind",
            episode("data_exfiltration", "      parameters: {exfil_byte: 1MB}\n"),
            vec![at(8, 20, &["kind `data_exfiltration` has no parameter `exfil_byte`", "did you mean `exfil_bytes`?"])],
        ),
        (
            "a parameter of another kind",
            episode("port_scan", "      parameters: {exfil_bytes: 1MB}\n"),
            vec![at(8, 20, &["kind `port_scan` has no parameter `exfil_bytes`", "takes no parameters"])],
        ),
        ("difficulty the kind lacks", episode("port_scan", "      difficulty: sneaky\n"), vec![at(8, 19, &["kind `port_scan` has no difficulty `sneaky`", "use one of `overt`, `subtle`"])]),
        ("probability above 1", "chaos:\n  port_scan_prob: 1.5\n".into(), vec![at(2, 19, &["`port_scan_prob` is 1.5", "from 0 to 1"])]),
        (
            "probabilities summing past 1",
            "chaos:\n  latency_spike_prob: 0.6\n  conn_reset_prob: 0.5\n".into(),
            vec![at(2, 3, &["sum to 1.1", "with the defaults of port_scan_prob, data_exfil_prob", "more than 1", "lower them"])],
        ),
        ("bad duration", "duration: 1 day ish\n".into(), vec![at(1, 11, &["`duration` is `1 day ish`, not a duration", "like 30s, 10m"])]),
        ("bad time", "start: 2026-13-01T00:00:00Z\n".into(), vec![at(1, 8, &["`start` is `2026-13-01T00:00:00Z`, not a time", "RFC 3339"])]),
        (
            "at before the start",
            "start: 2026-11-30T00:00:00Z\ntimeline:\n  episodes:\n    - kind: port_scan\n      at: 2026-11-29T23:59:00Z\n      duration: 1m\n".into(),
            vec![at(5, 11, &["is before the scenario's start (2026-11-30T00:00:00.000Z)"])],
        ),
        (
            "episode past the end",
            "duration: 1h\ntimeline:\n  episodes:\n    - kind: port_scan\n      at: +55m\n      duration: 10m\n".into(),
            vec![at(5, 11, &["ends at +1h 5m, after the scenario's end at +1h", "shorten it"])],
        ),
        ("ramp longer than the duration", episode("latency_spike", "      ramp: 6m\n"), vec![at(8, 13, &["`ramp` (6m) is longer than the episode's `duration` (5m)"])]),
        ("repeat count 0", episode("connection_reset", "      repeat: {every: 10m, count: 0}\n"), vec![at(8, 35, &["`count` is 0, less than 1"])]),
        (
            "repeat past the end",
            episode("connection_reset", "      repeat: {every: 25m, count: 3}\n"),
            vec![at(8, 15, &["occurrence 3 of 3", "starts at +1h", "at or after the scenario's end at +1h"])],
        ),
        ("unknown service", episode("port_scan", "      target: {service: sshd}\n"), vec![at(8, 25, &["unknown service `sshd`", "did you mean `ssh`?"])]),
        ("bad CIDR", episode("port_scan", "      target: {subnet: 10.16.16.0/33}\n"), vec![at(8, 24, &["`10.16.16.0/33` is not a subnet in CIDR notation"])]),
        ("subnet with host bits", episode("port_scan", "      target: {subnet: 10.16.16.1/20}\n"), vec![at(8, 24, &["has host bits set", "did you mean `10.16.16.0/20`?"])]),
        ("bad IP", episode("port_scan", "      target: {host: 10.16.0.256}\n"), vec![at(8, 22, &["`10.16.0.256` is not an IPv4 address"])]),
        ("hourly curve of 23 values", hourly_23, vec![at(2, 11, &["`hourly` has 23 values", "write 24"])]),
        ("hurst out of range", "profile:\n  bursts: {hurst: 0.4}\n".into(), vec![at(2, 19, &["`hurst` is 0.4", "from 0.5 up to, not including, 1"])]),
        (
            "a phase setting the hourly clock",
            "eps: 10\ntimeline:\n  phases:\n    - name: a\n      chaos: {port_scan_per_hour: 2, difficulty: subtle}\n".into(),
            vec![
                at(5, 15, &["a phase's chaos cannot set `port_scan_per_hour`", "top-level `chaos`"]),
                at(5, 38, &["a phase's chaos cannot set `difficulty`"]),
            ],
        ),
        ("a difficulty that is none", "chaos: {difficulty: hard}\n".into(), vec![at(1, 21, &["`difficulty`: unknown difficulty `hard`", "difficulty: mixed"])]),
        ("look-alikes neither on nor off", "lookalikes: sometimes\n".into(), vec![at(1, 13, &["`lookalikes: sometimes` is not on or off", "lookalikes: off"])]),
        (
            "a topology the address plan cannot hold",
            "topology:\n  vpcs: 2\n  accounts: 3\n".into(),
            vec![at(2, 3, &["`accounts` must be 1 to the number of VPCs (2), not 3", "write a size the address plan holds"])],
        ),
        ("unknown region", "profile:\n  utc_offsets: {eu-wset-1: 1}\n".into(), vec![at(2, 17, &["unknown region `eu-wset-1`", "did you mean `eu-west-1`?"])]),
        ("a key given twice", "seed: 1\nseed: 2\n".into(), vec![at(2, 1, &["`seed` is given twice", "first on line 1"])]),
        ("a mapping expected", "topology: 3\n".into(), vec![at(1, 11, &["`topology` must be a mapping of keys to values, not a single value"])]),
        (
            "YAML syntax error",
            "timeline:\n  episodes:\n    - kind: port_scan\n      at: +1h\n     duration: 5m\n".into(),
            vec![at(5, 14, &["this is not valid YAML", "fix the YAML syntax here"])],
        ),
        (
            "several errors in one file",
            "name: many\nduraton: 2h\neps: -3\nprofile:\n  diurnal: {peak_hour: 25, trough_to_peak: 0.2}\ntimeline:\n  phases:\n    - {name: a, rate: 2}\n  episodes:\n    - {kind: port_scna, at: +1h, duration: 5m}\n    - {kind: latency_spike, at: yesterday, duration: 5m, intensity: 0}\n".into(),
            vec![
                at(2, 1, &["unknown key `duraton`", "did you mean `duration`?"]),
                at(3, 6, &["`eps` is -3, but it must be more than 0"]),
                at(5, 24, &["`peak_hour` is 25", "from 0 up to, not including, 24"]),
                at(8, 7, &["this phase has no `eps`"]),
                at(8, 23, &["`rate` is `2`, not a multiple like `2x`"]),
                at(10, 14, &["unknown kind `port_scna`", "did you mean `port_scan`?"]),
                at(11, 33, &["`at` is `yesterday`, neither an offset nor a time"]),
                at(11, 69, &["`intensity` is 0, but it must be more than 0"]),
            ],
        ),
    ]
}

#[test]
fn every_broken_file_is_refused_with_each_mistake_at_its_line_and_column() {
    let directory = tempfile::tempdir().unwrap();
    let cases = catalogue();
    assert!(cases.len() >= 15);
    for (index, (name, text, expected)) in cases.iter().enumerate() {
        let path = directory.path().join(format!("case-{index}.yaml"));
        std::fs::write(&path, text).unwrap();
        let output = netchaos().args(["scenario", "validate"]).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}: nothing on stdout");
        let lines: Vec<&str> = stderr.lines().collect();
        let (summary, errors) = lines.split_last().unwrap_or_else(|| panic!("{name}: nothing on stderr"));
        let count = if expected.len() == 1 { "1 mistake".to_owned() } else { format!("{} mistakes", expected.len()) };
        assert!(summary.starts_with("netchaos: error: ") && summary.contains(&count), "{name}: {summary}");
        assert_eq!(errors.len(), expected.len(), "{name}: every mistake, each on one line:\n{stderr}");
        for (line, expected) in errors.iter().zip(expected) {
            let prefix = format!("{}:{}:{}: ", path.display(), expected.line, expected.column);
            assert!(line.starts_with(&prefix), "{name}: `{line}` should start with `{prefix}`");
            assert!(line.contains("; "), "{name}: `{line}` should say what to write instead");
            for mention in expected.mentions {
                assert!(line.contains(mention), "{name}: `{line}` should mention `{mention}`");
            }
        }
    }
}

#[test]
fn a_file_that_cannot_be_read_is_one_clear_line() {
    let output = netchaos().args(["scenario", "plan", "no-such-scenario.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("no-such-scenario.yaml: cannot read the scenario file"), "{stderr}");
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// The 1-based line of the first line of `path` that contains `text`.
fn line_of(path: &Path, text: &str) -> u64 {
    let content = std::fs::read_to_string(path).unwrap();
    content.lines().position(|line| line.contains(text)).unwrap_or_else(|| panic!("{text} not in {}", path.display())) as u64 + 1
}

fn plan(path: &Path) -> serde_json::Value {
    let output = netchaos().args(["scenario", "plan", "--json"]).arg(path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_shipped_scenarios_validate() {
    for name in ["monday-morning.yaml", "incident-drill.yaml"] {
        let output = netchaos().args(["scenario", "validate"]).arg(shipped(name)).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stdout.contains(": valid scenario `"), "{stdout}");
    }
}

#[test]
fn monday_morning_plans_a_scan_at_nine_twelve_and_exfiltration_from_nine_forty() {
    let path = shipped("monday-morning.yaml");
    let plan = plan(&path);
    assert_eq!(plan["start"], "2026-11-30T00:00:00.000Z", "a Monday");
    assert_eq!(plan["end"], "2026-12-01T00:00:00.000Z");
    let records_in_the_day = plan["eps"].as_f64().unwrap() * 86_400.0;
    assert!(records_in_the_day <= 5e6, "{records_in_the_day} records: keep the day modest");
    assert!(plan["profile"].as_str().unwrap().starts_with("diurnal, peak at 14h local, trough 0.2"), "{}", plan["profile"]);
    let episodes = plan["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 2, "{episodes:#?}");
    let scan = &episodes[0];
    assert_eq!(
        (scan["kind"].as_str(), scan["start"].as_str(), scan["end"].as_str()),
        (Some("port_scan"), Some("2026-11-30T09:12:00.000Z"), Some("2026-11-30T09:17:00.000Z"))
    );
    assert_eq!((scan["target"].as_str(), scan["duration_ms"].as_u64()), (Some("service ssh"), Some(300_000)));
    assert_eq!(scan["origin"]["line"], line_of(&path, "kind: port_scan"));
    let exfiltration = &episodes[1];
    assert_eq!(exfiltration["kind"], "data_exfiltration");
    assert_eq!(
        (exfiltration["start"].as_str(), exfiltration["end"].as_str()),
        (Some("2026-11-30T09:40:00.000Z"), Some("2026-11-30T09:50:00.000Z"))
    );
    assert_eq!(exfiltration["parameters"]["exfil_bytes"], 20_000_000);
    assert_eq!(exfiltration["origin"]["line"], line_of(&path, "kind: data_exfiltration"));
    assert_eq!(exfiltration["origin"]["file"], path.display().to_string());
    assert_eq!(
        (plan["chaos"]["port_scan_prob"].as_f64(), plan["chaos"]["data_exfil_prob"].as_f64()),
        (Some(0.0), Some(0.0)),
        "no scans but the scheduled one"
    );
}

#[test]
fn incident_drill_plans_latency_creep_then_a_reset_storm_three_times() {
    let path = shipped("incident-drill.yaml");
    let plan = plan(&path);
    let episodes = plan["episodes"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, u64)> = episodes
        .iter()
        .map(|episode| {
            (
                episode["kind"].as_str().unwrap(),
                episode["start"].as_str().unwrap(),
                episode["end"].as_str().unwrap(),
                episode["occurrence"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for (occurrence, hour) in (13..16).enumerate() {
        expected.push((
            "latency_spike",
            format!("2026-12-01T{hour}:40:00.000Z"),
            format!("2026-12-01T{hour}:55:00.000Z"),
            occurrence as u64,
        ));
        expected.push((
            "connection_reset",
            format!("2026-12-01T{hour}:55:00.000Z"),
            format!("2026-12-01T{}:05:00.000Z", hour + 1),
            occurrence as u64,
        ));
    }
    let expected: Vec<(&str, &str, &str, u64)> =
        expected.iter().map(|(kind, start, end, occurrence)| (*kind, start.as_str(), end.as_str(), *occurrence)).collect();
    assert_eq!(summary, expected);
    assert!(
        episodes.iter().filter(|episode| episode["kind"] == "latency_spike").all(|episode| episode["ramp_ms"] == 600_000),
        "latency creeps up"
    );
    assert!(episodes.iter().all(|episode| episode["target"] == "service api"));
    let phases: Vec<(&str, f64)> =
        plan["phases"].as_array().unwrap().iter().map(|phase| (phase["name"].as_str().unwrap(), phase["eps"].as_f64().unwrap())).collect();
    assert_eq!(phases, [("baseline", 100.0), ("drill", 150.0), ("recovery", 100.0)]);
    assert_eq!(plan["phases"][2]["end"], "2026-12-01T17:00:00.000Z", "recovery runs to the end");
    let text = netchaos().args(["scenario", "plan"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("episodes: 6") && text.contains("latency_spike (repeat 2)  2026-12-01T15:40:00.000Z"), "{text}");
}

#[test]
fn the_readme_example_validates() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find("## Scenarios").expect("a Scenarios section")..];
    let start = section.find("```yaml\n").expect("a YAML example") + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("example.yaml");
    std::fs::write(&path, example).unwrap();
    let output = netchaos().args(["scenario", "plan", "--json"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["episodes"].as_array().unwrap().len(), 3, "the repeat gives its count");
    assert_eq!(plan["phases"][1]["eps"], 50.0, "rate: 2x of eps 25");
}
