//! Hostile input to live control: damaged journals handed to `--replay` and random request bodies
//! thrown at every endpoint of a running generator. A journal is refused with one line and exit 2
//! or replays; a request gets its answer, never a 5xx; nothing panics and the server stays up.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Value, json};

use super::Live;
use crate::common::cli::netchaos;
use crate::common::http::{call, get, try_call};

const RUN: [&str; 8] = ["--seed", "31", "--eps", "300", "--duration", "4s", "--workers", "2"];

/// A journal with every kind of command, from a short live session.
fn journal() -> (String, Live) {
    let mut args = vec!["--speed", "1"];
    args.extend(RUN);
    let mut live = Live::start(&args);
    live.wait_offset(500);
    for (method, path, body) in [
        ("POST", "/v1/episodes", json!({"kind": "lateral_movement", "duration": "2s", "target": "subnet 10.16.16.0/20", "parameters": {}})),
        ("PUT", "/v1/rate", json!({"eps": 400, "ramp": "1s"})),
        ("PUT", "/v1/chaos", json!({"latency_spike_prob": 0.2})),
        ("POST", "/v1/pause", json!({})),
        ("POST", "/v1/resume", json!({})),
        ("PUT", "/v1/speed", json!({"speed": "max"})),
    ] {
        let reply = live.call(method, path, body);
        assert!(reply.status < 300, "{reply:?}");
    }
    live.finish(Duration::from_secs(30));
    (std::fs::read_to_string(live.path("journal.jsonl")).unwrap(), live)
}

/// One damage to `text`, chosen by `rng`.
fn damage(text: &str, rng: &mut Xoshiro256PlusPlus) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let lines: Vec<&str> = text.lines().collect();
    match rng.random_range(0..9) {
        0 => bytes.truncate(rng.random_range(0..bytes.len())),
        1 => {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
        }
        2 => {
            let at = rng.random_range(0..bytes.len());
            const NOISE: &[u8] = b"{}[]\",:0-e\n\x00\xff";
            bytes.insert(at, NOISE[rng.random_range(0..NOISE.len())]);
        }
        3 => {
            let mut lines = lines.clone();
            lines.remove(rng.random_range(0..lines.len()));
            bytes = lines.join("\n").into_bytes();
        }
        4 => {
            let mut lines = lines.clone();
            let (a, b) = (rng.random_range(0..lines.len()), rng.random_range(0..lines.len()));
            lines.swap(a, b);
            bytes = lines.join("\n").into_bytes();
        }
        5 => {
            let mut lines = lines.clone();
            let at = rng.random_range(0..lines.len());
            lines.insert(at, lines[at]);
            bytes = lines.join("\n").into_bytes();
        }
        // A value replaced by another of a hostile kind.
        _ => {
            let at = rng.random_range(0..lines.len());
            let mut value: Value = serde_json::from_str(lines[at]).unwrap();
            mutate(&mut value, rng);
            let mut lines: Vec<String> = lines.iter().map(|line| (*line).to_owned()).collect();
            lines[at] = value.to_string();
            bytes = lines.join("\n").into_bytes();
        }
    }
    bytes
}

const HOSTILE: [&str; 12] =
    ["null", "-1", "1e308", "18446744073709551616", "\"\"", "[]", "{}", "0.5", "true", "\"max\"", "\"r-s999\"", "{\"x\": 1}"];

fn mutate(value: &mut Value, rng: &mut Xoshiro256PlusPlus) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(rng.random_range(0..map.len())).unwrap().clone();
            if rng.random_bool(0.5) {
                mutate(map.get_mut(&key).unwrap(), rng);
            } else if rng.random_bool(0.5) {
                map.remove(&key);
            } else {
                map.insert(key, serde_json::from_str(HOSTILE[rng.random_range(0..HOSTILE.len())]).unwrap());
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.random_range(0..items.len());
            mutate(&mut items[at], rng);
        }
        _ => *value = serde_json::from_str(HOSTILE[rng.random_range(0..HOSTILE.len())]).unwrap(),
    }
}

