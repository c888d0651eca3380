//! The SOC figures of `netchaos score` on a hand-worked fixture: three attack episodes and a
//! look-alike over one logical hour, seven alerts, and the records of two episodes. Every figure
//! asserted here is worked out by hand in the comments.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::cli::{netchaos, run_ok, summary};

/// 2026-01-01T00:00:00Z in Unix seconds.
const T0: i64 = 1_767_225_600;
pub(crate) const RUN: &str = "00000000000000aa";

fn at(seconds: i64) -> String {
    let (minutes, seconds) = (seconds / 60, seconds % 60);
    format!("2026-01-01T00:{minutes:02}:{seconds:02}.000Z")
}

fn episode(id: &str, kind: &str, difficulty: &str, technique: Option<&str>, span: (i64, i64), sources: &[&str], targets: &[&str]) -> Value {
    json!({
        "episode_id": format!("{RUN}-0-{id}"), "kind": kind, "technique": technique, "difficulty": difficulty,
        "benign": false, "worker": 0, "start": at(span.0), "end": at(span.1), "records": 4, "complete": true,
        "parameters": {}, "actors": {"sources": sources, "targets": targets, "ports": []}
    })
}

/// E1 port_scan overt 0:00-1:00; E2 port_scan subtle 10:00-20:00; E3 brute_force overt 30:00-31:00
/// (service ssh); L1 a port-scan look-alike 40:00-41:00.
pub(crate) fn episodes() -> Vec<Value> {
    let mut e3 = episode("e3", "brute_force", "overt", Some("T1110"), (1800, 1860), &["198.51.100.7"], &["10.0.0.20"]);
    e3["actors"]["service"] = json!("ssh");
    let mut lookalike = episode("l1", "port_scan", "overt", None, (2400, 2460), &["10.0.0.99"], &[]);
    lookalike["benign"] = json!(true);
    lookalike["lookalike"] = json!("vulnerability_scanner");
    vec![
        episode("e1", "port_scan", "overt", Some("T1046"), (0, 60), &["203.0.113.5"], &["10.0.0.10"]),
        episode("e2", "port_scan", "subtle", Some("T1046"), (600, 1200), &["203.0.113.6"], &["10.0.0.11"]),
        e3,
        lookalike,
    ]
}

/// A flow record at `second`, of episode `episode` (or normal).
pub(crate) fn record(seq: u32, second: i64, episode: Option<&str>, bytes: u64, port: u16, host: &str) -> Value {
    let label =
        episode.map(|id| json!({"kind": if id == "e3" { "brute_force" } else { "port_scan" }, "episode_id": format!("{RUN}-0-{id}")}));
    json!({"event_type": "vpc_flow", "event_id": format!("{RUN}-0-{seq}"), "srcaddr": "203.0.113.5", "dstaddr": host,
           "dstport": port, "bytes": bytes, "start": T0 + second, "end": T0 + second, "label": label})
}

/// E1: 4 records at 0:10, 0:20, 0:40, 0:50 (100, 100, 200, 600 bytes; ports 22-25; one host).
/// E3: 2 records at 30:10 and 30:50 (50 bytes each, port 22). Two normal records. One E2 record.
pub(crate) fn records() -> Vec<Value> {
    vec![
        record(0, 10, Some("e1"), 100, 22, "10.0.0.10"),
        record(1, 20, Some("e1"), 100, 23, "10.0.0.10"),
        record(2, 40, Some("e1"), 200, 24, "10.0.0.10"),
        record(3, 50, Some("e1"), 600, 25, "10.0.0.10"),
        record(4, 1810, Some("e3"), 50, 22, "10.0.0.20"),
        record(5, 1850, Some("e3"), 50, 22, "10.0.0.20"),
        record(6, 100, None, 500, 443, "10.0.0.30"),
        record(7, 3000, None, 500, 443, "10.0.0.30"),
        record(8, 700, Some("e2"), 40, 80, "10.0.0.11"),
    ]
}

