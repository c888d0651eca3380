//! Reading docker-compose.yml and the Prometheus configuration as compose does: the YAML parsed
//! by `serde_yaml_ng` with its merge keys applied, and accessors for the few compose forms that
//! take two shapes (`environment` as a mapping or a list, `command` as a line or a list, volumes
//! short or long).
#![allow(unreachable_pub)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_yaml_ng::{Mapping, Value};

/// The services netchaos builds from the Dockerfile, with the Prometheus job that scrapes each.
pub const NETCHAOS_SERVICES: &[(&str, &str)] = &[("generator", "netchaos-generate"), ("sink", "netchaos-sink")];

/// Variables netchaos reads outside clap (so not listed by `--help`): logging and the AWS settings
/// of `s3://` stores.
const READ_OUTSIDE_CLAP: &[&str] = &[
    "NETCHAOS_LOG",
    "NETCHAOS_LOG_FORMAT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_PROFILE",
];

pub const COMPOSE_FILE: &str = "docker-compose.yml";
pub const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus-compose.yml";

pub fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A YAML file of the repository, with its merge keys (`<<: *anchor`) applied as compose does.
pub fn load(path: &str) -> Value {
    let full = repository().join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("cannot read {}: {error}", full.display()));
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("{path} is not valid YAML: {error}"));
    value.apply_merge().unwrap_or_else(|error| panic!("{path}: bad merge key: {error}"));
    value
}

pub fn services(compose: &Value) -> &Mapping {
    compose.get("services").and_then(Value::as_mapping).unwrap_or_else(|| panic!("{COMPOSE_FILE} has no `services` mapping"))
}

pub fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    services(compose).get(name).unwrap_or_else(|| panic!("{COMPOSE_FILE} has no service `{name}`"))
}

/// A scalar as compose reads it (numbers and booleans become their text).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

pub fn name_of(key: &Value) -> String {
    key.as_str().map(str::to_owned).unwrap_or_else(|| panic!("expected a name, found {key:?}"))
}

/// `environment:` as a mapping or as a list of `NAME=value`: the names and their values.
pub fn environment(service: &Value) -> Vec<(String, Option<String>)> {
    match service.get("environment") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Mapping(variables)) => {
            variables.iter().map(|(name, value)| (name_of(name), (!value.is_null()).then(|| scalar(value)))).collect()
        }
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| match scalar(item).split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (scalar(item), None),
            })
            .collect(),
        Some(other) => panic!("`environment` must be a mapping or a list, found {other:?}"),
    }
}

pub fn variable(service: &Value, name: &str) -> Option<String> {
    environment(service).into_iter().find(|(variable, _)| variable == name).and_then(|(_, value)| value)
}

/// The netchaos subcommand a service runs: the first word of its `command` that is not a flag.
pub fn subcommand(service: &Value) -> Option<String> {
    let words: Vec<String> = match service.get("command")? {
        Value::String(line) => line.split_whitespace().map(str::to_owned).collect(),
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        _ => return None,
    };
    words.into_iter().find(|word| !word.starts_with('-'))
}

/// The variables `netchaos SUBCOMMAND --help` lists (clap's `[env: NAME=]`).
pub fn variables_in_help(subcommand: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_netchaos"))
        .args([subcommand, "--help"])
        .stdin(Stdio::null())
        .output()
        .expect("run netchaos --help");
    assert!(output.status.success(), "netchaos {subcommand} --help failed: {}", String::from_utf8_lossy(&output.stderr));
    let help = String::from_utf8(output.stdout).expect("help is UTF-8");
    // Help is wrapped to the terminal: join its lines so that no `[env: NAME=` is split.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let names: BTreeSet<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split_once('=').map(|(name, _)| name.to_owned()))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .collect();
    assert!(!names.is_empty(), "netchaos {subcommand} --help lists no [env: NAME=]: {help}");
    names
}

