//! The AWS layout's pieces against crashes and takeovers: each batch's pieces are named by its
//! table, a batch that does not count leaves no piece behind after recovery, and a replay lands
//! every record exactly once (step 8 of the argument in [`crate::sink`]).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::sink::layout::{FileFormat, Layout, Output, PIECE_ROOTS};
use crate::sink::pieces::PieceTable;

fn aws_settings(max_records: u64, file_format: FileFormat) -> SinkSettings {
    let layout = Layout { flows: Output::Aws, firewall: Output::Aws, file_format, ..Layout::default() };
    SinkSettings { layout, ..settings(max_records, 1 << 30, Duration::from_secs(3600)) }
}

fn messages(count: usize) -> Vec<SinkMessage> {
    valid_lines()[..count].iter().enumerate().map(|(offset, line)| message(0, offset as u64, line)).collect()
}

async fn run_sink(storage: &Storage, settings: &SinkSettings, messages: &[SinkMessage]) {
    let mut sink = Sink::new(storage.clone(), settings.clone());
    for message in messages {
        sink.push(message.clone()).await.unwrap();
    }
    sink.flush_all().await.unwrap();
}

/// Every key under the piece roots.
async fn piece_keys(storage: &Storage) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for root in PIECE_ROOTS {
        keys.extend(storage.list(root.trim_end_matches('/')).await.unwrap().into_iter().map(|(key, _)| key));
    }
    keys
}

/// The tables stored, by key.
async fn tables(storage: &Storage) -> BTreeMap<String, PieceTable> {
    let mut tables = BTreeMap::new();
    for (key, _) in storage.list("pieces").await.unwrap() {
        tables.insert(key.clone(), PieceTable::parse(&storage.get(&key).await.unwrap()).unwrap());
    }
    tables
}