/// The seven alerts, and what each comes to (collar: the 60 s window).
fn alerts() -> Vec<Value> {
    vec![
        // 0:30, E1's source: detects E1 after 30 s.
        json!({"alert_id": "a1", "time": at(30), "entity": {"src": "203.0.113.5"}, "kind": "port_scan", "technique": "T1046"}),
        // 1:30, E1's target, inside its collar (ends 2:00): a second alert on E1.
        json!({"alert_id": "a2", "time": at(90), "entity": {"dst": "10.0.0.10"}}),
        // 5:00, E1's source, after the collar: late, a false alert.
        json!({"alert_id": "a3", "time": at(300), "entity": {"src": "203.0.113.5"}}),
        // 40:30 on the look-alike's source: a look-alike false alert.
        json!({"alert_id": "a4", "time": at(2430), "entity": {"src": "10.0.0.99"}}),
        // 30:45-30:50 on E3's service, a sub-technique of T1110: detects E3 when its span closes,
        // after 50 s.
        json!({"alert_id": "a5", "start": at(1845), "end": at(1850), "entity": {"service": "ssh"}, "technique": "T1110.001"}),
        // 50:00 on nobody's address, no kind: a false alert counted only overall.
        json!({"alert_id": "a6", "time": at(3000), "entity": {"src": "192.0.2.1"}}),
        // 15:00 on E2's source but naming brute_force: no brute-force episode then: a false alert
        // of brute_force (E2 overlaps in time but is a port scan).
        json!({"alert_id": "a7", "time": at(900), "entity": {"src": "203.0.113.6"}, "kind": "brute_force"}),
    ]
}

pub(crate) fn write_lines(path: &Path, lines: &[Value]) {
    std::fs::write(path, lines.iter().map(|line| format!("{line}\n")).collect::<String>()).unwrap();
}

pub(crate) fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["groups"].as_array().unwrap().iter().find(|group| group["group"] == name).unwrap_or_else(|| panic!("no group {name}: {report}"))
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|value| (value - expected).abs() < 1e-9)
}

