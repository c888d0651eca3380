//! A scenario's `timeline`: its phases (each with its span, rate and chaos) and its episodes (each
//! a kind at a time, for a while, aimed at a target, maybe repeated), resolved into offsets from
//! the run's t0 and checked against the scenario's start and end.

use std::collections::BTreeMap;

use crate::chaos::{ChaosSettings, KINDS};
use crate::generator::timeline::{Origin, ScheduledEpisode};
use crate::network::target::Target;
use crate::records::{AnomalyKind, Timestamp};

use super::error::{Errors, suggestion};
use super::read::{self, At, format_duration};
use super::sections::{chaos, parameter_value};
use super::yaml::{Node, Value};
use super::{PhaseRate, PhaseSpec};

/// What the timeline is resolved against: the scenario's own values.
#[derive(Debug)]
pub(super) struct Context {
    pub(super) start: Option<Timestamp>,
    pub(super) duration_ms: Option<u64>,
    pub(super) eps: Option<f64>,
    pub(super) background: ChaosSettings,
}

impl Context {
    /// `at` as an offset from the start, or an error at `node`.
    fn offset(&self, errors: &mut Errors, node: &Node, at: At) -> Option<u64> {
        match at {
            At::Offset(offset) => Some(offset),
            At::Absolute(time) => {
                let Some(start) = self.start else {
                    errors.node(
                        node,
                        format!("`at` is a time ({time}), but the scenario has no `start` to place it from"),
                        "add `start:` at the top of the file, or write an offset like `at: +9h12m`",
                    );
                    return None;
                };
                match u64::try_from(time.unix_millis() - start.unix_millis()) {
                    Ok(offset) => Some(offset),
                    Err(_) => {
                        errors.node(
                            node,
                            format!("`at` ({time}) is before the scenario's start ({start})"),
                            "write a time at or after the start, or an offset like `at: +9h12m`",
                        );
                        None
                    }
                }
            }
        }
    }

    /// `+1h 30m (2026-11-30T01:30:00.000Z)`, or the offset alone without a start.
    fn describe(&self, offset_ms: u64) -> String {
        match self.start {
            Some(start) => {
                format!("+{} ({})", format_duration(offset_ms), Timestamp::from_unix_millis(start.unix_millis() + offset_ms as i64))
            }
            None => format!("+{}", format_duration(offset_ms)),
        }
    }

    /// Reports a span `[at, end)` that does not fit in the scenario; `what` names it.
    fn check_span(&self, errors: &mut Errors, node: &Node, what: &str, at_ms: u64, end_ms: u64) {
        let Some(total) = self.duration_ms else { return };
        let scenario_end = self.describe(total);
        if at_ms >= total {
            errors.node(
                node,
                format!("{what} starts at {}, at or after the scenario's end at {scenario_end}", self.describe(at_ms)),
                "start it earlier, or lengthen the scenario's `duration`",
            );
        } else if end_ms > total {
            errors.node(
                node,
                format!("{what} ends at {}, after the scenario's end at {scenario_end}", self.describe(end_ms)),
                "start it earlier, shorten it, or lengthen the scenario's `duration`",
            );
        }
    }
}

/// The `timeline` section: phases, then episodes sorted by their start.
pub(super) fn timeline(errors: &mut Errors, node: &Node, context: &Context) -> (Vec<PhaseSpec>, Vec<ScheduledEpisode>) {
    let Some(fields) = read::fields(errors, node, "timeline", &["phases", "episodes"], "`timeline: {episodes: [...]}`") else {
        return (Vec::new(), Vec::new());
    };
    let phases = fields.get("phases").map(|node| phases(errors, node, context)).unwrap_or_default();
    let mut episodes = Vec::new();
    if let Some(list) = fields.get("episodes").and_then(|node| list(errors, node, "episodes")) {
        for item in list {
            episodes.extend(episode(errors, item, context));
        }
    }
    episodes.sort_by_key(|episode| episode.at_ms);
    (phases, episodes)
}

fn list<'n>(errors: &mut Errors, node: &'n Node, name: &str) -> Option<&'n [Node]> {
    match &node.value {
        Value::Sequence(items) => Some(items),
        _ if node.is_null() => Some(&[]),
        _ => {
            errors.node(
                node,
                format!("`{name}` must be a list, not {}", node.type_name()),
                format!("write each entry on its own line under `{name}:`, starting with `- `"),
            );
            None
        }
    }
}

