//! The top of a scenario file and its sections other than the timeline and the control list:
//! `start`, `duration`, `seed`, `topology`, `eps`, `profile`, `chaos`, `lookalikes`.

use crate::chaos::{ChaosSettings, KINDS, LOOKALIKES};
use crate::generator::profile::{Bursts, DailyCurve, RateProfile};
use crate::generator::timeline::Timeline;
use crate::network::topology::{REGIONS, TopologySize};
use crate::records::PerKind;

use super::error::{Errors, ScenarioError, suggestion};
use super::read::{self, Fields};
use super::timeline::{self as schedule, Context};
use super::yaml::{self, Node, Position, Value};
use super::{ChaosOverrides, Scenario};

const TOP_KEYS: &[&str] =
    &["name", "description", "start", "duration", "seed", "topology", "eps", "profile", "chaos", "lookalikes", "timeline", "control"];

/// The whole file, checked.
pub(super) fn scenario(text: &str, file: &str) -> Result<Scenario, Vec<ScenarioError>> {
    let mut errors = Errors::new(file);
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            errors.at(Position { line: 1, column: 1 }, "the file is empty", "write a scenario, e.g. `duration: 24h`");
            return Err(errors.into_sorted());
        }
        Err(error) => {
            errors.at(error.position, format!("this is not valid YAML: {}", error.message), "fix the YAML syntax here");
            return Err(errors.into_sorted());
        }
    };
    let Some(top) = read::fields(&mut errors, &root, "the scenario", TOP_KEYS, "`duration: 24h`") else {
        return Err(errors.into_sorted());
    };
    let get = |name: &str| top.get(name);
    let name = get("name").and_then(|node| read::text(&mut errors, node, "name", "monday-morning"));
    let description = get("description").and_then(|node| read::text(&mut errors, node, "description", "an office day"));
    let start = get("start").and_then(|node| read::time(&mut errors, node, "start"));
    let duration = get("duration").and_then(|node| read::duration(&mut errors, node, "duration", false, "24h"));
    let seed = get("seed").and_then(|node| read::whole(&mut errors, node, "seed", 0, "42"));
    let topology = get("topology").and_then(|node| topology(&mut errors, node));
    let eps =
        get("eps").and_then(|node| read::number(&mut errors, node, "eps", |eps| eps > 0.0, "more than 0 (records per second)", "100"));
    let profile = get("profile").and_then(|node| profile(&mut errors, node)).unwrap_or_default();
    let chaos = get("chaos").and_then(|node| chaos(&mut errors, node, "chaos", &ChaosSettings::defaults(), true)).unwrap_or_default();
    let lookalikes = get("lookalikes").and_then(|node| lookalikes(&mut errors, node));
    let background = chaos.apply(ChaosSettings::defaults());
    let control = get("control").map(|node| super::control::control(&mut errors, node, start, &background)).unwrap_or_default();
    let context = Context { start, duration_ms: duration.map(|duration| duration.as_millis() as u64), eps, background };
    let (phases, episodes) = match get("timeline") {
        Some(node) => schedule::timeline(&mut errors, node, &context),
        None => (Vec::new(), Vec::new()),
    };
    if !errors.is_empty() {
        return Err(errors.into_sorted());
    }
    let mut scenario = Scenario {
        file: file.to_owned(),
        name,
        description,
        start,
        duration,
        seed,
        topology,
        eps,
        profile,
        chaos,
        lookalikes,
        phases,
        control,
        timeline: Timeline { phases: Vec::new(), episodes },
    };
    // Phases exist only when the file gives `eps` (the timeline checks it).
    scenario.timeline = scenario.timeline_with(eps.unwrap_or(0.0), &context.background);
    Ok(scenario)
}

fn topology(errors: &mut Errors, node: &Node) -> Option<TopologySize> {
    let fields =
        read::fields(errors, node, "topology", &["accounts", "vpcs", "instances"], "`topology: {accounts: 2, vpcs: 3, instances: 129}`")?;
    let mut size = TopologySize::default();
    let mut valid = true;
    for (name, slot) in [("accounts", &mut size.accounts), ("vpcs", &mut size.vpcs), ("instances", &mut size.instances)] {
        let Some(value_node) = fields.get(name) else { continue };
        match read::whole(errors, value_node, name, 1, "3").map(u32::try_from) {
            Some(Ok(value)) => *slot = value,
            Some(Err(_)) => {
                errors.node(value_node, format!("`{name}` is more than {}", u32::MAX), format!("write a smaller number of {name}"));
                valid = false;
            }
            None => valid = false,
        }
    }
    if !valid {
        return None;
    }
    if let Err(problem) = size.check() {
        let default = TopologySize::default();
        let fix = format!(
            "write a size the address plan holds, e.g. `topology: {{accounts: {}, vpcs: {}, instances: {}}}`",
            default.accounts, default.vpcs, default.instances
        );
        errors.at(fields.position, problem, fix);
        return None;
    }
    Some(size)
}

