//! Against the real 3-node KRaft cluster (`scripts/stack up`): `generate --brokers` into a
//! 6-partition topic, `sink --brokers` into a local store, `verify`. Nothing lost or duplicated,
//! also when a broker is SIGKILLed mid-run, when one of two sinks in a group stops, and when poison
//! messages arrive (they go to the DLQ topic, and the group's offsets move past them). A live
//! session's commands land on the episodes topic, as in its journal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common::cli::{bad_input_catalogue, netchaos, number, object_files, run_ok, stored_lines, summary, valid_record, verify};
use crate::common::kafka::{
    Background, KilledNode, assert_exactly_once, brokers, generate_command, serial, sink_command, unique, verify_until_complete,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn manifest_kafka(manifest: &Path) -> serde_json::Value {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    manifest["kafka"].clone()
}

/// 64-bit FNV-1a: a cheap fingerprint for comparing a million lines.
fn fingerprint(line: &[u8]) -> u64 {
    line.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[test]
fn a_million_records_through_six_partitions_land_exactly_once_and_byte_for_byte() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (store, manifest) = (directory.path().join("store"), directory.path().join("manifest.json"));
    let (topic, group) = (unique("million"), unique("million-sink"));

    run_ok(&mut generate_command(&topic, 11, 1_000_000, 0, &manifest));
    let kafka = manifest_kafka(&manifest);
    assert_eq!(kafka["partitions"], 6);
    assert_eq!(
        (kafka["sent"].as_u64(), kafka["acknowledged"].as_u64(), kafka["failed"].as_u64()),
        (Some(1_000_000), Some(1_000_000), Some(0))
    );
    assert!(kafka["episodes_sent"].as_u64().unwrap() > 0 && kafka["episodes_acknowledged"] == kafka["episodes_sent"], "{kafka}");

    let output = run_ok(sink_command(&topic, &group, &store, 50_000).args(["--idle-exit", "4s", "--json"]));
    let stored = summary(&output);
    assert_eq!((number(&stored, "records_valid"), number(&stored, "records_invalid")), (1_000_000, 0), "{stored}");

    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 1_000_000);

    // Byte for byte: the same seed and settings written to a file give the same lines.
    let reference = directory.path().join("reference.jsonl");
    run_ok(
        netchaos()
            .args([
                "generate",
                "--workers",
                "2",
                "--seed",
                "11",
                "--count",
                "1000000",
                "--start-time",
                "2026-01-01T00:00:00Z",
                "--eps",
                "0",
                "--quiet",
            ])
            .arg("--output")
            .arg(&reference),
    );
    let mut expected: Vec<u64> =
        std::fs::read(&reference).unwrap().split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(fingerprint).collect();
    let mut landed: Vec<u64> = stored_lines(&store, "data").iter().map(|line| fingerprint(line.as_bytes())).collect();
    expected.sort_unstable();
    landed.sort_unstable();
    assert_eq!(landed.len(), 1_000_000);
    assert!(landed == expected, "the stored lines differ from the generated ones");

    // Every partition's objects tile its offsets: the store's keys name topic, partition and range.
    let keys = object_keys(&store.join("data"));
    assert!(keys.iter().all(|key| key.contains(&format!("source={topic}/"))), "{keys:?}");
    let partitions: std::collections::BTreeSet<&str> = keys.iter().filter_map(|key| key.split("part-").nth(1)?.get(..5)).collect();
    assert_eq!(partitions.len(), 6, "all six partitions landed: {partitions:?}");
}

