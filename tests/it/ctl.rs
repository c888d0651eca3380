//! `netchaos ctl` against a running `netchaos generate`, over a real socket: every subcommand and
//! its effect (on the status, the episodes, the event stream and the records written), the
//! one-line errors and their exit codes (2 refused, 1 out of reach), and the token.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::cli::{free_port, netchaos};

/// No background chaos: the only episodes are the ones a test injects.
const QUIET_CHAOS: [&str; 8] = ["--latency-spike-prob", "0", "--port-scan-prob", "0", "--data-exfil-prob", "0", "--conn-reset-prob", "0"];

/// A generator serving its control API on a port of its own, its files in a directory.
struct Generator {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Generator {
    fn start(args: &[&str]) -> Generator {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = netchaos()
            .arg("generate")
            .arg("--output")
            .arg(dir.path().join("out.jsonl"))
            .arg("--episodes")
            .arg(dir.path().join("episodes.jsonl"))
            .args(["--control-addr", &format!("127.0.0.1:{port}"), "-q", "--workers", "2"])
            .args(QUIET_CHAOS)
            .args(args)
            .stdout(Stdio::null())
            .stderr(File::create(dir.path().join("stderr.txt")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on :{port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Generator { child: Some(child), port, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `netchaos ctl --addr 127.0.0.1:PORT ARGS`, not yet run.
    fn ctl(&self, args: &[&str]) -> std::process::Command {
        let mut command = netchaos();
        command.args(["ctl", "--addr", &format!("127.0.0.1:{}", self.port)]).args(args);
        command
    }

    /// Its stdout, having checked it succeeded.
    fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.ctl(args).output().unwrap(), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let text = self.ok(&with_json);
        assert_eq!(text.lines().count(), 1, "{args:?}: not one line: {text}");
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{args:?}: not JSON ({error}): {text}"))
    }

    fn status(&self) -> Value {
        self.json(&["status"])
    }

    /// The episode `id` once `GET /v1/episodes` lists it as `list` (`active` or `finished`) and
    /// it passes `ready`.
    fn wait_episode(&self, list: &str, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let episodes = self.json(&["episodes"]);
            let found = episodes[list].as_array().unwrap().iter().find(|episode| episode["episode_id"] == id && ready(episode));
            if let Some(found) = found {
                return found.clone();
            }
            assert!(Instant::now() < deadline, "episode {id} never was {list}: {episodes}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish(&mut self) {
        let mut child = self.child.take().unwrap();
        let status = wait(&mut child, Duration::from_secs(60));
        let stderr = std::fs::read_to_string(self.path("stderr.txt")).unwrap_or_default();
        assert!(status.success(), "generate failed: {stderr}");
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn succeeded(output: &Output, args: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ctl {args:?} failed ({:?}): {stderr}", output.status.code());
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The one line on stderr of a ctl that exited with `code`, nothing on stdout.
fn failed(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    stderr
}

/// A refusal: exit 2, one line `netchaos ctl: ...` that contains each of `words`.
fn refused(generator: &Generator, args: &[&str], words: &[&str]) {
    let line = failed(&generator.ctl(args).output().unwrap(), 2);
    assert!(line.starts_with("netchaos ctl: "), "{args:?}: {line}");
    for word in words {
        assert!(line.contains(word), "{args:?}: no `{word}` in {line}");
    }
}

#[test]
fn every_subcommand_drives_a_live_generator_and_its_effects_show() {
    let mut generator = Generator::start(&["--seed", "21", "--eps", "200", "--duration", "60s", "--speed", "2"]);

    // Status, for machines and for people.
    let status = generator.status();
    assert_eq!(status["run_id"].as_str().map(str::len), Some(16), "{status}");
    assert_eq!(status["speed"], 2.0);
    assert_eq!(status["rate"]["target"], 200.0);
    let shown = generator.ok(&["status"]);
    assert!(shown.contains("rate          target 200/s"), "{shown}");
    assert!(shown.contains("speed         2x\n"), "{shown}");

    // Watch sees the injection and its start. It prints statuses (not counted) from the moment
    // it is subscribed: the first one says it is.
    let mut watch = generator.ctl(&["watch", "--json", "--status", "--count", "2"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut watched = BufReader::new(watch.stdout.take().unwrap());
    let mut first = String::new();
    watched.read_line(&mut first).unwrap();
    assert!(first.contains(r#""event":"status""#), "{first}");

    let injected = generator.ok(&["inject", "port_scan", "--target", "service ssh", "--for", "4s"]);
    let scan_id = injected.split_whitespace().nth(1).unwrap().to_owned();
    assert!(injected.starts_with("injected ") && scan_id.ends_with("-s0"), "{injected}");
    assert!(injected.contains("(port_scan): starts 20"), "{injected}");
    assert!(wait(&mut watch, Duration::from_secs(30)).success());
    let events: Vec<Value> = watched.lines().map(|line| serde_json::from_str(&line.unwrap()).unwrap()).collect();
    let named: Vec<&Value> = events.iter().filter(|event| event["event"] != "status").collect();
    assert_eq!(named.len(), 2, "{events:?}");
    assert_eq!(named[0]["event"], "inject");
    assert_eq!(named[0]["data"]["action"]["inject"]["episode_id"], scan_id.as_str());
    assert_eq!(named[1]["event"], "episode_start");
    assert_eq!(named[1]["data"]["episode_id"], scan_id.as_str());

    // Episodes: the injection in the table, with its target.
    let table = generator.ok(&["episodes"]);
    let row = table.lines().find(|line| line.starts_with(&scan_id)).unwrap_or_else(|| panic!("{scan_id} not listed: {table}"));
    assert!(row.contains("port_scan") && row.ends_with("service ssh"), "{row}");
    assert!(table.starts_with("ID "), "{table}");

    // End: the episode ends early; a second end is a conflict, an unknown id is not found.
    let brute = generator.json(&["inject", "brute_force", "--for", "1h"]);
    let brute_id = brute["episode_id"].as_str().unwrap().to_owned();
    generator.wait_episode("active", &brute_id, |episode| !episode["start"].is_null());
    let ended = generator.ok(&["end", &brute_id]);
    assert!(ended.starts_with(&format!("ending {brute_id} at 20")), "{ended}");
    let finished = generator.wait_episode("finished", &brute_id, |_| true);
    assert_eq!(finished["complete"], false, "{finished}");
    refused(&generator, &["end", &brute_id], &["409", "already finished"]);
    refused(&generator, &["end", "nothing-s99"], &["404", "nothing-s99"]);

    // Rate (with a ramp), speed, chaos.
    assert!(generator.ok(&["rate", "300", "--ramp", "2s"]).starts_with("rate 300/s over 2s at "));
    let status = generator.status();
    assert_eq!(status["rate"]["target"], 300.0, "{status}");
    assert_eq!(status["rate"]["ramp"]["to"], 300.0, "{status}");
    assert!(generator.ok(&["speed", "4"]).starts_with("speed 4x at "));
    assert_eq!(generator.status()["speed"], 4.0);
    let chaos = generator.json(&["chaos", "--latency-spike-prob", "0.05", "--difficulty", "subtle"]);
    assert!(chaos["command"].as_u64().is_some(), "{chaos}");
    refused(&generator, &["chaos", "--latency-spike-prob", "2"], &["400", "latency_spike_prob"]);

    // Pause and resume, each refused when it cannot apply.
    assert!(generator.ok(&["pause"]).starts_with("paused at "));
    assert_eq!(generator.status()["paused"], true);
    refused(&generator, &["pause"], &["409", "already paused"]);
    assert!(generator.ok(&["resume"]).starts_with("resumed at "));
    assert_eq!(generator.status()["paused"], false);
    refused(&generator, &["resume"], &["409", "not paused"]);

    // Bad requests name their field.
    refused(&generator, &["inject", "nope"], &["400", "kind", "unknown kind `nope`", "port_scan"]);
    refused(&generator, &["inject", "port_scan", "--difficulty", "loud"], &["400", "difficulty"]);
    refused(&generator, &["inject", "port_scan", "--param", "colour=3"], &["400", "parameters.colour"]);
    refused(&generator, &["inject", "port_scan", "--at", "2001-01-01T00:00:00Z"], &["400", "at", "in the past"]);
    refused(&generator, &["rate", "50000000"], &["400", "eps"]);

    // The scan's records are in the output once the run is over (at full speed).
    generator.wait_episode("finished", &scan_id, |_| true);
    assert!(generator.ok(&["speed", "max"]).starts_with("speed max at "));
    generator.finish();
    let output = std::fs::read_to_string(generator.path("out.jsonl")).unwrap();
    let scan_records = output
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["label"]["episode_id"] == scan_id.as_str())
        .count();
    assert!(scan_records > 0, "no record of {scan_id} in the output");
    // The generator is gone: ctl cannot reach it.
    let gone = failed(&generator.ctl(&["status"]).output().unwrap(), 1);
    assert!(gone.starts_with(&format!("netchaos ctl: cannot reach the control API at 127.0.0.1:{}: ", generator.port)), "{gone}");
}

#[test]
fn a_server_out_of_reach_is_exit_1_and_bad_flags_are_exit_2_each_in_one_line() {
    let port = free_port();
    let unreachable = failed(&netchaos().args(["ctl", "--addr", &format!("http://127.0.0.1:{port}/"), "status"]).output().unwrap(), 1);
    assert!(unreachable.contains(&format!("cannot reach the control API at 127.0.0.1:{port}")), "{unreachable}");
    // The tests' environment says NETCHAOS_CONTROL_ADDR=off: ctl needs an address.
    let off = failed(&netchaos().args(["ctl", "episodes"]).output().unwrap(), 2);
    assert!(off.starts_with("netchaos ctl: ") && off.contains("pass --addr"), "{off}");
    let bad_address = failed(&netchaos().args(["ctl", "--addr", "127.0.0.1:99999", "status"]).output().unwrap(), 2);
    assert!(bad_address.contains("--addr"), "{bad_address}");
    for args in [&["speed", "fast"][..], &["chaos"], &["rate"], &["inject", "port_scan", "--param", "ports"], &["frobnicate"]] {
        let output = netchaos().args(["ctl", "--addr", &format!("127.0.0.1:{port}")]).args(args).output().unwrap();
        let line = failed(&output, 2);
        assert!(!line.contains("cannot reach"), "{args:?} was sent: {line}");
    }
}

#[test]
fn the_token_is_required_never_printed_and_watch_ends_with_the_run() {
    let token = "ctl-test-s3cret";
    let generator = Generator::start(&["--seed", "22", "--eps", "100", "--duration", "5s", "--control-token", token]);
    let without = failed(&generator.ctl(&["status"]).output().unwrap(), 2);
    assert!(without.contains("401") && without.contains("--token"), "{without}");
    let wrong = failed(&generator.ctl(&["--token", "wrong", "status"]).output().unwrap(), 2);
    assert!(wrong.contains("401") && wrong.contains("refused the token"), "{wrong}");
    let empty = failed(&generator.ctl(&["--token", " ", "status"]).output().unwrap(), 2);
    assert!(empty.contains("--token is empty"), "{empty}");

    let status = succeeded(&generator.ctl(&["status", "--json"]).env("NETCHAOS_CONTROL_TOKEN", token).output().unwrap(), &["status"]);
    assert!(status.contains("\"run_id\""), "{status}");
    let help = netchaos().args(["ctl", "--help"]).env("NETCHAOS_CONTROL_TOKEN", token).output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(token), "--help shows the token");

    // Watch follows until the server ends the stream with the run: exit 0.
    let mut watch = generator.ctl(&["watch", "--token", token]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let status = wait(&mut watch, Duration::from_secs(60));
    let output = watch.wait_with_output().unwrap();
    assert!(status.success(), "{status:?}: {}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap();
    assert!(!printed.contains(token), "{printed}");
    assert!(std::fs::read_to_string(generator.path("out.jsonl")).unwrap().lines().count() >= 400, "the run did not finish");
}