fn profile(errors: &mut Errors, node: &Node) -> Option<RateProfile> {
    let known = ["diurnal", "hourly", "weekend_factor", "utc_offsets", "bursts"];
    let fields = read::fields(errors, node, "profile", &known, "`profile: {diurnal: {peak_hour: 14, trough_to_peak: 0.2}}`")?;
    let mut profile = RateProfile::default();
    if let (Some(_), Some(hourly)) = (fields.get("diurnal"), fields.key("hourly")) {
        errors.node(hourly, "`profile` gives both `diurnal` and `hourly`", "keep one: a diurnal day or a 24-point hourly curve");
    }
    if let Some(diurnal) = fields.get("diurnal").and_then(|node| daily(errors, node)) {
        profile.daily = diurnal;
    } else if let Some(hourly) = fields.get("hourly").and_then(|node| hourly_curve(errors, node)) {
        profile.daily = DailyCurve::Hourly(hourly);
    }
    if let Some(node) = fields.get("weekend_factor") {
        let factor = read::number(errors, node, "weekend_factor", |factor| factor > 0.0, "more than 0 (1: no weekend)", "0.3");
        profile.weekend_factor = factor.unwrap_or(1.0);
    }
    if let Some(node) = fields.get("utc_offsets")
        && let Some(offsets) = read::entries(errors, node, "utc_offsets", "`utc_offsets: {eu-west-1: 0, us-east-1: -5}`")
    {
        for (region, key, value) in offsets.entries() {
            if !REGIONS.iter().any(|known| known.name == region) {
                errors.node(
                    key,
                    format!("unknown region `{region}` in `utc_offsets`"),
                    suggestion(region, REGIONS.iter().map(|known| known.name), "region"),
                );
                continue;
            }
            let hours = read::number(errors, value, region, |hours| (-12.0..=14.0).contains(&hours), "hours from -12 to 14", "-5");
            if let Some(hours) = hours {
                profile.utc_offsets.insert(region.to_owned(), hours);
            }
        }
    }
    if let Some(node) = fields.get("bursts")
        && let Some(bursts) = read::fields(errors, node, "bursts", &["hurst"], "`bursts: {hurst: 0.8}`")
    {
        match bursts.get("hurst") {
            Some(hurst) => {
                let allowed = |hurst: f64| (0.5..1.0).contains(&hurst);
                profile.bursts = read::number(
                    errors,
                    hurst,
                    "hurst",
                    allowed,
                    "from 0.5 up to, not including, 1 (0.5: no long-range dependence)",
                    "0.8",
                )
                .map(|hurst| Bursts { hurst });
            }
            None => read::missing(errors, &bursts, "hurst", "`bursts`", "0.8"),
        }
    }
    Some(profile)
}

fn daily(errors: &mut Errors, node: &Node) -> Option<DailyCurve> {
    let fields =
        read::fields(errors, node, "diurnal", &["peak_hour", "trough_to_peak"], "`diurnal: {peak_hour: 14, trough_to_peak: 0.2}`")?;
    let peak_hour = match fields.get("peak_hour") {
        Some(node) => read::number(
            errors,
            node,
            "peak_hour",
            |hour| (0.0..24.0).contains(&hour),
            "from 0 up to, not including, 24 (local time)",
            "14",
        ),
        None => {
            read::missing(errors, &fields, "peak_hour", "`diurnal`", "14");
            None
        }
    };
    let trough_to_peak = match fields.get("trough_to_peak") {
        Some(node) => read::number(errors, node, "trough_to_peak", |ratio| ratio > 0.0 && ratio <= 1.0, "more than 0, at most 1", "0.2"),
        None => {
            read::missing(errors, &fields, "trough_to_peak", "`diurnal`", "0.2");
            None
        }
    };
    Some(DailyCurve::Diurnal { peak_hour: peak_hour?, trough_to_peak: trough_to_peak? })
}

fn hourly_curve(errors: &mut Errors, node: &Node) -> Option<[f64; 24]> {
    let Value::Sequence(items) = &node.value else {
        errors.node(
            node,
            format!("`hourly` must be a list of 24 numbers, not {}", node.type_name()),
            "write e.g. `hourly: [1, 1, 1, …]` with 24 numbers",
        );
        return None;
    };
    if items.len() != 24 {
        errors.node(node, format!("`hourly` has {} values", items.len()), "write 24, one per local hour from 00:00");
        return None;
    }
    let mut curve = [0.0; 24];
    let mut valid = true;
    for (hour, item) in items.iter().enumerate() {
        match read::number(errors, item, &format!("hourly[{hour}]"), |rate| rate >= 0.0, "0 or more (a relative rate)", "1") {
            Some(rate) => curve[hour] = rate,
            None => valid = false,
        }
    }
    if valid && curve.iter().all(|rate| *rate == 0.0) {
        errors.node(node, "every hour of `hourly` is 0", "give at least one hour a rate above 0");
        valid = false;
    }
    valid.then_some(curve)
}

