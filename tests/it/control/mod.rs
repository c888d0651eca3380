//! The live control API against a running `netchaos generate`, over real sockets: every endpoint
//! and its effect in the output, every bad request with its field, the conflicts, the journal and
//! its replay byte for byte (at speed 1 and at max, and through `scenario export`), the token, and
//! hostile input (requests and journals).

mod hostile;
mod replay;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::cli::{KIND_FLAGS, free_port, netchaos, sample, scrape};
use crate::common::http::{self, Events, Reply, call, get};

/// A generator running with its control API on a port of its own, its files in a directory.
pub(crate) struct Live {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
}

impl Live {
    /// `netchaos generate` with output, episodes, manifest and journal files, and `args`.
    pub(crate) fn start(args: &[&str]) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = |name: &str| dir.path().join(name);
        let mut command = netchaos();
        command
            .arg("generate")
            .arg("--output")
            .arg(path("out.jsonl"))
            .arg("--episodes")
            .arg(path("episodes.jsonl"))
            .arg("--manifest")
            .arg(path("manifest.json"))
            .arg("--journal")
            .arg(path("journal.jsonl"))
            .args(["--control-addr", &format!("127.0.0.1:{port}"), "-q"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(File::create(path("stderr.txt")).unwrap());
        let child = command.spawn().unwrap();
        http::wait_for_server(port);
        Live { child: Some(child), port, dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Value) -> Reply {
        call(self.port, method, path, Some(&body.to_string()), &[])
    }

    pub(crate) fn status(&self) -> Value {
        let reply = get(self.port, "/v1/status");
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()
    }

    /// Waits until the status's logical offset reaches `offset_ms`.
    pub(crate) fn wait_offset(&self, offset_ms: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.status()["offset_ms"].as_u64().unwrap() < offset_ms {
            assert!(Instant::now() < deadline, "the run did not reach {offset_ms} ms");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the generator to exit successfully.
    pub(crate) fn finish(&mut self, limit: Duration) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let stderr = std::fs::read_to_string(self.path("stderr.txt")).unwrap_or_default();
                assert!(status.success(), "generate failed: {stderr}");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("generate did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn records(&self) -> Vec<Value> {
        lines(&self.path("out.jsonl"))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The run's manifest (pretty JSON).
fn manifest(live: &Live) -> Value {
    serde_json::from_str(&std::fs::read_to_string(live.path("manifest.json")).unwrap()).unwrap()
}

/// t0 of a run, ms since the epoch, from its manifest.
fn start_ms(manifest: &Value) -> i64 {
    let text = manifest["settings"]["start_time"].as_str().unwrap_or_else(|| panic!("no start_time: {manifest}"));
    humantime::parse_rfc3339(text).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn episode_of(record: &Value) -> Option<&str> {
    record["label"]["episode_id"].as_str()
}

/// The logical time of a record, ms: a flow's `end` second, a firewall session's `timestamp`.
pub(crate) fn time_ms(record: &Value) -> i64 {
    crate::chaos_kinds::time_ms(record)
}

fn wait_finished(live: &Live, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let episodes = get(live.port, "/v1/episodes").json();
        if let Some(found) = episodes["finished"].as_array().unwrap().iter().find(|episode| episode["episode_id"] == id) {
            return found.clone();
        }
        assert!(Instant::now() < deadline, "episode {id} did not finish: {episodes}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_field(reply: &Reply, status: u16, field: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["field"], field, "{body}");
    assert!(body["allowed"].as_str().is_some_and(|allowed| !allowed.is_empty()), "{body}");
    assert!(body["error"].as_str().is_some_and(|error| !error.is_empty()), "{body}");
}

#[test]
fn every_endpoint_answers_over_a_socket_and_its_effects_show_in_the_output() {
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut live = Live::start(&[
        "--seed",
        "11",
        "--eps",
        "400",
        "--duration",
        "40s",
        "--workers",
        "2",
        "--speed",
        "2",
        "--metrics-addr",
        &metrics_addr,
    ]);
    let port = live.port;
    let status = live.status();
    assert_eq!(status["speed"], 2.0);
    assert_eq!(status["paused"], false);
    assert_eq!(status["rate"]["target"], 400.0);
    assert!(status["run_id"].as_str().is_some_and(|id| id.len() == 16), "{status}");
    let console = get(port, "/");
    assert_eq!(console.status, 200);
    assert!(console.headers.contains("content-type: text/html"), "{}", console.headers);
    let mut events = Events::open(port, "/v1/events");
    events.find("status", Duration::from_secs(5), |_| true);

    // Inject: its records come, with its id, from its start on.
    let reply = live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "target": "service ssh", "duration": "4s"}));
    assert_eq!(reply.status, 201, "{reply:?}");
    let scan = reply.json();
    let scan_id = scan["episode_id"].as_str().unwrap().to_owned();
    assert!(scan_id.ends_with("-s0"), "{scan}");
    events.find("episode_start", Duration::from_secs(20), |data| data["episode_id"] == scan_id.as_str());
    let listed = get(port, "/v1/episodes").json();
    let all: Vec<&Value> = listed["active"].as_array().unwrap().iter().chain(listed["finished"].as_array().unwrap()).collect();
    assert!(all.iter().any(|episode| episode["episode_id"] == scan_id.as_str() && episode["injected"] == true), "{listed}");

    // End an episode early; ending it again is a conflict, an unknown one is not found.
    let reply = live.call("POST", "/v1/episodes", json!({"kind": "brute_force", "duration": "1h"}));
    assert_eq!(reply.status, 201, "{reply:?}");
    let brute_id = reply.json()["episode_id"].as_str().unwrap().to_owned();
    events.find("episode_start", Duration::from_secs(20), |data| data["episode_id"] == brute_id.as_str());
    let reply = call(port, "DELETE", &format!("/v1/episodes/{brute_id}"), None, &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    let ended = wait_finished(&live, &brute_id);
    assert_eq!(ended["complete"], false, "{ended}");
    let again = call(port, "DELETE", &format!("/v1/episodes/{brute_id}"), None, &[]);
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(call(port, "DELETE", "/v1/episodes/nothing-s99", None, &[]).status, 404);
    wait_finished(&live, &scan_id);

    // Rate, speed, chaos, pause and resume.
    let rate = live.call("PUT", "/v1/rate", json!({"eps": 800}));
    assert_eq!(rate.status, 200, "{rate:?}");
    let rate_at = rate.json()["offset_ms"].as_u64().unwrap();
    assert_eq!(live.call("PUT", "/v1/speed", json!({"speed": 4})).status, 200);
    assert_eq!(live.status()["speed"], 4.0);
    let chaos = live.call("PUT", "/v1/chaos", json!({"latency_spike_prob": 0.08}));
    assert_eq!(chaos.status, 200, "{chaos:?}");
    let chaos_at = chaos.json()["offset_ms"].as_u64().unwrap() as i64;
    live.wait_offset(chaos_at as u64 + 4_000);
    assert_eq!(call(port, "POST", "/v1/pause", None, &[]).status, 200);
    let second = call(port, "POST", "/v1/pause", None, &[]);
    assert_eq!(second.status, 409, "{second:?}");
    std::thread::sleep(Duration::from_millis(300));
    let held = live.status();
    assert_eq!(held["paused"], true);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(live.status()["offset_ms"], held["offset_ms"], "logical time stands still while paused");
    assert_eq!(call(port, "POST", "/v1/resume", None, &[]).status, 200);
    assert_eq!(call(port, "POST", "/v1/resume", None, &[]).status, 409);

    // Bad requests: a 4xx naming the field and what is allowed.
    assert_field(&live.call("POST", "/v1/episodes", json!({"kind": "nope"})), 400, "kind");
    assert_field(&live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "difficulty": "loud"})), 400, "difficulty");
    assert_field(&live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "duration": "0s"})), 400, "duration");
    assert_field(&live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "duration": "3d"})), 400, "duration");
    let past = live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "at": "2001-01-01T00:00:00Z"}));
    assert_field(&past, 400, "at");
    assert!(past.body.contains("in the past"), "{past:?}");
    assert_field(&live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "target": "host 192.168.0.1"})), 400, "target");
    assert_field(&live.call("POST", "/v1/episodes", json!({"kind": "port_scan", "colour": "red"})), 400, "colour");
    let fast = live.call("PUT", "/v1/rate", json!({"eps": 5e7}));
    assert_field(&fast, 400, "eps");
    assert!(fast.json()["allowed"].as_str().unwrap().contains("1000000"), "{fast:?}");
    assert_field(&live.call("PUT", "/v1/chaos", json!({"latency_spike_prob": 2})), 400, "latency_spike_prob");
    assert_field(&live.call("PUT", "/v1/chaos", json!({"port_scan_prob": 0.1})), 400, "port_scan_prob");
    assert_field(&live.call("PUT", "/v1/speed", json!({"speed": 0})), 400, "speed");
    assert_field(&call(port, "PUT", "/v1/rate", Some("not json"), &[]), 400, "body");
    let huge = "x".repeat(100_000);
    assert_eq!(call(port, "PUT", "/v1/rate", Some(&huge), &[]).status, 413);
    assert_eq!(get(port, "/v1/nope").status, 404);
    assert_eq!(call(port, "PATCH", "/v1/rate", Some("{}"), &[]).status, 405);
    assert_eq!(call(port, "PUT", "/v1/rate", Some(r#"{"eps": 10}"#), &[("Origin", "http://evil.example")]).status, 403);
    // DNS rebinding: a page whose name points at 127.0.0.1 is same-origin to its browser.
    let rebound = format!("evil.example:{port}");
    let rebound_origin = format!("http://{rebound}");
    let reply = call(port, "PUT", "/v1/rate", Some(r#"{"eps": 10}"#), &[("Host", &rebound), ("Origin", &rebound_origin)]);
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(call(port, "GET", "/v1/status", None, &[("Host", &format!("localhost:{port}"))]).status, 200);

    // The metrics count what was accepted and what was refused, by endpoint.
    let exposition = scrape(metrics_port);
    assert_eq!(sample(&exposition, r#"netchaos_control_requests_total{endpoint="inject",outcome="accepted"}"#), 2.0, "{exposition}");
    assert!(sample(&exposition, r#"netchaos_control_requests_total{endpoint="inject",outcome="rejected"}"#) >= 7.0);
    assert_eq!(sample(&exposition, r#"netchaos_control_requests_total{endpoint="end",outcome="rejected"}"#), 2.0);
    assert_eq!(sample(&exposition, r#"netchaos_control_requests_total{endpoint="pause",outcome="accepted"}"#), 1.0);

    live.finish(Duration::from_secs(120));
    let records = live.records();
    let manifest = manifest(&live);
    let start_ms = start_ms(&manifest);
    let scan_starts =
        humantime::parse_rfc3339(scan["starts"].as_str().unwrap()).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64;
    let scan_records: Vec<&Value> = records.iter().filter(|record| episode_of(record) == Some(scan_id.as_str())).collect();
    assert!(scan_records.len() > 20, "the injected scan wrote {} records", scan_records.len());
    for record in &scan_records {
        let at = time_ms(record);
        // Flow records carry whole seconds.
        assert!(
            at >= scan_starts / 1000 * 1000 && at < scan_starts + 4_000 + 1_000,
            "a scan record at {at}, the scan ran from {scan_starts} for 4 s"
        );
        assert_eq!(record["label"]["kind"], "port_scan");
    }
    assert!(records.iter().any(|record| episode_of(record) == Some(brute_id.as_str())));
    let brute_last = records.iter().filter(|record| episode_of(record) == Some(brute_id.as_str())).map(time_ms).max().unwrap();
    assert!(brute_last < start_ms + 40_000 - 5_000, "the ended brute force kept going until {brute_last}");
    // The chaos change: latency spikes go from 1% to 8% of the records.
    let share = |from: i64, to: i64| {
        let window: Vec<&Value> = records.iter().filter(|record| (from..to).contains(&(time_ms(record) - start_ms))).collect();
        window.iter().filter(|record| record["label"]["kind"] == "latency_spike").count() as f64 / window.len().max(1) as f64
    };
    let (before, after) = (share(0, rate_at as i64 - 1_000), share(chaos_at + 1_000, 40_000));
    assert!(after > 3.0 * before && after > 0.04, "latency spikes were {before} of records before the change, {after} after");
    // The journal and the manifest hold every accepted command, in order, without the wall clock deciding anything.
    let names: Vec<String> = manifest["control"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| match &entry["action"] {
            Value::String(name) => name.clone(),
            Value::Object(object) => object.keys().next().unwrap().clone(),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(names, ["inject", "inject", "end", "rate", "speed", "chaos", "pause", "resume"]);
    let journal = lines(&live.path("journal.jsonl"));
    assert_eq!(journal[0]["journal"], 1);
    assert_eq!(&journal[1..], manifest["control"].as_array().unwrap().as_slice());
}

#[test]
fn a_ramp_reaches_its_rate() {
    // Only the baseline: episodes add their records on top of the rate.
    let mut args = vec!["--seed", "12", "--eps", "1000", "--duration", "60s", "--workers", "2", "--speed", "6", "--lookalikes", "off"];
    args.extend(["--port-scan-prob", "0", "--data-exfil-prob", "0"]);
    let hourly: Vec<String> = KIND_FLAGS.iter().map(|kind| format!("--{kind}-per-hour")).collect();
    for flag in &hourly {
        args.extend([flag.as_str(), "0"]);
    }
    let mut live = Live::start(&args);
    live.wait_offset(3_000);
    let reply = live.call("PUT", "/v1/rate", json!({"eps": 3000, "ramp": "10s"}));
    assert_eq!(reply.status, 200, "{reply:?}");
    let at = reply.json()["offset_ms"].as_u64().unwrap() as i64;
    assert!(live.status()["rate"]["ramp"]["to"] == 3000.0);
    live.finish(Duration::from_secs(60));
    let manifest = manifest(&live);
    let start_ms = humantime::parse_rfc3339(manifest["settings"]["start_time"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let times: Vec<i64> = live.records().iter().map(|record| time_ms(record) - start_ms).collect();
    let count = |from: i64, to: i64| times.iter().filter(|time| (from..to).contains(time)).count() as f64;
    // Before the change, 1,000 a second.
    let before = count(0, at / 1000 * 1000);
    let expected = (at / 1000) as f64 * 1000.0;
    assert!((before - expected).abs() <= expected * 0.01, "{before} records before the ramp, {expected} expected");
    // After the ramp, every 10-second window holds 3,000 a second, within 1%.
    let mut from = (at + 10_000 + 999) / 1000 * 1000;
    let mut windows = 0;
    while from + 10_000 <= 60_000 {
        let got = count(from, from + 10_000);
        assert!((got - 30_000.0).abs() <= 300.0, "{got} records in [{from}, {}) ms, 30,000 expected", from + 10_000);
        from += 10_000;
        windows += 1;
    }
    assert!(windows >= 3, "only {windows} whole windows after the ramp");
    // Halfway up the ramp, about 2,000 a second: a flow is stamped with its end second, up to about
    // a second after it was written, which on a ramp of 200/s each second moves a few percent.
    let middle = count(at + 4_000, at + 6_000);
    assert!((middle - 4_000.0).abs() <= 4_000.0 * 0.12, "{middle} records in the ramp's middle 2 s");
    assert!(middle > count(at, at + 2_000) * 1.3 && middle < count(at + 8_000, at + 10_000), "the rate did not rise across the ramp");
    // The run still ends at its logical duration.
    assert!(times.iter().all(|time| *time < 60_000), "a record after the end");
    assert_eq!(manifest["complete"], true);
}

#[test]
fn the_token_guards_a_non_loopback_address_and_appears_nowhere() {
    let token = "s3cret-T0KEN-4b8e";
    let port = free_port();
    let address = format!("0.0.0.0:{port}");
    // Without a token, a non-loopback address refuses to start.
    let refused = netchaos().args(["generate", "--count", "10", "--output", "/dev/null", "--control-addr", &address]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--control-token"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut child = netchaos()
        .args(["generate", "--seed", "14", "--eps", "200", "--duration", "6s", "--control-addr", &address])
        .arg("--output")
        .arg(path("out.jsonl"))
        .arg("--manifest")
        .arg(path("manifest.json"))
        .arg("--journal")
        .arg(path("journal.jsonl"))
        .arg("--episodes")
        .arg(path("episodes.jsonl"))
        .env("NETCHAOS_CONTROL_TOKEN", token)
        .env("NETCHAOS_LOG", "debug")
        .stderr(File::create(path("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    http::wait_for_server(port);
    assert_eq!(get(port, "/v1/status").status, 401);
    assert_eq!(call(port, "GET", "/v1/status", None, &[("Authorization", "Bearer wrong")]).status, 401);
    assert_eq!(call(port, "POST", "/v1/pause", None, &[("Authorization", "Bearer s3cret-T0KEN-4b8f")]).status, 401);
    let bearer = format!("Bearer {token}");
    assert_eq!(call(port, "GET", "/v1/status", None, &[("Authorization", &bearer)]).status, 200);
    let injected = call(port, "POST", "/v1/episodes", Some(r#"{"kind": "beaconing", "duration": "2s"}"#), &[("Authorization", &bearer)]);
    assert_eq!(injected.status, 201, "{injected:?}");
    // The page itself holds no secret; the API behind it does.
    assert_eq!(get(port, "/").status, 200);
    assert!(child.wait().unwrap().success());
    for name in ["out.jsonl", "manifest.json", "journal.jsonl", "episodes.jsonl", "stderr.txt"] {
        let text = std::fs::read_to_string(path(name)).unwrap();
        assert!(!text.is_empty() || name == "episodes.jsonl", "{name} is empty");
        assert!(!text.contains(token), "the token is in {name}");
    }
    assert!(std::fs::read_to_string(path("journal.jsonl")).unwrap().contains("beaconing"));
}
