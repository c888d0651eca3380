//! Reading a scenario's values out of the YAML tree: mappings with known keys, numbers in a range,
//! durations, times. Each reader records a mistake in [`Errors`] and returns `None`, so the
//! validator goes on and reports the next one; a message says what was found, what is allowed, and
//! gives an example of what to write.

use std::time::Duration;

use crate::records::Timestamp;

use super::error::{Errors, suggestion};
use super::yaml::{Node, Position, Value};

/// Longest duration a scenario may give: ten years of 365.25 days, as humantime counts `10y`
/// (the longest `--duration` too).
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);

/// Earliest `start`: ten minutes after the Unix epoch (flow windows reach back up to a minute), as
/// for `--start-time`.
pub(crate) const EARLIEST_START_MS: i64 = 600_000;

/// Latest `start`, 9400-01-01T00:00:00Z, as for `--start-time`: every event time of a run stays
/// before the year 10000.
pub(crate) const LATEST_START_MS: i64 = 234_468_172_800_000;

/// The entries of a mapping whose keys were checked against the known ones.
#[derive(Debug)]
pub(crate) struct Fields<'n> {
    /// Where the mapping starts (for a missing key).
    pub(crate) position: Position,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of `name`, if given (a key given twice has its first value; the second is an error).
    pub(crate) fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(key, _, _)| *key == name).map(|(_, _, value)| *value)
    }

    /// The key node of `name`, for errors about the entry as a whole.
    pub(crate) fn key(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(key, _, _)| *key == name).map(|(_, key, _)| *key)
    }

    /// Every entry in file order: key text, key node, value node.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'n str, &'n Node, &'n Node)> + '_ {
        self.entries.iter().copied()
    }

    /// Keeps only the entries whose key `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|(key, _, _)| keep(key));
    }
}

/// `node` as a mapping whose keys are free (names of regions, kinds' keys): its entries, after
/// reporting keys that are not text and keys given twice.
pub(crate) fn entries<'n>(errors: &mut Errors, node: &'n Node, name: &str, example: &str) -> Option<Fields<'n>> {
    let Value::Mapping(pairs) = &node.value else {
        if node.is_null() {
            return Some(Fields { position: node.position, entries: Vec::new() });
        }
        errors.node(
            node,
            format!("`{name}` must be a mapping of keys to values, not {}", node.type_name()),
            format!("write e.g. {example}"),
        );
        return None;
    };
    let mut fields = Fields { position: node.position, entries: Vec::new() };
    for (key, value) in pairs {
        let Value::Scalar { text, .. } = &key.value else {
            errors.node(key, format!("a key of `{name}` must be a name, not {}", key.type_name()), format!("write e.g. {example}"));
            continue;
        };
        if let Some((_, first, _)) = fields.entries.iter().find(|(seen, _, _)| *seen == text.as_str()) {
            errors.node(key, format!("`{text}` is given twice in `{name}` (first on line {})", first.position.line), "keep one of them");
            continue;
        }
        fields.entries.push((text.as_str(), key, value));
    }
    Some(fields)
}

/// `node` as a mapping with only `known` keys; an unknown key is reported with the closest known one.
pub(crate) fn fields<'n>(errors: &mut Errors, node: &'n Node, name: &str, known: &[&str], example: &str) -> Option<Fields<'n>> {
    let mut fields = entries(errors, node, name, example)?;
    fields.entries.retain(|(key, key_node, _)| {
        let is_known = known.contains(key);
        if !is_known {
            errors.node(key_node, format!("unknown key `{key}` in `{name}`"), suggestion(key, known.iter().copied(), "key"));
        }
        is_known
    });
    Some(fields)
}

/// Reports `name` missing from `fields`.
pub(crate) fn missing(errors: &mut Errors, fields: &Fields<'_>, name: &str, within: &str, example: &str) {
    errors.at(fields.position, format!("{within} has no `{name}`"), format!("add e.g. `{name}: {example}`"));
}

/// The text of a scalar `node`.
pub(crate) fn scalar<'n>(errors: &mut Errors, node: &'n Node, name: &str, wanted: &str, example: &str) -> Option<&'n str> {
    match &node.value {
        Value::Scalar { text, .. } if !node.is_null() => Some(text.as_str()),
        _ => {
            errors.node(node, format!("`{name}` must be {wanted}, not {}", node.type_name()), format!("write e.g. `{name}: {example}`"));
            None
        }
    }
}

/// Text.
pub(crate) fn text(errors: &mut Errors, node: &Node, name: &str, example: &str) -> Option<String> {
    scalar(errors, node, name, "text", example).map(str::to_owned)
}

/// A number that `allowed` accepts; `range` says in words what it accepts (`from 0 to 1`).
pub(crate) fn number(errors: &mut Errors, node: &Node, name: &str, allowed: fn(f64) -> bool, range: &str, example: &str) -> Option<f64> {
    let text = scalar(errors, node, name, "a number", example)?;
    let Some(value) = text.trim().parse::<f64>().ok().filter(|value| value.is_finite()) else {
        errors.node(node, format!("`{name}` is `{text}`, not a number"), format!("write a number, {range}, e.g. `{name}: {example}`"));
        return None;
    };
    if !allowed(value) {
        errors.node(node, format!("`{name}` is {value}, but it must be {range}"), format!("write e.g. `{name}: {example}`"));
        return None;
    }
    Some(value)
}

