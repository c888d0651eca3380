//! `netchaos scenario export JOURNAL`: a live session's journal as a scenario file, so that a drill
//! improvised once becomes a test case. The file holds the run's settings that a scenario can hold
//! (or the scenario the run came from) and the journal's commands as its `control` list; run with
//! the flags its first comment names, it makes the same records as the session, byte for byte
//! (`it::control::a_live_session_replays_byte_for_byte` runs it).

use std::fmt::Write;

use serde_json::Value;

use crate::chaos::spec;
use crate::generator::control::{Action, Entry};
use crate::records::AnomalyKind;

/// A scalar as YAML: JSON's double-quoted strings are YAML's too.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// The run's settings a scenario holds, for a run without a scenario file.
fn settings_yaml(settings: &Value, out: &mut String) -> Result<(), String> {
    let get = |key: &str| settings.get(key).filter(|value| !value.is_null());
    let flat = settings.pointer("/profile/daily").and_then(Value::as_str) == Some("flat")
        && settings.pointer("/profile/bursts").is_none_or(Value::is_null)
        && settings.pointer("/profile/weekend_factor").and_then(Value::as_f64).is_none_or(|factor| factor == 1.0)
        && settings.pointer("/profile/utc_offsets").and_then(Value::as_object).is_none_or(|offsets| offsets.is_empty());
    if !flat {
        return Err("the run had a rate profile (a daily curve, a weekend factor or bursts), which a journal does not describe as a scenario does: export the journal of a run started from a scenario file, or of a flat run".into());
    }
    if let Some(start) = get("start_time").and_then(Value::as_str) {
        let _ = writeln!(out, "start: {start}");
    }
    if let Some(ms) = get("duration_ms").and_then(Value::as_u64) {
        let _ = writeln!(out, "duration: {ms}ms");
    }
    if let Some(eps) = get("eps").and_then(Value::as_f64).filter(|eps| *eps > 0.0) {
        let _ = writeln!(out, "eps: {eps}");
    }
    if let Some(topology) = get("topology") {
        let field = |name: &str| topology.get(name).and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(out, "topology: {{accounts: {}, vpcs: {}, instances: {}}}", field("accounts"), field("vpcs"), field("instances"));
    }
    if let Some(lookalikes) = get("lookalikes").and_then(Value::as_bool) {
        let _ = writeln!(out, "lookalikes: {}", if lookalikes { "on" } else { "off" });
    }
    let _ = writeln!(out, "chaos:");
    if let Some(object) = settings.as_object() {
        for (key, value) in object {
            let parameter = crate::chaos::KINDS.values().flat_map(|spec| spec.parameters).any(|parameter| parameter.name == key);
            if key.ends_with("_prob") || key.ends_with("_per_hour") || parameter {
                let _ = writeln!(out, "  {key}: {value}");
            }
        }
    }
    if let Some(forms) = get("difficulty").and_then(Value::as_object) {
        let list: Vec<String> = forms.iter().filter_map(|(kind, form)| Some(format!("{kind}={}", form.as_str()?))).collect();
        let _ = writeln!(out, "  difficulty: {}", quoted(&list.join(",")));
    }
    Ok(())
}

