//! The docker-compose stack stays valid although no Docker engine runs here: `docker compose config`
//! where the compose plugin exists, and everywhere the checks below on docker-compose.yml and
//! deploy/prometheus/prometheus-compose.yml: every service of the stack, pinned images, the Kafka
//! version scripts/stack runs, bind-mounted paths that exist, netchaos built from the Dockerfile,
//! `depends_on` naming real services, ports published on 127.0.0.1 only, the netchaos services
//! configured only through variables netchaos reads, and Prometheus scraping the ports they serve
//! metrics on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_yaml_ng::{Mapping, Value};

/// Every service the stack must have.
const SERVICES: &[&str] =
    &["kafka-1", "kafka-2", "kafka-3", "minio", "minio-init", "prometheus", "grafana", "kafka-exporter", "generator", "sink"];

/// The Kafka nodes, whose image must be the Kafka version scripts/stack tests against.
const KAFKA_NODES: &[&str] = &["kafka-1", "kafka-2", "kafka-3"];

/// The services netchaos builds from the Dockerfile, with the Prometheus job that scrapes each.
const NETCHAOS_SERVICES: &[(&str, &str)] = &[("generator", "netchaos-generate"), ("sink", "netchaos-sink")];

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

const COMPOSE_FILE: &str = "docker-compose.yml";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus-compose.yml";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A YAML file of the repository, with its merge keys (`<<: *anchor`) applied as compose does.
fn load(path: &str) -> Value {
    let full = repository().join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("cannot read {}: {error}", full.display()));
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|error| panic!("{path} is not valid YAML: {error}"));
    value.apply_merge().unwrap_or_else(|error| panic!("{path}: bad merge key: {error}"));
    value
}

