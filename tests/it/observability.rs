//! Metrics end to end: a Kafka pipeline (generate → the 3-node cluster → sink) scraped by the
//! stack's real Prometheus. Every metric of DESIGN §7 arrives with plausible values, and every
//! query of the shipped Grafana dashboard returns data (the kafka-exporter ones are checked for
//! syntax by `scripts/check-dashboard`, see tests/it/dashboard.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::cli::netchaos;
use crate::common::dashboard::dashboard_queries;
use crate::common::kafka::{Background, brokers, serial, sink_command, unique};
use crate::common::prometheus::{query, scalar, targets_dir, values};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const EPS: u32 = 8_000;
const POISON: u64 = 3;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A target file in the stack's Prometheus `targets/` directory, removed when dropped.
struct Targets(PathBuf);

impl Targets {
    fn write(test: &str, generator_port: u16, sink_port: u16) -> Self {
        let targets = serde_json::json!([
            {"targets": [format!("127.0.0.1:{generator_port}")], "labels": {"job": "netchaos-generate", "test": test}},
            {"targets": [format!("127.0.0.1:{sink_port}")], "labels": {"job": "netchaos-sink", "test": test}},
        ]);
        let path = targets_dir().join(format!("{test}.json"));
        // Written beside and renamed, so that Prometheus never reads half a file.
        let staging = path.with_extension("tmp");
        std::fs::write(&staging, targets.to_string()).unwrap();
        std::fs::rename(&staging, &path).unwrap();
        Targets(path)
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Retries `check` (which returns what is still wrong) until it returns nothing or `limit` passes.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> Vec<String>) {
    let started = Instant::now();
    loop {
        let problems = check();
        if problems.is_empty() {
            return;
        }
        assert!(started.elapsed() < limit, "{what} after {limit:?}:\n  {}", problems.join("\n  "));
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The DESIGN §7 set: each metric with a selector for this test's processes, and how many series
/// it must have at least.
fn design_metrics(test: &str) -> Vec<(String, usize)> {
    let of = |name: &str, series: usize| (format!("{name}{{test=\"{test}\"}}"), series);
    vec![
        of("netchaos_generated_records_total", 2),
        of("netchaos_generated_anomaly_records_total", 4),
        of("netchaos_generated_bytes_total", 1),
        of("netchaos_episodes_started_total", 4),
        of("netchaos_episodes_completed_total", 4),
        of("netchaos_delivered_records_total", 2),
        of("netchaos_delivery_errors_total", 1),
        of("netchaos_target_rate_records_per_second", 1),
        of("netchaos_achieved_rate_records_per_second", 1),
        of("netchaos_sink_records_consumed_total", 1),
        of("netchaos_sink_records_valid_total", 1),
        of("netchaos_sink_records_invalid_total", 1),
        of("netchaos_sink_records_skipped_total", 1),
        of("netchaos_sink_batches_total", 4),
        of("netchaos_sink_uncompressed_bytes_total", 1),
        of("netchaos_sink_compressed_bytes_total", 1),
        of("netchaos_sink_flush_duration_seconds_bucket", 10),
        of("netchaos_sink_upload_duration_seconds_bucket", 10),
        of("netchaos_sink_store_retries_total", 1),
        of("netchaos_sink_consumer_lag_records", 6),
        of("netchaos_sink_paused", 1),
        of("netchaos_build_info", 2),
    ]
}

/// `expr` without a trailing `or vector(0)` / `or on() vector(0)`.
fn without_fallback(expr: &str) -> &str {
    let trimmed = expr.trim_end();
    ["or vector(0)", "or on() vector(0)"].iter().find_map(|fallback| trimmed.strip_suffix(fallback)).map_or(trimmed, str::trim_end)
}

#[test]
fn fallbacks_are_stripped() {
    assert_eq!(without_fallback("sum(rate(x[1m])) or vector(0)"), "sum(rate(x[1m]))");
    assert_eq!(without_fallback("sum by (reason) (rate(x[1m])) or on() vector(0)"), "sum by (reason) (rate(x[1m]))");
    assert_eq!(without_fallback("sum(x)"), "sum(x)");
}

fn sum(expr: &str) -> f64 {
    scalar(&format!("sum({expr})")).unwrap_or(f64::NAN)
}

#[test]
fn a_running_pipeline_exports_every_design_metric_and_every_dashboard_query_returns_data() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let test = unique("obs");
    let (generator_port, sink_port) = (free_port(), free_port());
    let _targets = Targets::write(&test, generator_port, sink_port);
    let store = directory.path().join("store");
    let manifest = directory.path().join("manifest.json");

    let mut sink = sink_command(&test, &format!("{test}-group"), &store, 20_000);
    sink.args(["--metrics-addr", &format!("127.0.0.1:{sink_port}")]);
    let mut sink = Background::spawn("sink", &mut sink, directory.path());
    // Paced and unbounded: it runs until the checks below are done, then stops on SIGTERM.
    let mut generator = netchaos();
    generator
        .args(["generate", "--brokers", &brokers(), "--topic", &test, "--partitions", "6", "--workers", "2", "--quiet"])
        .args(["--seed", "7", "--eps", &EPS.to_string(), "--metrics-addr", &format!("127.0.0.1:{generator_port}"), "--manifest"])
        .arg(&manifest);
    let mut generator = Background::spawn("generate", &mut generator, directory.path());

    // A few invalid messages beside the generated records, for the invalid-records series.
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", brokers()).set("acks", "all").create().unwrap();
    for poison in 0..POISON {
        producer.send(BaseRecord::<(), _>::to(&test).payload(format!("not json {poison}").as_bytes())).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();

    // While both run: every metric is scraped, every dashboard query returns data.
    let metrics = design_metrics(&test);
    eventually(Duration::from_secs(60), "metrics missing in Prometheus", || {
        metrics
            .iter()
            .filter_map(|(selector, wanted)| {
                let found = query(selector).len();
                (found < *wanted).then(|| format!("{selector}: {found} series, wanted {wanted}"))
            })
            .collect()
    });
    let queries: Vec<_> = dashboard_queries().into_iter().filter(|query| !query.kafka_exporter).collect();
    assert!(queries.len() >= 20, "the dashboard has {} netchaos queries", queries.len());
    eventually(Duration::from_secs(90), "dashboard queries without data", || {
        queries
            .iter()
            .filter_map(|dashboard| {
                // A fallback such as `or vector(0)` always answers: the query before it must too.
                let expr = without_fallback(&dashboard.expr);
                let result = query(expr);
                let data = values(&result);
                (data.is_empty() || data.iter().all(|value| value.is_nan()))
                    .then(|| format!("{}: `{expr}` gave {result:?}", dashboard.panel))
            })
            .collect()
    });
    assert_eq!(generator.child.try_wait().unwrap(), None, "the checks above ran while the generator was still running");

    // Plausible values: compare the generator's last scrape with what landed in the end.
    generator.terminate();
    generator.wait_success(Duration::from_secs(120));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let acknowledged = report["kafka"]["acknowledged"].as_u64().unwrap();
    // At least a second of records (the checks above may take only a few seconds).
    assert!(acknowledged == report["records"].as_u64().unwrap() && acknowledged >= u64::from(EPS), "{report}");
    let selector = format!("{{test=\"{test}\"}}");
    eventually(Duration::from_secs(90), "the sink did not land everything", || {
        let landed = sum(&format!("netchaos_sink_records_valid_total{selector}"));
        let invalid = sum(&format!("netchaos_sink_records_invalid_total{selector}"));
        let lag = sum(&format!("netchaos_sink_consumer_lag_records{selector}"));
        let mut problems = Vec::new();
        if landed != acknowledged as f64 || invalid != POISON as f64 {
            problems.push(format!("landed {landed} of {acknowledged}, invalid {invalid} of {POISON}"));
        }
        if lag != 0.0 {
            problems.push(format!("lag {lag} once everything is stored"));
        }
        problems
    });
    let last = |name: &str| sum(&format!("max_over_time({name}{selector}[10m])"));
    let generated = last("netchaos_generated_records_total");
    let delivered = last("netchaos_delivered_records_total");
    assert!(generated >= delivered && delivered > 0.0, "generated {generated} >= delivered {delivered} > 0 at the last scrape");
    assert!(delivered <= acknowledged as f64, "delivered {delivered} at the last scrape <= {acknowledged} landed in the end");
    assert!(last("netchaos_generated_anomaly_records_total") > 0.0);
    assert!(last("netchaos_episodes_started_total") > 0.0);
    assert!(last("netchaos_generated_bytes_total") > generated * 100.0, "records are JSON lines of hundreds of bytes");
    assert_eq!(last("netchaos_delivery_errors_total"), 0.0);
    assert_eq!(last("netchaos_target_rate_records_per_second"), f64::from(EPS));
    let achieved = sum(&format!("quantile_over_time(0.5, netchaos_achieved_rate_records_per_second{selector}[10m])"));
    assert!((0.8..=1.2).contains(&(achieved / f64::from(EPS))), "achieved {achieved}/s (median) against a target of {EPS}/s");

    let consumed = sum(&format!("netchaos_sink_records_consumed_total{selector}"));
    assert!(consumed >= (acknowledged + POISON) as f64, "consumed {consumed} >= stored {acknowledged} + {POISON}");
    let batches = sum(&format!("netchaos_sink_batches_total{selector}"));
    assert!(batches > 0.0 && sum(&format!("netchaos_sink_batches_total{{test=\"{test}\",trigger=\"age\"}}")) > 0.0);
    assert_eq!(sum(&format!("netchaos_sink_flush_duration_seconds_count{selector}")), batches, "one flush time per batch");
    assert!(sum(&format!("netchaos_sink_upload_duration_seconds_count{selector}")) >= batches, "at least one upload per batch");
    let (raw, compressed) = (
        sum(&format!("netchaos_sink_uncompressed_bytes_total{selector}")),
        sum(&format!("netchaos_sink_compressed_bytes_total{selector}")),
    );
    assert!(raw > 3.0 * compressed && compressed > 0.0, "gzip shrinks JSON lines: {raw} -> {compressed}");
    assert_eq!(sum(&format!("netchaos_sink_paused{selector}")), 0.0);
    let invalid_json = sum(&format!("netchaos_sink_records_invalid_total{{test=\"{test}\",reason=\"invalid_json\"}}"));
    assert_eq!(invalid_json, POISON as f64, "the poison messages' reason");

    sink.terminate();
    sink.wait_success(Duration::from_secs(60));
}
