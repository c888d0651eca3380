//! What `netchaos score` reads: alerts by event ids, OCSF Detection Findings, `--match time`,
//! score series; and bad input, each refused with one line and exit 2, never a panic.

use std::process::Output;

use serde_json::{Value, json};

use super::soc::{RUN, episodes, group, records, write_lines};
use crate::common::cli::{netchaos, summary};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write_lines(&dir.path().join("episodes.jsonl"), &episodes());
        write_lines(&dir.path().join("records.jsonl"), &records());
        Fixture { dir }
    }

    /// `score` of these alert lines (raw text), with the records, and `flags`.
    fn score(&self, alerts: &str, flags: &[&str]) -> Output {
        let path = |name: &str| self.dir.path().join(name);
        std::fs::write(path("alerts.jsonl"), alerts).unwrap();
        let span: &[&str] = if flags.contains(&"--span") { &[] } else { &["--span", "2026-01-01T00:00:00Z..2026-01-01T01:00:00Z"] };
        netchaos()
            .arg("score")
            .arg("--alerts")
            .arg(path("alerts.jsonl"))
            .arg("--episodes")
            .arg(path("episodes.jsonl"))
            .arg("--records")
            .arg(path("records.jsonl"))
            .args(span)
            .args(["--random-rounds", "1"])
            .args(flags)
            .output()
            .unwrap()
    }

    fn json(&self, alerts: &[Value], flags: &[&str]) -> Value {
        let text: String = alerts.iter().map(|alert| format!("{alert}\n")).collect();
        let output = self.score(&text, &[flags, &["--json"]].concat());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        summary(&output)
    }
}

/// A refusal: exit 2, one line on stderr that mentions `mentions`.
fn refused(output: &Output, mentions: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(mentions), "{mentions:?} in {stderr}");
}

#[test]
fn alerts_by_event_ids_match_through_the_labels_and_time_them_by_their_records() {
    let fixture = Fixture::new();
    // Records 8 (E2, at 11:40) and 6 (normal): E2 detected by event ids, at its record's time.
    let report = fixture.json(&[json!({"alert_id": "x", "event_ids": [format!("{RUN}-0-8"), format!("{RUN}-0-6")]})], &[]);
    assert_eq!(report["matched_by"], json!({"event_ids": 1}), "{report}");
    let subtle = &group(&report, "port_scan/subtle")["soc"];
    assert_eq!(subtle["detected"], 1, "{subtle}");
    assert_eq!(subtle["time_to_detect"]["p50_ms"], 100_000, "E2 starts at 10:00, its record is at 11:40");
    // Record level, overall: 1 of the 2 flagged ids is labelled (precision 1/2), of 7 labelled.
    let record_level = &group(&report, "overall")["ml"]["record_level"];
    assert_eq!(record_level["precision"], 0.5, "{record_level}");
    assert!((record_level["recall"].as_f64().unwrap() - 1.0 / 7.0).abs() < 1e-12, "{record_level}");
    // Only normal records: a false alert.
    let normal = fixture.json(&[json!({"alert_id": "y", "event_ids": [format!("{RUN}-0-7")]})], &[]);
    assert_eq!(normal["matched_by"], json!({"unmatched": 1}), "{normal}");
}

#[test]
fn ocsf_detection_findings_are_read_as_alerts() {
    let fixture = Fixture::new();
    let finding = json!({
        "class_uid": 2004, "category_uid": 2, "activity_id": 1, "time": 1_767_225_630_000_i64,
        "finding_info": {"uid": "f-1", "title": "Port scan", "types": ["port_scan"],
                         "attacks": [{"technique": {"uid": "T1046", "name": "Network Service Discovery"}}],
                         "analytic": {"name": "reject_burst"}},
        "evidences": [{"src_endpoint": {"ip": "203.0.113.5"}, "dst_endpoint": {"ip": "10.0.0.10"}}],
        "risk_score": 80
    });
    let report = fixture.json(&[finding], &[]);
    assert_eq!(report["matched_by"], json!({"time+entity": 1}), "{report}");
    let port_scan = &group(&report, "port_scan")["soc"];
    assert_eq!((port_scan["detected"].as_u64(), &port_scan["techniques"]["covered"]), (Some(1), &json!(["T1046"])));
    assert_eq!(port_scan["time_to_detect"]["p50_ms"], 30_000, "OCSF times are epoch ms: 30 s after E1's start");
    refused(&fixture.score(&json!({"class_uid": 4001, "time": 1}).to_string(), &[]), "not a Detection Finding");
}

