//! Request bodies (JSON objects) into [`Action`]s, each mistake named by its field with what is
//! allowed. The control API reads its requests with these, and a scenario's `control` list its
//! entries, so that both take exactly the same commands.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::chaos::{ChaosSettings, KINDS, spec};
use crate::generator::control::{Action, ChaosChange, DEFAULT_INJECT_MS, FieldError, Injection, MAX_LIVE_SPAN_MS, check_rate, check_speed};
use crate::records::{AnomalyKind, Timestamp};

/// A JSON object, or the error naming the body.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, FieldError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(FieldError::new("body", "the body is not a JSON object", "a JSON object, e.g. {\"kind\": \"port_scan\"}")),
        Err(error) => Err(FieldError::new("body", format!("the body is not JSON: {error}"), "a JSON object")),
    }
}

fn only(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), FieldError> {
    match map.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(FieldError::new(key, "unknown field", allowed.join(", "))),
        None => Ok(()),
    }
}

fn text<'a>(map: &'a Map<String, Value>, field: &str, example: &str) -> Result<Option<&'a str>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(FieldError::new(field, format!("{other} is not a string"), format!("a string, e.g. \"{example}\""))),
    }
}

fn number(map: &Map<String, Value>, field: &str, allowed: &str) -> Result<Option<f64>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => Ok(number.as_f64()),
        Some(other) => Err(FieldError::new(field, format!("{other} is not a number"), allowed)),
    }
}

/// A duration field: humantime text (`10m`, `90s`), milliseconds at most `max_ms`.
fn duration(map: &Map<String, Value>, field: &str, max_ms: u64) -> Result<Option<u64>, FieldError> {
    let allowed = "a duration like \"90s\", \"10m\" or \"1h\", at most 24h";
    let Some(text) = text(map, field, "10m")? else { return Ok(None) };
    let parsed = humantime::parse_duration(text.trim()).map_err(|error| FieldError::new(field, format!("`{text}`: {error}"), allowed))?;
    let ms = u64::try_from(parsed.as_millis()).unwrap_or(u64::MAX);
    if ms > max_ms {
        return Err(FieldError::new(field, format!("`{text}` is too long"), allowed));
    }
    Ok(Some(ms))
}

/// `POST /v1/episodes`: the injection, and how long after the command's time it starts. `now_ms`
/// is the logical time (ms from t0) a command would take effect at; `start_ms` is t0.
pub fn injection(map: &Map<String, Value>, now_ms: u64, start_ms: i64) -> Result<(Injection, u64), FieldError> {
    only(map, &["kind", "difficulty", "target", "duration", "intensity", "parameters", "in", "at"])?;
    let kinds = AnomalyKind::ALL.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(", ");
    let name = text(map, "kind", "port_scan")?.ok_or_else(|| FieldError::new("kind", "the kind is missing", kinds.clone()))?;
    let kind = AnomalyKind::from_name(name.trim()).ok_or_else(|| FieldError::new("kind", format!("unknown kind `{name}`"), kinds))?;
    let spec = spec(kind);
    let difficulty = text(map, "difficulty", "overt")?.unwrap_or(spec.difficulties[0]).trim().to_owned();
    let target = text(map, "target", "host 10.16.0.11")?.unwrap_or("any").trim().to_owned();
    let duration_ms = match duration(map, "duration", MAX_LIVE_SPAN_MS)? {
        Some(0) => return Err(FieldError::new("duration", "the duration is 0", "more than 0, at most 24h")),
        Some(ms) => ms,
        None => DEFAULT_INJECT_MS,
    };
    let intensity = number(map, "intensity", "a number in (0, 100]")?.unwrap_or(1.0);
    let mut parameters = BTreeMap::new();
    match map.get("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let parameter = spec.parameters.iter().find(|parameter| parameter.name == name.as_str());
                let allowed = spec.parameters.iter().map(|parameter| parameter.name).collect::<Vec<_>>().join(", ");
                let Some(parameter) = parameter else {
                    let allowed = if allowed.is_empty() { format!("none: {kind} takes no parameters") } else { allowed };
                    return Err(FieldError::new(&format!("parameters.{name}"), format!("{kind} has no parameter `{name}`"), allowed));
                };
                let value = match value {
                    Value::Number(number) => number.as_u64().ok_or_else(|| format!("{number} is not a whole number")),
                    Value::String(text) => parameter.unit.parse(text),
                    other => Err(format!("{other} is not a number")),
                }
                .map_err(|message| {
                    FieldError::new(&format!("parameters.{name}"), message, "a whole number more than 0, or a size like \"10MB\"")
                })?;
                parameters.insert(name.clone(), value);
            }
        }
        Some(other) => {
            return Err(FieldError::new("parameters", format!("{other} is not an object"), "an object, e.g. {\"exfil_bytes\": \"50MB\"}"));
        }
    }
    let delay_ms = match (duration(map, "in", MAX_LIVE_SPAN_MS)?, text(map, "at", "2026-12-02T10:00:00Z")?) {
        (Some(_), Some(_)) => return Err(FieldError::new("at", "both `in` and `at` are given", "one of them")),
        (Some(delay), None) => delay,
        (None, Some(at)) => {
            let allowed = "a logical time (RFC 3339) not before the run's current logical time";
            let at =
                Timestamp::parse(at.trim()).ok_or_else(|| FieldError::new("at", format!("`{at}` is not an RFC 3339 time"), allowed))?;
            let offset = at.unix_millis() - start_ms;
            if offset < now_ms as i64 {
                let now = Timestamp::from_unix_millis(start_ms + now_ms as i64);
                return Err(FieldError::new("at", format!("{at} is in the past: the run's logical time is {now}"), allowed));
            }
            (offset as u64 - now_ms).min(MAX_LIVE_SPAN_MS)
        }
        (None, None) => 0,
    };
    let injection = Injection { episode_id: String::new(), kind, difficulty, target, duration_ms, intensity, delay_ms, parameters };
    injection.check()?;
    Ok((injection, delay_ms))
}