fn origin(errors: &Errors, node: &Node) -> Origin {
    Origin { file: errors.file().to_owned(), line: node.position.line }
}

/// A phase as read, before its span is known.
struct Written<'n> {
    node: &'n Node,
    at_node: Option<&'n Node>,
    name: String,
    at_ms: Option<u64>,
    duration_ms: Option<u64>,
    rate: PhaseRate,
    chaos: super::ChaosOverrides,
}

const PHASE_KEYS: &[&str] = &["name", "at", "duration", "eps", "rate", "chaos"];

fn phases(errors: &mut Errors, node: &Node, context: &Context) -> Vec<PhaseSpec> {
    let Some(items) = list(errors, node, "phases") else { return Vec::new() };
    let mut written = Vec::new();
    for item in items {
        let Some(fields) = read::fields(errors, item, "phases", PHASE_KEYS, "`- {name: baseline, duration: 30m}`") else { continue };
        let name = match fields.get("name") {
            Some(node) => read::text(errors, node, "name", "baseline").unwrap_or_default(),
            None => {
                read::missing(errors, &fields, "name", "this phase", "baseline");
                String::new()
            }
        };
        let at_ms =
            fields.get("at").and_then(|node| read::at(errors, node, "at")).and_then(|at| context.offset(errors, fields.get("at")?, at));
        let duration_ms = fields
            .get("duration")
            .and_then(|node| read::duration(errors, node, "duration", false, "30m"))
            .map(|duration| duration.as_millis() as u64);
        let rate = phase_rate(errors, &fields, context);
        let chaos = fields.get("chaos").and_then(|node| chaos(errors, node, "chaos", &context.background, false)).unwrap_or_default();
        written.push(Written { node: item, at_node: fields.get("at"), name, at_ms, duration_ms, rate, chaos });
    }
    let mut resolved: Vec<PhaseSpec> = Vec::new();
    for (index, phase) in written.iter().enumerate() {
        let previous_end = resolved.last().map_or(0, |previous| previous.end_ms);
        let start_ms = phase.at_ms.unwrap_or(previous_end);
        if let (Some(previous), Some(at_node)) = (resolved.last(), phase.at_node)
            && start_ms < previous.end_ms
        {
            errors.node(
                at_node,
                format!(
                    "phase `{}` starts at {}, before phase `{}` ends at {}",
                    phase.name,
                    context.describe(start_ms),
                    previous.name,
                    context.describe(previous.end_ms)
                ),
                "phases may not overlap: start it later or shorten the phase before",
            );
        }
        let end_ms = match (phase.duration_ms, written.get(index + 1)) {
            (Some(duration), _) => start_ms.saturating_add(duration),
            (None, Some(next)) => match next.at_ms {
                Some(next_at) => next_at,
                None => {
                    errors.node(
                        phase.node,
                        format!("phase `{}` has no `duration`, and the next phase no `at`", phase.name),
                        "give this phase a `duration:` or the next one an `at:`",
                    );
                    start_ms
                }
            },
            (None, None) => context.duration_ms.unwrap_or(u64::MAX),
        };
        if phase.duration_ms.is_none() && end_ms <= start_ms && index + 1 < written.len() {
            errors.node(
                phase.node,
                format!("phase `{}` would be empty: the next phase starts at {}", phase.name, context.describe(end_ms)),
                "give it a `duration:` or start the next phase later",
            );
        }
        context.check_span(errors, phase.at_node.unwrap_or(phase.node), &format!("phase `{}`", phase.name), start_ms, end_ms);
        if resolved.iter().any(|other| other.name == phase.name) {
            errors.node(phase.node, format!("two phases are named `{}`", phase.name), "give each phase its own name");
        }
        resolved.push(PhaseSpec {
            name: phase.name.clone(),
            start_ms,
            end_ms,
            rate: phase.rate,
            chaos: phase.chaos.clone(),
            origin: origin(errors, phase.node),
        });
    }
    resolved
}

