//! Helpers for tests that run the `netchaos` binary: spawning it with a clean environment,
//! `verify --json`, reading a local store, a valid record and the bad-input catalogue.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

/// The binary, with the environment variables it reads removed (the suite may run with some set)
/// and its metrics off.
pub fn netchaos() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netchaos"));
    for name in [
        "EPS_TARGET",
        "WORKER_COUNT",
        "SEED",
        "LATENCY_SPIKE_PROB",
        "PORT_SCAN_PROB",
        "DATA_EXFIL_PROB",
        "CONN_RESET_PROB",
        "NETCHAOS_STORE",
        "KAFKA_BROKERS",
        "KAFKA_TOPIC",
        "NETCHAOS_LOG",
    ] {
        command.env_remove(name);
    }
    // Tests run many processes at once: none serves metrics unless it asks to, so that the stack's
    // Prometheus (scraping the default ports) sees only the observability test's pipeline.
    command.env("NETCHAOS_METRICS_ADDR", "off");
    // Nor a control server, unless the test asks for one (`--control-addr`).
    command.env("NETCHAOS_CONTROL_ADDR", "off");
    command.env_remove("NETCHAOS_CONTROL_TOKEN");
    command
}

/// The flag stem of every chaos kind (`--KIND-per-hour`), for tests that turn the chaos off.
pub const KIND_FLAGS: [&str; 10] = [
    "latency-spike",
    "port-scan",
    "data-exfil",
    "conn-reset",
    "beaconing",
    "lateral-movement",
    "brute-force",
    "syn-flood",
    "distributed-scan",
    "cryptomining",
];

pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("spawn netchaos");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The summary `sink --json` or `run --json` printed: the one JSON object on its stdout.
pub fn summary(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "no JSON summary on stdout ({error}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `verify --json`, with its exit code.
pub fn verify(store: &Path, manifests: &[&Path]) -> (serde_json::Value, Option<i32>) {
    let mut command = netchaos();
    command.arg("verify").arg("--store").arg(store).arg("--json");
    for manifest in manifests {
        command.arg("--manifest").arg(manifest);
    }
    let output = command.output().expect("spawn verify");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("verify printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stderr)));
    (report, output.status.code())
}

pub fn number(report: &serde_json::Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("no `{field}` in {report}"))
}

/// Every object under `root/<kind>/`, decompressed, as lines.
pub fn stored_lines(root: &Path, kind: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for path in object_files(&root.join(kind)) {
        let raw = std::fs::read(&path).expect("read object");
        let mut text = String::new();
        if path.to_string_lossy().ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_string(&mut text).expect("gzip");
        } else {
            text = String::from_utf8(raw).expect("utf8");
        }
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

/// Every file under `root` (none when it does not exist), in no particular order.
pub fn object_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(directory) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else { continue };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// A valid TCP flow record (from `generate --seed 3`).
pub fn valid_record() -> serde_json::Value {
    let output = run_ok(netchaos().args(["generate", "--count", "50", "--seed", "3", "--eps", "0", "--quiet", "--port-scan-prob", "0"]));
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|value| value["event_type"] == "vpc_flow" && value["protocol"] == 6 && value["log_status"] == "OK")
        .expect("a TCP flow")
}

/// The bad-input catalogue of the sink: each entry's expected reject reason and its bytes.
pub fn bad_input_catalogue(good: &serde_json::Value) -> Vec<(&'static str, Vec<u8>)> {
    let with = |field: &str, value: serde_json::Value| {
        let mut changed = good.clone();
        changed[field] = value;
        changed.to_string().into_bytes()
    };
    let mut without_port = good.clone();
    without_port.as_object_mut().unwrap().remove("dstport");
    vec![
        ("invalid_json", b"{\"event_type\": \"vpc_flow\", ".to_vec()),
        ("not_utf8", b"\xff\xfe\xfd not text".to_vec()),
        ("empty", Vec::new()),
        ("not_an_object", b"[1, 2, 3]".to_vec()),
        ("not_an_object", b"\"just a string\"".to_vec()),
        ("unknown_field", with("colour", serde_json::json!("red"))),
        ("missing_field", without_port.to_string().into_bytes()),
        ("wrong_type", with("srcport", serde_json::json!("443"))),
        ("out_of_range", with("dstport", serde_json::json!(70_000))),
        ("malformed_address", with("srcaddr", serde_json::json!("10.0.0.300"))),
        ("start_after_end", with("start", serde_json::json!(good["end"].as_i64().unwrap() + 5))),
        ("unknown_enum_value", with("action", serde_json::json!("MAYBE"))),
        ("too_large", with("account_id", serde_json::json!("x".repeat(20_000)))),
        ("too_deep", format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)).into_bytes()),
    ]
}

/// GET /metrics from a running process: the body of a 200 response.
pub fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the series `series` (name and labels as exposed) in a scrape; NaN when absent.
pub fn sample(exposition: &str, series: &str) -> f64 {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(f64::NAN)
}

/// The sum of every series of metric `name` in a scrape (labels any).
pub fn sample_sum(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// A free port on 127.0.0.1 (free when asked; good enough for a test's own process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
