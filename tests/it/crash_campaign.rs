//! The crash campaign's short preset (`scripts/crash-campaign --short`), the CI's version of it:
//! random SIGKILLs, SIGTERMs and SIGINTs of `sink --from`, `run` and `sink --brokers`, at the
//! default `--flushes-in-flight` and at 4, into a local store and into the stack's S3 server; each
//! series rerun until a run finishes, then `verify` and the offset-level audit
//! (`scripts/audit-store.py`). The campaign's seed is random and printed: a failure names the
//! series to replay (`--only GROUP --series-seed N --series 1`). Issue 11, section 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::kafka::{brokers, s3_server, serial};

#[test]
fn random_kills_of_every_mode_into_local_and_s3_stores_lose_and_duplicate_nothing() {
    let _serial = serial();
    // Fail early and clearly without the stack (the campaign needs Kafka and the S3 server).
    let (brokers, (endpoint, bucket)) = (brokers(), s3_server());
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("report.json");
    let started = Instant::now();
    let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/crash-campaign"))
        .arg("--short")
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_netchaos"))
        .arg("--work")
        .arg(work.path().join("campaign"))
        .arg("--report")
        .arg(&report)
        .env("NETCHAOS_TEST_BROKERS", brokers)
        .env("NETCHAOS_TEST_S3_ENDPOINT", endpoint)
        .env("NETCHAOS_TEST_S3_BUCKET", bucket)
        .output()
        .expect("run scripts/crash-campaign (it needs python3)");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("{stderr}\n{stdout}");
    assert!(output.status.success(), "the campaign found loss, duplication or an unclean stop:\n{stderr}\n{stdout}");
    assert!(stdout.contains("OK: nothing lost, nothing duplicated, every audit passed"), "{stdout}");

    // It attacked what it says: every mode, store and setting, with signals actually delivered.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let groups = report["groups"].as_object().unwrap();
    for part in ["from/", "run/", "kafka/", "/local/", "/s3/", "/default", "/fif4"] {
        assert!(groups.keys().any(|group| group.contains(part)), "no group {part}: {:?}", groups.keys());
    }
    let delivered = |signal: &str| groups.values().map(|row| row[signal].as_u64().unwrap()).sum::<u64>();
    assert!(delivered("KILL") >= 6, "SIGKILLs delivered: {}", delivered("KILL"));
    assert!(delivered("TERM") + delivered("INT") >= 1, "graceful stops delivered: {stdout}");
    for series in report["series"].as_array().unwrap() {
        assert_eq!((series["lost"].as_u64(), series["duplicated"].as_u64()), (Some(0), Some(0)), "{series}");
        assert_eq!(series["audit_ok"], true, "{series}");
    }
    assert!(started.elapsed() < Duration::from_secs(6 * 60), "the short campaign took {:?}", started.elapsed());
}
