//! The age trigger on tokio's paused clock: a batch flushes exactly when its first message is
//! `max_age` old, driven by the timer alone (no further input), as `run` and `sink` drive it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use netchaos::sink::{Sink, SinkMessage, SinkSettings, Storage};

fn message(partition: u32, offset: u64) -> SinkMessage {
    // Not a valid record: it goes to the DLQ, which is also batched; the trigger is the same.
    SinkMessage { partition, offset, payload: Bytes::from_static(b"{\"not\":\"a record\"}") }
}

/// Data and DLQ objects under `root` (fences, one per recovered partition, are not batches).
fn objects(root: &std::path::Path) -> usize {
    let mut count = 0;
    let mut stack = vec![root.join("data"), root.join("dlq")];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test(start_paused = true)]
async fn an_idle_partition_flushes_when_its_batch_reaches_max_age() {
    let directory = tempfile::tempdir().unwrap();
    let storage = Storage::from_url(directory.path().to_str().unwrap()).unwrap();
    let settings = SinkSettings { max_age: Duration::from_secs(30), ..SinkSettings::new("aged") };
    let mut sink = Sink::new(storage, settings);
    sink.push(message(0, 0)).await.unwrap();
    let start = tokio::time::Instant::now();
    sink.push(message(1, 0)).await.unwrap();
    assert_eq!(sink.next_deadline(), Some(start + Duration::from_secs(30)));

    tokio::time::advance(Duration::from_secs(29)).await;
    sink.flush_expired().await.unwrap();
    assert_eq!(sink.stats().flushes.age, 0, "nothing is due before max age");
    assert_eq!(objects(directory.path()), 0);

    // The driver sleeps until the deadline, with no new input, and flushes.
    tokio::time::sleep_until(sink.next_deadline().unwrap()).await;
    sink.flush_expired().await.unwrap();
    assert_eq!(sink.stats().flushes.age, 2, "both idle partitions flushed by age");
    assert_eq!(sink.next_deadline(), None);
    assert_eq!(sink.committed().into_iter().collect::<Vec<_>>(), vec![(0, 1), (1, 1)]);
    // Each batch: a DLQ object and its (empty) data object.
    assert_eq!(objects(directory.path()), 4);
}
