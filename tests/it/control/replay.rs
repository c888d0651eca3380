//! A live session driven by a script of API calls at chosen logical moments, then reproduced from
//! its journal: `--replay` at speed 1 and at max, and `scenario export` run as a scenario, each
//! byte for byte the session's records and episodes.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::Live;
use crate::common::cli::netchaos;
use crate::common::http::{call, try_call};

/// The session's flags; a replay gives the same, but for the speed.
const FLAGS: [&str; 8] = ["--eps", "500", "--duration", "20s", "--workers", "2", "--firewall-ratio", "0.1"];

/// Runs `generate` to completion with `args`, writing out.jsonl and episodes.jsonl into `dir`.
fn generate(dir: &Path, args: &[&str]) {
    let output = netchaos()
        .arg("generate")
        .arg("--output")
        .arg(dir.join("out.jsonl"))
        .arg("--episodes")
        .arg(dir.join("episodes.jsonl"))
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "generate {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn same_files(live: &Live, dir: &Path, what: &str) {
    for name in ["out.jsonl", "episodes.jsonl"] {
        let want = std::fs::read(live.path(name)).unwrap();
        let got = std::fs::read(dir.join(name)).unwrap();
        assert!(want == got, "{what}: {name} differs from the live session's ({} bytes against {})", got.len(), want.len());
    }
}

#[test]
fn a_live_session_replays_byte_for_byte() {
    let mut args = vec!["--seed", "21", "--speed", "2"];
    args.extend(FLAGS);
    let mut live = Live::start(&args);
    let port = live.port;
    // The script: each call once the run has reached its moment.
    live.wait_offset(2_000);
    let scan = live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "target": "service ssh", "duration": "5s"}));
    assert_eq!(scan.status, 201, "{scan:?}");
    live.wait_offset(5_000);
    assert_eq!(live.call("PUT", "/v1/rate", json!({"eps": 900, "ramp": "3s"})).status, 200);
    live.wait_offset(7_000);
    assert_eq!(live.call("PUT", "/v1/chaos", json!({"latency_spike_prob": 0.05, "difficulty": "subtle"})).status, 200);
    let brute = live.call("POST", "/v1/episodes", json!({"kind": "brute_force", "duration": "1h", "difficulty": "subtle"}));
    assert_eq!(brute.status, 201, "{brute:?}");
    let brute_id = brute.json()["episode_id"].as_str().unwrap().to_owned();
    live.wait_offset(10_000);
    assert_eq!(call(port, "DELETE", &format!("/v1/episodes/{brute_id}"), None, &[]).status, 200);
    assert_eq!(call(port, "POST", "/v1/pause", None, &[]).status, 200);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(call(port, "POST", "/v1/resume", None, &[]).status, 200);
    assert_eq!(live.call("PUT", "/v1/speed", json!({"speed": 4})).status, 200);
    let later = live.call("POST", "/v1/episodes", json!({"kind": "beaconing", "in": "2s", "duration": "4s", "intensity": 3}));
    assert_eq!(later.status, 201, "{later:?}");
    live.wait_offset(14_000);
    // Ended before it was due: it never starts.
    let never = live.call("POST", "/v1/episodes", json!({"kind": "syn_flood", "in": "5s", "duration": "1s"}));
    assert_eq!(never.status, 201, "{never:?}");
    let never_id = never.json()["episode_id"].as_str().unwrap().to_owned();
    assert_eq!(call(port, "DELETE", &format!("/v1/episodes/{never_id}"), None, &[]).status, 200);
    let episodes = crate::common::http::get(port, "/v1/episodes").json();
    let cancelled = episodes["finished"].as_array().unwrap().iter().find(|episode| episode["episode_id"] == never_id.as_str());
    assert!(cancelled.is_some_and(|episode| episode["cancelled"] == true && episode["records"] == 0), "{episodes}");
    assert_eq!(call(port, "DELETE", &format!("/v1/episodes/{never_id}"), None, &[]).status, 409);
    live.finish(Duration::from_secs(60));

    let records = live.records();
    assert!(records.iter().any(|record| record["label"]["kind"] == "port_scan"), "the injected scan wrote nothing");
    assert!(
        !records.iter().any(|record| record["label"]["episode_id"] == never_id.as_str()),
        "an episode ended before it was due wrote records"
    );
    let journal = live.path("journal.jsonl");
    let journal_text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(journal_text.lines().count(), 1 + 11, "{journal_text}");

    // --replay, without the API, at speed 1 and as fast as the machine goes.
    for speed in ["1", "max"] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--replay", journal.to_str().unwrap(), "--speed", speed];
        args.extend(FLAGS);
        generate(dir.path(), &args);
        same_files(&live, dir.path(), &format!("--replay at speed {speed}"));
    }

    // The journal as a scenario, run with the flags the file's comment names.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("drill.yaml");
    let exported = netchaos().args(["scenario", "export"]).arg(&journal).arg("-o").arg(&scenario).output().unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let text = std::fs::read_to_string(&scenario).unwrap();
    let flags = text.lines().find_map(|line| line.strip_prefix("# Run it with: netchaos generate --scenario FILE ")).expect(&text);
    let mut args = vec!["--scenario", scenario.to_str().unwrap(), "--speed", "max"];
    args.extend(flags.split_whitespace());
    generate(dir.path(), &args);
    same_files(&live, dir.path(), "the exported scenario");
}

#[test]
fn a_thousand_commands_at_max_speed_replay_byte_for_byte() {
    // Commands arrive as fast as a client sends them, while lanes run unpaced: every one must land
    // at a boundary no lane has passed, or the replay would differ.
    const RUN: [&str; 6] = ["--eps", "1000", "--duration", "15m", "--workers", "2"];
    let mut args = vec!["--seed", "22", "--speed", "max"];
    args.extend(RUN);
    let mut live = Live::start(&args);
    let mut accepted = 0;
    for round in 0..1_000 {
        let (method, path, body) = match round % 4 {
            0 => ("PUT", "/v1/rate", json!({"eps": 1_000 + (round % 7) * 100, "ramp": "2s"})),
            1 => ("PUT", "/v1/chaos", json!({"conn_reset_prob": (round % 5) as f64 / 1_000.0})),
            2 => ("POST", "/v1/episodes", json!({"kind": "port_scan", "duration": "1s"})),
            _ => ("PUT", "/v1/rate", json!({"eps": 1_000})),
        };
        // The run may end (and its server with it) at any moment.
        let Ok(reply) = try_call(live.port, method, path, Some(&body.to_string()), &[]) else { break };
        match reply.status {
            200 | 201 => accepted += 1,
            // Too many injected episodes at once, or the run has ended: refused, never half-applied.
            409 => {}
            _ => panic!("{reply:?}"),
        }
    }
    live.finish(Duration::from_secs(120));
    assert!(accepted >= 50, "only {accepted} commands were accepted");
    let journal = live.path("journal.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--replay", journal.to_str().unwrap(), "--speed", "max"];
    args.extend(RUN);
    generate(dir.path(), &args);
    same_files(&live, dir.path(), "a replay of a thousand commands");
}
