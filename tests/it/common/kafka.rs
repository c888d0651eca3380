//! Helpers for tests against the real Kafka cluster that `scripts/stack up` starts (the test
//! command brings it up and exports `NETCHAOS_TEST_BROKERS`). Without it these tests fail: they
//! never skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::cli::{netchaos, number, verify};

/// The cluster's bootstrap servers.
pub fn brokers() -> String {
    match std::env::var("NETCHAOS_TEST_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => brokers,
        _ => panic!(
            "NETCHAOS_TEST_BROKERS is not set: these tests need the Kafka cluster. Run the suite with scripts/test, \
             which starts it, or `eval \"$(scripts/stack up)\"; export NETCHAOS_TEST_BROKERS=$KAFKA_BROKERS` first"
        ),
    }
}

/// The test S3 server's endpoint and bucket (exported by `scripts/test`; credentials are in the
/// standard `AWS_*` variables).
pub fn s3_server() -> (String, String) {
    match (std::env::var("NETCHAOS_TEST_S3_ENDPOINT"), std::env::var("NETCHAOS_TEST_S3_BUCKET")) {
        (Ok(endpoint), Ok(bucket)) if !endpoint.is_empty() && !bucket.is_empty() => (endpoint, bucket),
        _ => panic!(
            "NETCHAOS_TEST_S3_ENDPOINT / NETCHAOS_TEST_S3_BUCKET are not set: these tests need the S3 server. \
             Run the suite with scripts/test, which starts it"
        ),
    }
}

/// One test against the stack at a time: the Kafka tests move a lot of data on two cores, and some
/// tests stop a broker or the S3 server for a while, which a test using it meanwhile would see.
/// Every test that uses the stack's Kafka or S3 server takes it (all modules share this one lock).
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A topic or group name no other test run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    format!("{prefix}-{}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), nanos % 1_000_000_007)
}

/// `scripts/stack` of this repository.
pub fn stack(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stack");
    let status = Command::new(script).args(args).stdout(Stdio::null()).status().expect("run scripts/stack");
    assert!(status.success(), "scripts/stack {args:?} failed");
}

/// A SIGKILLed Kafka node, restarted when this is dropped (also when the test fails).
pub struct KilledNode(pub u32);

impl KilledNode {
    pub fn kill(node: u32) -> Self {
        stack(&["kill", &node.to_string()]);
        KilledNode(node)
    }
}

impl Drop for KilledNode {
    fn drop(&mut self) {
        stack(&["start", &self.0.to_string()]);
    }
}

/// A `netchaos` process in the background, its stdout and stderr kept in files; killed when
/// dropped.
pub struct Background {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub name: String,
}

impl Background {
    pub fn spawn(name: &str, command: &mut Command, directory: &Path) -> Self {
        let (stdout, stderr) = (directory.join(format!("{name}.stdout")), directory.join(format!("{name}.stderr")));
        let child = command
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {name}: {error}"));
        Background { child, stdout, stderr, name: name.to_owned() }
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The JSON summary of a `--json` process that has exited.
    pub fn summary(&self) -> serde_json::Value {
        let stdout = std::fs::read(&self.stdout).unwrap_or_default();
        serde_json::from_slice(&stdout).unwrap_or_else(|error| {
            panic!("{} printed no JSON summary ({error}): {}\n{}", self.name, String::from_utf8_lossy(&stdout), self.stderr_text())
        })
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the exit (at most `limit`) and asserts it was a success.
    pub fn wait_success(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(status.success(), "{} exited with {status}: {}", self.name, self.stderr_text());
                return;
            }
            assert!(started.elapsed() < limit, "{} still running after {limit:?}: {}", self.name, self.stderr_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `netchaos sink --brokers` for `topic` into `store`, in `group`, cutting batches at
/// `max_records` or 2 s.
pub fn sink_command(topic: &str, group: &str, store: &Path, max_records: u32) -> Command {
    let mut command = netchaos();
    command.args(["sink", "--brokers", &brokers(), "--topic", topic, "--group", group]).arg("--store").arg(store);
    command.args(["--max-age", "2s", "--max-records", &max_records.to_string()]);
    command
}

/// `netchaos generate --brokers` of `count` records at `eps` (0: flat out) into `topic` (6 partitions).
pub fn generate_command(topic: &str, seed: u64, count: u64, eps: u32, manifest: &Path) -> Command {
    let mut command = netchaos();
    command
        .args(["generate", "--brokers", &brokers(), "--topic", topic, "--partitions", "6", "--workers", "2", "--quiet"])
        .args(["--seed", &seed.to_string(), "--count", &count.to_string(), "--eps", &eps.to_string()])
        .args(["--start-time", "2026-01-01T00:00:00Z"])
        .arg("--manifest")
        .arg(manifest);
    command
}

/// Runs `verify` until nothing is lost (the sink may still be catching up) or `limit` passes;
/// returns the last report.
pub fn verify_until_complete(store: &Path, manifests: &[&Path], limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (report, _) = verify(store, manifests);
        let lost = report["lost"].as_u64().unwrap_or(u64::MAX);
        if lost == 0 || started.elapsed() > limit {
            return report;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// A `verify` report of exactly `expected` records, each landed once.
pub fn assert_exactly_once(report: &serde_json::Value, expected: u64) {
    assert_eq!(number(report, "expected"), expected, "{report}");
    assert_eq!(number(report, "landed"), expected, "{report}");
    assert_eq!(number(report, "lost"), 0, "{report}");
    assert_eq!(number(report, "duplicated"), 0, "{report}");
    assert_eq!(number(report, "unacknowledged"), 0, "{report}");
}
