//! `verify` over real generated runs landed by the real sink in a temporary local store.

use std::num::NonZeroU64;

use bytes::Bytes;

use super::*;
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
        crate::generator::now_timestamp(),
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
async fn dlq_entries_count_as_present_but_invalid() {
    let (_directory, storage) = temp_storage();
    let run = generate(29, 2, 200);
    let mut lines = run.lines.clone();
    for index in [3, 50, 51, 199] {
        lines[index] = spoil(&lines[index]);
    }
    // A line that is no record at all, between two real ones: its own offset, no id.
    lines.insert(100, b"garbage".to_vec());
    land(&storage, "stdin", &lines).await;
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!((report.expected, report.landed, report.invalid, report.lost), (200, 196, 4, 0));
    assert_eq!(report.unidentified_invalid, 1);
    assert_eq!(report.by_event_type.values().map(|counts| counts.invalid).sum::<u64>(), 4);
    assert!(report.dlq_objects >= 3);
}

#[tokio::test]
async fn ids_of_other_runs_are_unexpected() {
    let (_directory, storage, run) = landed_run(100).await;
    let other = generate(31, 1, 10);
    land(&storage, "other", &other.lines).await;
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert!(report.ok());
    assert_eq!(report.unexpected, 10);
    let both = verify(&storage, &[run.manifest.clone(), other.manifest.clone()]).await.unwrap();
    assert_eq!((both.expected, both.landed, both.unexpected, both.runs), (110, 110, 0, 2));
}

#[tokio::test]
async fn a_damaged_object_is_reported_and_its_records_lost() {
    let (_directory, storage, run) = landed_run(100).await;
    let (victim, _) = storage.list("data").await.unwrap().into_iter().next().unwrap();
    storage.put(&victim, Bytes::from_static(b"not gzip")).await.unwrap();
    let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
    assert_eq!(report.damaged_objects, vec![victim]);
    assert_eq!(report.lost, 40);
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