fn phase_rate(errors: &mut Errors, fields: &read::Fields<'_>, context: &Context) -> PhaseRate {
    let eps =
        fields.get("eps").and_then(|node| read::number(errors, node, "eps", |eps| eps > 0.0, "more than 0 (records per second)", "300"));
    let factor = fields.get("rate").and_then(|node| {
        let text = read::scalar(errors, node, "rate", "a multiple of the scenario's rate", "2x")?;
        match text
            .trim()
            .strip_suffix('x')
            .and_then(|number| number.trim().parse::<f64>().ok())
            .filter(|factor| factor.is_finite() && *factor > 0.0)
        {
            Some(factor) => Some((factor, node)),
            None => {
                errors.node(
                    node,
                    format!("`rate` is `{text}`, not a multiple like `2x` or `0.5x`"),
                    "write a number above 0 followed by `x`, e.g. `rate: 2x`, or give the phase its own `eps:`",
                );
                None
            }
        }
    });
    if let (Some(_), Some(key)) = (eps, fields.key("rate")) {
        errors.node(
            key,
            "a phase gives both `eps` and `rate`",
            "keep one: `eps: 300` (records per second) or `rate: 2x` (of the scenario's)",
        );
    }
    let needs_scenario_rate = eps.is_none() && context.eps.is_none();
    if needs_scenario_rate {
        let (node, problem) = match factor {
            Some((_, node)) => (node.position, "`rate` is relative, but the scenario has no `eps`"),
            None => (fields.position, "this phase has no `eps`, and the scenario has none to give it"),
        };
        errors.at(node, problem, "add `eps:` at the top of the file (or give the phase its own `eps:`)");
    }
    match (eps, factor) {
        (Some(eps), _) => PhaseRate::Eps(eps),
        (None, Some((factor, _))) => PhaseRate::Times(factor),
        (None, None) => PhaseRate::Scenario,
    }
}

const EPISODE_KEYS: &[&str] = &["kind", "at", "duration", "difficulty", "target", "intensity", "ramp", "repeat", "parameters"];

/// One `episodes` entry: one scheduled episode per occurrence.
fn episode(errors: &mut Errors, node: &Node, context: &Context) -> Vec<ScheduledEpisode> {
    let Some(fields) = read::fields(errors, node, "episodes", EPISODE_KEYS, "`- {kind: port_scan, at: +9h12m, duration: 5m}`") else {
        return Vec::new();
    };
    let labels = || KINDS.values().map(|spec| spec.kind.as_str());
    let kind = match fields.get("kind") {
        Some(kind_node) => read::scalar(errors, kind_node, "kind", "an anomaly kind", "port_scan").and_then(|name| {
            let kind = AnomalyKind::from_name(name.trim());
            if kind.is_none() {
                errors.node(kind_node, format!("unknown kind `{name}`"), suggestion(name, labels(), "kind"));
            }
            kind
        }),
        None => {
            read::missing(errors, &fields, "kind", "this episode", "port_scan");
            None
        }
    };
    let at_ms = match fields.get("at") {
        Some(at_node) => read::at(errors, at_node, "at").and_then(|at| context.offset(errors, at_node, at)),
        None => {
            read::missing(errors, &fields, "at", "this episode", "+9h12m");
            None
        }
    };
    let duration_ms = match fields.get("duration") {
        Some(node) => read::duration(errors, node, "duration", false, "10m").map(|duration| duration.as_millis() as u64),
        None => {
            read::missing(errors, &fields, "duration", "this episode", "10m");
            None
        }
    };
    let spec = kind.map(|kind| KINDS[kind]);
    let difficulty = match (spec, fields.get("difficulty")) {
        (Some(spec), Some(node)) => read::scalar(errors, node, "difficulty", "a difficulty", spec.difficulties[0]).and_then(|name| {
            let found = spec.difficulties.iter().copied().find(|difficulty| *difficulty == name.trim());
            if found.is_none() {
                errors.node(
                    node,
                    format!("kind `{}` has no difficulty `{name}`", spec.kind),
                    suggestion(name, spec.difficulties.iter().copied(), "difficulty"),
                );
            }
            found
        }),
        (Some(spec), None) => Some(spec.difficulties[0]),
        (None, _) => None,
    };
    let target = fields.get("target").map_or(Some(Target::Any), |node| super::target::target(errors, node));
    let intensity = fields.get("intensity").map_or(Some(1.0), |node| {
        read::number(errors, node, "intensity", |intensity| intensity > 0.0, "more than 0 (1: the kind's own plan)", "2")
    });
    let ramp_ms =
        fields.get("ramp").map_or(Some(0), |node| read::duration(errors, node, "ramp", true, "2m").map(|ramp| ramp.as_millis() as u64));
    if let (Some(ramp), Some(duration), Some(node)) = (ramp_ms, duration_ms, fields.get("ramp"))
        && ramp > duration
    {
        errors.node(
            node,
            format!("`ramp` ({}) is longer than the episode's `duration` ({})", format_duration(ramp), format_duration(duration)),
            "write a ramp at most as long as the duration",
        );
    }
    let repeat = fields.get("repeat").and_then(|node| repeat(errors, node, duration_ms));
    let parameters = match (spec, fields.get("parameters")) {
        (Some(spec), Some(node)) => parameters(errors, node, spec),
        (_, None) => Some(BTreeMap::new()),
        (None, Some(_)) => None,
    };
    let (Some(kind), Some(at_ms), Some(duration_ms), Some(difficulty), Some(target), Some(intensity), Some(ramp_ms), Some(parameters)) =
        (kind, at_ms, duration_ms, difficulty, target, intensity, ramp_ms, parameters)
    else {
        return Vec::new();
    };
    let (every_ms, count) = repeat.unwrap_or((0, 1));
    let mut episodes = Vec::new();
    for occurrence in 0..count {
        let start_ms = at_ms.saturating_add(every_ms.saturating_mul(u64::from(occurrence)));
        let at_node = if occurrence == 0 { fields.get("at") } else { fields.get("repeat") };
        let what = if count > 1 {
            format!("occurrence {} of {count} of this `{kind}` episode", occurrence + 1)
        } else {
            format!("this `{kind}` episode")
        };
        context.check_span(errors, at_node.unwrap_or(node), &what, start_ms, start_ms.saturating_add(duration_ms));
        episodes.push(ScheduledEpisode {
            kind,
            at_ms: start_ms,
            duration_ms,
            difficulty,
            target: target.clone(),
            intensity,
            ramp_ms,
            parameters: parameters.clone(),
            occurrence,
            origin: Some(origin(errors, node)),
        });
    }
    episodes
}

