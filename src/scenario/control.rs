//! A scenario's `control` list: live commands at logical times, as the control API takes them and
//! a journal records them (`netchaos scenario export` writes one). Each entry is its time and one
//! command:
//!
//! ```yaml
//! control:
//!   - at: +2m
//!     inject: {kind: port_scan, difficulty: subtle, target: service ssh, duration: 10m}
//!   - at: +5m
//!     rate: 20000
//!     ramp: 1m
//!   - at: +6m
//!     chaos: {latency_spike_prob: 0.05}
//!   - at: +8m
//!     end: 2527339347d20712-s0
//! ```
//!
//! The bodies are read by the API's own readers ([`request`]), so a scenario takes exactly the
//! commands a live session can give, with the same checks. Pacing commands (`speed`, `pause`,
//! `resume`) are taken for the record; they change when records are written, never which.

use serde_json::{Map, Number, Value as Json};

use crate::chaos::ChaosSettings;
use crate::generator::control::{Action, Entry, FieldError, request};
use crate::records::Timestamp;

use super::error::Errors;
use super::read::{self, At};
use super::yaml::{Node, Value};

const KEYS: &[&str] = &["at", "inject", "end", "rate", "ramp", "speed", "chaos", "pause", "resume"];
const COMMANDS: &[&str] = &["inject", "end", "rate", "speed", "chaos", "pause", "resume"];
const EXAMPLE: &str = "`- {at: +2m, inject: {kind: port_scan}}`";

/// The YAML node as JSON: plain scalars that read as numbers or booleans become those.
fn json(node: &Node) -> Json {
    match &node.value {
        _ if node.is_null() => Json::Null,
        Value::Scalar { text, plain: true } => match text.as_str() {
            "true" => Json::Bool(true),
            "false" => Json::Bool(false),
            _ => text
                .parse::<u64>()
                .map(Number::from)
                .ok()
                .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
                .map_or_else(|| Json::String(text.clone()), Json::Number),
        },
        Value::Scalar { text, .. } => Json::String(text.clone()),
        Value::Sequence(items) => Json::Array(items.iter().map(json).collect()),
        Value::Mapping(pairs) => Json::Object(
            pairs
                .iter()
                .map(|(key, value)| {
                    let key = match &key.value {
                        Value::Scalar { text, .. } => text.clone(),
                        _ => String::new(),
                    };
                    (key, json(value))
                })
                .collect(),
        ),
    }
}

fn report(errors: &mut Errors, node: &Node, command: &str, error: &FieldError) {
    errors.node(node, format!("`{command}`: {}: {}", error.field, error.message), format!("allowed: {}", error.allowed));
}

/// The `control` list, in time order (numbered 1, 2, ... in that order; injected episodes get
/// their ids when the run's id is known, [`super::Scenario::control_for`]).
pub(super) fn control(errors: &mut Errors, node: &Node, start: Option<Timestamp>, background: &ChaosSettings) -> Vec<Entry> {
    let Value::Sequence(items) = &node.value else {
        errors.node(node, format!("`control` is {}, not a list", node.type_name()), format!("write a list of commands, e.g. {EXAMPLE}"));
        return Vec::new();
    };
    let mut chaos = background.clone();
    let mut entries = Vec::new();
    for item in items {
        let Some(fields) = read::fields(errors, item, "a control entry", KEYS, EXAMPLE) else { continue };
        let given: Vec<&str> = COMMANDS.iter().copied().filter(|command| fields.get(command).is_some()).collect();
        let [command] = given.as_slice() else {
            errors.at(
                fields.position,
                format!("a control entry gives {} commands", given.len()),
                format!("give one of {}", COMMANDS.join(", ")),
            );
            continue;
        };
        let offset_ms = match fields.get("at").map(|at| (at, read::at(errors, at, "at"))) {
            None => {
                read::missing(errors, &fields, "at", "a control entry", "`at: +2m`");
                continue;
            }
            Some((_, None)) => continue,
            Some((_, Some(At::Offset(ms)))) => ms,
            Some((at, Some(At::Absolute(time)))) => match start {
                Some(start) if time.unix_millis() >= start.unix_millis() => (time.unix_millis() - start.unix_millis()) as u64,
                _ => {
                    errors.node(
                        at,
                        "`at` is a time before the scenario's `start`, or the scenario has no `start`",
                        "write an offset, e.g. `at: +2m`",
                    );
                    continue;
                }
            },
        };
        let Some(body) = fields.get(command) else { continue };
        let object = |value: Json| match value {
            Json::Object(map) => map,
            _ => Map::new(),
        };
        let action = match *command {
            "inject" => request::injection(&object(json(body)), offset_ms, start.map_or(0, Timestamp::unix_millis))
                .map(|(injection, _)| Action::Inject(injection)),
            "rate" => {
                let mut map = Map::new();
                map.insert("eps".into(), json(body));
                if let Some(ramp) = fields.get("ramp") {
                    map.insert("ramp".into(), json(ramp));
                }
                request::rate(&map)
            }
            "speed" => request::speed(&Map::from_iter([("speed".to_owned(), json(body))])),
            "chaos" => request::chaos(&object(json(body)), &chaos).map(|(change, next)| {
                chaos = next;
                Action::Chaos(change)
            }),
            "end" => match json(body) {
                Json::String(id) if !id.trim().is_empty() => Ok(Action::End { episode_id: id.trim().to_owned() }),
                _ => Err(FieldError::new("end", "not an episode id", "an episode id, e.g. `end: 2527339347d20712-s0`")),
            },
            "pause" => Ok(Action::Pause),
            _ => Ok(Action::Resume),
        };
        if fields.get("ramp").is_some() && *command != "rate" {
            errors.node(item, "`ramp` goes with `rate`", "write `rate: N` and `ramp: 1m` in one entry");
            continue;
        }
        match action {
            Ok(action) => entries.push(Entry { command: 0, offset_ms, wall: None, action }),
            Err(error) => report(errors, body, command, &error),
        }
    }
    entries.sort_by_key(|entry| entry.offset_ms);
    for (index, entry) in entries.iter_mut().enumerate() {
        entry.command = index as u32 + 1;
    }
    entries
}
