//! Issue 5 against the real Kafka cluster and the real S3 server of `scripts/stack`: the Kafka sink
//! writes into `s3://` exactly once through SIGKILLs at random moments, a crash between a store
//! write and its offset commit, and a 20-second store outage, with memory under its budget.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{free_port, netchaos, number, run_ok, sample, sample_sum, scrape, summary};
use crate::common::kafka::{Background, assert_exactly_once, brokers, generate_command, s3_server, serial, stack, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A topic, a group and a fresh `s3://` prefix for one test.
struct Case {
    topic: String,
    group: String,
    store: String,
    endpoint: String,
}

impl Case {
    /// Keep `name` short: s3s-fs names an internal file after the base64 of the whole key, which
    /// caps keys at about 150 bytes there (S3 itself allows 1,024), and the topic is in the key.
    fn new(name: &str) -> Self {
        let (endpoint, bucket) = s3_server();
        Case { topic: unique(name), group: unique(&format!("{name}-group")), store: format!("s3://{bucket}/{}", unique("s")), endpoint }
    }

    /// `netchaos sink --brokers` into the S3 store, batches cut at `max_records` or 1 s.
    fn sink(&self, max_records: u32) -> Command {
        let mut command = netchaos();
        command.args(["sink", "--brokers", &brokers(), "--topic", &self.topic, "--group", &self.group, "--store", &self.store]);
        command.args(["--s3-endpoint", &self.endpoint, "--max-age", "1s", "--max-records", &max_records.to_string()]);
        command
    }

    /// `verify --json` of the S3 store against `manifest`.
    fn verify(&self, manifest: &Path) -> (serde_json::Value, Option<i32>) {
        let output = netchaos()
            .args(["verify", "--json", "--s3-endpoint", &self.endpoint, "--store", &self.store, "--manifest"])
            .arg(manifest)
            .output()
            .unwrap();
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("verify printed no JSON ({error}): {}", String::from_utf8_lossy(&output.stderr)));
        (report, output.status.code())
    }

    /// `verify` passes (exit 0) with exactly `expected` records, each landed once.
    fn assert_exactly_once(&self, manifest: &Path, expected: u64) {
        let (report, code) = self.verify(manifest);
        assert_eq!(code, Some(0), "{report}");
        assert_exactly_once(&report, expected);
    }

    /// Verifies until nothing is lost (the sink may still be catching up) or `limit` passes.
    fn verify_until_complete(&self, manifest: &Path, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let (report, _) = self.verify(manifest);
            if number(&report, "lost") == 0 || Instant::now() > deadline {
                return report;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// The group's committed offset of every partition (0 where none is committed).
    fn committed_offsets(&self, partitions: i32) -> Vec<u64> {
        let reader: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", &self.group).create().unwrap();
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(&self.topic, partition);
        }
        let committed = reader.committed_offsets(list, Duration::from_secs(10)).unwrap();
        (0..partitions)
            .map(|partition| match committed.find_partition(&self.topic, partition).unwrap().offset() {
                Offset::Offset(offset) => u64::try_from(offset).unwrap(),
                _ => 0,
            })
            .collect()
    }
}

/// Peak and last resident memory of a running process, sampled every 100 ms until it exits.
struct RssSampler {
    handle: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn watch(pid: u32) -> Self {
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                let rss = status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                match rss {
                    Some(kib) => peak = peak.max(kib * 1024),
                    None => break, // a zombie: it has exited
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        });
        RssSampler { handle }
    }

    fn peak(self) -> u64 {
        self.handle.join().unwrap()
    }
}

/// The S3 server, stopped; started again when dropped (also when the test fails).
struct StoppedStore;

impl StoppedStore {
    fn stop() -> Self {
        stack(&["stop-s3"]);
        StoppedStore
    }
}

impl Drop for StoppedStore {
    fn drop(&mut self) {
        stack(&["start-s3"]);
    }
}