#[test]
fn damaged_journals_replay_or_are_refused_with_one_line_and_never_panic() {
    let (text, live) = journal();
    let dir = tempfile::tempdir().unwrap();
    // Named so that an error mentioning the journal or the replay does so in words, not by its path.
    let path = dir.path().join("session.jsonl");
    let replay = || {
        netchaos()
            .args(["generate", "--speed", "max", "-q", "--output"])
            .arg(dir.path().join("out.jsonl"))
            .arg("--replay")
            .arg(&path)
            .args(RUN)
            .output()
            .unwrap()
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(15);
    let (mut refused, mut replayed) = (0, 0);
    let mut cases: Vec<Vec<u8>> =
        vec![Vec::new(), b"\n\n".to_vec(), vec![0xff; 64], b"{\"journal\": 2}".to_vec(), text.lines().next().unwrap().as_bytes().to_vec()];
    cases.extend((0..150).map(|_| damage(&text, &mut rng)));
    for case in &cases {
        std::fs::write(&path, case).unwrap();
        let output = replay();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let journal = String::from_utf8_lossy(case);
        match output.status.code() {
            Some(0) => replayed += 1,
            Some(2) => {
                assert_eq!(stderr.trim_end().lines().count(), 1, "not one line for {journal:?}: {stderr}");
                assert!(stderr.contains("journal") || stderr.contains("replay"), "{stderr}");
                refused += 1;
            }
            code => panic!("exit {code:?} for the journal {journal:?}: {stderr}"),
        }
    }
    // The journal as written replays, and the damage was mostly caught.
    std::fs::write(&path, &text).unwrap();
    let output = replay();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read(dir.path().join("out.jsonl")).unwrap(), std::fs::read(live.path("out.jsonl")).unwrap());
    assert!(refused > cases.len() / 2, "only {refused} of {} damaged journals were refused", cases.len());
    eprintln!("{} damaged journals: {refused} refused with one line, {replayed} replayed", cases.len());
    // A journal that is no file at all.
    for path in [dir.path().to_path_buf(), dir.path().join("missing.jsonl")] {
        let output = netchaos().args(["generate", "-q", "--output", "/dev/null", "--replay"]).arg(&path).args(RUN).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

/// A random body: bytes, JSON of any shape, or an object with an endpoint's field names and
/// hostile values.
fn body(rng: &mut Xoshiro256PlusPlus) -> String {
    const FIELDS: [&str; 16] = [
        "kind",
        "difficulty",
        "target",
        "duration",
        "intensity",
        "parameters",
        "in",
        "at",
        "eps",
        "ramp",
        "speed",
        "latency_spike_prob",
        "data_exfil_prob",
        "conn_reset_prob",
        "ports",
        "x",
    ];
    const VALUES: [&str; 20] = [
        "null",
        "-1",
        "0",
        "1e308",
        "-1e308",
        "1e-320",
        "18446744073709551616",
        "\"\"",
        "[]",
        "{}",
        "\"port_scan\"",
        "\"subtle\"",
        "\"10m\"",
        "\"-5s\"",
        "\"99999999999h\"",
        "\"1h\"",
        "\"host 10.16.0.11\"",
        "\"subnet 0.0.0.0/0\"",
        "\"\\u0000\"",
        "{\"ports\": -3}",
    ];
    match rng.random_range(0..4) {
        0 => (0..rng.random_range(0..200)).map(|_| rng.random_range(1u8..128) as char).collect(),
        1 => "[".repeat(rng.random_range(1..5_000)),
        _ => {
            let fields: Vec<String> = (0..rng.random_range(0..6))
                .map(|_| format!("\"{}\": {}", FIELDS[rng.random_range(0..FIELDS.len())], VALUES[rng.random_range(0..VALUES.len())]))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

#[test]
fn random_requests_to_every_endpoint_get_an_answer_and_never_a_server_error() {
    let mut args = vec!["--speed", "1", "--eps", "200", "--duration", "10m", "--seed", "32"];
    args.extend(["--workers", "2"]);
    let live = Live::start(&args);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    const ENDPOINTS: [(&str, &str); 11] = [
        ("POST", "/v1/episodes"),
        ("PUT", "/v1/rate"),
        ("PUT", "/v1/speed"),
        ("PUT", "/v1/chaos"),
        ("POST", "/v1/pause"),
        ("POST", "/v1/resume"),
        ("DELETE", "/v1/episodes/x"),
        ("GET", "/v1/status"),
        ("GET", "/v1/episodes"),
        ("PUT", "/v1/episodes"),
        ("POST", "/v1/../etc/passwd"),
    ];
    let mut by_status = std::collections::BTreeMap::new();
    for _ in 0..600 {
        let (method, path) = ENDPOINTS[rng.random_range(0..ENDPOINTS.len())];
        let body = body(&mut rng);
        let reply = try_call(live.port, method, path, Some(&body), &[]).unwrap_or_else(|error| panic!("{method} {path} {body:?}: {error}"));
        assert!((200..500).contains(&reply.status), "{method} {path} {body:?}: {reply:?}");
        if reply.status >= 400 {
            assert!(reply.json()["error"].as_str().is_some_and(|error| !error.is_empty()), "{reply:?}");
        }
        *by_status.entry(reply.status).or_insert(0) += 1;
    }
    eprintln!("600 random requests: {by_status:?}");
    assert!(by_status.get(&400).is_some_and(|count| *count > 100), "{by_status:?}");
    // Still serving, and a well-formed request still works.
    assert_eq!(get(live.port, "/v1/status").status, 200);
    let paused = live.status()["paused"] == true;
    assert_eq!(call(live.port, "POST", if paused { "/v1/resume" } else { "/v1/pause" }, None, &[]).status, 200);
}