#[test]
fn the_soc_figures_of_a_hand_worked_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    write_lines(&path("episodes.jsonl"), &episodes());
    write_lines(&path("records.jsonl"), &records());
    write_lines(&path("alerts.jsonl"), &alerts());
    let output = run_ok(
        netchaos()
            .arg("score")
            .arg("--alerts")
            .arg(path("alerts.jsonl"))
            .arg("--episodes")
            .arg(path("episodes.jsonl"))
            .arg("--records")
            .arg(path("records.jsonl"))
            .args(["--span", "2026-01-01T00:00:00Z..2026-01-01T01:00:00Z", "--json"])
            .arg("--per-episode")
            .arg(path("episodes.csv"))
            .arg("--matches")
            .arg(path("matches.jsonl")),
    );
    let report = summary(&output);
    assert_eq!(report["matched_by"], json!({"time+entity": 3, "late": 1, "lookalike": 1, "unmatched": 2}), "{report}");

    let overall = &group(&report, "overall")["soc"];
    assert_eq!((overall["episodes"].as_u64(), overall["detected"].as_u64()), (Some(3), Some(2)), "{overall}");
    assert_eq!(overall["missed"], json!([format!("{RUN}-0-e2")]));
    // 7 alerts: a1, a2, a5 detected; a3 late, a4 look-alike, a6 and a7 unmatched.
    assert_eq!(
        [&overall["alerts"], &overall["true_alerts"], &overall["false_alerts"], &overall["lookalike_alerts"], &overall["late_alerts"]],
        [&json!(7), &json!(3), &json!(4), &json!(1), &json!(1)]
    );
    assert!(close(&overall["precision"], 3.0 / 7.0), "{overall}");
    assert!(close(&overall["false_alerts_per_hour"], 4.0), "4 false alerts in one hour: {overall}");
    assert!(close(&overall["alerts_per_detected_episode"], 1.5), "3 alerts on 2 episodes: {overall}");
    // Delays 30 s (E1) and 50 s (E3): nearest-rank p50 is the first, p90 the second.
    assert_eq!(overall["time_to_detect"], json!({"p50_ms": 30_000, "p90_ms": 50_000, "max_ms": 50_000}));
    // E1 before 0:30: 2 of 4 records, 200 of 1000 bytes, 2 of 4 ports, its one host. E3 before
    // 30:50: 1 of 2 records, 50 of 100 bytes, its one port and host. Means over the two.
    let damage = &overall["damage"];
    for (field, expected) in [("records", 0.5), ("bytes", 0.35), ("ports", 0.75), ("hosts", 1.0)] {
        assert!(close(&damage[field], expected), "damage {field}: {damage}");
    }
    assert_eq!(overall["techniques"]["expected"], json!(["T1046", "T1110"]));
    assert_eq!(overall["techniques"]["reported"], json!(["T1046", "T1110.001"]));
    assert_eq!(overall["techniques"]["covered"], json!(["T1046", "T1110"]), "a sub-technique covers its parent");

    // Per kind: a1, a2 (E1), a3 (late on E1), a4 (a port-scan look-alike) count for port_scan.
    let port_scan = &group(&report, "port_scan")["soc"];
    assert_eq!((port_scan["episodes"].as_u64(), port_scan["detected"].as_u64(), port_scan["alerts"].as_u64()), (Some(2), Some(1), Some(4)));
    assert!(close(&port_scan["precision"], 0.5) && close(&port_scan["false_alerts_per_hour"], 2.0), "{port_scan}");
    // a5 (E3) and a7 (names brute_force, matches nothing) count for brute_force; a6 for neither.
    let brute_force = &group(&report, "brute_force")["soc"];
    assert_eq!((brute_force["detected"].as_u64(), brute_force["alerts"].as_u64()), (Some(1), Some(2)), "{brute_force}");
    assert!(close(&brute_force["precision"], 0.5), "{brute_force}");
    let subtle = &group(&report, "port_scan/subtle")["soc"];
    assert_eq!((subtle["detected"].as_u64(), subtle["alerts"].as_u64(), &subtle["precision"]), (Some(0), Some(0), &Value::Null));
    assert!(close(&group(&report, "port_scan/overt")["soc"]["recall"], 1.0));

    let csv = std::fs::read_to_string(path("episodes.csv")).unwrap();
    assert_eq!(
        csv,
        format!(
            "episode,kind,difficulty,detected,time_to_detect_ms,alerts,damage_share\n\
             {RUN}-0-e1,port_scan,overt,true,30000,2,0.5000\n\
             {RUN}-0-e2,port_scan,subtle,false,,0,1\n\
             {RUN}-0-e3,brute_force,overt,true,50000,1,0.5000\n"
        )
    );
    let matches: Vec<Value> =
        std::fs::read_to_string(path("matches.jsonl")).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(matches[0], json!({"alert_id": "a1", "outcome": "time+entity", "rule": "time+entity", "episodes": [format!("{RUN}-0-e1")]}));
    assert_eq!(matches[2]["outcome"], "late");
    assert_eq!(matches[3], json!({"alert_id": "a4", "outcome": "lookalike", "rule": "time+entity", "episodes": [format!("{RUN}-0-l1")]}));

    // The gates: recall 2/3 passes 0.6 and fails 0.7; 4 false alerts per hour fail a bound of 3.
    let gate = |flags: &[&str]| {
        netchaos()
            .arg("score")
            .arg("--alerts")
            .arg(path("alerts.jsonl"))
            .arg("--episodes")
            .arg(path("episodes.jsonl"))
            .args(["--span", "2026-01-01T00:00:00Z..2026-01-01T01:00:00Z", "--random-rounds", "0"])
            .args(flags)
            .output()
            .unwrap()
    };
    assert_eq!(gate(&["--min-recall", "0.6", "--max-fp-per-hour", "4"]).status.code(), Some(0));
    let failed = gate(&["--min-recall", "0.7"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("below --min-recall 0.7"));
    assert_eq!(gate(&["--max-fp-per-hour", "3"]).status.code(), Some(1));
}