#[test]
fn a_sink_killed_three_times_into_s3_writes_every_record_exactly_once() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("manifest.json");
    let case = Case::new("killed-sink");
    run_ok(&mut generate_command(&case.topic, 17, 0, 0, &directory.path().join("empty.json")));
    let sink = |name: &str| Background::spawn(name, &mut case.sink(20_000), directory.path());
    // 1,000,000 records at 60,000/s: about 17 s, during which the sink is SIGKILLed three times at
    // random moments (mid-batch, mid-upload or between an upload and its commit) and restarted.
    // The moments are printed, so that a failure can be replayed with NETCHAOS_TEST_KILLS=a,b,c.
    let pauses: Vec<u64> = match std::env::var("NETCHAOS_TEST_KILLS") {
        Ok(list) => list.split(',').map(|ms| ms.trim().parse().unwrap()).collect(),
        Err(_) => {
            let mut state = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
            (0..3)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    1_500 + state % 2_500
                })
                .collect()
        }
    };
    eprintln!("SIGKILL after {pauses:?} ms (NETCHAOS_TEST_KILLS={})", pauses.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
    let mut generator =
        Background::spawn("generate", &mut generate_command(&case.topic, 17, 1_000_000, 60_000, &manifest), directory.path());
    let mut current = sink("sink-0");
    for (round, pause_ms) in pauses.into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(pause_ms));
        assert!(generator.child.try_wait().unwrap().is_none(), "records still flow at kill {round}");
        current.child.kill().unwrap();
        current.child.wait().unwrap();
        current = sink(&format!("sink-{}", round + 1));
    }
    generator.wait_success(Duration::from_secs(120));
    case.verify_until_complete(&manifest, Duration::from_secs(120));
    current.terminate();
    current.wait_success(Duration::from_secs(60));
    case.assert_exactly_once(&manifest, 1_000_000);
}

#[test]
fn a_crash_after_an_upload_and_before_its_offset_commit_duplicates_nothing() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("manifest.json");
    let case = Case::new("failpoint");
    run_ok(&mut generate_command(&case.topic, 23, 120_000, 0, &manifest));

    // The failpoint aborts the process once 4 batches are stored, before their offsets are
    // committed: a crash at the worst moment, every time.
    let crashed = case
        .sink(10_000)
        .args(["--idle-exit", "10s"])
        .env("NETCHAOS_FAILPOINT", "abort-before-commit:4")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert_eq!(crashed.status.code(), None, "killed by a signal: {stderr}");
    assert!(stderr.contains("batches stored, their offsets not committed: aborting"), "{stderr}");
    let (report, _) = case.verify(&manifest);
    let stored = number(&report, "landed");
    let committed: u64 = case.committed_offsets(6).iter().sum();
    assert!(stored > 0 && committed < stored, "the store is ahead of the group: {stored} stored, {committed} committed");
    assert_eq!(number(&report, "duplicated"), 0);

    // The restart reads from the group's offsets, behind the store, and skips what is stored.
    let restarted = run_ok(case.sink(10_000).args(["--idle-exit", "4s", "--json"]));
    let restart = summary(&restarted);
    let skipped = number(&restart, "skipped_replayed");
    assert_eq!(skipped, stored - committed, "exactly the records stored past the commit were replayed and skipped: {restart}");
    case.assert_exactly_once(&manifest, 120_000);
}

