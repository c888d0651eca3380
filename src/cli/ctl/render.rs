//! Human output of `netchaos ctl`: the status as a few aligned lines, the episodes as a table, an
//! accepted command as one line (what, when it takes effect, its journal number), and each event
//! of `watch` as one line led by its logical time. Everything reads the server's JSON as it is; a
//! field that is missing shows as `-`, never as a failure.

use serde_json::Value;

use crate::records::Timestamp;

/// A field as text: strings bare, numbers as JSON writes them, absent as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A number as people write it (`2`, not `2.0`); anything else as [`text`].
fn number(value: &Value) -> String {
    value.as_f64().map_or_else(|| text(value), |number| number.to_string())
}

/// A rate: whole numbers without a fraction, others with one decimal.
fn rate(value: &Value) -> String {
    match value.as_f64() {
        Some(eps) if eps.fract() == 0.0 => format!("{eps:.0}/s"),
        Some(eps) => format!("{eps:.1}/s"),
        None => "-".to_owned(),
    }
}

/// `name n, name n` of an object of counts, largest first.
fn counts(value: &Value) -> String {
    let mut pairs: Vec<(&String, u64)> =
        value.as_object().into_iter().flatten().map(|(name, n)| (name, n.as_u64().unwrap_or(0))).filter(|(_, n)| *n > 0).collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if pairs.is_empty() {
        return "none".to_owned();
    }
    pairs.iter().map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
}

/// `GET /v1/status`, one aligned line per subject.
pub(crate) fn status(status: &Value) -> String {
    let speed = match &status["speed"] {
        Value::String(speed) => speed.clone(),
        other => format!("{}x", number(other)),
    };
    let pace = if status["paused"] == true { format!("{speed}, paused") } else { speed };
    let ramp = &status["rate"]["ramp"];
    let ramping =
        if ramp.is_object() { format!(", ramping to {} until {}", rate(&ramp["to"]), text(&ramp["until"])) } else { String::new() };
    let mut lines = vec![
        ("run", text(&status["run_id"])),
        ("logical time", format!("{} (+{})", text(&status["logical_time"]), seconds(&status["offset_ms"]))),
        ("speed", pace),
        ("rate", format!("target {}, achieved {}{ramping}", rate(&status["rate"]["target"]), rate(&status["rate"]["achieved"]))),
        ("records", format!("{} ({})", text(&status["records"]), counts(&status["by_event_type"]))),
        ("labelled", counts(&status["by_kind"])),
        ("episodes", format!("{} active", text(&status["active_episodes"]))),
        ("commands", text(&status["commands"])),
    ];
    if status["ended"] == true {
        lines.push(("ended", "yes: the run has written its last record".to_owned()));
    }
    lines.iter().map(|(name, value)| format!("{name:<12}  {value}\n")).collect()
}

/// Logical ms as seconds: `12.3s`.
fn seconds(offset_ms: &Value) -> String {
    offset_ms.as_u64().map_or_else(|| "-".to_owned(), |ms| format!("{}s", ms as f64 / 1_000.0))
}

/// What state an episode of `GET /v1/episodes` is in.
fn state(episode: &Value, finished: bool) -> &'static str {
    match (finished, episode["cancelled"] == true, episode["complete"] == false) {
        (false, _, _) if episode["start"].is_null() => "pending",
        (false, _, _) => "running",
        (true, true, _) => "cancelled",
        (true, false, true) => "ended early",
        (true, false, false) => "finished",
    }
}

/// `GET /v1/episodes` as a table: active first, then finished, as the server lists them.
pub(crate) fn episodes(listing: &Value) -> String {
    let header = ["ID", "KIND", "DIFFICULTY", "STATE", "START", "END", "RECORDS", "TARGET"].map(str::to_owned);
    let mut rows = vec![header];
    for (list, finished) in [(&listing["active"], false), (&listing["finished"], true)] {
        for episode in list.as_array().into_iter().flatten() {
            let start = match (&episode["start"], &episode["due"]) {
                (Value::Null, Value::Null) => "-".to_owned(),
                (Value::Null, due) => format!("due {}", text(due)),
                (start, _) => text(start),
            };
            let target = match (&episode["target"], &episode["scheduled"]["target"]) {
                (Value::Null, scheduled) => text(scheduled),
                (target, _) => text(target),
            };
            rows.push([
                text(&episode["episode_id"]),
                text(&episode["kind"]),
                text(&episode["difficulty"]),
                state(episode, finished).to_owned(),
                start,
                text(&episode["end"]),
                text(&episode["records"]),
                target,
            ]);
        }
    }
    if rows.len() == 1 {
        return "no episodes yet\n".to_owned();
    }
    table(&rows)
}

