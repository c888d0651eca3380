//! A detector's output, read: alerts as JSON lines in netchaos's alert schema or as OCSF
//! Detection Findings (class 2004), and score series. The schema is `docs/score.md`.

use std::net::IpAddr;

use serde_json::Value;

use super::ScoreError;
use crate::records::{AnomalyKind, Timestamp};

/// The OCSF class of a Detection Finding.
pub const OCSF_DETECTION_FINDING: u64 = 2004;

/// What an alert says it is about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub interface_id: Option<String>,
    pub service: Option<String>,
}

impl Entity {
    pub fn is_empty(&self) -> bool {
        self.src.is_none() && self.dst.is_none() && self.interface_id.is_none() && self.service.is_none()
    }
}

/// One alert.
#[derive(Debug, Clone, Default)]
pub struct Alert {
    pub id: String,
    /// Its time span in Unix ms (`time` gives start = end); `None` without a time.
    pub span: Option<(i64, i64)>,
    pub entity: Entity,
    pub event_ids: Vec<String>,
    pub kind: Option<AnomalyKind>,
    pub technique: Option<String>,
    pub score: Option<f64>,
    pub rule: Option<String>,
}

/// Reads alerts, one JSON object a line (`name` for messages); OCSF lines are told apart by
/// their `class_uid`.
pub fn read_alerts(text: &str, name: &str) -> Result<Vec<Alert>, ScoreError> {
    let mut alerts = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", number + 1);
        let value: Value = serde_json::from_str(line).map_err(|error| bad(&at, &format!("not JSON ({error})")))?;
        let alert = if value.get("class_uid").is_some() { ocsf(&value, &at)? } else { native(&value, &at)? };
        if alert.span.is_none() && alert.event_ids.is_empty() {
            return Err(bad(
                &at,
                &format!("alert `{}` has nothing to match on: give it `time` (or `start` and `end`) or `event_ids`", alert.id),
            ));
        }
        if !ids.insert(alert.id.clone()) {
            return Err(bad(&at, &format!("alert id `{}` is used twice: each alert needs an id of its own", alert.id)));
        }
        alerts.push(alert);
    }
    Ok(alerts)
}

fn bad(at: &str, what: &str) -> ScoreError {
    ScoreError::Input(format!("{at}: {what} (the alert schema is in docs/score.md)"))
}

fn native(value: &Value, at: &str) -> Result<Alert, ScoreError> {
    let object = value.as_object().ok_or_else(|| bad(at, "an alert is a JSON object"))?;
    const FIELDS: [&str; 10] = ["alert_id", "time", "start", "end", "entity", "event_ids", "kind", "technique", "score", "rule"];
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(bad(at, &format!("unknown field `{unknown}`; the fields are {}", FIELDS.join(", "))));
    }
    let id = match object.get("alert_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => return Err(bad(at, "`alert_id` is required: a non-empty string")),
    };
    let instant = |field: &str| object.get(field).map(|value| instant(value, at, field, 1000.0)).transpose();
    let span = match (instant("time")?, instant("start")?, instant("end")?) {
        (Some(time), None, None) => Some((time, time)),
        (None, Some(start), Some(end)) if start <= end => Some((start, end)),
        (None, Some(_), Some(_)) => return Err(bad(at, "`end` is before `start`")),
        (None, None, None) => None,
        (Some(_), _, _) => return Err(bad(at, "give `time`, or `start` and `end`, not both")),
        _ => return Err(bad(at, "`start` and `end` go together")),
    };
    let entity = match object.get("entity") {
        None | Some(Value::Null) => Entity::default(),
        Some(Value::Object(entity)) => {
            let address = |field: &str| -> Result<Option<IpAddr>, ScoreError> {
                match entity.get(field) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(text)) => {
                        text.parse().map(Some).map_err(|_| bad(at, &format!("`entity.{field}` `{text}` is not an IP address")))
                    }
                    Some(_) => Err(bad(at, &format!("`entity.{field}` is an IP address string"))),
                }
            };
            let text = |field: &str| entity.get(field).and_then(Value::as_str).map(str::to_owned);
            if let Some(unknown) = entity.keys().find(|key| !["src", "dst", "interface_id", "service"].contains(&key.as_str())) {
                return Err(bad(at, &format!("unknown field `entity.{unknown}`; the fields are src, dst, interface_id, service")));
            }
            Entity { src: address("src")?, dst: address("dst")?, interface_id: text("interface_id"), service: text("service") }
        }
        Some(_) => return Err(bad(at, "`entity` is an object: {\"src\", \"dst\", \"interface_id\", \"service\"}")),
    };
    let event_ids = match object.get("event_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| id.as_str().map(str::to_owned).ok_or_else(|| bad(at, "`event_ids` is a list of strings")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad(at, "`event_ids` is a list of strings")),
    };
    Ok(Alert {
        id,
        span,
        entity,
        event_ids,
        kind: kind(object.get("kind"), at)?,
        technique: object.get("technique").and_then(Value::as_str).map(str::to_owned),
        score: score(object.get("score"), at)?,
        rule: object.get("rule").and_then(Value::as_str).map(str::to_owned),
    })
}

