//! The Grafana dashboard (`deploy/grafana/dashboards/netchaos.json`): it validates against Grafana's
//! published Dashboard schema and its queries parse (`scripts/check-dashboard`, which needs Node.js
//! and npm: without them these tests fail, they never skip), the check can fail, and the queries
//! cover every metric family of the metrics contract as plain PromQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::dashboard::{dashboard, dashboard_path, dashboard_queries, metric_names, queries_of, substitute};
use serde_json::{Value, json};

/// Every metric family the processes and kafka-exporter serve (the metrics contract), each of which
/// some panel must show.
const METRIC_FAMILIES: [&str; 25] = [
    "netchaos_build_info",
    "netchaos_generated_records_total",
    "netchaos_generated_anomaly_records_total",
    "netchaos_generated_bytes_total",
    "netchaos_episodes_started_total",
    "netchaos_episodes_completed_total",
    "netchaos_delivered_records_total",
    "netchaos_delivery_errors_total",
    "netchaos_target_rate_records_per_second",
    "netchaos_achieved_rate_records_per_second",
    "netchaos_control_requests_total",
    "netchaos_sink_records_consumed_total",
    "netchaos_sink_records_valid_total",
    "netchaos_sink_records_invalid_total",
    "netchaos_sink_records_skipped_total",
    "netchaos_sink_batches_total",
    "netchaos_sink_uncompressed_bytes_total",
    "netchaos_sink_compressed_bytes_total",
    "netchaos_sink_flush_duration_seconds",
    "netchaos_sink_upload_duration_seconds",
    "netchaos_sink_store_retries_total",
    "netchaos_sink_consumer_lag_records",
    "netchaos_sink_paused",
    "kafka_brokers",
    "kafka_consumergroup_lag",
];

fn check_dashboard(files: &[PathBuf]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-dashboard");
    Command::new(&script).args(files).output().unwrap_or_else(|error| panic!("run {}: {error}", script.display()))
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn dashboard_validates_against_grafanas_schema_and_its_queries_parse() {
    let output = check_dashboard(&[]);
    assert!(output.status.success(), "scripts/check-dashboard failed: {}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("netchaos.json: OK"), "the shipped dashboard should have been checked: {}", describe(&output));
}

/// The first panel that is not a row, as a mutable JSON value.
fn first_panel(dashboard: &mut Value) -> &mut Value {
    let panels = dashboard["panels"].as_array_mut().expect("panels");
    panels.iter_mut().find(|panel| panel["type"] != "row").expect("a panel that is not a row")
}

#[test]
fn check_dashboard_rejects_broken_dashboards() {
    let directory = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, dashboard: &Value| {
        let path = directory.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(dashboard).unwrap()).unwrap();
        path
    };

    // Against the schema: gridPos must be an object.
    let mut bad_grid = dashboard();
    first_panel(&mut bad_grid)["gridPos"] = json!("full width");
    // Beyond the schema: two panels with one id.
    let mut duplicate_id = dashboard();
    let panels = duplicate_id["panels"].as_array_mut().unwrap();
    let first_id = panels[0]["id"].clone();
    panels[1]["id"] = first_id;
    // PromQL that does not parse (promtool).
    let mut bad_promql = dashboard();
    first_panel(&mut bad_promql)["targets"][0]["expr"] = json!("sum(rate(netchaos_sink_records_valid_total[$__rate_interval])");
    // A Grafana variable the queries may not use.
    let mut variable = dashboard();
    first_panel(&mut variable)["targets"][0]["expr"] = json!("sum(netchaos_sink_paused{job=\"$job\"})");

    let files = [
        write("bad-grid.json", &bad_grid),
        write("duplicate-id.json", &duplicate_id),
        write("bad-promql.json", &bad_promql),
        write("variable.json", &variable),
    ];
    let output = check_dashboard(&files);
    let report = describe(&output);
    assert_eq!(output.status.code(), Some(1), "the broken dashboards should be rejected: {report}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = [
        ("bad-grid.json: /panels/1/gridPos: must be object", "the schema check"),
        ("duplicate-id.json: /panels/1/id: id", "the unique-id check"),
        ("bad-promql.json: promtool:", "promtool"),
        ("variable.json: /panels/1/targets/0/expr: uses Grafana variables", "the variable check"),
    ];
    for (line, check) in expected {
        assert!(
            stderr.lines().any(|reported| reported.starts_with(&format!("{}/{line}", directory.path().display()))),
            "{check} should report {line:?}: {report}"
        );
    }
    assert!(!String::from_utf8_lossy(&output.stdout).contains(": OK"), "no broken file passes: {report}");
}

/// `name` is a series of `family` (a histogram's are `_bucket`, `_sum` and `_count`).
fn is_of_family(name: &str, family: &str) -> bool {
    name.strip_prefix(family).is_some_and(|suffix| ["", "_bucket", "_sum", "_count"].contains(&suffix))
}

#[test]
fn every_metric_family_has_a_panel_and_every_query_is_plain_promql() {
    let queries = dashboard_queries();
    assert!(queries.len() >= METRIC_FAMILIES.len(), "only {} queries", queries.len());
    let names: Vec<String> = queries.iter().flat_map(|query| metric_names(&query.expr)).collect();
    let missing: Vec<&str> =
        METRIC_FAMILIES.iter().copied().filter(|family| !names.iter().any(|name| is_of_family(name, family))).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
    let unknown: Vec<&String> = names.iter().filter(|name| !METRIC_FAMILIES.iter().any(|family| is_of_family(name, family))).collect();
    assert!(unknown.is_empty(), "queries select metrics outside the contract: {unknown:?}");

    for query in &queries {
        assert!(!query.expr.contains('$'), "panel {:?}: a Grafana variable is left in {:?}", query.panel, query.expr);
        assert!(!query.expr.trim().is_empty(), "panel {:?} has an empty query", query.panel);
        let reads_kafka_exporter = metric_names(&query.expr).iter().any(|name| name.starts_with("kafka_"));
        assert_eq!(query.kafka_exporter, reads_kafka_exporter, "{query:?}");
    }
    for family in ["kafka_brokers", "kafka_consumergroup_lag"] {
        assert!(
            queries.iter().any(|query| query.kafka_exporter && query.expr.contains(family)),
            "{family} should be a kafka-exporter query"
        );
    }
    // Latency quantiles come from the histograms' buckets.
    for family in ["netchaos_sink_upload_duration_seconds", "netchaos_sink_flush_duration_seconds"] {
        for quantile in ["0.5", "0.9", "0.99"] {
            let wanted = format!("histogram_quantile({quantile}, sum by (le) (rate({family}_bucket[1m])))");
            assert!(queries.iter().any(|query| query.expr == wanted), "no panel shows {wanted}");
        }
    }
    // Counters that may have no series yet still give a value.
    for query in queries.iter().filter(|query| query.expr.contains("netchaos_sink_records_invalid_total")) {
        assert!(query.expr.contains("vector(0)"), "{query:?} shows nothing until a record is invalid");
    }
}

#[test]
fn dashboard_identity_and_datasource_variable() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "netchaos", "{}", dashboard_path().display());
    assert_eq!(dashboard["title"], "netchaos");
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|version| version >= 39), "schemaVersion {}", dashboard["schemaVersion"]);
    let variables = dashboard["templating"]["list"].as_array().expect("templating.list");
    let datasource = variables.iter().find(|variable| variable["name"] == "datasource").expect("a `datasource` variable");
    assert_eq!((&datasource["type"], &datasource["query"]), (&json!("datasource"), &json!("prometheus")));
}

