//! `verify` over real generated runs landed by the real sink in a temporary local store.

use std::num::NonZeroU64;

use bytes::Bytes;

use super::*;
use crate::generator::manifest::ManifestLane;
use crate::records::Timestamp;
use crate::sink::Compression;
use crate::sink::keys::{self, SourceName};
use crate::sink::test_support::{Generated, generate, temp_storage};
use crate::sink::{Sink, SinkMessage, SinkSettings};

/// Lands `lines` (partition 0, offset = index) with batches of 40 records.
async fn land(storage: &Storage, source: &str, lines: &[Vec<u8>]) {
    let settings = SinkSettings { max_records: NonZeroU64::new(40).unwrap(), ..SinkSettings::new(source) };
    let mut sink = Sink::new(storage.clone(), settings);
    for (offset, line) in lines.iter().enumerate() {
        sink.push(SinkMessage { partition: 0, offset: offset as u64, payload: Bytes::copy_from_slice(line) }).await.unwrap();
    }
    sink.flush_all().await.unwrap();
}

async fn landed_run(records: u64) -> (tempfile::TempDir, Storage, Generated) {
    let (directory, storage) = temp_storage();
    let run = generate(23, 3, records);
    land(&storage, "run", &run.lines).await;
    (directory, storage, run)
}

fn event_id(line: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(line).unwrap()["event_id"].as_str().unwrap().to_owned()
}

/// Makes a valid record invalid (a port out of range) while keeping its event id.
fn spoil(line: &[u8]) -> Vec<u8> {
    let mut record: serde_json::Value = serde_json::from_slice(line).unwrap();
    let port = if record["event_type"] == "vpc_flow" { "dstport" } else { "dest_port" };
    record[port] = serde_json::json!(70_000);
    serde_json::to_vec(&record).unwrap()
}

#[tokio::test]
async fn a_clean_store_verifies() {
    let (_directory, storage, run) = landed_run(300).await;
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!((report.expected, report.landed, report.invalid, report.lost, report.duplicated, report.unexpected), (300, 300, 0, 0, 0, 0));
    assert_eq!((report.manifests, report.runs, report.data_objects, report.dlq_objects), (1, 1, 8, 0));
    for (event_type, count) in &run.manifest.by_event_type {
        assert_eq!(report.by_event_type[event_type.as_str()].landed, *count, "{event_type}");
    }
    for (label, count) in &run.manifest.by_label {
        assert_eq!(report.by_label[label.as_str()].landed, *count, "{label}");
    }
    assert!(report.to_string().starts_with("verify: OK, 0 lost and 0 duplicated of 300 expected records"), "{report}");
}