/// One control entry, block style.
fn entry_yaml(entry: &Entry, out: &mut String) {
    let _ = writeln!(out, "  - at: +{}ms", entry.offset_ms);
    match &entry.action {
        Action::Inject(injection) => {
            let _ = writeln!(out, "    # episode {}", injection.episode_id);
            let _ = writeln!(out, "    inject:");
            let _ = writeln!(out, "      kind: {}", injection.kind);
            let _ = writeln!(out, "      difficulty: {}", quoted(&injection.difficulty));
            let _ = writeln!(out, "      target: {}", quoted(&injection.target));
            let _ = writeln!(out, "      duration: {}ms", injection.duration_ms);
            let _ = writeln!(out, "      intensity: {}", injection.intensity);
            if injection.delay_ms > 0 {
                let _ = writeln!(out, "      in: {}ms", injection.delay_ms);
            }
            if !injection.parameters.is_empty() {
                let _ = writeln!(out, "      parameters:");
                for (name, value) in &injection.parameters {
                    let _ = writeln!(out, "        {name}: {value}");
                }
            }
        }
        Action::End { episode_id } => {
            let _ = writeln!(out, "    end: {}", quoted(episode_id));
        }
        Action::Rate { eps, ramp_ms } => {
            let _ = writeln!(out, "    rate: {eps}");
            if *ramp_ms > 0 {
                let _ = writeln!(out, "    ramp: {ramp_ms}ms");
            }
        }
        Action::Chaos(change) => {
            let _ = writeln!(out, "    chaos:");
            for (kind, probability) in &change.probability {
                let name = AnomalyKind::from_name(kind).and_then(|kind| spec(kind).probability).map_or(kind.as_str(), |flag| flag.name);
                let _ = writeln!(out, "      {name}: {probability}");
            }
            if let Some(difficulty) = &change.difficulty {
                let _ = writeln!(out, "      difficulty: {}", quoted(difficulty));
            }
        }
        Action::Speed { speed } => {
            let _ = writeln!(out, "    speed: {}", speed.map_or_else(|| "max".to_owned(), |speed| speed.to_string()));
        }
        Action::Pause => {
            let _ = writeln!(out, "    pause: ~");
        }
        Action::Resume => {
            let _ = writeln!(out, "    resume: ~");
        }
    }
}

/// A scenario's text without its top-level `control` section.
fn without_control(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let top_level = !line.starts_with([' ', '\t', '#', '-']) && !line.trim().is_empty();
        if top_level {
            skipping = line.starts_with("control:");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn has_key(text: &str, key: &str) -> bool {
    text.lines().any(|line| line.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')))
}

/// The scenario text of a journal (its header and commands), from the journal named `name`.
pub fn export(header: &Value, entries: &[Entry], name: &str) -> Result<String, String> {
    let settings = header.get("settings").cloned().unwrap_or(Value::Null);
    let run_id = header.get("run_id").and_then(Value::as_str).unwrap_or("?");
    let mut flags = format!("--workers {}", settings.get("workers").and_then(Value::as_u64).unwrap_or(4));
    if let Some(ratio) = settings.get("firewall_ratio").and_then(Value::as_f64) {
        let _ = write!(flags, " --firewall-ratio {ratio}");
    }
    if let Some(count) = settings.get("count").and_then(Value::as_u64) {
        let _ = write!(flags, " --count {count}");
    }
    if let Some(instance) = header.get("instance_id").and_then(Value::as_u64).filter(|instance| *instance > 0) {
        let _ = write!(flags, " --instance-id {instance}");
    }
    if settings.get("shard").and_then(Value::as_str).is_some_and(|shard| shard != "0/1") {
        let _ = write!(flags, " --shard {}", settings.get("shard").and_then(Value::as_str).unwrap_or_default());
    }
    let mut out = format!(
        "# A live session of run {run_id}, exported from the journal {name}.\n# Run it with: netchaos generate --scenario FILE {flags}\n"
    );
    let seed = header.get("seed").and_then(Value::as_u64).unwrap_or(0);
    match header.get("scenario_text").and_then(Value::as_str) {
        Some(text) => {
            let text = without_control(text);
            if !has_key(&text, "seed") {
                let _ = writeln!(out, "seed: {seed}");
            }
            for (key, setting) in [("start", "start_time"), ("eps", "eps")] {
                if !has_key(&text, key)
                    && let Some(value) = settings.get(setting).filter(|value| !value.is_null())
                {
                    let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                    let _ = writeln!(out, "{key}: {value}");
                }
            }
            if !has_key(&text, "duration")
                && let Some(ms) = settings.get("duration_ms").and_then(Value::as_u64)
            {
                let _ = writeln!(out, "duration: {ms}ms");
            }
            out.push_str(&text);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        None => {
            let _ = writeln!(out, "name: {}", quoted(&format!("live session {run_id}")));
            let _ = writeln!(out, "seed: {seed}");
            settings_yaml(&settings, &mut out)?;
        }
    }
    if !entries.is_empty() {
        out.push_str("control:\n");
        for entry in entries {
            entry_yaml(entry, &mut out);
        }
    }
    Ok(out)
}