/// `repeat: {every, count}`: the interval in milliseconds and the count.
fn repeat(errors: &mut Errors, node: &Node, duration_ms: Option<u64>) -> Option<(u64, u32)> {
    let fields = read::fields(errors, node, "repeat", &["every", "count"], "`repeat: {every: 1h, count: 3}`")?;
    let every = match fields.get("every") {
        Some(node) => read::duration(errors, node, "every", false, "1h").map(|every| (every.as_millis() as u64, node)),
        None => {
            read::missing(errors, &fields, "every", "`repeat`", "1h");
            None
        }
    };
    let count = match fields.get("count") {
        Some(node) => read::whole(errors, node, "count", 1, "3").and_then(|count| match u32::try_from(count) {
            Ok(count) if count <= MAX_REPEAT => Some(count),
            _ => {
                errors.node(
                    node,
                    format!("`count` is {count}, more than the {MAX_REPEAT} occurrences a repeat may have"),
                    "write a smaller count",
                );
                None
            }
        }),
        None => {
            read::missing(errors, &fields, "count", "`repeat`", "3");
            None
        }
    };
    let (every_ms, every_node) = every?;
    if let Some(duration) = duration_ms
        && every_ms < duration
    {
        errors.node(
            every_node,
            format!(
                "`every` ({}) is shorter than the episode's `duration` ({}): occurrences would overlap",
                format_duration(every_ms),
                format_duration(duration)
            ),
            "write an interval at least as long as the duration",
        );
        return None;
    }
    Some((every_ms, count?))
}

/// An episode's `parameters`: only its kind's own, each in its unit.
fn parameters(errors: &mut Errors, node: &Node, spec: &crate::chaos::KindSpec) -> Option<BTreeMap<&'static str, u64>> {
    let fields = read::entries(errors, node, "parameters", "`parameters: {exfil_bytes: 20MB}`")?;
    let mut values = BTreeMap::new();
    let mut valid = true;
    for (name, key, value) in fields.entries() {
        let Some(parameter) = spec.parameters.iter().find(|parameter| parameter.name == name) else {
            let fix = if spec.parameters.is_empty() {
                format!("kind `{}` takes no parameters: remove `{name}`", spec.kind)
            } else {
                suggestion(name, spec.parameters.iter().map(|parameter| parameter.name), "parameter")
            };
            errors.node(key, format!("kind `{}` has no parameter `{name}`", spec.kind), fix);
            valid = false;
            continue;
        };
        match parameter_value(errors, value, parameter) {
            Some(parsed) => {
                values.insert(parameter.name, parsed);
            }
            None => valid = false,
        }
    }
    valid.then_some(values)
}

/// Most occurrences one `repeat` expands into (each is an episode, and a row of the episodes file).
const MAX_REPEAT: u32 = 10_000;