/// `PUT /v1/rate`.
pub fn rate(map: &Map<String, Value>) -> Result<Action, FieldError> {
    only(map, &["eps", "ramp"])?;
    let eps = number(map, "eps", "a number of records per second")?
        .ok_or_else(|| FieldError::new("eps", "the rate is missing", "{\"eps\": 5000}"))?;
    let ramp_ms = duration(map, "ramp", MAX_LIVE_SPAN_MS)?.unwrap_or(0);
    check_rate(eps, ramp_ms)?;
    Ok(Action::Rate { eps, ramp_ms })
}

/// `PUT /v1/speed`.
pub fn speed(map: &Map<String, Value>) -> Result<Action, FieldError> {
    only(map, &["speed"])?;
    let allowed = "a number more than 0, or \"max\"";
    let speed = match map.get("speed") {
        Some(Value::String(text)) if text.trim() == "max" => None,
        Some(Value::String(text)) => {
            Some(text.trim().parse::<f64>().map_err(|_| FieldError::new("speed", format!("`{text}` is not a speed"), allowed))?)
        }
        Some(Value::Number(number)) => number.as_f64(),
        None => return Err(FieldError::new("speed", "the speed is missing", allowed)),
        Some(other) => return Err(FieldError::new("speed", format!("{other} is not a speed"), allowed)),
    };
    check_speed(speed)?;
    Ok(Action::Speed { speed })
}

