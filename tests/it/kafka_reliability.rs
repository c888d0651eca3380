//! Kafka-mode reliability (issue 11, section 4), against the real 3-node cluster of
//! `scripts/stack`: a rebalance storm with catch-up bursts, a member stalled past its session
//! timeout (a zombie), and a broker SIGKILLed while the sink consumes. Each ends with `verify`
//! (0 lost, 0 duplicated) and the offset-level audit of `scripts/audit-store.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::cli::{netchaos, run_ok, verify};
use crate::common::kafka::{Background, KilledNode, assert_exactly_once, brokers, generate_command, serial, unique, verify_until_complete};
use crate::common::reliability::{Random, assert_audit_passes, send, stored_reach};

const PARTITIONS: u64 = 6;

/// A topic (six partitions, created empty), a group and a local store for one test.
struct Case {
    directory: tempfile::TempDir,
    store: PathBuf,
    topic: String,
    group: String,
}

impl Case {
    fn new(name: &str) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let store = directory.path().join("store");
        std::fs::create_dir_all(&store).unwrap();
        let case = Case { store, topic: unique(name), group: unique(&format!("{name}-group")), directory };
        run_ok(&mut generate_command(&case.topic, 1, 0, 0, &case.path("empty.json")));
        case
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// `sink --brokers` into the store: batches of at most `max_records` or 1 s, and `extra`.
    fn sink(&self, max_records: u32, extra: &[&str]) -> Command {
        let mut command = netchaos();
        command.args(["sink", "--brokers", &brokers(), "--topic", &self.topic, "--group", &self.group]).arg("--store").arg(&self.store);
        command.args(["--max-age", "1s", "--max-records", &max_records.to_string()]).args(extra).env("NETCHAOS_LOG", "info");
        command
    }

    fn spawn(&self, name: &str, command: &mut Command) -> Background {
        Background::spawn(name, command, self.directory.path())
    }

    /// Once every member has stopped: `verify` says each of `expected` records landed once, and
    /// the audit agrees offset by offset.
    fn assert_exactly_once(&self, manifests: &[&Path], expected: u64) {
        let (report, code) = verify(&self.store, manifests);
        assert_eq!(code, Some(0), "{report}");
        assert_exactly_once(&report, expected);
        assert_audit_passes(&self.store.to_string_lossy(), None, expected, PARTITIONS);
    }
}

/// Session and heartbeat short enough that a SIGKILLed member leaves the group in 6 s.
const QUICK_EXPEL: [&str; 4] = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000"];

#[test]
fn a_rebalance_storm_with_unpaced_catch_up_after_kills_loses_and_duplicates_nothing() {
    let _serial = serial();
    let mut random = Random::new("rebalance storm");
    let case = Case::new("storm");
    let manifests: Vec<PathBuf> = (0..3).map(|instance| case.path(&format!("manifest-{instance}.json"))).collect();
    let generate = |instance: usize, count: u64, eps: u32| {
        let mut command = generate_command(&case.topic, 41, count, eps, &manifests[instance]);
        command.args(["--instance-id", &instance.to_string()]);
        command
    };
    // A backlog before any member runs: the first members join into an unpaced catch-up.
    run_ok(&mut generate(0, 150_000, 0));
    let member = |index: usize, generation: usize| case.spawn(&format!("sink-{index}-{generation}"), &mut case.sink(5_000, &QUICK_EXPEL));
    let mut members: Vec<Background> = (0..3).map(|index| member(index, 0)).collect();
    // 400,000 records at 10,000/s: 40 s, about as long as the storm.
    let mut paced = Some(case.spawn("generate-paced", &mut generate(1, 400_000, 10_000)));
    let mut burst = None;
    let (mut kills, mut terms, mut while_producing) = (0, 0, 0);
    let storm = Instant::now();
    // Twelve departures, one every 1.5-3 s, of a random member: two SIGKILLs for each SIGTERM, each
    // member restarted within a second. After the fourth, a second backlog arrives unpaced, so
    // that members are killed mid-catch-up too.
    for event in 0..12 {
        std::thread::sleep(Duration::from_millis(random.between(1_500, 3_000)));
        if event == 4 {
            burst = Some(case.spawn("generate-burst", &mut generate(2, 150_000, 0)));
        }
        let index = random.between(0, 3) as usize;
        let leaving = &mut members[index];
        if event % 3 == 2 {
            send(&leaving.child, "TERM");
            leaving.wait_success(Duration::from_secs(60));
            terms += 1;
        } else {
            leaving.child.kill().unwrap();
            leaving.child.wait().unwrap();
            kills += 1;
        }
        if paced.as_mut().unwrap().child.try_wait().unwrap().is_none() {
            while_producing += 1;
        }
        std::thread::sleep(Duration::from_millis(random.between(0, 1_000)));
        members[index] = member(index, event + 1);
    }
    eprintln!("storm: {kills} SIGKILLs and {terms} SIGTERMs in {:?}, {while_producing} while the paced generator ran", storm.elapsed());
    assert!(while_producing >= 6, "most departures happen while records are produced: {while_producing} of 12");
    for generator in [paced.take(), burst.take()].into_iter().flatten().collect::<Vec<_>>().iter_mut() {
        generator.wait_success(Duration::from_secs(120));
    }
    let manifest_refs: Vec<&Path> = manifests.iter().map(PathBuf::as_path).collect();
    let report = verify_until_complete(&case.store, &manifest_refs, Duration::from_secs(120));
    for member in &mut members {
        member.terminate();
        member.wait_success(Duration::from_secs(60));
    }
    assert_eq!(report["lost"], 0, "{report}");
    case.assert_exactly_once(&manifest_refs, 700_000);
}