/// The variables the netchaos services of `services` set that netchaos does not read, each as
/// `service (subcommand): NAME`. `read_by` gives the variables a subcommand reads through clap.
pub fn unread_variables(services: &Mapping, read_by: impl Fn(&str) -> BTreeSet<String>) -> Vec<String> {
    let mut offenders = Vec::new();
    for (name, _) in NETCHAOS_SERVICES {
        let Some(definition) = services.get(*name) else { continue };
        assert!(
            definition.get("env_file").is_none(),
            "service `{name}`: set its variables under `environment:`, where this check sees them, not in env_file"
        );
        let subcommand = subcommand(definition).unwrap_or_else(|| panic!("service `{name}` has no `command` naming a netchaos subcommand"));
        let mut known = read_by(&subcommand);
        known.extend(READ_OUTSIDE_CLAP.iter().map(|variable| (*variable).to_owned()));
        for (variable, _) in environment(definition) {
            if !known.contains(&variable) {
                offenders.push(format!("{name} ({subcommand}): {variable}"));
            }
        }
    }
    offenders
}

/// Why an image reference is not pinned to a release, if it is not.
pub fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains("${") {
        return Some("it is interpolated");
    }
    if image.contains("@sha256:") {
        return None;
    }
    // The tag follows the last `:` of the last path component (a registry may have a port).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("it has no tag (that means `latest`)"),
        Some((_, "")) => Some("its tag is empty"),
        Some((_, "latest")) => Some("its tag is `latest`"),
        Some(_) => None,
    }
}

/// KAFKA_VERSION as scripts/stack sets it (`KAFKA_VERSION=4.3.1`, or a `${VAR:-4.3.1}` default).
pub fn stack_kafka_version() -> String {
    let path = repository().join("scripts/stack");
    let script = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let value = script
        .lines()
        .find_map(|line| line.trim().strip_prefix("KAFKA_VERSION="))
        .unwrap_or_else(|| panic!("scripts/stack sets no KAFKA_VERSION"))
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let value = match value.split_once(":-") {
        Some((_, default)) => default.trim_end_matches('}'),
        None => value,
    };
    assert!(!value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.'), "odd KAFKA_VERSION in scripts/stack: {value:?}");
    value.to_owned()
}

/// A path of the compose file, relative to the repository (where the compose file is).
pub fn host_path(path: &str) -> PathBuf {
    assert!(!path.starts_with('~'), "{path}: bind-mount paths of the repository, not of a home directory");
    repository().join(path)
}

fn is_host_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// What the services mount, each as (service, source).
#[derive(Debug, Default)]
pub struct Mounts {
    /// Host paths, relative to the repository or absolute.
    pub binds: Vec<(String, String)>,
    /// Named volumes.
    pub volumes: Vec<(String, String)>,
}

pub fn mounts(compose: &Value) -> Mounts {
    let mut mounts = Mounts::default();
    for (name, definition) in services(compose) {
        let name = name_of(name);
        let Some(volumes) = definition.get("volumes") else { continue };
        for volume in volumes.as_sequence().unwrap_or_else(|| panic!("service `{name}`: `volumes` must be a list")) {
            let (kind, source) = match volume {
                Value::String(short) => {
                    let source = short.split(':').next().unwrap_or_default().to_owned();
                    (if is_host_path(&source) { "bind" } else { "volume" }.to_owned(), source)
                }
                Value::Mapping(_) => (
                    volume.get("type").map(scalar).unwrap_or_else(|| "volume".to_owned()),
                    volume.get("source").map(scalar).unwrap_or_default(),
                ),
                other => panic!("service `{name}`: odd volume {other:?}"),
            };
            match kind.as_str() {
                "bind" => mounts.binds.push((name.clone(), source)),
                "volume" if !source.is_empty() => mounts.volumes.push((name.clone(), source)),
                _ => {}
            }
        }
    }
    mounts
}

/// Whether `docker compose` runs here (it does where Docker is installed; not on this suite's CI).
pub fn docker_compose_available() -> bool {
    Command::new("docker")
        .args(["compose", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