#[test]
fn queries_walk_rows_and_substitute_grafana_variables() {
    let dashboard = json!({
        "panels": [
            {"id": 1, "type": "stat", "title": "top", "targets": [{"refId": "A", "expr": "sum(increase(netchaos_sink_batches_total[$__range]))"}]},
            {"id": 2, "type": "row", "title": "collapsed", "collapsed": true, "panels": [
                {"id": 3, "type": "timeseries", "title": "nested", "targets": [
                    {"refId": "A", "expr": "sum by (topic) (kafka_consumergroup_lag)"},
                    {"refId": "B", "expr": "rate(netchaos_delivery_errors_total[$__rate_interval]) / $__interval_ms"}
                ]}
            ]}
        ]
    });
    let queries = queries_of(&dashboard);
    let summary: Vec<(&str, &str, bool)> =
        queries.iter().map(|query| (query.panel.as_str(), query.expr.as_str(), query.kafka_exporter)).collect();
    assert_eq!(
        summary,
        [
            ("top", "sum(increase(netchaos_sink_batches_total[5m]))", false),
            ("nested", "sum by (topic) (kafka_consumergroup_lag)", true),
            // An unknown variable that starts like a known one stays, for the `$` check to catch.
            ("nested", "rate(netchaos_delivery_errors_total[1m]) / $__interval_ms", false),
        ]
    );
    assert_eq!(substitute("x[$__interval] offset $__range"), "x[15s] offset 5m");
}

#[test]
fn metric_names_skip_functions_labels_strings_and_keywords() {
    let expr = "sum by (kind, kafka_label) (rate(netchaos_generated_anomaly_records_total{kind=~\"port_scan|kafka_x\"}[1m])) \
                or on() vector(0) + 60 * max without (le) (kafka_brokers offset 5m) > bool 1e3";
    assert_eq!(metric_names(expr), ["netchaos_generated_anomaly_records_total", "kafka_brokers"]);
    assert_eq!(metric_names("histogram_quantile(0.99, sum by (le) (rate(a_bucket[1m])))"), ["a_bucket"]);
}