#[test]
fn a_broker_killed_mid_run_loses_and_duplicates_nothing() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (store, manifest) = (directory.path().join("store"), directory.path().join("manifest.json"));
    std::fs::create_dir_all(&store).unwrap();
    let (topic, group) = (unique("broker-kill"), unique("broker-kill-sink"));

    // Create the topic first so that the sink can subscribe before records flow.
    run_ok(&mut generate_command(&topic, 12, 0, 0, &directory.path().join("empty.json")));
    let mut sink = Background::spawn("sink", &mut sink_command(&topic, &group, &store, 50_000), directory.path());
    // Paced so that the run spans the outage: 1,000,000 records at 80,000/s is 12.5 s.
    let mut generator = Background::spawn("generate", &mut generate_command(&topic, 12, 1_000_000, 80_000, &manifest), directory.path());
    std::thread::sleep(Duration::from_secs(4));
    assert!(generator.child.try_wait().unwrap().is_none(), "the generator is still producing when the broker dies");
    let killed = KilledNode::kill(2);
    std::thread::sleep(Duration::from_secs(6));
    drop(killed); // restarts the node
    generator.wait_success(Duration::from_secs(180));
    let kafka = manifest_kafka(&manifest);
    assert_eq!(kafka["acknowledged"].as_u64(), Some(1_000_000), "acks=all with 2 of 3 brokers still acknowledges: {kafka}");

    let report = verify_until_complete(&store, &[&manifest], Duration::from_secs(120));
    sink.terminate();
    sink.wait_success(Duration::from_secs(60));
    let (report_after_exit, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report_after_exit, 1_000_000);
}

#[test]
fn two_sinks_in_a_group_split_the_partitions_and_one_takes_over_when_the_other_stops() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (store, manifest) = (directory.path().join("store"), directory.path().join("manifest.json"));
    std::fs::create_dir_all(&store).unwrap();
    let (topic, group) = (unique("two-sinks"), unique("two-sinks-group"));

    run_ok(&mut generate_command(&topic, 13, 0, 0, &directory.path().join("empty.json")));
    let member = |name: &str| {
        Background::spawn(name, sink_command(&topic, &group, &store, 50_000).arg("--json").env("NETCHAOS_LOG", "info"), directory.path())
    };
    let (mut first, mut second) = (member("first"), member("second"));
    let mut generator = Background::spawn("generate", &mut generate_command(&topic, 13, 900_000, 60_000, &manifest), directory.path());
    // Stop the first mid-run, once both own partitions: it flushes, commits and leaves; the second
    // gets its partitions.
    let joined = std::time::Instant::now();
    while !(second.stderr_text().contains("partitions recovered") && first.stderr_text().contains("partitions recovered")) {
        assert!(joined.elapsed() < Duration::from_secs(60), "both sinks own partitions: {}\n{}", first.stderr_text(), second.stderr_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(generator.child.try_wait().unwrap().is_none(), "the first sink stops while records still flow");
    first.terminate();
    first.wait_success(Duration::from_secs(60));
    generator.wait_success(Duration::from_secs(120));
    let _ = verify_until_complete(&store, &[&manifest], Duration::from_secs(120));
    second.terminate();
    second.wait_success(Duration::from_secs(60));

    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 900_000);
    let first_log = first.stderr_text();
    let (by_first, by_second) = (number(&first.summary(), "records_valid"), number(&second.summary(), "records_valid"));
    assert!(by_first > 0 && by_second > 0, "both stored records: {by_first} and {by_second}");
    assert_eq!(by_first + by_second, 900_000, "records stored by one are not stored again by the other");
    // They split the six partitions while both ran (the first may have owned all six before the
    // second joined).
    let assignments = assigned_partitions(&first_log);
    assert!(
        assignments.iter().any(|share| !share.is_empty() && share.len() < 6),
        "the first sink owned a share: {assignments:?}\n{first_log}"
    );
}

