//! The contract of the docker-compose stack, checked although no Docker engine runs here: one
//! named test per rule of docker-compose.yml and deploy/prometheus/prometheus-compose.yml (and
//! `docker compose config` where the compose plugin exists). The stack has every service; images
//! are pinned, the Kafka nodes at the version scripts/stack runs; netchaos is built from the
//! repository's Dockerfile; `depends_on` names real services; ports are published on 127.0.0.1
//! only; bind-mounted paths exist and named volumes are declared; the netchaos services set only
//! variables netchaos reads; Prometheus runs the compose configuration and scrapes the ports the
//! services serve metrics on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use model::{
    COMPOSE_FILE, Mounts, NETCHAOS_SERVICES, PROMETHEUS_CONFIG, docker_compose_available, host_path, load, mounts, name_of, repository,
    scalar, service, services, stack_kafka_version, unpinned, unread_variables, variable, variables_in_help,
};
use serde_yaml_ng::{Mapping, Value};

/// Every service the stack must have.
const SERVICES: &[&str] =
    &["kafka-1", "kafka-2", "kafka-3", "minio", "minio-init", "prometheus", "grafana", "kafka-exporter", "generator", "sink"];

/// The Kafka nodes, whose image must be the Kafka version scripts/stack tests against.
const KAFKA_NODES: &[&str] = &["kafka-1", "kafka-2", "kafka-3"];

#[test]
fn docker_compose_accepts_the_file_where_it_is_installed() {
    if !docker_compose_available() {
        eprintln!("docker compose is not available: {COMPOSE_FILE} is checked as YAML only, by the other tests");
        return;
    }
    let output = Command::new("docker")
        .args(["compose", "-f", COMPOSE_FILE, "config", "--quiet"])
        .current_dir(repository())
        .stdin(Stdio::null())
        .output()
        .expect("run docker compose config");
    assert!(output.status.success(), "docker compose config: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_stack_has_every_service() {
    let compose = load(COMPOSE_FILE);
    let names: BTreeSet<String> = services(&compose).keys().map(name_of).collect();
    for required in SERVICES {
        assert!(names.contains(*required), "{COMPOSE_FILE} lacks the service `{required}` (has {names:?})");
    }
}

#[test]
fn every_image_is_pinned_to_a_release() {
    let compose = load(COMPOSE_FILE);
    for (name, definition) in services(&compose) {
        let name = name_of(name);
        let image = definition.get("image").map(scalar);
        assert!(image.is_some() || definition.get("build").is_some(), "service `{name}` has neither `image` nor `build`");
        if let Some(image) = image
            && let Some(reason) = unpinned(&image)
        {
            panic!("service `{name}`: image `{image}` is not pinned: {reason}");
        }
    }
}

#[test]
fn the_pin_check_refuses_latest_untagged_and_interpolated_images() {
    assert_eq!(unpinned("apache/kafka"), Some("it has no tag (that means `latest`)"));
    assert_eq!(unpinned("localhost:5000/netchaos"), Some("it has no tag (that means `latest`)"), "a registry port is no tag");
    assert_eq!(unpinned("prom/prometheus:latest"), Some("its tag is `latest`"));
    assert_eq!(unpinned("grafana/grafana:"), Some("its tag is empty"));
    assert_eq!(unpinned("grafana/grafana:${GRAFANA_VERSION}"), Some("it is interpolated"));
    assert_eq!(unpinned("prom/prometheus:v3.5.0"), None);
    assert_eq!(unpinned("localhost:5000/netchaos:1.2"), None);
    assert_eq!(unpinned("busybox@sha256:0123abcd"), None);
}

#[test]
fn the_kafka_nodes_run_the_kafka_version_scripts_stack_tests_against() {
    let compose = load(COMPOSE_FILE);
    let kafka = format!("apache/kafka:{}", stack_kafka_version());
    for node in KAFKA_NODES {
        let image = service(&compose, node).get("image").map(scalar);
        assert_eq!(image.as_deref(), Some(kafka.as_str()), "service `{node}` must run the Kafka of scripts/stack");
    }
}

#[test]
fn the_netchaos_services_are_built_from_the_repository_dockerfile() {
    let compose = load(COMPOSE_FILE);
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
}

#[test]
fn depends_on_names_real_services_and_waits_for_health_only_where_there_is_a_healthcheck() {
    let compose = load(COMPOSE_FILE);
    let services = services(&compose);
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
}

#[test]
fn ports_are_published_on_127_0_0_1_only() {
    let compose = load(COMPOSE_FILE);
    for (name, definition) in services(&compose) {
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

/// The targets of a Prometheus job's static configs.
fn scrape_targets(prometheus: &Value, job: &str) -> Vec<String> {
    let config = scrape_jobs(prometheus)
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
}

fn scrape_jobs(prometheus: &Value) -> &Vec<Value> {
    prometheus.get("scrape_configs").and_then(Value::as_sequence).expect("scrape_configs")
}

#[test]
fn the_compose_prometheus_runs_the_compose_configuration() {
    let compose = load(COMPOSE_FILE);
    let mut mounted = service(&compose, "prometheus").get("volumes").and_then(Value::as_sequence).into_iter().flatten().map(scalar);
    let config_mount = format!("./{PROMETHEUS_CONFIG}:/etc/prometheus/prometheus.yml");
    assert!(
        mounted.any(|volume| volume.starts_with(&config_mount)),
        "the prometheus service must mount {PROMETHEUS_CONFIG} as /etc/prometheus/prometheus.yml"
    );
}

#[test]
fn prometheus_scrapes_the_ports_the_services_serve_metrics_on() {
    let compose = load(COMPOSE_FILE);
    let prometheus = load(PROMETHEUS_CONFIG);
    for (name, job) in NETCHAOS_SERVICES {
        let address = variable(service(&compose, name), "NETCHAOS_METRICS_ADDR")
            .unwrap_or_else(|| panic!("service `{name}` must set NETCHAOS_METRICS_ADDR (the default listens on 127.0.0.1 only)"));
        let (host, port) =
            address.rsplit_once(':').unwrap_or_else(|| panic!("service `{name}`: NETCHAOS_METRICS_ADDR={address} has no port"));
        assert!(
            matches!(host, "0.0.0.0" | "[::]"),
            "service `{name}`: NETCHAOS_METRICS_ADDR={address} is unreachable from the prometheus container"
        );
        assert_eq!(
            scrape_targets(&prometheus, job),
            [format!("{name}:{port}")],
            "job `{job}` must scrape the port of NETCHAOS_METRICS_ADDR={address}"
        );
    }
    // kafka-exporter listens on its default :9308.
    assert_eq!(scrape_targets(&prometheus, "kafka-exporter"), ["kafka-exporter:9308"]);
}

#[test]
fn every_scrape_target_is_prometheus_itself_or_a_compose_service() {
    let compose = load(COMPOSE_FILE);
    let prometheus = load(PROMETHEUS_CONFIG);
    for job in scrape_jobs(&prometheus) {
        let job = job.get("job_name").map(scalar).unwrap_or_default();
        for target in scrape_targets(&prometheus, &job) {
            let host = target.rsplit_once(':').map_or(target.as_str(), |(host, _)| host);
            assert!(host == "localhost" || services(&compose).contains_key(host), "job `{job}` scrapes {target}: no such service");
        }
    }
}
