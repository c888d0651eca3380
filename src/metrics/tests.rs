use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;

fn exposition(register: impl FnOnce(&mut Registry)) -> String {
    let mut registry = Registry::default();
    register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    text
}

/// The sample of `series` (name and labels, as exposed), if exposed.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_generator_series_exists_from_the_start_under_its_conventional_name() {
    let metrics = GeneratorMetrics::default();
    let text = exposition(|registry| metrics.register(registry));
    for series in [
        "netchaos_generated_records_total{event_type=\"vpc_flow\"}",
        "netchaos_generated_records_total{event_type=\"firewall\"}",
        "netchaos_generated_anomaly_records_total{kind=\"port_scan\"}",
        "netchaos_generated_bytes_total",
        "netchaos_episodes_started_total{kind=\"latency_spike\"}",
        "netchaos_episodes_completed_total{kind=\"connection_reset\"}",
        "netchaos_delivered_records_total{event_type=\"firewall\"}",
        "netchaos_delivery_errors_total",
        "netchaos_target_rate_records_per_second",
        "netchaos_achieved_rate_records_per_second",
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series} in\n{text}");
    }
}

#[test]
fn sink_series_are_exposed_under_their_conventional_names() {
    let metrics = SinkMetrics::default();
    metrics.consumed.inc_by(25);
    metrics.valid.inc_by(20);
    metrics.count_invalid("invalid_json", 2);
    metrics.count_invalid("tcp_flags_on_non_tcp", 1);
    metrics.count_invalid("bad_port", 0);
    metrics.count_invalid_records(3);
    metrics.batches.age.inc();
    metrics.batches.records.inc_by(2);
    metrics.uncompressed.inc_by(1000);
    metrics.compressed.inc_by(100);
    let text = exposition(|registry| metrics.register(registry));
    assert_eq!(sample(&text, "netchaos_sink_records_consumed_total"), Some(25.0), "{text}");
    assert_eq!(sample(&text, "netchaos_sink_records_valid_total"), Some(20.0));
    assert_eq!(sample(&text, "netchaos_sink_records_invalid_total{reason=\"invalid_json\"}"), Some(2.0));
    assert_eq!(sample(&text, "netchaos_sink_records_invalid_total{reason=\"tcp_flags_on_non_tcp\"}"), Some(1.0));
    assert_eq!(sample(&text, "netchaos_sink_records_invalid_total{reason=\"bad_port\"}"), None, "no series for a reason never seen");
    assert_eq!(sample(&text, "netchaos_sink_batches_total{trigger=\"age\"}"), Some(1.0));
    assert_eq!(sample(&text, "netchaos_sink_batches_total{trigger=\"records\"}"), Some(2.0));
    assert_eq!(sample(&text, "netchaos_sink_batches_total{trigger=\"bytes\"}"), Some(0.0));
    assert_eq!(sample(&text, "netchaos_sink_batches_total{trigger=\"shutdown\"}"), Some(0.0));
    assert_eq!(sample(&text, "netchaos_sink_uncompressed_bytes_total"), Some(1000.0));
    assert_eq!(sample(&text, "netchaos_sink_compressed_bytes_total"), Some(100.0));
    assert_eq!(metrics.invalid_records(), 3);
    assert!(text.contains("netchaos_sink_upload_duration_seconds_bucket{le=\"0.001\"} 0"), "{text}");
    assert!(text.contains("netchaos_sink_flush_duration_seconds_count 0"), "{text}");
}

#[test]
fn lag_series_follow_the_assignment() {
    let metrics = SinkMetrics::default();
    assert_eq!(metrics.total_lag(), None, "unknown until the consumer reports");
    metrics.set_lag("flows", 0, Some(40));
    metrics.set_lag("flows", 1, Some(2));
    metrics.set_total_lag(42);
    let text = exposition(|registry| metrics.register(registry));
    assert_eq!(sample(&text, "netchaos_sink_consumer_lag_records{topic=\"flows\",partition=\"0\"}"), Some(40.0), "{text}");
    metrics.set_lag("flows", 0, None);
    let text = exposition(|registry| metrics.register(registry));
    assert_eq!(sample(&text, "netchaos_sink_consumer_lag_records{topic=\"flows\",partition=\"0\"}"), None, "revoked: {text}");
    assert_eq!(sample(&text, "netchaos_sink_consumer_lag_records{topic=\"flows\",partition=\"1\"}"), Some(2.0));
    assert_eq!(metrics.total_lag(), Some(42));
}

#[test]
fn metrics_addresses_parse_or_say_what_is_expected() {
    assert_eq!("off".parse::<MetricsAddr>(), Ok(MetricsAddr::Off));
    assert_eq!("0.0.0.0:9750".parse::<MetricsAddr>(), Ok(MetricsAddr::At(SocketAddr::from(([0, 0, 0, 0], 9750)))));
    let error = "localhost".parse::<MetricsAddr>().unwrap_err();
    assert!(error.contains("127.0.0.1:9750") && error.contains("off"), "{error}");
}

fn get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_endpoint_serves_the_registry_over_http() {
    let metrics = GeneratorMetrics::default();
    metrics.generated[0].inc_by(12);
    let mut registry = Registry::default();
    register_build_info(&mut registry, "generate");
    metrics.register(&mut registry);
    let server = serve(MetricsAddr::At(SocketAddr::from(([127, 0, 0, 1], 0))), false, registry).unwrap().unwrap();
    let response = get(server.address(), "/metrics");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("application/openmetrics-text"), "{response}");
    assert!(response.contains("netchaos_generated_records_total{event_type=\"vpc_flow\"} 12"), "{response}");
    assert!(response.contains("netchaos_build_info{version=\""), "{response}");
    assert!(response.trim_end().ends_with("# EOF"), "{response}");
    metrics.generated[0].inc();
    assert!(get(server.address(), "/metrics").contains("{event_type=\"vpc_flow\"} 13"), "a scrape reads the live counters");
    assert!(get(server.address(), "/").starts_with("HTTP/1.1 404"));
}

#[test]
fn a_taken_default_port_moves_but_a_taken_chosen_port_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = MetricsAddr::At(taken.local_addr().unwrap());
    let moved = serve(address, true, Registry::default()).unwrap().unwrap();
    assert_ne!(moved.address(), taken.local_addr().unwrap());
    assert!(get(moved.address(), "/metrics").starts_with("HTTP/1.1 200"));
    let error = serve(address, false, Registry::default()).unwrap_err().to_string();
    assert!(error.contains("cannot serve metrics on") && error.contains("--metrics-addr"), "{error}");
    assert!(serve(MetricsAddr::Off, false, Registry::default()).unwrap().is_none());
}