/// Rows in columns two spaces apart, the last column unpadded.
fn table(rows: &[[String; 8]]) -> String {
    let mut widths = [0; 8];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// An accepted command: `WHAT at TIME (command N)`.
pub(crate) fn applied(what: &str, answer: &Value) -> String {
    format!("{what} at {} (command {})\n", text(&answer["at"]), text(&answer["command"]))
}

/// An accepted injection: its id, when it starts.
pub(crate) fn injected(kind: &str, answer: &Value) -> String {
    format!(
        "injected {} ({kind}): starts {} (command {}, accepted at {})\n",
        text(&answer["episode_id"]),
        text(answer.get("starts").unwrap_or(&answer["at"])),
        text(&answer["command"]),
        text(&answer["at"])
    )
}

/// Turns the logical offsets of journal entries into times: t0, once a status has told it.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    start_ms: Option<i64>,
}

impl Clock {
    /// Learns t0 from a status (its logical time less its offset).
    pub(crate) fn learn(&mut self, status: &Value) {
        let time = status["logical_time"].as_str().and_then(Timestamp::parse);
        if let (Some(time), Some(offset_ms)) = (time, status["offset_ms"].as_i64()) {
            self.start_ms = Some(time.unix_millis() - offset_ms);
        }
    }

    fn at(&self, offset_ms: &Value) -> String {
        match (self.start_ms, offset_ms.as_i64()) {
            (Some(start_ms), Some(offset_ms)) => text(&serde_json::json!(Timestamp::from_unix_millis(start_ms + offset_ms))),
            _ => format!("+{}", seconds(offset_ms)),
        }
    }
}

/// One event of `watch` as one line: its logical time, its name, what it says.
pub(crate) fn event(clock: &Clock, name: &str, data: &Value) -> String {
    let (when, what) = match name {
        "episode_start" => (
            text(&data["start"]),
            format!(
                "{} {} {}, target {}",
                text(&data["episode_id"]),
                text(&data["kind"]),
                text(&data["difficulty"]),
                text(&data["target"])
            ),
        ),
        "episode_end" => {
            let how = if data["cancelled"] == true {
                ", cancelled before it started"
            } else if data["complete"] == false {
                ", ended early"
            } else {
                ""
            };
            (text(&data["end"]), format!("{} {}, {} records{how}", text(&data["episode_id"]), text(&data["kind"]), text(&data["records"])))
        }
        "status" => (
            text(&data["logical_time"]),
            format!(
                "{} records, {} of {}{}",
                text(&data["records"]),
                rate(&data["rate"]["achieved"]),
                rate(&data["rate"]["target"]),
                if data["paused"] == true { ", paused" } else { "" }
            ),
        ),
        "ended" => ("-".to_owned(), "the run has written its last record".to_owned()),
        _ => (clock.at(&data["offset_ms"]), command(name, data)),
    };
    format!("{when}  {name:<13}  {what}")
}