#[test]
fn poison_messages_go_to_the_dlq_topic_with_their_reasons_and_offsets_move_past_them() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (topic, group) = (unique("poison"), unique("poison-sink"));
    let dlq_topic = format!("{topic}-dlq");
    // A one-partition topic keeps the interleaving (and the expected offsets) exact.
    run_ok(netchaos().args(["generate", "--brokers", &brokers(), "--topic", &topic, "--partitions", "1", "--count", "0", "--quiet"]));

    let good = valid_record();
    let catalogue = bad_input_catalogue(&good);
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", brokers()).set("acks", "all").create().unwrap();
    let mut expected_reasons = BTreeMap::new();
    let mut offset = 0u64;
    for (index, (reason, bad)) in catalogue.iter().enumerate() {
        let mut valid = good.clone();
        valid["event_id"] = serde_json::json!(format!("00000000000000aa-0-{index}"));
        let valid = valid.to_string();
        producer.send(BaseRecord::<(), _>::to(&topic).payload(valid.as_bytes())).unwrap();
        producer.send(BaseRecord::<(), _>::to(&topic).payload(bad.as_slice())).unwrap();
        expected_reasons.insert(offset + 1, (*reason, bad.clone()));
        offset += 2;
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let output = run_ok(sink_command(&topic, &group, &store, 50_000).args(["--idle-exit", "3s", "--json"]));
    let consumption = &summary(&output)["kafka"];
    assert_eq!(consumption["dlq_topic"], dlq_topic.as_str(), "{consumption}");
    assert_eq!(number(consumption, "dead_letters_published"), catalogue.len() as u64, "{consumption}");
    assert_eq!(stored_lines(&store, "data").len(), catalogue.len(), "every valid neighbour landed");
    assert!(stored_lines(&store, "dlq").is_empty(), "in the Kafka mode rejects go to the topic, not the store");

    // The DLQ topic holds each poison message as it was, with its reason and origin.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&dlq_topic]).unwrap();
    let mut found = BTreeMap::new();
    let mut copies: BTreeMap<u64, u32> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut quiet_since = std::time::Instant::now();
    // Read until every entry arrived and then 3 s passed without more: a second copy would show.
    while std::time::Instant::now() < deadline && (found.len() < catalogue.len() || quiet_since.elapsed() < Duration::from_secs(3)) {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        quiet_since = std::time::Instant::now();
        let message = message.unwrap();
        let headers: BTreeMap<String, String> = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| (header.key.to_owned(), String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(headers["source_topic"], topic);
        assert_eq!(headers["source_partition"], "0");
        let source_offset: u64 = headers["source_offset"].parse().unwrap();
        *copies.entry(source_offset).or_default() += 1;
        found.insert(
            source_offset,
            (headers["reason"].clone(), message.payload().unwrap_or_default().to_vec(), headers.contains_key("detail")),
        );
    }
    assert_eq!(found.len(), catalogue.len(), "every poison message reached the DLQ topic: {:?}", found.keys());
    assert!(copies.values().all(|count| *count == 1), "without a crash each one is published once: {copies:?}");
    for (offset, (reason, payload)) in &expected_reasons {
        let (found_reason, found_payload, has_detail) = &found[offset];
        assert_eq!(found_reason, reason, "offset {offset}");
        assert!(found_payload == payload, "offset {offset}: the DLQ message is the poison message byte for byte");
        assert!(has_detail, "offset {offset} carries a detail header");
    }

    // The group's committed offset moved past the poison: nothing is read again.
    let group_reader: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", &group).create().unwrap();
    let mut partition = TopicPartitionList::new();
    partition.add_partition(&topic, 0);
    let committed = group_reader.committed_offsets(partition, Duration::from_secs(10)).unwrap();
    assert_eq!(committed.find_partition(&topic, 0).unwrap().offset(), Offset::Offset(offset as i64));
}

#[test]
fn a_store_behind_the_group_is_caught_up_from_the_store_position() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (store, manifest) = (directory.path().join("store"), directory.path().join("manifest.json"));
    let (topic, group) = (unique("behind"), unique("behind-sink"));
    run_ok(&mut generate_command(&topic, 14, 60_000, 0, &manifest));
    run_ok(sink_command(&topic, &group, &store, 5_000).args(["--idle-exit", "3s"]));
    // Lose the newest object of every partition, as if the store had been restored from a backup:
    // the group's offsets are now ahead of the store.
    let mut newest: BTreeMap<String, (u64, std::path::PathBuf)> = BTreeMap::new();
    for key in object_keys(&store.join("data")) {
        let name = key.rsplit('/').next().unwrap().to_owned();
        let mut fields = name.trim_start_matches("part-").split(['-', '.']);
        let (partition, _first, last) =
            (fields.next().unwrap().to_owned(), fields.next().unwrap(), fields.next().unwrap().parse::<u64>().unwrap());
        if newest.get(&partition).is_none_or(|(newest_last, _)| last > *newest_last) {
            newest.insert(partition, (last, store.join("data").join(&key)));
        }
    }
    for (_, path) in newest.values() {
        std::fs::remove_file(path).unwrap();
    }
    let (report, _) = verify(&store, &[&manifest]);
    assert!(number(&report, "lost") > 0);

    run_ok(sink_command(&topic, &group, &store, 50_000).args(["--idle-exit", "3s"]));
    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "{report}");
    assert_exactly_once(&report, 60_000);
}

