//! The `netchaos` binary: bad flags give one clear line and exit 2; Ctrl-C stops cleanly and the
//! manifest then says exactly what was emitted; `schema` prints a JSON Schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

fn netchaos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netchaos"));
    // Keep the caller's environment from changing defaults under test.
    for name in ["EPS_TARGET", "WORKER_COUNT", "SEED", "LATENCY_SPIKE_PROB", "PORT_SCAN_PROB", "DATA_EXFIL_PROB", "CONN_RESET_PROB"] {
        command.env_remove(name);
    }
    command.env("NETCHAOS_METRICS_ADDR", "off").env("NETCHAOS_CONTROL_ADDR", "off");
    command
}

fn assert_usage_error(arguments: &[&str], environment: &[(&str, &str)], mentions: &str) {
    let output = netchaos().args(arguments).envs(environment.iter().copied()).output().expect("run netchaos");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{arguments:?}: one line expected, got {stderr:?}");
    assert!(stderr.contains(mentions), "{arguments:?}: {stderr:?} should mention {mentions}");
    assert!(output.stdout.is_empty(), "{arguments:?}: nothing on stdout");
}

#[test]
fn bad_flags_give_one_line_and_exit_2() {
    assert_usage_error(&["generate", "--port-scan-prob", "1.5"], &[], "outside 0-1");
    assert_usage_error(&["generate", "--latency-spike-prob", "-0.1"], &[], "latency-spike-prob");
    assert_usage_error(&["generate", "--latency-spike-prob", "0.5", "--port-scan-prob", "0.4", "--data-exfil-prob", "0.2"], &[], "sum to");
    assert_usage_error(&["generate", "--eps", "fast"], &[], "not a number");
    assert_usage_error(&["generate", "--speed", "0"], &[], "not a speed netchaos runs at");
    assert_usage_error(&["generate", "--speed", "warp"], &[], "`max`");
    assert_usage_error(&["generate"], &[("NETCHAOS_SPEED", "-3")], "not a speed");
    assert_usage_error(&["generate", "--hurst", "1.2"], &[], "outside 0.5-0.99");
    assert_usage_error(&["generate", "--shard", "4/4"], &[], "not a shard");
    assert_usage_error(&["generate", "--shard", "3/9", "--workers", "4", "--port-scan-prob", "0"], &[], "at most 4 shards");
    assert_usage_error(&["generate", "--workers", "0"], &[], "at least 1");
    assert_usage_error(&["generate", "--duration", "soon"], &[], "not a duration");
    assert_usage_error(&["generate", "--count", "5", "--start-time", "someday"], &[], "not a time");
    assert_usage_error(&["generate"], &[("EPS_TARGET", "lots")], "not a number");
    assert_usage_error(&["generate"], &[("WORKER_COUNT", "0")], "at least 1");
    assert_usage_error(&["generate"], &[("DATA_EXFIL_PROB", "2")], "outside 0-1");
    assert_usage_error(&["generate", "--count", "5", "--start-time", "0"], &[], "1970-01-01T00:10:00Z");
    assert_usage_error(&["generate", "--difficulty", "hard"], &[], "unknown difficulty `hard`: use overt, subtle or mixed");
    assert_usage_error(&["generate", "--difficulty", "portscan=subtle"], &[], "unknown anomaly kind `portscan`");
    assert_usage_error(&["generate"], &[("CHAOS_DIFFICULTY", "sneaky")], "unknown difficulty `sneaky`");
    assert_usage_error(&["generate", "--port-scan-per-hour", "-1"], &[], "episodes per logical hour");
    assert_usage_error(&["generate", "--port-scan-per-hour", "5000"], &[], "outside 0-3600");
    assert_usage_error(&["generate"], &[("PORT_SCAN_PER_HOUR", "often")], "not a number of episodes per hour");
    assert_usage_error(&["generate", "--lookalikes", "maybe"], &[], "`maybe` is not on or off");
    assert_usage_error(&["generate", "--workers", "4294967295"], &[], "more than the 1024");
    assert_usage_error(&["run", "--queue-chunks", "18446744073709551615"], &[], "queue-chunks");
    assert_usage_error(&["run", "--compression", "zstd", "--compression-level", "30"], &[], "compression-level");
    assert_usage_error(&["run", "--compression-level", "10"], &[], "use 0-9");
    assert_usage_error(&["verify", "--store", "/nonexistent/netchaos-store"], &[], "no store");
    assert_usage_error(&["run", "--count", "10", "--memory-budget", "1MiB"], &[], "memory-budget");
    assert_usage_error(&["frobnicate"], &[], "frobnicate");
}

#[test]
fn environment_variables_set_the_defaults() {
    let output = netchaos()
        .args(["generate", "--count", "300", "--eps", "0", "--quiet", "--manifest", "/dev/stdout", "--output", "/dev/null"])
        .envs([("WORKER_COUNT", "3"), ("SEED", "77"), ("PORT_SCAN_PROB", "0.1")])
        .output()
        .expect("run");
    assert!(output.status.success());
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).expect("manifest json");
    assert_eq!(manifest["seed"], 77);
    assert_eq!(manifest["settings"]["workers"], 3);
    assert_eq!(manifest["by_label"]["port_scan"], 30);
}