/// An OCSF Detection Finding: `finding_info.uid` (else `metadata.uid`) is the id;
/// `finding_info.first_seen_time` / `last_seen_time` (else `time`) the span, in epoch ms;
/// `evidences[].src_endpoint.ip` / `dst_endpoint.ip` the entity; `finding_info.related_events[].uid`
/// the event ids; `finding_info.attacks[].technique.uid` the technique; `finding_info.analytic.name`
/// the rule; `risk_score` (else `confidence_score`) the score; a `finding_info.types` entry that
/// names a netchaos kind, the kind.
fn ocsf(value: &Value, at: &str) -> Result<Alert, ScoreError> {
    if value["class_uid"].as_u64() != Some(OCSF_DETECTION_FINDING) {
        return Err(bad(at, &format!("OCSF class_uid {} is not a Detection Finding ({OCSF_DETECTION_FINDING})", value["class_uid"])));
    }
    let info = &value["finding_info"];
    let id = info["uid"]
        .as_str()
        .or_else(|| value["metadata"]["uid"].as_str())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad(at, "an OCSF finding needs `finding_info.uid` (or `metadata.uid`) as its alert id"))?
        .to_owned();
    let time = |value: &Value, field: &str| (!value.is_null()).then(|| instant(value, at, field, 1.0)).transpose();
    let first = time(&info["first_seen_time"], "finding_info.first_seen_time")?;
    let last = time(&info["last_seen_time"], "finding_info.last_seen_time")?;
    let at_time = time(&value["time"], "time")?;
    let span = match (first, last, at_time) {
        (Some(first), Some(last), _) => Some((first.min(last), first.max(last))),
        (Some(one), None, _) | (None, Some(one), _) | (None, None, Some(one)) => Some((one, one)),
        (None, None, None) => None,
    };
    let evidence = value["evidences"].as_array().and_then(|list| list.first()).cloned().unwrap_or(Value::Null);
    let ip = |endpoint: &str| evidence[endpoint]["ip"].as_str().and_then(|text| text.parse().ok());
    let entity = Entity {
        src: ip("src_endpoint"),
        dst: ip("dst_endpoint"),
        interface_id: evidence["src_endpoint"]["interface_uid"].as_str().map(str::to_owned),
        service: None,
    };
    let event_ids = info["related_events"]
        .as_array()
        .map(|events| events.iter().filter_map(|event| event["uid"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let kind = info["types"].as_array().and_then(|types| types.iter().filter_map(Value::as_str).find_map(AnomalyKind::from_name));
    let technique = info["attacks"].as_array().and_then(|attacks| attacks.iter().find_map(|attack| attack["technique"]["uid"].as_str()));
    let score_value = if value["risk_score"].is_null() { value.get("confidence_score") } else { value.get("risk_score") };
    Ok(Alert {
        id,
        span,
        entity,
        event_ids,
        kind,
        technique: technique.map(str::to_owned),
        score: score(score_value, at)?,
        rule: info["analytic"]["name"].as_str().map(str::to_owned),
    })
}

fn kind(value: Option<&Value>, at: &str) -> Result<Option<AnomalyKind>, ScoreError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => AnomalyKind::from_name(name).map(Some).ok_or_else(|| {
            let names: Vec<&str> = AnomalyKind::ALL.iter().map(|kind| kind.as_str()).collect();
            bad(at, &format!("unknown kind `{name}`; the kinds are {} (or leave `kind` out)", names.join(", ")))
        }),
        Some(_) => Err(bad(at, "`kind` is a string")),
    }
}