/// The store holds exactly the pieces its tables name, every valid record's ground truth once,
/// and as many flow rows as flow records.
async fn assert_exactly_once(storage: &Storage, messages: &[SinkMessage], layout: &Layout) {
    let tables = tables(storage).await;
    let named: BTreeSet<String> = tables.values().flat_map(|table| table.pieces.iter().map(|piece| piece.key.clone())).collect();
    assert_eq!(piece_keys(storage).await, named, "the pieces are exactly those the tables name");
    let truth: Vec<Vec<u8>> = read_objects(storage, ObjectKind::Data).await.iter().flat_map(|(_, body)| lines_of(body)).collect();
    let ids: Vec<String> =
        truth.iter().map(|line| serde_json::from_slice::<Value>(line).unwrap()["event_id"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> =
        messages.iter().map(|m| serde_json::from_slice::<Value>(&m.payload).unwrap()["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, expected, "every record's ground truth once, in offset order");
    let flows = messages.iter().filter(|m| m.payload.starts_with(br#"{"event_type":"vpc_flow""#)).count() as u64;
    let flow_rows: u64 =
        tables.values().flat_map(|table| &table.pieces).filter(|piece| piece.key.contains("/vpcflowlogs/")).map(|piece| piece.rows).sum();
    if layout.flows == Output::Aws {
        assert_eq!(flow_rows, flows, "one flow row per flow record");
    }
    for table in tables.values() {
        for piece in &table.pieces {
            let body = storage.get(&piece.key).await.unwrap();
            assert_eq!(body.len() as u64, piece.bytes, "{}", piece.key);
            if piece.key.ends_with(".log.gz") {
                let text = Compression::Gzip.decompress(&body).unwrap();
                let lines = lines_of(&text).len() as u64;
                let header = u64::from(piece.key.contains("/vpcflowlogs/"));
                assert_eq!(lines, piece.rows + header, "{}", piece.key);
            }
        }
    }
}

#[tokio::test]
async fn a_batch_lands_as_the_pieces_its_table_names() {
    for file_format in [FileFormat::Text, FileFormat::Parquet] {
        let (_directory, storage) = temp_storage();
        let messages = messages(300);
        let settings = aws_settings(70, file_format);
        run_sink(&storage, &settings, &messages).await;
        assert_eq!(tables(&storage).await.len(), 5, "one table per batch");
        assert_exactly_once(&storage, &messages, &settings.layout).await;
        let keys = piece_keys(&storage).await;
        assert!(keys.iter().any(|key| key.contains("/network-firewall/flow/")), "{keys:?}");
        assert!(keys.iter().all(|key| key.starts_with("AWSLogs/")), "{keys:?}");
    }
}

/// Every layout but netchaos's own: AWS text and Parquet, OCSF JSON and Parquet, AWS flows beside
/// netchaos JSON firewall records.
fn every_piece_layout() -> Vec<Layout> {
    let aws = Layout { flows: Output::Aws, firewall: Output::Aws, ..Layout::default() };
    let ocsf = Layout { flows: Output::Ocsf, firewall: Output::Ocsf, ..Layout::default() };
    vec![
        aws.clone(),
        Layout { file_format: FileFormat::Parquet, ..aws.clone() },
        ocsf.clone(),
        Layout { file_format: FileFormat::Parquet, ..ocsf },
        Layout { firewall: Output::Json, ..aws },
    ]
}

#[tokio::test]
async fn a_crash_before_the_data_object_leaves_pieces_that_recovery_removes() {
    for layout in every_piece_layout() {
        crash_before_the_data_object(layout).await;
    }
}

async fn crash_before_the_data_object(layout: Layout) {
    let (_directory, storage) = temp_storage();
    let messages = messages(200);
    let settings = SinkSettings { layout, ..aws_settings(50, FileFormat::Text) };
    run_sink(&storage, &settings, &messages[..150]).await;
    // The crash: the last batch's table and pieces are stored, its data object is not.
    let data = storage.list("data").await.unwrap();
    let (last_data, _) = data.iter().max_by_key(|(key, _)| keys::parse_key(key).unwrap().first).unwrap();
    storage.delete(last_data).await.unwrap();
    let before = piece_keys(&storage).await;
    let mut sink = Sink::new(storage.clone(), settings.clone());
    assert_eq!(sink.recover(0).await.unwrap(), 100, "resumes at the batch that did not count");
    let after = piece_keys(&storage).await;
    assert!(after.len() < before.len() && after.is_subset(&before), "the orphaned batch's pieces are gone");
    assert_eq!(tables(&storage).await.len(), 2);
    // A damaged table of a batch that does not count, naming pieces of a batch that does: recovery
    // removes the table but not what another batch stored.
    let (_, table) = tables(&storage).await.into_iter().next().unwrap();
    let orphan = keys::object_key(
        ObjectKind::Pieces,
        &SourceName::new("test"),
        Timestamp::now(),
        keys::FileName { partition: 0, first: 100, last: 149, epoch: 9, compression: Compression::None },
    );
    let damaged = PieceTable { first: 100, last: 149, epoch: 9, ..table };
    storage.put(&orphan, Bytes::from(serde_json::to_vec(&damaged).unwrap())).await.unwrap();
    drop(sink);
    let mut sink = Sink::new(storage.clone(), settings.clone());
    assert_eq!(sink.recover(0).await.unwrap(), 100);
    assert!(storage.list("pieces").await.unwrap().iter().all(|(key, _)| key != &orphan), "the orphaned table is gone");
    assert_eq!(piece_keys(&storage).await, after, "and no piece that counts went with it");
    for message in &messages {
        sink.push(message.clone()).await.unwrap();
    }
    sink.flush_all().await.unwrap();
    assert_eq!(sink.stats().skipped_replayed, 100);
    assert_exactly_once(&storage, &messages, &settings.layout).await;
}

#[tokio::test]
async fn a_writer_taken_over_stores_no_piece_past_the_fence() {
    let (_directory, storage) = temp_storage();
    let messages = messages(30);
    let settings = aws_settings(10, FileFormat::Text);
    let mut old = Sink::new(storage.clone(), settings.clone());
    for message in &messages[..10] {
        old.push(message.clone()).await.unwrap();
    }
    old.wait_for_idle().await.unwrap();
    let mut new = Sink::new(storage.clone(), settings.clone());
    assert_eq!(new.recover(0).await.unwrap(), 10);
    let mut outcome = Ok(());
    for message in &messages[10..20] {
        outcome = outcome.and(old.push(message.clone()).await);
    }
    assert!(matches!(outcome.and(old.flush_all().await), Err(SinkError::Fenced { .. })));
    for message in &messages {
        new.push(message.clone()).await.unwrap();
    }
    new.flush_all().await.unwrap();
    assert_exactly_once(&storage, &messages, &settings.layout).await;
}