/// `PUT /v1/chaos`, against the background chaos as it stands (the probabilities' sum stays ≤ 1).
pub fn chaos(map: &Map<String, Value>, current: &ChaosSettings) -> Result<(ChaosChange, ChaosSettings), FieldError> {
    let mut names: Vec<String> = KINDS.values().filter_map(|spec| spec.probability).map(|flag| flag.name.to_owned()).collect();
    names.push("difficulty".into());
    let allowed: Vec<&str> = names.iter().map(String::as_str).collect();
    only(map, &allowed)?;
    let mut change = ChaosChange::default();
    let mut next = current.clone();
    for spec in KINDS.values() {
        let Some(flag) = spec.probability else { continue };
        if let Some(probability) = number(map, flag.name, "a probability from 0 to 1")? {
            change.probability.insert(spec.kind.as_str().to_owned(), probability);
            next.probability[spec.kind] = probability;
        }
    }
    change.difficulty = text(map, "difficulty", "subtle")?.map(str::to_owned);
    if change.probability.is_empty() && change.difficulty.is_none() {
        return Err(FieldError::new("body", "nothing to change", allowed.join(", ")));
    }
    change.check()?;
    if next.total() > 1.0 {
        return Err(FieldError::new(
            "body",
            format!("the probabilities would sum to {}, more than 1", next.total()),
            "probabilities that sum to at most 1",
        ));
    }
    if let Some(difficulty) = &change.difficulty
        && let Ok(parsed) = crate::chaos::Difficulty::parse_list(difficulty, next.difficulty)
    {
        next.difficulty = parsed;
    }
    Ok((change, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Map<String, Value> {
        object(text.as_bytes()).unwrap_or_default()
    }

    #[test]
    fn an_injection_names_its_bad_field() {
        let field = |text: &str| injection(&map(text), 1_000, 0).err().map(|error| error.field);
        assert_eq!(field(r#"{"kind": "port_scan", "duration": "2m", "target": "service ssh"}"#), None);
        assert_eq!(field(r#"{"kind": "portscan"}"#).as_deref(), Some("kind"));
        assert_eq!(field(r#"{}"#).as_deref(), Some("kind"));
        assert_eq!(field(r#"{"kind": "port_scan", "difficulty": "loud"}"#).as_deref(), Some("difficulty"));
        assert_eq!(field(r#"{"kind": "port_scan", "duration": "0s"}"#).as_deref(), Some("duration"));
        assert_eq!(field(r#"{"kind": "port_scan", "duration": "2d"}"#).as_deref(), Some("duration"));
        assert_eq!(field(r#"{"kind": "port_scan", "at": "1970-01-01T00:00:00.500Z"}"#).as_deref(), Some("at"));
        assert_eq!(field(r#"{"kind": "port_scan", "colour": "red"}"#).as_deref(), Some("colour"));
        assert_eq!(field(r#"{"kind": "port_scan", "parameters": {"exfil_bytes": 5}}"#).as_deref(), Some("parameters.exfil_bytes"));
        assert_eq!(field(r#"{"kind": "data_exfiltration", "parameters": {"exfil_bytes": "50MB"}}"#), None);
        let (_, delay) =
            injection(&map(r#"{"kind": "beaconing", "at": "1970-01-01T00:00:03Z"}"#), 1_000, 0).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(delay, 2_000);
    }

    #[test]
    fn rates_speeds_and_chaos_are_checked() {
        assert_eq!(rate(&map(r#"{"eps": 50000, "ramp": "1m"}"#)).ok(), Some(Action::Rate { eps: 50_000.0, ramp_ms: 60_000 }));
        assert_eq!(rate(&map(r#"{"eps": 5e9}"#)).err().map(|error| error.field).as_deref(), Some("eps"));
        assert_eq!(rate(&map(r#"{"eps": 10, "ramp": "soon"}"#)).err().map(|error| error.field).as_deref(), Some("ramp"));
        assert_eq!(speed(&map(r#"{"speed": "max"}"#)).ok(), Some(Action::Speed { speed: None }));
        assert_eq!(speed(&map(r#"{"speed": -1}"#)).err().map(|error| error.field).as_deref(), Some("speed"));
        let background = ChaosSettings::defaults();
        assert!(chaos(&map(r#"{"latency_spike_prob": 0.05, "difficulty": "subtle"}"#), &background).is_ok());
        let field = |text: &str| chaos(&map(text), &background).err().map(|error| error.field);
        assert_eq!(field(r#"{"latency_spike_prob": 1.5}"#).as_deref(), Some("latency_spike_prob"));
        assert_eq!(field(r#"{"port_scan_prob": 0.1}"#).as_deref(), Some("port_scan_prob"));
        assert_eq!(field(r#"{"beaconing_prob": 0.1}"#).as_deref(), Some("beaconing_prob"));
        assert_eq!(field(r#"{"latency_spike_prob": 0.7, "conn_reset_prob": 0.7}"#).as_deref(), Some("body"));
        assert_eq!(field(r#"{"difficulty": "sneaky"}"#).as_deref(), Some("difficulty"));
        assert_eq!(field(r#"{"connection_reset_prob": 0.1}"#).as_deref(), Some("connection_reset_prob"));
    }
}