/// A `chaos` mapping: each kind's `…_prob` and parameters, checked to sum to at most 1 over `base`;
/// with `hourly` (the background's, not a phase's), also each kind's `…_per_hour` and
/// `difficulty`. The hourly clock runs from the start of the run with the background's rates and
/// forms, so a phase naming them is refused rather than ignored.
pub(super) fn chaos(errors: &mut Errors, node: &Node, name: &str, base: &ChaosSettings, hourly: bool) -> Option<ChaosOverrides> {
    let known: Vec<&str> = KINDS
        .values()
        .filter_map(|spec| spec.probability.map(|flag| flag.name))
        .chain(KINDS.values().map(|spec| spec.per_hour.name))
        .chain(KINDS.values().flat_map(|spec| spec.parameters).map(|parameter| parameter.name))
        .chain(["difficulty"])
        .collect();
    let mut fields = read::fields(errors, node, name, &known, "`chaos: {port_scan_prob: 0.01}`")?;
    if !hourly {
        for (key_name, key, _) in fields.entries().filter(|(key_name, _, _)| *key_name == "difficulty" || key_name.ends_with("_per_hour")) {
            errors.node(
                key,
                format!("a phase's chaos cannot set `{key_name}`"),
                "set it in the top-level `chaos`: the hourly clock and the difficulty hold for the whole run",
            );
        }
        fields.retain(|key_name| key_name != "difficulty" && !key_name.ends_with("_per_hour"));
    }
    let mut overrides = ChaosOverrides::default();
    if let Some(node) = fields.get("difficulty")
        && let Some(text) = read::scalar(errors, node, "difficulty", "a difficulty", "subtle")
    {
        match crate::chaos::Difficulty::parse_list(text, PerKind::default()) {
            Ok(_) => overrides.difficulty = Some(text.to_owned()),
            Err(message) => errors.node(
                node,
                format!("`difficulty`: {message}"),
                "write e.g. `difficulty: mixed` or `difficulty: \"subtle,port_scan=overt\"`",
            ),
        }
    }
    for (kind, spec) in KINDS.iter() {
        if let Some(flag) = spec.probability
            && let Some(node) = fields.get(flag.name)
        {
            overrides.probabilities[kind] = read::probability(errors, node, flag.name);
        }
        if let Some(node) = fields.get(spec.per_hour.name) {
            overrides.per_hour[kind] = read::number(
                errors,
                node,
                spec.per_hour.name,
                |rate| (0.0..=3_600.0).contains(&rate),
                "0-3600 episodes per logical hour",
                "0.5",
            );
        }
        for parameter in spec.parameters {
            if let Some(node) = fields.get(parameter.name)
                && let Some(value) = parameter_value(errors, node, parameter)
            {
                overrides.parameters.insert(parameter.name, value);
            }
        }
    }
    check_sum(errors, &fields, name, &overrides.apply(base.clone()));
    Some(overrides)
}

/// A kind's parameter, in its unit, more than 0.
pub(super) fn parameter_value(errors: &mut Errors, node: &Node, parameter: &crate::chaos::Parameter) -> Option<u64> {
    let text = read::scalar(errors, node, parameter.name, "a value", parameter.default_text)?;
    match parameter.unit.parse(text) {
        Ok(0) => errors.node(
            node,
            format!("`{}` is 0", parameter.name),
            format!("write more than 0, e.g. `{}: {}`", parameter.name, parameter.default_text),
        ),
        Ok(value) => return Some(value),
        Err(message) => errors.node(
            node,
            format!("`{}`: {message}", parameter.name),
            format!("write e.g. `{}: {}`", parameter.name, parameter.default_text),
        ),
    }
    None
}

fn check_sum(errors: &mut Errors, fields: &Fields<'_>, name: &str, settings: &ChaosSettings) {
    let total = settings.total();
    if total <= 1.0 + 1e-9 {
        return;
    }
    let unset: Vec<&str> =
        KINDS.values().filter_map(|spec| spec.probability.map(|flag| flag.name)).filter(|key| fields.get(key).is_none()).collect();
    let with_defaults = if unset.is_empty() { String::new() } else { format!(" (with the defaults of {})", unset.join(", ")) };
    errors.at(
        fields.position,
        format!("the anomaly probabilities of `{name}` sum to {total}{with_defaults}, more than 1"),
        "lower them so that they sum to 1 or less",
    );
}

/// `lookalikes: on` or `off`.
fn lookalikes(errors: &mut Errors, node: &Node) -> Option<bool> {
    let text = read::scalar(errors, node, "lookalikes", "on or off", "off")?;
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => {
            let names: Vec<&str> = LOOKALIKES.iter().map(|spec| spec.name).collect();
            errors.node(
                node,
                format!("`lookalikes: {text}` is not on or off"),
                format!("write `lookalikes: on` (all of {}) or `lookalikes: off`", names.join(", ")),
            );
            None
        }
    }
}