fn services(compose: &Value) -> &Mapping {
    compose.get("services").and_then(Value::as_mapping).unwrap_or_else(|| panic!("{COMPOSE_FILE} has no `services` mapping"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    services(compose).get(name).unwrap_or_else(|| panic!("{COMPOSE_FILE} has no service `{name}`"))
}

/// A scalar as compose reads it (numbers and booleans become their text).
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn name_of(key: &Value) -> String {
    key.as_str().map(str::to_owned).unwrap_or_else(|| panic!("expected a name, found {key:?}"))
}

/// `environment:` as a mapping or as a list of `NAME=value`: the names and their values.
fn environment(service: &Value) -> Vec<(String, Option<String>)> {
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

fn variable(service: &Value, name: &str) -> Option<String> {
    environment(service).into_iter().find(|(variable, _)| variable == name).and_then(|(_, value)| value)
}

/// The netchaos subcommand a service runs: the first word of its `command` that is not a flag.
fn subcommand(service: &Value) -> Option<String> {
    let words: Vec<String> = match service.get("command")? {
        Value::String(line) => line.split_whitespace().map(str::to_owned).collect(),
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        _ => return None,
    };
    words.into_iter().find(|word| !word.starts_with('-'))
}

/// The variables `netchaos SUBCOMMAND --help` lists (clap's `[env: NAME=]`).
fn variables_in_help(subcommand: &str) -> BTreeSet<String> {
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
fn unread_variables(services: &Mapping, read_by: impl Fn(&str) -> BTreeSet<String>) -> Vec<String> {
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
fn unpinned(image: &str) -> Option<&'static str> {
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
fn stack_kafka_version() -> String {
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
fn host_path(path: &str) -> PathBuf {
    assert!(!path.starts_with('~'), "{path}: bind-mount paths of the repository, not of a home directory");
    repository().join(path)
}

fn is_host_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// What the services mount, each as (service, source).
#[derive(Debug, Default)]
struct Mounts {
    /// Host paths, relative to the repository or absolute.
    binds: Vec<(String, String)>,
    /// Named volumes.
    volumes: Vec<(String, String)>,
}

fn mounts(compose: &Value) -> Mounts {
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

fn docker_compose_available() -> bool {
    Command::new("docker")
        .args(["compose", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn compose_file_defines_the_stack_with_pinned_images() {
    if docker_compose_available() {
        let output = Command::new("docker")
            .args(["compose", "-f", COMPOSE_FILE, "config", "--quiet"])
            .current_dir(repository())
            .stdin(Stdio::null())
            .output()
            .expect("run docker compose config");
        assert!(output.status.success(), "docker compose config: {}", String::from_utf8_lossy(&output.stderr));
    } else {
        eprintln!("docker compose is not available: checking {COMPOSE_FILE} as YAML only");
    }

    let compose = load(COMPOSE_FILE);
    let services = services(&compose);
    let names: BTreeSet<String> = services.keys().map(name_of).collect();
    for required in SERVICES {
        assert!(names.contains(*required), "{COMPOSE_FILE} lacks the service `{required}` (has {names:?})");
    }

    for (name, definition) in services {
        let name = name_of(name);
        let image = definition.get("image").map(scalar);
        assert!(image.is_some() || definition.get("build").is_some(), "service `{name}` has neither `image` nor `build`");
        if let Some(image) = image
            && let Some(reason) = unpinned(&image)
        {
            panic!("service `{name}`: image `{image}` is not pinned: {reason}");
        }
    }

    let kafka = format!("apache/kafka:{}", stack_kafka_version());
    for node in KAFKA_NODES {
        let image = service(&compose, node).get("image").map(scalar);
        assert_eq!(image.as_deref(), Some(kafka.as_str()), "service `{node}` must run the Kafka of scripts/stack");
    }

    let root = repository().canonicalize().unwrap();
    for (name, _) in NETCHAOS_SERVICES {
        let build = service(&compose, name).get("build").unwrap_or_else(|| panic!("service `{name}` must be built (`build:`)"));
        let (context, dockerfile) = match build {
            Value::String(context) => (context.clone(), "Dockerfile".to_owned()),
            Value::Mapping(_) => (
                build.get("context").map(scalar).unwrap_or_else(|| ".".to_owned()),
                build.get("dockerfile").map(scalar).unwrap_or_else(|| "Dockerfile".to_owned()),
            ),
            other => panic!("service `{name}`: odd `build` {other:?}"),
        };
        let context = host_path(&context).canonicalize().unwrap_or_else(|error| panic!("service `{name}`: build context: {error}"));
        assert_eq!(context, root, "service `{name}` must be built from the repository");
        let dockerfile = context.join(dockerfile);
        assert_eq!(dockerfile, root.join("Dockerfile"), "service `{name}` must be built with the repository's Dockerfile");
        assert!(dockerfile.is_file(), "{} is missing", dockerfile.display());
    }

    for (name, definition) in services {
        let name = name_of(name);
        let dependencies: Vec<(String, Option<String>)> = match definition.get("depends_on") {
            None => continue,
            Some(Value::Sequence(items)) => items.iter().map(|item| (scalar(item), None)).collect(),
            Some(Value::Mapping(items)) => {
                items.iter().map(|(dependency, how)| (name_of(dependency), how.get("condition").map(scalar))).collect()
            }
            Some(other) => panic!("service `{name}`: odd depends_on {other:?}"),
        };
        for (dependency, condition) in dependencies {
            let target =
                services.get(dependency.as_str()).unwrap_or_else(|| panic!("service `{name}` depends on `{dependency}`, no such service"));
            match condition.as_deref() {
                None | Some("service_started" | "service_completed_successfully") => {}
                Some("service_healthy") => assert!(
                    target.get("healthcheck").and_then(|check| check.get("test")).is_some(),
                    "service `{name}` waits for `{dependency}` to be healthy, which has no healthcheck"
                ),
                Some(other) => panic!("service `{name}`: unknown depends_on condition `{other}`"),
            }
        }
    }

    for (name, definition) in services {
        let name = name_of(name);
        let Some(ports) = definition.get("ports") else { continue };
        for port in ports.as_sequence().unwrap_or_else(|| panic!("service `{name}`: `ports` must be a list")) {
            let local = match port {
                Value::Mapping(_) => port.get("host_ip").map(scalar).as_deref() == Some("127.0.0.1"),
                other => scalar(other).starts_with("127.0.0.1:"),
            };
            assert!(local, "service `{name}` publishes {port:?}: publish on 127.0.0.1 only");
        }
    }
}

#[test]
fn mounted_paths_exist_and_volumes_are_declared() {
    let compose = load(COMPOSE_FILE);
    let Mounts { binds, volumes } = mounts(&compose);
    assert!(!binds.is_empty(), "the Prometheus and Grafana configuration should be bind-mounted from the repository");
    for (service, source) in binds {
        let path = host_path(&source);
        assert!(path.exists(), "service `{service}` mounts {source}, which is not in the repository");
    }
    let declared: BTreeSet<String> =
        compose.get("volumes").and_then(Value::as_mapping).map(|volumes| volumes.keys().map(name_of).collect()).unwrap_or_default();
    for (service, volume) in volumes {
        assert!(declared.contains(&volume), "service `{service}` uses the volume `{volume}`, not declared under top-level `volumes`");
    }
}

#[test]
fn netchaos_services_set_only_variables_netchaos_reads() {
    let compose = load(COMPOSE_FILE);
    let offenders = unread_variables(services(&compose), variables_in_help);
    assert!(offenders.is_empty(), "{COMPOSE_FILE} sets variables netchaos does not read: {offenders:?}");
}

#[test]
fn the_variable_check_names_a_variable_netchaos_does_not_read() {
    let services: Mapping = serde_yaml_ng::from_str(
        "generator:\n  command: [generate]\n  environment:\n    EPS_TARGET: 5000\n    NETCHAOS_LOG: info\n    NETCHAOS_NOT_A_VARIABLE: 1\n\
         sink:\n  command: sink --idle-exit 10s\n  environment: [KAFKA_GROUP=g, AWS_REGION=us-east-1, SINK_NOT_A_VARIABLE=2]\n",
    )
    .unwrap();
    let offenders = unread_variables(&services, variables_in_help);
    assert_eq!(offenders, ["generator (generate): NETCHAOS_NOT_A_VARIABLE", "sink (sink): SINK_NOT_A_VARIABLE"]);
}

#[test]
fn prometheus_scrapes_the_ports_the_services_serve_metrics_on() {
    let compose = load(COMPOSE_FILE);
    let prometheus = load(PROMETHEUS_CONFIG);

    // The compose Prometheus runs this very file.
    let mut mounted = service(&compose, "prometheus").get("volumes").and_then(Value::as_sequence).into_iter().flatten().map(scalar);
    let config_mount = format!("./{PROMETHEUS_CONFIG}:/etc/prometheus/prometheus.yml");
    assert!(
        mounted.any(|volume| volume.starts_with(&config_mount)),
        "the prometheus service must mount {PROMETHEUS_CONFIG} as /etc/prometheus/prometheus.yml"
    );

    let jobs = prometheus.get("scrape_configs").and_then(Value::as_sequence).expect("scrape_configs");
    let targets = |job: &str| -> Vec<String> {
        let config = jobs
            .iter()
            .find(|config| config.get("job_name").map(scalar).as_deref() == Some(job))
            .unwrap_or_else(|| panic!("{PROMETHEUS_CONFIG} has no job `{job}`"));
        config
            .get("static_configs")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .flat_map(|group| group.get("targets").and_then(Value::as_sequence).cloned().unwrap_or_default())
            .map(|target| scalar(&target))
            .collect()
    };

    for (name, job) in NETCHAOS_SERVICES {
        let address = variable(service(&compose, name), "NETCHAOS_METRICS_ADDR")
            .unwrap_or_else(|| panic!("service `{name}` must set NETCHAOS_METRICS_ADDR (the default listens on 127.0.0.1 only)"));
        let (host, port) =
            address.rsplit_once(':').unwrap_or_else(|| panic!("service `{name}`: NETCHAOS_METRICS_ADDR={address} has no port"));
        assert!(
            matches!(host, "0.0.0.0" | "[::]"),
            "service `{name}`: NETCHAOS_METRICS_ADDR={address} is unreachable from the prometheus container"
        );
        assert_eq!(targets(job), [format!("{name}:{port}")], "job `{job}` must scrape the port of NETCHAOS_METRICS_ADDR={address}");
    }
    // kafka-exporter listens on its default :9308.
    assert_eq!(targets("kafka-exporter"), ["kafka-exporter:9308"]);

    // Every target other than Prometheus itself is a compose service.
    for job in jobs {
        let job = job.get("job_name").map(scalar).unwrap_or_default();
        for target in targets(&job) {
            let host = target.rsplit_once(':').map_or(target.as_str(), |(host, _)| host);
            assert!(host == "localhost" || services(&compose).contains_key(host), "job `{job}` scrapes {target}: no such service");
        }
    }
}