#[tokio::test]
async fn a_missing_object_shows_as_lost() {
    let (_directory, storage, run) = landed_run(300).await;
    let (victim, _) = storage.list("data").await.unwrap().into_iter().nth(2).unwrap();
    storage.delete(&victim).await.unwrap();
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert!(!report.ok());
    assert_eq!((report.lost, report.landed, report.duplicated), (40, 260, 0));
    assert_eq!(report.lost_by_lane.iter().map(|lane| lane.lost).sum::<u64>(), 40);
    assert_eq!(report.lost_examples.len(), 20);
    // Every example names an id of the deleted batch (lines 80..120 of the run).
    let deleted: Vec<String> = run.lines[80..120]
        .iter()
        .map(|line| serde_json::from_slice::<serde_json::Value>(line).unwrap()["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(report.lost_examples.iter().all(|id| deleted.contains(id)), "{:?}", report.lost_examples);
    assert!(report.to_string().starts_with("verify: FAILED, 40 lost and 0 duplicated"), "{report}");
}

#[tokio::test]
async fn a_duplicated_object_shows_as_duplicated() {
    let (_directory, storage, run) = landed_run(300).await;
    let (original, _) = storage.list("data").await.unwrap().into_iter().next().unwrap();
    let parsed = keys::parse_key(&original).unwrap();
    // The same batch written again by a second source (a second sink over the same input).
    let copy = keys::object_key(
        ObjectKind::Data,
        &SourceName::new("again"),
        Timestamp::now(),
        keys::FileName { partition: 0, first: parsed.first, last: parsed.last, epoch: parsed.epoch, compression: parsed.compression },
    );
    storage.put(&copy, storage.get(&original).await.unwrap()).await.unwrap();
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert!(!report.ok());
    assert_eq!((report.duplicated, report.lost, report.landed), (40, 0, 300));
    assert_eq!(report.by_event_type.values().map(|counts| counts.duplicated).sum::<u64>(), 40);
    assert_eq!(report.by_label.values().map(|counts| counts.duplicated).sum::<u64>(), 40);
}

#[tokio::test]
async fn expected_ids_only_in_the_dlq_are_invalid_and_fail_unless_accepted() {
    let (_directory, storage) = temp_storage();
    let run = generate(29, 2, 200);
    let mut lines = run.lines.clone();
    for index in [3, 50, 51, 199] {
        lines[index] = spoil(&lines[index]);
    }
    // A line that is no record at all, between two real ones: its own offset, no id.
    lines.insert(100, b"garbage".to_vec());
    land(&storage, "stdin", &lines).await;
    let report = verify_with(&storage, std::slice::from_ref(&run.manifest), Acceptance::default()).await.unwrap();
    assert!(!report.ok(), "{report}");
    assert_eq!((report.expected, report.landed, report.invalid, report.lost), (200, 196, 4, 0));
    assert_eq!(report.failures, vec![Failure::OnlyInDlq { records: 4 }], "{report}");
    assert!(report.to_string().contains("4 expected records exist only in the DLQ") && report.to_string().contains("--allow-invalid"));
    let spoiled_ids: Vec<String> = [3, 50, 51, 199].iter().map(|index| event_id(&run.lines[*index])).collect();
    let mut named = report.invalid_examples.clone();
    named.sort();
    let mut wanted = spoiled_ids.clone();
    wanted.sort();
    assert_eq!(named, wanted, "the DLQ-only ids are named");
    assert_eq!(report.unidentified_invalid, 1);
    assert_eq!(report.by_event_type.values().map(|counts| counts.invalid).sum::<u64>(), 4);
    assert!(report.dlq_objects >= 3);

    let accepted = Acceptance { invalid: true, ..Acceptance::default() };
    let report = verify_with(&storage, std::slice::from_ref(&run.manifest), accepted).await.unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.accepted, accepted);
    // `run`'s own audit accepts nothing of the kind.
    assert!(!verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap().ok());
}

#[tokio::test]
async fn ids_of_other_runs_are_unexpected_and_fail_unless_accepted() {
    let (_directory, storage, run) = landed_run(100).await;
    let other = generate(31, 1, 10);
    land(&storage, "other", &other.lines).await;
    let strict = verify_with(&storage, std::slice::from_ref(&run.manifest), Acceptance::default()).await.unwrap();
    assert_eq!(strict.unexpected, 10);
    assert_eq!(strict.failures, vec![Failure::Unexpected { records: 10, without_id: 0 }], "{strict}");
    // `run` shares its store with earlier runs: their records do not fail its audit.
    assert!(verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap().ok());
    let both = verify_with(&storage, &[run.manifest.clone(), other.manifest.clone()], Acceptance::default()).await.unwrap();
    assert!(both.ok(), "{both}");
    assert_eq!((both.expected, both.landed, both.unexpected, both.runs), (110, 110, 0, 2));
}

#[tokio::test]
async fn a_manifest_naming_no_records_proves_nothing_and_fails() {
    let (_directory, storage, run) = landed_run(100).await;
    let mut empty = run.manifest.clone();
    empty.lanes.clear();
    empty.records = 0;
    empty.by_label.values_mut().chain(empty.by_event_type.values_mut()).for_each(|count| *count = 0);
    let report = verify_with(&storage, std::slice::from_ref(&empty), Acceptance::default()).await.unwrap();
    assert_eq!(report.failures, vec![Failure::NothingExpected, Failure::Unexpected { records: 100, without_id: 0 }], "{report}");
    assert!(report.to_string().starts_with("verify: FAILED, 0 lost and 0 duplicated of 0 expected records"), "{report}");
    let waived = Acceptance { empty: true, unexpected: true, ..Acceptance::default() };
    assert!(verify_with(&storage, std::slice::from_ref(&empty), waived).await.unwrap().ok());
    // An empty store against an empty manifest is as unproven.
    let (_empty_directory, empty_storage) = temp_storage();
    let nothing = verify_with(&empty_storage, std::slice::from_ref(&empty), Acceptance::default()).await.unwrap();
    assert_eq!(nothing.failures, vec![Failure::NothingExpected]);
}

#[tokio::test]
async fn lanes_that_mean_different_things_fail_on_label_and_type_counts() {
    let (_directory, storage) = temp_storage();
    // The same seed, so the same run id, with other workers: lane 2 is traffic in the stored run
    // and the port-scan lane in the other. Every id of the other manifest is stored once.
    let stored = generate(41, 4, 2_000);
    let other = generate(41, 2, 600);
    assert_eq!(stored.manifest.run_id, other.manifest.run_id);
    land(&storage, "run", &stored.lines).await;
    let accept = Acceptance { unexpected: true, ..Acceptance::default() };
    let report = verify_with(&storage, std::slice::from_ref(&other.manifest), accept).await.unwrap();
    assert_eq!((report.lost, report.duplicated, report.landed), (0, 0, 600), "{report}");
    let port_scans = other.manifest.by_label["port_scan"];
    assert!(port_scans > 0);
    assert!(
        report.failures.contains(&Failure::CountMismatch { dimension: "label", name: "port_scan".into(), expected: port_scans, found: 0 }),
        "{report}"
    );
    assert_eq!(report.by_label["port_scan"].expected, port_scans);
    // The right manifest passes the same checks.
    assert!(verify(&storage, std::slice::from_ref(&stored.manifest)).await.unwrap().ok());
    // With a manifest that names every lane at its largest count, the other adds nothing.
    assert!(verify_with(&storage, &[stored.manifest.clone(), other.manifest.clone()], accept).await.unwrap().ok());
    // Two manifests of the run, neither naming every lane at its largest: its counts are unknown.
    let longer = generate(41, 2, 1_200);
    let both = verify_with(&storage, &[stored.manifest.clone(), longer.manifest.clone()], accept).await.unwrap();
    assert!(both.failures.contains(&Failure::ManifestsDisagree { run_id: stored.manifest.run_id.clone() }), "{both}");
    // The same manifest twice counts once.
    let twice = verify_with(&storage, &[stored.manifest.clone(), stored.manifest.clone()], Acceptance::default()).await.unwrap();
    assert!(twice.ok(), "{twice}");
}

#[tokio::test]
async fn a_shortfall_in_one_label_fails_even_when_the_total_matches() {
    let (_directory, storage) = temp_storage();
    let run = generate(43, 2, 300);
    // Every record stored once, but one anomaly relabelled as normal traffic.
    let mut lines = run.lines.clone();
    let mut records: Vec<serde_json::Value> = lines.iter().map(|line| serde_json::from_slice(line).unwrap()).collect();
    let anomaly = records.iter().position(|record| !record["label"].is_null()).unwrap();
    let kind = records[anomaly]["label"]["kind"].as_str().unwrap().to_owned();
    records[anomaly]["label"] = serde_json::Value::Null;
    lines[anomaly] = serde_json::to_vec(&records[anomaly]).unwrap();
    land(&storage, "run", &lines).await;
    let report = verify_with(&storage, std::slice::from_ref(&run.manifest), Acceptance::default()).await.unwrap();
    assert_eq!((report.lost, report.duplicated, report.landed), (0, 0, 300));
    let (normal, of_kind) = (run.manifest.by_label["normal"], run.manifest.by_label[&kind]);
    let surplus = Failure::CountMismatch { dimension: "label", name: "normal".into(), expected: normal, found: normal + 1 };
    let shortfall = Failure::CountMismatch { dimension: "label", name: kind, expected: of_kind, found: of_kind - 1 };
    assert_eq!(report.failures, vec![surplus, shortfall], "{report}");
}

#[tokio::test]
async fn a_damaged_object_is_reported_and_fails_the_audit() {
    let (_directory, storage, run) = landed_run(100).await;
    let (victim, _) = storage.list("data").await.unwrap().into_iter().next().unwrap();
    storage.put(&victim, Bytes::from_static(b"not gzip")).await.unwrap();
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert_eq!(report.damaged_objects.iter().map(|damaged| damaged.key.as_str()).collect::<Vec<_>>(), vec![victim.as_str()]);
    assert!(report.damaged_objects[0].reason.starts_with("cannot decompress it as gzip"), "{report}");
    assert_eq!(report.lost, 40);
    assert!(report.failures.contains(&Failure::DamagedObjects { objects: 1 }));
}

#[tokio::test]
async fn objects_that_cannot_be_read_within_bounds_fail_even_when_nothing_is_lost() {
    let (_directory, storage, run) = landed_run(100).await;
    let key = |partition: u32, compression| {
        let name = keys::FileName { partition, first: 0, last: 9, epoch: 0, compression };
        keys::object_key(ObjectKind::Data, &SourceName::new("foreign"), Timestamp::now(), name)
    };
    // One endless line (a gzip bomb's shape, smaller), a truncated zstd object, and a bomb of
    // many copies of one real line: counted as it streams, never held whole.
    let endless = Compression::Gzip.compress(&vec![b'a'; read::MAX_LINE_BYTES + 10]).unwrap();
    storage.put(&key(1, Compression::Gzip), Bytes::from(endless)).await.unwrap();
    let mut cut = Compression::Zstd.compress(&run.lines.concat()).unwrap();
    cut.truncate(cut.len() / 2);
    storage.put(&key(2, Compression::Zstd), Bytes::from(cut)).await.unwrap();
    let mut copies = Vec::new();
    for _ in 0..50_000 {
        copies.extend_from_slice(&run.lines[0]);
        copies.push(b'\n');
    }
    storage.put(&key(3, Compression::Gzip), Bytes::from(Compression::Gzip.compress(&copies).unwrap())).await.unwrap();

    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    let reasons: Vec<&str> = report.damaged_objects.iter().map(|damaged| damaged.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{report}");
    assert!(reasons.iter().any(|reason| reason.starts_with("a line longer than 4 MiB")), "{reasons:?}");
    assert!(reasons.iter().any(|reason| reason.starts_with("cannot decompress it as zstd")), "{reasons:?}");
    assert!(report.failures.contains(&Failure::DamagedObjects { objects: 2 }), "{report}");
    assert_eq!(report.landed, 100);
    assert!(report.duplicated >= 50_000, "every copy counted: {report}");
}

#[test]
fn the_listing_becomes_data_and_dlq_objects_and_ignores_meta() {
    let data = "data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz";
    let dlq = "dlq/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.zst";
    let listing: Vec<(String, u64)> = [
        data,
        dlq,
        "meta/source=s/epoch.json",
        "meta/data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz",
        "manifests/manifest-00ff00ff00ff00ff.json",
        "episodes/episodes-00ff00ff00ff00ff.jsonl",
        "data/stray.json.gz",
        "dlq/source=s/notes.txt",
    ]
    .iter()
    .map(|key| ((*key).to_owned(), 10))
    .collect();
    let selection = objects_to_audit(listing);
    assert_eq!(selection.data.iter().map(|object| object.key.as_str()).collect::<Vec<_>>(), vec![data]);
    assert_eq!(selection.dlq.iter().map(|object| object.key.as_str()).collect::<Vec<_>>(), vec![dlq]);
    assert_eq!(selection.dlq[0].parsed.compression, Compression::Zstd);
    let foreign: Vec<&str> = selection.foreign.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(foreign, vec!["data/stray.json.gz", "dlq/source=s/notes.txt"]);
}

#[test]
fn manifests_out_of_bounds_are_refused_before_any_allocation() {
    let run = generate(47, 2, 10);
    let mut huge_lane = run.manifest.clone();
    huge_lane.lanes[0].records = u64::MAX / 2;
    let error = ExpectedIds::from_manifests(std::slice::from_ref(&huge_lane)).unwrap_err();
    assert!(error.is_bad_manifest() && error.to_string().contains("more than the 17179869184 verify can track"), "{error}");

    let mut many_lanes = run.manifest.clone();
    many_lanes.lanes = (0..=MAX_LANES as u32).map(|worker| ManifestLane { worker, role: "traffic".into(), records: 1 }).collect();
    let error = ExpectedIds::from_manifests(std::slice::from_ref(&many_lanes)).unwrap_err();
    assert!(error.to_string().contains("names 4097 lanes, more than the 4096"), "{error}");

    // Each lane within the bound, together over it.
    let mut two_big = run.manifest.clone();
    two_big.lanes = (0..2).map(|worker| ManifestLane { worker, role: "traffic".into(), records: MAX_EXPECTED_IDS }).collect();
    let error = ExpectedIds::from_manifests(std::slice::from_ref(&two_big)).unwrap_err();
    assert!(error.to_string().contains("together"), "{error}");
}

#[test]
fn manifest_files_are_read_within_bounds() {
    let directory = tempfile::tempdir().unwrap();
    let error = load_manifest_file(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(error.is_bad_manifest() && error.to_string().contains("/dev/zero` is not a netchaos run manifest"), "{error}");
    // Valid JSON so far, but larger than any manifest: refused at the bound, not at its end.
    let oversized = directory.path().join("oversized.json");
    let mut padding = vec![b' '; MAX_MANIFEST_BYTES as usize + 10];
    padding[0] = b'{';
    std::fs::write(&oversized, &padding).unwrap();
    let error = load_manifest_file(&oversized).unwrap_err();
    assert!(error.is_bad_manifest() && error.to_string().contains("larger than 64 MiB"), "{error}");
    let error = load_manifest_file(directory.path()).unwrap_err();
    assert!(error.to_string().starts_with("cannot read the manifest"), "a directory: {error}");
}

#[tokio::test]
async fn finds_the_manifests_stored_with_the_data() {
    let (_directory, storage, run) = landed_run(50).await;
    assert!(find_manifests(&storage).await.unwrap().is_empty());
    let manifest_json = serde_json::to_vec_pretty(&run.manifest).unwrap();
    storage.put(&format!("manifests/manifest-{}.json", run.manifest.run_id), Bytes::from(manifest_json)).await.unwrap();
    storage.put(&format!("episodes/episodes-{}.jsonl", run.manifest.run_id), Bytes::from_static(b"{}\n")).await.unwrap();
    let found = find_manifests(&storage).await.unwrap();
    assert_eq!(found, vec![run.manifest.clone()]);
    let report = verify(&storage, &found).await.unwrap();
    assert!(report.ok());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["landed"], 50);

    storage.put("manifests/manifest-broken.json", Bytes::from_static(b"{\"run_id\": 1}")).await.unwrap();
    let error = find_manifests(&storage).await.unwrap_err();
    assert!(error.to_string().contains("manifests/manifest-broken.json` is not a netchaos run manifest"), "{error}");
}

#[test]
fn loads_manifest_files() {
    let directory = tempfile::tempdir().unwrap();
    let run = generate(37, 1, 5);
    let path = directory.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_vec(&run.manifest).unwrap()).unwrap();
    assert_eq!(load_manifest_file(&path).unwrap(), run.manifest);
    let missing = load_manifest_file(&directory.path().join("nope.json")).unwrap_err();
    assert!(missing.to_string().starts_with("cannot read the manifest"), "{missing}");
}

#[tokio::test]
async fn an_object_stored_by_a_writer_after_its_takeover_is_void_not_a_duplicate() {
    let (_directory, storage, run) = landed_run(300).await;
    let (original, _) = storage.list("data").await.unwrap().into_iter().last().unwrap();
    let parsed = keys::parse_key(&original).unwrap();
    let source = SourceName::new(&parsed.source);
    // A successor (epoch 2) took the partition over at the last batch and stored it again; the
    // original (epoch 1) is what a stalled writer stored after that.
    storage.put(&keys::fence_key(&source, parsed.partition, 2, parsed.first), Bytes::new()).await.unwrap();
    let name =
        keys::FileName { partition: parsed.partition, first: parsed.first, last: parsed.last, epoch: 2, compression: parsed.compression };
    let again = keys::object_key(ObjectKind::Data, &source, Timestamp::now(), name);
    storage.put(&again, storage.get(&original).await.unwrap()).await.unwrap();
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert_eq!((report.landed, report.duplicated, report.lost), (300, 0, 0), "{report}");
    assert!(report.failures.contains(&Failure::DamagedObjects { objects: 1 }), "{report}");
    assert!(report.to_string().contains("void"), "{report}");
}