#[test]
fn match_time_matches_alerts_without_an_entity_and_is_needed_for_them() {
    let fixture = Fixture::new();
    let alert = json!({"alert_id": "t", "time": "2026-01-01T00:15:00+00:00"}).to_string();
    refused(&fixture.score(&alert, &[]), "--match time");
    let output = fixture.score(&alert, &["--match", "time", "--json"]);
    let report = summary(&output);
    assert_eq!(report["matched_by"], json!({"time": 1}), "{report}");
    assert_eq!(group(&report, "port_scan/subtle")["soc"]["detected"], 1, "15:00 is inside E2 (10:00-20:00)");
    // An offset is honoured: 01:15+01:00 is 00:15Z.
    let offset = fixture.score(&json!({"alert_id": "o", "time": "2026-01-01T01:15:00+01:00"}).to_string(), &["--match", "time", "--json"]);
    assert_eq!(summary(&offset)["matched_by"], json!({"time": 1}));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let fixture = Fixture::new();
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "alerts.jsonl:1: not JSON"),
        (json!({"time": "2026-01-01T00:00:30Z"}).to_string(), "`alert_id` is required"),
        (json!({"alert_id": "n"}).to_string(), "has nothing to match on"),
        (json!({"alert_id": "k", "time": 5, "entity": {"src": "10.0.0.1"}, "kind": "portscan"}).to_string(), "unknown kind `portscan`"),
        (json!({"alert_id": "f", "time": 5, "severity": 3}).to_string(), "unknown field `severity`"),
        (json!({"alert_id": "e", "time": 5, "entity": {"src": "not-an-ip"}}).to_string(), "is not an IP address"),
        (json!({"alert_id": "s", "start": 10, "end": 5, "entity": {"src": "10.0.0.1"}}).to_string(), "`end` is before `start`"),
        (json!({"alert_id": "t", "time": "yesterday", "entity": {"src": "10.0.0.1"}}).to_string(), "is not a time"),
        (json!({"alert_id": "r", "event_ids": ["1111111111111111-0-1"]}).to_string(), "of another run"),
        (json!({"alert_id": "m", "event_ids": [format!("{RUN}-0-999")]}).to_string(), "which the records do not hold"),
        (json!({"alert_id": "x", "time": 5, "entity": {"src": "10.0.0.1"}, "score": "high"}).to_string(), "`score` is a finite number"),
        (
            format!(
                "{}\n{}",
                json!({"alert_id": "d", "time": 5, "entity": {"src": "10.0.0.1"}}),
                json!({"alert_id": "d", "time": 6, "entity": {"src": "10.0.0.2"}})
            ),
            "is used twice",
        ),
    ];
    for (alert, mentions) in &cases {
        refused(&fixture.score(&format!("{alert}\n"), &[]), mentions);
    }
    // Records of an episode the episodes file does not hold: the files are of different runs.
    let path = |name: &str| fixture.dir.path().join(name);
    let mut foreign = records();
    foreign.push(json!({"event_type": "vpc_flow", "event_id": "2222222222222222-0-0", "start": 1_767_225_700,
                        "label": {"kind": "port_scan", "episode_id": "2222222222222222-0-e0"}}));
    write_lines(&path("records.jsonl"), &foreign);
    refused(&fixture.score(&json!({"alert_id": "a", "time": 5, "entity": {"src": "10.0.0.1"}}).to_string(), &[]), "from another run");
    write_lines(&path("records.jsonl"), &records());
    // Flags and files.
    let alert = json!({"alert_id": "a", "time": 5, "entity": {"src": "10.0.0.1"}}).to_string();
    for (flags, mentions) in [
        (&["--min-recall", "1.5"][..], "--min-recall 1.5"),
        (&["--max-fp-per-hour=-1"][..], "--max-fp-per-hour -1"),
        (&["--vus-window", "0"][..], "--vus-window 0"),
        (&["--window", "soon"][..], "soon"),
        (&["--span", "2026-01-02T00:00:00Z..2026-01-01T00:00:00Z"][..], "ends before it starts"),
        (&["--bin", "1ms", "--span", "2026-01-01T00:00:00Z..2027-01-01T00:00:00Z"][..], "time steps"),
        (&["--bin", "0s"][..], "--bin 0 is no time step"),
        (&["--span", "1970-01-01T00:00:00Z..1970-01-02T00:00:00Z"][..], "holds none of the run's episodes"),
    ] {
        refused(&fixture.score(&alert, flags), mentions);
    }
    let missing = netchaos().args(["score", "--alerts", "x", "--episodes", "/nonexistent/episodes.jsonl"]).output().unwrap();
    refused(&missing, "cannot read --episodes");
    refused(&netchaos().args(["score", "--episodes", "x"]).output().unwrap(), "give --alerts FILE or --scores FILE");
    refused(&netchaos().args(["score", "--alerts", "-", "--episodes", "-"]).output().unwrap(), "only one of");
    refused(&netchaos().args(["score", "--alerts", "x", "--store", "/nonexistent/store"]).output().unwrap(), "there is no store");
    std::fs::write(path("empty.jsonl"), "").unwrap();
    let empty =
        netchaos().arg("score").arg("--alerts").arg(path("empty.jsonl")).arg("--episodes").arg(path("empty.jsonl")).output().unwrap();
    refused(&empty, "holds no episodes");
}