/// A probability: a fraction of records, 0 to 1.
pub(crate) fn probability(errors: &mut Errors, node: &Node, name: &str) -> Option<f64> {
    number(errors, node, name, |value| (0.0..=1.0).contains(&value), "from 0 to 1 (a fraction of all records)", "0.01")
}

/// A whole number of at least `least`.
pub(crate) fn whole(errors: &mut Errors, node: &Node, name: &str, least: u64, example: &str) -> Option<u64> {
    let text = scalar(errors, node, name, "a whole number", example)?;
    match text.trim().parse::<u64>() {
        Ok(value) if value >= least => Some(value),
        Ok(value) => {
            errors.node(
                node,
                format!("`{name}` is {value}, less than {least}"),
                format!("write {least} or more, e.g. `{name}: {example}`"),
            );
            None
        }
        Err(_) => {
            errors.node(
                node,
                format!("`{name}` is `{text}`, not a whole number"),
                format!("write a whole number of at least {least}, e.g. `{name}: {example}`"),
            );
            None
        }
    }
}

/// A duration like `30s`, `10m`, `24h` or `7d`, at most `10y`; 0 only when `zero_allowed`.
pub(crate) fn duration(errors: &mut Errors, node: &Node, name: &str, zero_allowed: bool, example: &str) -> Option<Duration> {
    let text = scalar(errors, node, name, "a duration", example)?;
    let fix = || format!("write a duration like 30s, 10m, 1h30m or 7d, e.g. `{name}: {example}`");
    match humantime::parse_duration(text.trim()) {
        Ok(duration) if duration > MAX_DURATION => errors.node(node, format!("`{name}` is `{text}`, longer than 10y"), fix()),
        Ok(duration) if duration.is_zero() && !zero_allowed => errors.node(node, format!("`{name}` is 0"), fix()),
        Ok(duration) => return Some(duration),
        Err(error) => errors.node(node, format!("`{name}` is `{text}`, not a duration ({error})"), fix()),
    }
    None
}

/// An instant, RFC 3339 in UTC (`2026-11-30T09:12:00Z`), in the range a run may start in.
pub(crate) fn time(errors: &mut Errors, node: &Node, name: &str) -> Option<Timestamp> {
    let text = scalar(errors, node, name, "a time", "2026-11-30T09:12:00Z")?;
    let fix = format!("write RFC 3339 in UTC, e.g. `{name}: 2026-11-30T09:12:00Z`");
    let Ok(time) = humantime::parse_rfc3339_weak(text.trim()) else {
        errors.node(node, format!("`{name}` is `{text}`, not a time"), fix);
        return None;
    };
    let millis = time.duration_since(std::time::UNIX_EPOCH).ok().and_then(|since| i64::try_from(since.as_millis()).ok());
    match millis {
        Some(millis) if (EARLIEST_START_MS..=LATEST_START_MS).contains(&millis) => Some(Timestamp::from_unix_millis(millis)),
        _ => {
            errors.node(
                node,
                format!("`{name}` is `{text}`, outside the times a run may have"),
                "write a time from 1970-01-01T00:10:00Z to 9400-01-01T00:00:00Z",
            );
            None
        }
    }
}

/// When something happens: an instant, or an offset from the scenario's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    Absolute(Timestamp),
    /// After the start, milliseconds.
    Offset(u64),
}

/// `+1h30m` (from the start) or an RFC 3339 instant.
pub(crate) fn at(errors: &mut Errors, node: &Node, name: &str) -> Option<At> {
    let text = scalar(errors, node, name, "a time or an offset", "+1h30m")?.trim();
    if let Some(offset) = text.strip_prefix('+') {
        return match humantime::parse_duration(offset.trim()) {
            Ok(duration) if duration <= MAX_DURATION => Some(At::Offset(duration.as_millis() as u64)),
            Ok(_) => {
                errors.node(node, format!("`{name}` is `{text}`, more than 10y after the start"), "write a shorter offset");
                None
            }
            Err(error) => {
                errors.node(
                    node,
                    format!("`{name}` is `{text}`, not an offset ({error})"),
                    format!("write `+` and a duration, e.g. `{name}: +9h12m`"),
                );
                None
            }
        };
    }
    if humantime::parse_rfc3339_weak(text).is_err() {
        let fix = format!("write an offset from the start (`{name}: +9h12m`) or a time in UTC (`{name}: 2026-11-30T09:12:00Z`)");
        errors.node(node, format!("`{name}` is `{text}`, neither an offset nor a time"), fix);
        return None;
    }
    time(errors, node, name).map(At::Absolute)
}

/// A duration as the scenario format writes it (`1h 30m`, `0s`).
pub(crate) fn format_duration(millis: u64) -> String {
    humantime::format_duration(Duration::from_millis(millis)).to_string()
}