#[test]
fn ctrl_c_stops_cleanly_and_the_manifest_says_what_was_emitted() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = directory.path().join("out.jsonl");
    let manifest = directory.path().join("manifest.json");
    let episodes = directory.path().join("episodes.jsonl");
    let mut child = netchaos()
        .args(["generate", "--eps", "20000", "--seed", "5", "--port-scan-prob", "0.05", "--quiet"])
        .arg("--output")
        .arg(&output)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--episodes")
        .arg(&episodes)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "Ctrl-C is a clean stop");

    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).expect("manifest written")).expect("json");
    assert_eq!(manifest["complete"], false);
    let text = std::fs::read_to_string(&output).expect("output");
    let lines: Vec<&str> = text.lines().collect();
    let records = manifest["records"].as_u64().expect("records");
    assert!(records > 5_000, "ran for 1.5 s at 20k/s, emitted {records}");
    assert_eq!(lines.len() as u64, records, "the manifest counts exactly the lines written");
    // Every lane's ids are exactly 0..records.
    let run_id = manifest["run_id"].as_str().expect("run id");
    for lane in manifest["lanes"].as_array().expect("lanes") {
        let worker = lane["worker"].as_u64().expect("worker");
        let count = lane["records"].as_u64().expect("records");
        let prefix = format!("\"event_id\":\"{run_id}-{worker}-");
        let seen = lines.iter().filter(|line| line.contains(&prefix)).count() as u64;
        assert_eq!(seen, count, "lane {worker}");
        let last = format!("{prefix}{}\"", count - 1);
        assert!(lines.iter().any(|line| line.contains(&last)), "lane {worker} last id");
    }
}

#[test]
fn schema_prints_a_json_schema_of_both_kinds() {
    let output = netchaos().arg("schema").output().expect("run");
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let text = schema.to_string();
    assert!(text.contains("\"vpc_flow\"") && text.contains("\"firewall\""));
    assert!(jsonschema::validator_for(&schema).is_ok());
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = netchaos().args(["generate", "--eps", "0", "--quiet"]).stdout(Stdio::piped()).spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    drop(stdout);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn log_format_json_writes_one_json_object_per_log_line() {
    let directory = tempfile::tempdir().unwrap();
    let input = directory.path().join("flows.jsonl");
    let generated = netchaos().args(["generate", "--count", "200", "--eps", "0", "--quiet", "--output"]).arg(&input).status().unwrap();
    assert!(generated.success());
    let output = netchaos()
        .args(["sink", "--log-format", "json", "--from"])
        .arg(&input)
        .arg("--store")
        .arg(directory.path().join("store"))
        .env("NETCHAOS_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Log lines are JSON objects; the summary lines are not logs and stay text.
    let logs: Vec<serde_json::Value> =
        stderr.lines().filter(|line| line.starts_with('{')).map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(logs.iter().any(|log| log["level"] == "INFO" && log["fields"]["message"] == "partition recovered from the store"), "{stderr}");
    assert!(stderr.lines().all(|line| line.starts_with('{') || line.starts_with("netchaos: ")), "{stderr}");
    assert_usage_error(&["sink", "--log-format", "xml", "--from", "-", "--store", "x"], &[], "log-format");
}

/// Runs the shell command `command` (`netchaos` stands for the binary) under `script`, so that
/// its stderr is a terminal; returns what the terminal showed.
fn on_a_terminal(command: &str) -> String {
    let command = command.replace("netchaos ", &format!("{} ", env!("CARGO_BIN_EXE_netchaos")));
    let output = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env_remove("NETCHAOS_METRICS_ADDR")
        .env("NETCHAOS_CONTROL_ADDR", "off")
        .output()
        .expect("run script (util-linux)");
    assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_status_line_shows_on_a_terminal_unless_quiet_and_never_in_a_pipe() {
    let directory = tempfile::tempdir().unwrap();
    let flows = directory.path().join("flows.jsonl");
    let generate = format!("netchaos generate --eps 4000 --duration 2s --metrics-addr off --output {}", flows.display());
    let shown = on_a_terminal(&generate);
    assert!(shown.contains("\r\x1b[2Kgenerated ") && shown.contains("/s) | delivered "), "a live line on a terminal: {shown:?}");
    assert!(shown.contains("netchaos: 8000 records"), "then the summary: {shown:?}");
    let quiet = on_a_terminal(&format!("{generate} --quiet"));
    assert!(!quiet.contains("generated ") && !quiet.contains('\r'), "--quiet: {quiet:?}");
    let records_on_the_terminal = on_a_terminal("netchaos generate --eps 4000 --duration 2s --metrics-addr off --output -");
    assert!(!records_on_the_terminal.contains("\x1b[2K"), "records printed on the terminal are not interleaved with the line");
    assert!(records_on_the_terminal.contains("netchaos: 8000 records"));

    // Input that stays open for a while, so that the line is drawn at least once.
    let store = directory.path().join("store");
    let sink = format!("(cat {}; sleep 1.5) | netchaos sink --from - --store {} --metrics-addr off", flows.display(), store.display());
    let shown = on_a_terminal(&sink);
    assert!(shown.contains("\r\x1b[2Kconsumed 8000 (") && shown.contains("| lag ? | store retries 0"), "{shown:?}");
    assert!(shown.contains("stored 8000 valid"), "then the summary: {shown:?}");

    let run = format!("netchaos run --eps 4000 --duration 2s --metrics-addr off --store {}", directory.path().join("run").display());
    let shown = on_a_terminal(&run);
    assert!(shown.contains("\r\x1b[2K") && shown.contains(" records (") && shown.contains("| latency "), "run's line: {shown:?}");
    assert!(shown.contains("verify: OK"), "then the summary: {shown:?}");

    let piped = netchaos()
        .args(["generate", "--eps", "4000", "--duration", "2s", "--metrics-addr", "off", "--output"])
        .arg(&flows)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(piped.status.success() && !stderr.contains('\r') && stderr.starts_with("netchaos: 8000 records"), "not a terminal: {stderr:?}");
}