#[test]
fn hostile_alert_files_never_panic() {
    let fixture = Fixture::new();
    let seed_lines = [
        json!({"alert_id": "a1", "time": "2026-01-01T00:00:30Z", "entity": {"src": "203.0.113.5"}, "kind": "port_scan"}).to_string(),
        json!({"alert_id": "a2", "start": 1_767_225_610, "end": 1_767_225_700, "entity": {"service": "ssh"}}).to_string(),
        json!({"alert_id": "a3", "event_ids": [format!("{RUN}-0-1")]}).to_string(),
        json!({"class_uid": 2004, "time": 1_767_225_630_000_i64, "finding_info": {"uid": "f"}, "evidences": [{"src_endpoint": {"ip": "203.0.113.5"}}]}).to_string(),
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut accepted, mut refusals) = (0, 0);
    for _ in 0..150 {
        let mut line = seed_lines[(next() % 4) as usize].clone().into_bytes();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % line.len().max(1);
            match next() % 4 {
                0 if !line.is_empty() => line[at] = (next() % 256) as u8,
                0 | 1 => line.truncate(at),
                2 => line.insert(at, b"\"{}[]:,-9e99\\"[(next() % 13) as usize]),
                _ => line.splice(at..at, b"1e308".iter().copied()).for_each(drop),
            }
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        let output = fixture.score(&text, &["--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{text}: {stderr}");
        match output.status.code() {
            Some(0) => accepted += 1,
            Some(2) => {
                assert_eq!(stderr.trim().lines().count(), 1, "{text}: {stderr}");
                refusals += 1;
            }
            other => panic!("{text}: exit {other:?}: {stderr}"),
        }
    }
    println!("150 damaged alert files: {accepted} scored, {refusals} refused with one line");
    assert!(refusals > 0);
}

#[test]
fn scores_give_auc_pr_and_vus_and_point_adjustment_is_shown_as_inflated() {
    let fixture = Fixture::new();
    let path = |name: &str| fixture.dir.path().join(name);
    // A window score per minute: 0.9 on the minutes E1 and E2 run (0:00-1:00, 10:00-20:00), 0.1
    // elsewhere: a perfect ranking of the port-scan time steps.
    let windows: Vec<Value> = (0..60)
        .map(|minute| {
            let hot = minute == 0 || (10..20).contains(&minute);
            json!({"window_start": 1_767_225_600 + minute * 60, "score": if hot { 0.9 } else { 0.1 }})
        })
        .collect();
    write_lines(&path("scores.jsonl"), &windows);
    let alert = json!({"alert_id": "p", "time": at_minute(15), "entity": {"src": "203.0.113.6"}}).to_string();
    let output = fixture.score(&alert, &["--scores", path("scores.jsonl").to_str().unwrap(), "--legacy-pa", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = summary(&output);
    let port_scan = &group(&report, "port_scan")["ml"];
    let scores = &port_scan["scores"];
    // Real: E1 and E2 plus their 60 s collars; the hot minutes miss only the collars, so the
    // ranking is near perfect but not quite.
    let auc = scores["auc_pr"].as_f64().unwrap();
    assert!(auc > 0.8 && auc <= 1.0, "{scores}");
    let vus = scores["vus_pr"].as_f64().unwrap();
    assert!(vus > 0.8 && vus <= 1.0, "{scores}");
    // One point alert inside E2: point adjustment credits all of E2 (and its collar), range-based
    // recall credits one step of it.
    let adjusted = port_scan["point_adjusted"]["recall"].as_f64().unwrap();
    let range = port_scan["range_based"]["flat"]["recall"].as_f64().unwrap();
    assert!(adjusted > 0.8 && range < 0.1, "point-adjusted recall {adjusted} against range-based {range}");
    let table = fixture.score(&alert, &["--scores", path("scores.jsonl").to_str().unwrap(), "--legacy-pa"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("(inflated)"), "{}", String::from_utf8_lossy(&table.stdout));
    // Without --legacy-pa it is not computed.
    assert!(group(&fixture.json(&[serde_json::from_str(&alert).unwrap()], &[]), "port_scan")["ml"]["point_adjusted"].is_null());
    // A score series that is not all one form is refused.
    std::fs::write(path("mixed.jsonl"), format!("{}\n{}\n", json!({"event_id": "x", "score": 1}), json!({"time": 5, "score": 1}))).unwrap();
    refused(&fixture.score(&alert, &["--scores", path("mixed.jsonl").to_str().unwrap()]), "all `{event_id, score}` lines");
}

fn at_minute(minute: i64) -> String {
    format!("2026-01-01T00:{minute:02}:00Z")
}