#[test]
fn two_generator_instances_into_one_topic_verify_with_both_manifests() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let store = directory.path().join("store");
    let (topic, group) = (unique("instances"), unique("instances-sink"));
    let manifests = [directory.path().join("a.json"), directory.path().join("b.json")];
    for (instance, manifest) in manifests.iter().enumerate() {
        // The same seed: the instance id alone keeps their event ids apart.
        run_ok(generate_command(&topic, 15, 30_000, 0, manifest).args(["--instance-id", &instance.to_string()]));
    }
    run_ok(sink_command(&topic, &group, &store, 50_000).args(["--idle-exit", "3s"]));
    let (report, code) = verify(&store, &[&manifests[0], &manifests[1]]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(number(&report, "runs"), 2);
    assert_exactly_once(&report, 60_000);
    // One manifest alone leaves the other instance's records unexplained, not lost.
    let (report, _) = verify(&store, &[&manifests[0]]);
    assert_eq!((number(&report, "lost"), number(&report, "unexpected")), (0, 30_000), "{report}");
}

#[test]
fn records_kafka_does_not_acknowledge_are_named_in_the_manifest_and_not_counted_lost() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (store, manifest) = (directory.path().join("store"), directory.path().join("manifest.json"));
    let (topic, group) = (unique("timeouts"), unique("timeouts-sink"));
    // A 1 ms delivery timeout: most records expire in librdkafka's queue before a broker sees them.
    let output =
        generate_command(&topic, 16, 20_000, 0, &manifest).args(["--linger-ms", "0", "-X", "message.timeout.ms=1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a delivery failure fails the run: {stderr}");
    assert!(stderr.contains("Kafka did not acknowledge") && stderr.contains("unacknowledged_event_ids"), "{stderr}");
    let kafka = manifest_kafka(&manifest);
    let (sent, acknowledged, failed) =
        (kafka["sent"].as_u64().unwrap(), kafka["acknowledged"].as_u64().unwrap(), kafka["failed"].as_u64().unwrap());
    assert_eq!(sent, 20_000);
    assert_eq!(acknowledged + failed, sent, "every delivery report is counted: {kafka}");
    assert!(failed > 0, "{kafka}");
    assert_eq!(kafka["unacknowledged_event_ids"].as_array().unwrap().len() as u64, failed);

    run_ok(sink_command(&topic, &group, &store, 50_000).args(["--idle-exit", "3s"]));
    let (report, code) = verify(&store, &[&manifest]);
    assert_eq!(code, Some(0), "unacknowledged records are not lost: {report}");
    assert_eq!(number(&report, "lost"), 0);
    assert_eq!(number(&report, "duplicated"), 0);
    assert!(number(&report, "landed") >= acknowledged, "every acknowledged record landed: {report}");
    assert_eq!(number(&report, "landed") + number(&report, "unacknowledged"), sent, "{report}");
}