#[test]
fn a_twenty_second_store_outage_pauses_the_sink_within_its_memory_budget_and_loses_nothing() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("manifest.json");
    let case = Case::new("outage");
    run_ok(&mut generate_command(&case.topic, 29, 0, 0, &directory.path().join("empty.json")));
    const BUDGET: u64 = 160 << 20;
    // max.poll.interval.ms at its floor (the session timeout): a member that stopped polling for
    // the outage would be expelled from the group and show a revocation.
    let mut sink = case.sink(100_000);
    let metrics_port = free_port();
    sink.args(["--memory-budget", "160MiB", "-X", "max.poll.interval.ms=10000", "--json"]).env("NETCHAOS_LOG", "info");
    sink.args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")]);
    let mut sink = Background::spawn("sink", &mut sink, directory.path());
    let memory = RssSampler::watch(sink.child.id());
    // 800,000 records at 25,000/s: 32 s, with the store down from 6 s to 26 s.
    let mut generator = Background::spawn("generate", &mut generate_command(&case.topic, 29, 800_000, 25_000, &manifest), directory.path());
    std::thread::sleep(Duration::from_secs(6));
    {
        let _stopped = StoppedStore::stop();
        // The metrics show the outage while it lasts: paused, retrying, the lag growing (the
        // driver asks the brokers for the watermarks while its fetches are paused).
        std::thread::sleep(Duration::from_secs(10));
        let early = scrape(metrics_port);
        std::thread::sleep(Duration::from_secs(6));
        let late = scrape(metrics_port);
        assert_eq!(sample(&late, "netchaos_sink_paused"), 1.0, "{late}");
        assert!(sample(&late, "netchaos_sink_store_retries_total") > 0.0, "{late}");
        let (lag_early, lag_late) =
            (sample_sum(&early, "netchaos_sink_consumer_lag_records"), sample_sum(&late, "netchaos_sink_consumer_lag_records"));
        assert!(lag_late > lag_early + 50_000.0, "6 s at 25,000 records/s while paused: lag {lag_early} -> {lag_late}\n{late}");
        std::thread::sleep(Duration::from_secs(4));
        assert!(generator.child.try_wait().unwrap().is_none(), "records still flow when the store returns");
        assert!(sink.child.try_wait().unwrap().is_none(), "the sink rides the outage out: {}", sink.stderr_text());
    }
    let resumed = Instant::now();
    while sample(&scrape(metrics_port), "netchaos_sink_paused") != 0.0 {
        assert!(resumed.elapsed() < Duration::from_secs(60), "still paused a minute after the store returned");
        std::thread::sleep(Duration::from_millis(500));
    }
    generator.wait_success(Duration::from_secs(120));
    let report = case.verify_until_complete(&manifest, Duration::from_secs(120));
    assert_eq!(number(&report, "lost"), 0, "{report}");
    sink.terminate();
    sink.wait_success(Duration::from_secs(60));
    let peak = memory.peak();

    let log = sink.stderr_text();
    assert!(log.contains("store operation failed; retrying"), "the outage was seen: {log}");
    let consumption = &sink.summary()["kafka"];
    let paused = consumption["paused_seconds"].as_f64().unwrap_or_else(|| panic!("no pause in the summary: {consumption}"));
    assert!(paused >= 10.0, "consumption was paused through the outage ({paused} s): {consumption}\n{log}");
    assert_eq!(
        (number(consumption, "assignments"), number(consumption, "revocations")),
        (1, 0),
        "the sink stayed in the group through the outage: {consumption}\n{log}"
    );
    assert!(peak < BUDGET, "peak resident memory {} MiB exceeds the 160 MiB budget", peak >> 20);
    case.assert_exactly_once(&manifest, 800_000);
}

#[test]
fn a_member_joining_during_a_store_outage_gets_partitions_that_flow_once_the_store_is_back() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("manifest.json");
    let case = Case::new("rejoin");
    run_ok(&mut generate_command(&case.topic, 31, 0, 0, &directory.path().join("empty.json")));
    // librdkafka's default max.poll.interval.ms (300 s): the rebalance waits for the first member's
    // revocation, which waits for its writes (the store is back well within half of it).
    let sink = |name: &str| Background::spawn(name, case.sink(100_000).arg("--json").env("NETCHAOS_LOG", "info"), directory.path());
    let mut first = sink("sink-a");
    // 500,000 records at 25,000/s: 20 s. The store goes down at 4 s; a second member joins at 8 s,
    // while the first is paused, and the group rebalances (the first waits in its revocation for
    // its writes, until the store is back at 22 s); then both must consume what they were given.
    let mut generator = Background::spawn("generate", &mut generate_command(&case.topic, 31, 500_000, 25_000, &manifest), directory.path());
    std::thread::sleep(Duration::from_secs(4));
    let mut second = {
        let _stopped = StoppedStore::stop();
        std::thread::sleep(Duration::from_secs(4));
        let second = sink("sink-b");
        std::thread::sleep(Duration::from_secs(14));
        second
    };
    generator.wait_success(Duration::from_secs(120));
    let report = case.verify_until_complete(&manifest, Duration::from_secs(120));
    let logs = || {
        let tail = |log: String| log.lines().filter(|line| !line.contains("retry")).collect::<Vec<_>>().join("\n");
        format!("first member:\n{}\nsecond member:\n{}", tail(first.stderr_text()), tail(second.stderr_text()))
    };
    assert_eq!(number(&report, "lost"), 0, "no partition stays paused: {report}\n{}", logs());
    for member in [&mut first, &mut second] {
        member.terminate();
        member.wait_success(Duration::from_secs(60));
    }
    let first_log = first.stderr_text();
    assert!(first_log.contains("consumption paused"), "the first member paused for the outage: {first_log}");
    assert!(first_log.contains("partitions revoked"), "the join rebalanced the first member: {first_log}");
    let consumed = number(&second.summary()["kafka"], "messages");
    assert!(consumed > 0, "the member that joined during the outage consumed: {}", second.stderr_text());
    case.assert_exactly_once(&manifest, 500_000);
}
