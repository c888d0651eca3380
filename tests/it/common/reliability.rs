//! Helpers for the reliability tests of issue 11: signals sent by name, a seeded random source
//! whose seed is printed (so that a failing run can be replayed), and the offset-level audit of
//! `scripts/audit-store.py`, which checks a store independently of `netchaos verify`.

use std::path::Path;
use std::process::{Child, Command};

/// Sends `signal` (`TERM`, `KILL`, `STOP`, `CONT`, ...) to `child`.
pub fn send(child: &Child, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

/// xorshift64*: the tests' randomness. Seeded from `NETCHAOS_TEST_SEED` or the clock; the seed
/// is printed at creation.
#[derive(Debug)]
pub struct Random(u64);

impl Random {
    pub fn new(test: &str) -> Self {
        let seed = match std::env::var("NETCHAOS_TEST_SEED") {
            Ok(text) => text.trim().parse().expect("NETCHAOS_TEST_SEED is a number"),
            Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |elapsed| elapsed.as_nanos() as u64),
        };
        eprintln!("{test}: seed {seed} (replay with NETCHAOS_TEST_SEED={seed})");
        Random(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `low..high` (milliseconds, say).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// `scripts/audit-store.py --json` of `store` (a directory or an `s3://` URL, then with its
/// endpoint): every partition's objects tile its offsets with no gap and no overlap, each object
/// holds as many lines as its range has offsets, no event id is stored twice, and the store holds
/// `records` records over `partitions` partitions.
pub fn audit(store: &str, s3_endpoint: Option<&str>, records: u64, partitions: u64) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/audit-store.py");
    let mut command = Command::new("python3");
    command.arg(script).args(["--json", "--store", store, "--expect-records", &records.to_string()]);
    command.args(["--expect-partitions", &partitions.to_string()]);
    if let Some(endpoint) = s3_endpoint {
        command.args(["--s3-endpoint", endpoint]);
    }
    let output = command.output().expect("run scripts/audit-store.py (it needs python3)");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("the audit printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stderr)))
}

/// The audit passes: see [`audit`].
pub fn assert_audit_passes(store: &str, s3_endpoint: Option<&str>, records: u64, partitions: u64) {
    let report = audit(store, s3_endpoint, records, partitions);
    assert_eq!(report["ok"], true, "the offset-level audit of {store} failed: {:#}", report["problems"]);
}

/// The partitions' reach in a local store: the sum over partitions of the offset one past their
/// highest stored offset (what has been stored, holes included).
pub fn stored_reach(store: &Path) -> u64 {
    let mut reach = std::collections::BTreeMap::<String, u64>::new();
    for path in super::cli::object_files(&store.join("data")) {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let mut fields = name.trim_start_matches("part-").split(['-', '.']);
        let (Some(partition), Some(_first), Some(last)) = (fields.next(), fields.next(), fields.next()) else { continue };
        let (Ok(last), Some(source)) = (last.parse::<u64>(), path.parent().and_then(Path::parent).and_then(Path::parent)) else {
            continue;
        };
        let entry = reach.entry(format!("{}/{partition}", source.display())).or_default();
        *entry = (*entry).max(last + 1);
    }
    reach.values().sum()
}
