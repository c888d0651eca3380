//! The test Prometheus that `scripts/stack up` starts (the test command exports
//! `NETCHAOS_TEST_PROMETHEUS_URL` and `NETCHAOS_TEST_PROMETHEUS_TARGETS`). Without it these tests
//! fail: they never skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

fn variable(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!("{name} is not set: these tests need the stack's Prometheus. Run the suite with scripts/test, which starts it"),
    }
}

/// `host:port` of the test Prometheus.
fn authority() -> String {
    let url = variable("NETCHAOS_TEST_PROMETHEUS_URL");
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// Where a JSON target file makes the test Prometheus scrape a process.
pub fn targets_dir() -> PathBuf {
    PathBuf::from(variable("NETCHAOS_TEST_PROMETHEUS_TARGETS"))
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(
            |byte| {
                if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) { (byte as char).to_string() } else { format!("%{byte:02X}") }
            },
        )
        .collect()
}

/// GET `path_and_query` from the test Prometheus: the status code and the body.
fn get(path_and_query: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(authority()).expect("connect to the test Prometheus");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(stream, "GET {path_and_query} HTTP/1.0\r\nHost: {}\r\n\r\n", authority()).expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status code");
    (status, body.to_owned())
}

/// The result of an instant query (`data.result`): an error status or a PromQL error panics.
pub fn query(expr: &str) -> Vec<serde_json::Value> {
    let (status, body) = get(&format!("/api/v1/query?query={}", encode(expr)));
    let response: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|error| panic!("`{expr}`: {error}: {body}"));
    assert!(status == 200 && response["status"] == "success", "`{expr}` failed ({status}): {body}");
    response["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The value of each series of an instant vector (NaN when Prometheus says so).
pub fn values(result: &[serde_json::Value]) -> Vec<f64> {
    result.iter().map(|series| series["value"][1].as_str().and_then(|value| value.parse().ok()).unwrap_or(f64::NAN)).collect()
}

/// The single value of a query that yields one series, or None.
pub fn scalar(expr: &str) -> Option<f64> {
    values(&query(expr)).first().copied()
}
