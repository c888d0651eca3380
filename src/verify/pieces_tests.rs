//! `verify` over stores in the AWS layout: the ids from the ground truth, and the pieces as their
//! tables say; a stray, a missing and a short piece each fail the audit.

use std::num::NonZeroU64;

use bytes::Bytes;

use super::*;
use crate::sink::layout::{FileFormat, Layout, Output};
use crate::sink::pieces::PieceTable;
use crate::sink::test_support::{Generated, generate, temp_storage};
use crate::sink::{Compression, Sink, SinkMessage, SinkSettings};

async fn landed(file_format: FileFormat) -> (tempfile::TempDir, Storage, Generated) {
    let (directory, storage) = temp_storage();
    let run = generate(29, 3, 400);
    let layout = Layout { flows: Output::Aws, firewall: Output::Aws, file_format, ..Layout::default() };
    let settings = SinkSettings { max_records: NonZeroU64::new(90).unwrap(), layout, ..SinkSettings::new("run") };
    let mut sink = Sink::new(storage.clone(), settings);
    for (offset, line) in run.lines.iter().enumerate() {
        sink.push(SinkMessage { partition: 0, offset: offset as u64, payload: Bytes::copy_from_slice(line) }).await.unwrap();
    }
    sink.flush_all().await.unwrap();
    (directory, storage, run)
}

async fn first_table(storage: &Storage) -> PieceTable {
    let key = storage.list("pieces").await.unwrap().remove(0).0;
    PieceTable::parse(&storage.get(&key).await.unwrap()).unwrap()
}

fn damaged_keys(report: &VerifyReport) -> Vec<String> {
    report.damaged_objects.iter().map(|object| format!("{} {}", object.key, object.reason)).collect()
}

#[tokio::test]
async fn an_aws_store_verifies_from_its_ground_truth_and_its_pieces() {
    for file_format in [FileFormat::Text, FileFormat::Parquet] {
        let (_directory, storage, run) = landed(file_format).await;
        let report = verify(&storage, std::slice::from_ref(&run.manifest)).await.unwrap();
        assert!(report.ok(), "{report}");
        assert_eq!((report.landed, report.lost, report.duplicated), (400, 0, 0));
        assert!(report.piece_objects > 0, "{report}");
        let flows = run.manifest.by_event_type.get("vpc_flow").copied().unwrap_or(0);
        assert!(report.piece_rows >= flows, "every flow row, and the firewall's events: {report}");
        assert!(report.to_string().contains("pieces holding"), "{report}");
    }
}

#[tokio::test]
async fn a_stray_a_missing_and_a_short_piece_each_fail() {
    let (_directory, storage, run) = landed(FileFormat::Text).await;
    let manifests = std::slice::from_ref(&run.manifest);
    let table = first_table(&storage).await;
    let piece = table.pieces.iter().find(|piece| piece.key.contains("/vpcflowlogs/") && piece.rows > 1).unwrap().clone();
    let body = storage.get(&piece.key).await.unwrap();

    // A stray: a copy of a piece under a name no batch claims (a reader reads it twice).
    let stray = piece.key.replace(".log.gz", "-copy.log.gz");
    storage.put(&stray, body.clone()).await.unwrap();
    let report = verify(&storage, manifests).await.unwrap();
    assert!(
        !report.ok() && damaged_keys(&report).iter().any(|line| line.starts_with(&stray) && line.contains("no counting batch")),
        "{report}"
    );
    storage.delete(&stray).await.unwrap();

    // Missing.
    storage.delete(&piece.key).await.unwrap();
    let report = verify(&storage, manifests).await.unwrap();
    assert!(!report.ok() && damaged_keys(&report).iter().any(|line| line.starts_with(&piece.key) && line.contains("missing")), "{report}");

    // Short: one row fewer than the table says.
    let text = Compression::Gzip.decompress(&body).unwrap();
    let cut = text[..text.len() - 1].iter().rposition(|byte| *byte == b'\n').unwrap() + 1;
    storage.put(&piece.key, Bytes::from(Compression::Gzip.compress(&text[..cut]).unwrap())).await.unwrap();
    let report = verify(&storage, manifests).await.unwrap();
    let expected = format!("holds {} rows where its table says {}", piece.rows - 1, piece.rows);
    assert!(!report.ok() && damaged_keys(&report).iter().any(|line| line.contains(&expected)), "{report}");

    // A line with a field too many (the rule Elastic's parser relies on).
    let mut widened = text.clone();
    let end_of_first_row = widened.iter().enumerate().filter(|(_, byte)| **byte == b'\n').nth(1).unwrap().0;
    widened.splice(end_of_first_row..end_of_first_row, b" extra".iter().copied());
    storage.put(&piece.key, Bytes::from(Compression::Gzip.compress(&widened).unwrap())).await.unwrap();
    let report = verify(&storage, manifests).await.unwrap();
    assert!(!report.ok() && damaged_keys(&report).iter().any(|line| line.contains("line 2 has")), "{report}");

    // Put back whole, it verifies again.
    storage.put(&piece.key, body).await.unwrap();
    assert!(verify(&storage, manifests).await.unwrap().ok());
}