/// Keys of every object under `root`, relative to it.
fn object_keys(root: &Path) -> Vec<String> {
    object_files(root).iter().map(|path| path.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect()
}

/// The partitions of each `partitions assigned` log line.
fn assigned_partitions(log: &str) -> Vec<Vec<u32>> {
    log.lines()
        .filter(|line| line.contains("partitions assigned"))
        .filter_map(|line| line.split("assigned=[").nth(1)?.split(']').next())
        .map(|list| list.split(',').filter_map(|item| item.trim().parse().ok()).collect())
        .collect()
}

/// A live session in the Kafka mode: each accepted command goes on the episodes topic keyed
/// `command-N`, the same entry as the journal's line N, once; the injected episode goes there too.
#[test]
fn live_commands_are_journalled_on_the_episodes_topic() {
    let _serial = serial();
    let directory = tempfile::tempdir().unwrap();
    let (manifest, journal) = (directory.path().join("manifest.json"), directory.path().join("journal.jsonl"));
    let topic = unique("live");
    let port = crate::common::cli::free_port();
    let mut generator = generate_command(&topic, 11, 3_000, 500, &manifest);
    generator.args(["--control-addr", &format!("127.0.0.1:{port}")]).arg("--journal").arg(&journal);
    let mut generator = Background::spawn("generate", &mut generator, directory.path());
    crate::common::http::wait_for_server(port);
    let body = serde_json::json!({"kind": "port_scan", "duration": "2s"}).to_string();
    let scan = crate::common::http::call(port, "POST", "/v1/episodes", Some(&body), &[]);
    assert_eq!(scan.status, 201, "{scan:?}");
    let scan_id = scan.json()["episode_id"].as_str().unwrap().to_owned();
    let rate = crate::common::http::call(port, "PUT", "/v1/rate", Some(r#"{"eps": 800}"#), &[]);
    assert_eq!(rate.status, 200, "{rate:?}");
    generator.wait_success(Duration::from_secs(60));

    // The journal: a header line, then one entry per command.
    let journalled: Vec<serde_json::Value> =
        std::fs::read_to_string(&journal).unwrap().lines().skip(1).map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(journalled.len(), 2, "{journalled:?}");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("episodes-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&format!("{topic}-episodes")]).unwrap();
    let mut messages: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut quiet_since = std::time::Instant::now();
    let complete = |messages: &BTreeMap<String, Vec<serde_json::Value>>| {
        messages.contains_key(&scan_id) && (1..=journalled.len()).all(|n| messages.contains_key(&format!("command-{n}")))
    };
    // Until everything came and then 3 s passed without more: a second copy would show.
    while std::time::Instant::now() < deadline && (!complete(&messages) || quiet_since.elapsed() < Duration::from_secs(3)) {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        quiet_since = std::time::Instant::now();
        let message = message.unwrap();
        let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
        let value = serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
        messages.entry(key).or_default().push(value);
    }
    assert!(complete(&messages), "the episodes topic holds the commands and the injected scan: {:?}", messages.keys());
    for (index, entry) in journalled.iter().enumerate() {
        let on_topic = &messages[&format!("command-{}", index + 1)];
        assert_eq!(on_topic, &vec![entry.clone()], "command {} on the topic is the journal's entry, once", index + 1);
    }
    assert_eq!(journalled[0]["action"]["inject"]["kind"], "port_scan", "{}", journalled[0]);
    let scan_summary = &messages[&scan_id];
    assert_eq!(scan_summary.len(), 1, "{scan_summary:?}");
    assert_eq!(scan_summary[0]["kind"], "port_scan", "{scan_summary:?}");
    // The manifest journals them too.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(manifest["control"], serde_json::Value::Array(journalled.clone()), "{}", manifest["control"]);
}