fn score(value: Option<&Value>, at: &str) -> Result<Option<f64>, ScoreError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(score) if score.is_finite() => Ok(Some(score)),
            _ => Err(bad(at, "`score` is a finite number")),
        },
    }
}

/// An instant in Unix ms: an RFC 3339 text (`Z` or an offset), or a number of seconds
/// (`unit_ms` 1000, as flow logs count) or of milliseconds (1, as OCSF counts).
fn instant(value: &Value, at: &str, field: &str, unit_ms: f64) -> Result<i64, ScoreError> {
    let unit = if unit_ms == 1.0 { "epoch milliseconds" } else { "epoch seconds" };
    let wrong = || bad(at, &format!("`{field}` is not a time: give RFC 3339 text (2026-01-01T00:00:00Z) or {unit}"));
    match value {
        Value::Number(number) => {
            let ms = number.as_f64().map(|value| value * unit_ms).filter(|ms| ms.is_finite() && ms.abs() < 1e16).ok_or_else(wrong)?;
            Ok(ms.round() as i64)
        }
        Value::String(text) => parse_rfc3339(text).ok_or_else(wrong),
        _ => Err(wrong()),
    }
}

/// RFC 3339 with `Z` or a `±HH:MM` offset, any fraction of a second; Unix ms.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    if let Some(time) = Timestamp::parse(text) {
        return Some(time.unix_millis());
    }
    let (base, offset_ms) = match text.len().checked_sub(6).and_then(|cut| text.get(cut..).map(|tail| (cut, tail))) {
        Some((cut, tail)) if (tail.starts_with('+') || tail.starts_with('-')) && tail.as_bytes()[3] == b':' => {
            let hours: i64 = tail[1..3].parse().ok()?;
            let minutes: i64 = tail[4..6].parse().ok()?;
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            (format!("{}Z", &text[..cut]), sign * (hours * 3_600_000 + minutes * 60_000))
        }
        _ => (text.to_owned(), 0),
    };
    let time = humantime::parse_rfc3339(&base).ok()?;
    let ms = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok()?,
        Err(before) => -i64::try_from(before.duration().as_millis()).ok()?,
    };
    Some(ms - offset_ms)
}

/// A score series: per record, or per time window (and entity).
#[derive(Debug, Clone)]
pub enum Scores {
    Records(Vec<(String, f64)>),
    /// (window start in Unix ms, entity, score).
    Windows(Vec<(i64, Entity, f64)>),
}

/// Reads `--scores`: lines of `{event_id, score}` or `{time | window_start, entity?, score}`, all
/// of one form.
pub fn read_scores(text: &str, name: &str) -> Result<Scores, ScoreError> {
    let mut records = Vec::new();
    let mut windows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", number + 1);
        let value: Value = serde_json::from_str(line).map_err(|error| bad(&at, &format!("not JSON ({error})")))?;
        let score = score(value.get("score"), &at)?.ok_or_else(|| bad(&at, "a score line needs `score`"))?;
        if let Some(id) = value.get("event_id") {
            let id = id.as_str().ok_or_else(|| bad(&at, "`event_id` is a string"))?;
            records.push((id.to_owned(), score));
        } else {
            let (field, time) = match (value.get("time"), value.get("window_start")) {
                (Some(time), None) => ("time", time),
                (None, Some(time)) => ("window_start", time),
                _ => return Err(bad(&at, "a score line has `event_id`, or one of `time` and `window_start`")),
            };
            let entity = Entity {
                src: value["entity"]["src"].as_str().and_then(|text| text.parse().ok()),
                dst: value["entity"]["dst"].as_str().and_then(|text| text.parse().ok()),
                interface_id: value["entity"]["interface_id"].as_str().map(str::to_owned),
                service: value["entity"]["service"].as_str().map(str::to_owned),
            };
            windows.push((instant(time, &at, field, 1000.0)?, entity, score));
        }
        if !records.is_empty() && !windows.is_empty() {
            return Err(bad(&at, "a scores file is all `{event_id, score}` lines or all `{time | window_start, score}` lines"));
        }
    }
    match (records.is_empty(), windows.is_empty()) {
        (true, true) => Err(ScoreError::Input(format!("{name} holds no scores"))),
        (false, _) => Ok(Scores::Records(records)),
        (true, false) => Ok(Scores::Windows(windows)),
    }
}