#[test]
fn a_member_stalled_past_its_session_timeout_writes_nothing_its_successor_owns() {
    let _serial = serial();
    let case = Case::new("zombie");
    let manifest = case.path("manifest.json");
    // max.poll.interval.ms at its floor (the session timeout's 6 s is shorter): a member that stops
    // for 25 s is expelled, without a revocation callback, and its partitions go to the other.
    let stalling = ["-X", "max.poll.interval.ms=10000", "-X", "session.timeout.ms=6000"];
    let mut zombie = case.spawn("zombie", &mut case.sink(100_000, &stalling));
    let mut successor = case.spawn("successor", &mut case.sink(100_000, &stalling));
    // 400,000 records at 8,000/s: 50 s, the stall from about 8 s to 33 s.
    let mut generator = case.spawn("generate", &mut generate_command(&case.topic, 43, 400_000, 8_000, &manifest));
    let joined = Instant::now();
    while !(zombie.stderr_text().contains("partitions recovered") && successor.stderr_text().contains("partitions recovered")) {
        assert!(
            joined.elapsed() < Duration::from_secs(60),
            "both members own partitions:\n{}\n{}",
            zombie.stderr_text(),
            successor.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(4));
    let assigned_before = successor.stderr_text().matches("partitions assigned").count();
    send(&zombie.child, "STOP");
    std::thread::sleep(Duration::from_secs(25));
    let taken_over = successor.stderr_text().matches("partitions assigned").count() > assigned_before;
    send(&zombie.child, "CONT");
    assert!(taken_over, "the successor was given the stalled member's partitions: {}", successor.stderr_text());
    assert!(generator.child.try_wait().unwrap().is_none(), "records still flow when the stalled member wakes");
    generator.wait_success(Duration::from_secs(120));
    let report = verify_until_complete(&case.store, &[&manifest], Duration::from_secs(120));
    successor.terminate();
    successor.wait_success(Duration::from_secs(60));
    // The woken member may rejoin or give up; either way it stops on SIGTERM, and what it wrote
    // after waking must not overlap its successor.
    if zombie.child.try_wait().unwrap().is_none() {
        zombie.terminate();
        let stopped = Instant::now();
        while zombie.child.try_wait().unwrap().is_none() {
            assert!(stopped.elapsed() < Duration::from_secs(60), "the woken member stops on SIGTERM: {}", zombie.stderr_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    eprintln!("the woken member exited with {:?}", zombie.child.try_wait().unwrap());
    assert_eq!(report["lost"], 0, "{report}");
    case.assert_exactly_once(&[&manifest], 400_000);
}

#[test]
fn a_broker_killed_while_the_sink_catches_up_loses_and_duplicates_nothing() {
    let _serial = serial();
    let mut random = Random::new("broker kill while consuming");
    let case = Case::new("consume-kill");
    let manifest = case.path("manifest.json");
    // A backlog produced before the sink starts, so that the broker dies while the sink fetches
    // and commits, not while records are produced: 800,000 records, which the sink takes about
    // 8 s to catch up on here (100,000 records/s), and the broker dies within its first second.
    const RECORDS: u64 = 800_000;
    run_ok(&mut generate_command(&case.topic, 47, RECORDS, 0, &manifest));
    let mut sink = case.spawn("sink", &mut case.sink(5_000, &[]));
    let started = Instant::now();
    while stored_reach(&case.store) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the sink stores its first batch: {}", sink.stderr_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(random.between(0, 1_000)));
    let node = u32::try_from(random.between(1, 4)).unwrap();
    let before = stored_reach(&case.store);
    assert!(before < RECORDS, "the sink is still catching up when broker {node} dies ({before} of {RECORDS} stored)");
    {
        let _killed = KilledNode::kill(node);
        std::thread::sleep(Duration::from_secs(8));
        assert!(sink.child.try_wait().unwrap().is_none(), "the sink rides the outage out: {}", sink.stderr_text());
    }
    let during = stored_reach(&case.store);
    eprintln!("broker {node} SIGKILLed with {before} of {RECORDS} records stored, restarted 8 s later with {during} stored");
    assert!(during > before, "the sink went on storing with broker {node} down: {before} -> {during}");
    let report = verify_until_complete(&case.store, &[&manifest], Duration::from_secs(120));
    sink.terminate();
    sink.wait_success(Duration::from_secs(60));
    assert_eq!(report["lost"], 0, "{report}");
    case.assert_exactly_once(&[&manifest], RECORDS);
}