/// A journal entry's action, in words.
fn command(name: &str, entry: &Value) -> String {
    let action = &entry["action"][name];
    let what = match name {
        "inject" => format!(
            "{} {} {}, target {}, for {}",
            text(&action["episode_id"]),
            text(&action["kind"]),
            text(&action["difficulty"]),
            text(&action["target"]),
            seconds(&action["duration_ms"])
        ),
        "end" => text(&action["episode_id"]),
        "rate" => match action["ramp_ms"].as_u64() {
            Some(ramp_ms) if ramp_ms > 0 => format!("{} over {}", rate(&action["eps"]), seconds(&action["ramp_ms"])),
            _ => rate(&action["eps"]),
        },
        "speed" => match &action["speed"] {
            Value::Null => "max".to_owned(),
            speed => format!("{}x", number(speed)),
        },
        "chaos" => {
            let mut parts: Vec<String> =
                action["probability"].as_object().into_iter().flatten().map(|(kind, p)| format!("{kind} {}", number(p))).collect();
            if let Some(difficulty) = action["difficulty"].as_str() {
                parts.push(format!("difficulty {difficulty}"));
            }
            parts.join(", ")
        }
        _ => String::new(),
    };
    format!("#{} {what}", text(&entry["command"])).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_status_reads_as_aligned_lines() {
        let shown = status(&json!({
            "run_id": "9c0f", "logical_time": "2026-12-02T10:00:12.300Z", "offset_ms": 12300, "speed": 2.0, "paused": true,
            "rate": {"target": 800.0, "achieved": 798.25, "ramp": {"from": 400.0, "to": 800.0, "until": "2026-12-02T10:01:00.000Z"}},
            "records": 61500, "by_event_type": {"vpc_flow": 60000, "firewall": 1500}, "by_kind": {"port_scan": 3, "beaconing": 120},
            "active_episodes": 2, "commands": 4,
        }));
        assert!(shown.contains("logical time  2026-12-02T10:00:12.300Z (+12.3s)\n"), "{shown}");
        assert!(shown.contains("speed         2x, paused\n"), "{shown}");
        assert!(
            shown.contains("rate          target 800/s, achieved 798.2/s, ramping to 800/s until 2026-12-02T10:01:00.000Z\n"),
            "{shown}"
        );
        assert!(shown.contains("records       61500 (vpc_flow 60000, firewall 1500)\n"), "{shown}");
        assert!(shown.contains("labelled      beaconing 120, port_scan 3\n"), "{shown}");
        assert!(!shown.contains("ended"), "{shown}");
        assert!(status(&json!({"speed": "max"})).contains("speed         max\n"));
    }

    #[test]
    fn episodes_are_a_table_with_their_state() {
        let shown = episodes(&json!({
            "active": [
                {"episode_id": "r-s0", "kind": "port_scan", "difficulty": "overt", "records": 0, "target": "any", "due": "T1", "injected": true},
                {"episode_id": "r-e1", "kind": "beaconing", "difficulty": "subtle", "start": "T0", "records": 12},
            ],
            "finished": [
                {"episode_id": "r-s1", "kind": "brute_force", "difficulty": "overt", "start": "T0", "end": "T2", "records": 40,
                 "complete": false, "target": "service ssh"},
                {"episode_id": "r-e0", "kind": "latency_spike", "difficulty": "overt", "start": "T0", "end": "T3", "records": 9,
                 "complete": true, "scheduled": {"target": "host 10.16.0.11"}},
                {"episode_id": "r-s2", "kind": "syn_flood", "records": 0, "complete": false, "cancelled": true},
            ],
        }));
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 6, "{shown}");
        assert!(lines[0].starts_with("ID    KIND           DIFFICULTY  STATE"), "{shown}");
        assert!(lines[1].starts_with("r-s0  port_scan      overt       pending      due T1"), "{shown}");
        assert!(lines[1].ends_with("any"), "{shown}");
        assert!(lines[2].contains("running"), "{shown}");
        assert!(lines[3].contains("ended early") && lines[3].ends_with("service ssh"), "{shown}");
        assert!(lines[4].contains("finished") && lines[4].ends_with("host 10.16.0.11"), "{shown}");
        assert!(lines[5].contains("cancelled"), "{shown}");
        assert_eq!(episodes(&json!({"active": [], "finished": []})), "no episodes yet\n");
    }

    #[test]
    fn accepted_commands_say_when_they_take_effect() {
        let answer = json!({"command": 3, "at": "2026-12-02T10:00:01.200Z", "offset_ms": 1200});
        assert_eq!(applied("paused", &answer), "paused at 2026-12-02T10:00:01.200Z (command 3)\n");
        let injection = json!({"episode_id": "r-s0", "command": 1, "at": "A", "starts": "B", "offset_ms": 0});
        assert_eq!(injected("port_scan", &injection), "injected r-s0 (port_scan): starts B (command 1, accepted at A)\n");
    }

    #[test]
    fn events_are_one_line_each_with_their_logical_time() {
        let mut clock = Clock::default();
        let rate = json!({"command": 2, "offset_ms": 1500, "action": {"rate": {"eps": 800.0, "ramp_ms": 60000}}});
        assert_eq!(event(&clock, "rate", &rate), "+1.5s  rate           #2 800/s over 60s");
        clock.learn(&json!({"logical_time": "2026-12-02T10:00:10.000Z", "offset_ms": 10000}));
        assert_eq!(event(&clock, "rate", &rate), "2026-12-02T10:00:01.500Z  rate           #2 800/s over 60s");
        let pause = json!({"command": 3, "offset_ms": 2000, "action": "pause"});
        assert_eq!(event(&clock, "pause", &pause), "2026-12-02T10:00:02.000Z  pause          #3");
        let speed = json!({"command": 4, "offset_ms": 2000, "action": {"speed": {"speed": null}}});
        assert!(event(&clock, "speed", &speed).ends_with("#4 max"));
        let chaos =
            json!({"command": 5, "offset_ms": 0, "action": {"chaos": {"probability": {"latency_spike": 0.1}, "difficulty": "subtle"}}});
        assert!(event(&clock, "chaos", &chaos).ends_with("#5 latency_spike 0.1, difficulty subtle"));
        let start = json!({"episode_id": "r-s0", "kind": "port_scan", "difficulty": "overt", "start": "S", "target": "any"});
        assert_eq!(event(&clock, "episode_start", &start), "S  episode_start  r-s0 port_scan overt, target any");
        let end = json!({"episode_id": "r-s0", "kind": "port_scan", "end": "E", "records": 7, "complete": false});
        assert_eq!(event(&clock, "episode_end", &end), "E  episode_end    r-s0 port_scan, 7 records, ended early");
    }
}
