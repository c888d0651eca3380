//! Restarts, crashes, orphan DLQ objects and store outages: nothing written twice, nothing
//! skipped.

use super::*;

/// Writes `messages` through a fresh sink over `storage`, optionally dropping it (a crash) before
/// the final flush.
async fn run_sink(storage: &Storage, messages: &[SinkMessage], max_records: u64, flush_at_end: bool) -> SinkStats {
    let mut sink = Sink::new(storage.clone(), settings(max_records, 1 << 30, Duration::from_secs(3600)));
    for message in messages {
        sink.push(message.clone()).await.unwrap();
    }
    if flush_at_end {
        sink.flush_all().await.unwrap();
    }
    sink.stats().clone()
}

fn mixed_messages(count: u64) -> Vec<SinkMessage> {
    (0..count)
        .map(|offset| match offset % 5 {
            3 => message(0, offset, format!("bad line {offset}").as_bytes()),
            _ => message(0, offset, &valid_lines()[offset as usize]),
        })
        .collect()
}

async fn assert_stored_exactly(storage: &Storage, messages: &[SinkMessage]) {
    let data = read_objects(storage, ObjectKind::Data).await;
    let mut expected_next = 0;
    for (key, _) in &data {
        assert_eq!(key.first, expected_next, "data objects tile the offsets: {:?}", ranges(&data));
        expected_next = key.last + 1;
    }
    assert_eq!(expected_next, messages.len() as u64);
    let landed: Vec<Vec<u8>> = data.iter().flat_map(|(_, body)| lines_of(body)).collect();
    let valid: Vec<Vec<u8>> =
        messages.iter().filter(|m| crate::records::validate(&m.payload).is_ok()).map(|m| m.payload.to_vec()).collect();
    assert_eq!(landed, valid);
    let dead: Vec<u64> = dlq_entries(&read_objects(storage, ObjectKind::Dlq).await).iter().map(|entry| entry.offset).collect();
    let invalid: Vec<u64> = messages.iter().filter(|m| crate::records::validate(&m.payload).is_err()).map(|m| m.offset).collect();
    assert_eq!(dead, invalid);
}

#[tokio::test]
async fn a_full_replay_after_a_restart_writes_nothing_twice() {
    let (_directory, storage) = temp_storage();
    let messages = mixed_messages(50);
    run_sink(&storage, &messages, 7, true).await;
    assert_stored_exactly(&storage, &messages).await;
    let objects_before = (storage.list("data").await.unwrap(), storage.list("dlq").await.unwrap());
    let replay = run_sink(&storage, &messages, 7, true).await;
    assert_eq!(replay.skipped_replayed, 50);
    assert_eq!(replay.objects_written, 0);
    assert_eq!((storage.list("data").await.unwrap(), storage.list("dlq").await.unwrap()), objects_before);
    let fences: Vec<_> = storage.list("fence").await.unwrap().iter().filter_map(|(key, _)| keys::parse_fence_key(key)).collect();
    assert_eq!(fences.iter().map(|fence| (fence.epoch, fence.start)).collect::<Vec<_>>(), vec![(1, 0), (2, 50)], "one fence per recovery");
    assert_stored_exactly(&storage, &messages).await;
}

#[tokio::test]
async fn a_crash_with_a_buffered_batch_resumes_where_the_store_got_to() {
    let (_directory, storage) = temp_storage();
    let messages = mixed_messages(50);
    // Crash after 30 messages: batches 0-6 ... 21-27 are stored, 28-29 were only in memory.
    run_sink(&storage, &messages[..30], 7, false).await;
    let replay = run_sink(&storage, &messages, 7, true).await;
    assert_eq!(replay.skipped_replayed, 28);
    assert_stored_exactly(&storage, &messages).await;
}

#[tokio::test]
async fn recovery_deletes_an_orphan_dlq_object_and_keeps_the_others() {
    let (_directory, storage) = temp_storage();
    let messages = mixed_messages(50);
    run_sink(&storage, &messages[..28], 7, true).await;
    let kept_dlq = storage.list("dlq").await.unwrap();
    assert_eq!(kept_dlq.len(), 4, "every stored batch had an invalid message");
    // A crash between the DLQ write and the data write of batch 28-34.
    let orphan = keys::object_key(
        ObjectKind::Dlq,
        &SourceName::new("test"),
        Timestamp::now(),
        keys::FileName { partition: 0, first: 28, last: 34, epoch: 1, compression: Compression::Gzip },
    );
    storage.put(&orphan, Bytes::from(Compression::Gzip.compress(b"{\"reason\":\"empty\"}\n").unwrap())).await.unwrap();
    let mut sink = Sink::new(storage.clone(), settings(7, 1 << 30, Duration::from_secs(3600)));
    assert_eq!(sink.recover(0).await.unwrap(), 28);
    assert_eq!(sink.stats().orphans_deleted, 1);
    assert_eq!(storage.list("dlq").await.unwrap(), kept_dlq);
    for message in &messages {
        sink.push(message.clone()).await.unwrap();
    }
    sink.flush_all().await.unwrap();
    assert_stored_exactly(&storage, &messages).await;
}

#[tokio::test]
async fn recover_all_reads_every_partition_from_one_listing() {
    let (_directory, storage) = temp_storage();
    let mut sink = Sink::new(storage.clone(), settings(2, 1 << 30, Duration::from_secs(3600)));
    for (partition, count) in [(0u32, 4u64), (3, 5)] {
        for offset in 0..count {
            sink.push(message(partition, offset, &valid_lines()[offset as usize])).await.unwrap();
        }
    }
    sink.flush_all().await.unwrap();
    let mut restarted = Sink::new(storage, settings(2, 1 << 30, Duration::from_secs(3600)));
    let resumed = restarted.recover_all([0, 1, 3]).await.unwrap();
    assert_eq!(resumed, [(0, 4), (1, 0), (3, 5)].into_iter().collect());
    assert_eq!(restarted.committed(), resumed);
}

/// Makes every write under `data/` fail, in a way a retry can outlive, by putting a dangling
/// symbolic link where the `data` directory goes (a file there would be a permanent error, given
/// up at once).
fn break_data_directory(directory: &tempfile::TempDir) -> std::path::PathBuf {
    let blocker = directory.path().join("data");
    std::os::unix::fs::symlink(directory.path().join("missing/data"), &blocker).unwrap();
    blocker
}

#[tokio::test]
async fn a_failing_store_is_retried_until_it_recovers() {
    let (directory, storage) = temp_storage();
    let mut sink = Sink::new(storage.clone(), settings(1_000, 1 << 30, Duration::from_secs(3600)));
    sink.push(message(0, 0, &valid_lines()[0])).await.unwrap();
    let blocker = break_data_directory(&directory);
    let flushing = tokio::spawn(async move {
        let outcome = sink.flush_all().await;
        (sink, outcome)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::remove_file(&blocker).unwrap();
    let (sink, outcome) = flushing.await.unwrap();
    outcome.unwrap();
    assert!(sink.metrics().store_retries.get() > 0);
    assert_eq!(sink.committed()[&0], 1);
    assert_eq!(read_objects(&storage, ObjectKind::Data).await.len(), 1);
}

#[tokio::test]
async fn an_abandoned_write_commits_nothing_and_a_restart_resumes_exactly() {
    let (directory, storage) = temp_storage();
    let abort = Shutdown::new();
    let mut sink = Sink::new(storage.clone(), settings(1_000, 1 << 30, Duration::from_secs(3600))).with_abort_on(abort.clone());
    let messages = mixed_messages(10);
    for message in &messages {
        sink.push(message.clone()).await.unwrap();
    }
    // The store breaks after recovery listed it, before the batch is written.
    let blocker = break_data_directory(&directory);
    let flushing = tokio::spawn(async move {
        let outcome = sink.flush_all().await;
        (sink, outcome)
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    abort.request();
    let (mut sink, outcome) = flushing.await.unwrap();
    assert!(matches!(outcome, Err(SinkError::Abandoned { .. })), "{outcome:?}");
    assert_eq!(sink.committed()[&0], 0, "nothing was committed");
    assert!(matches!(sink.push(messages[0].clone()).await, Err(SinkError::Stopped)));
    // The DLQ object was written, the data object never was: an orphan for the next run.
    assert_eq!(storage.list("dlq").await.unwrap().len(), 1);
    std::fs::remove_file(&blocker).unwrap();
    let replay = run_sink(&storage, &messages, 1_000, true).await;
    assert_eq!(replay.orphans_deleted, 1);
    assert_stored_exactly(&storage, &messages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_released_and_recovered_with_writes_under_way_resumes_past_them() {
    let (_directory, storage) = temp_storage();
    let messages = mixed_messages(40);
    let limits = SinkSettings { flushes_in_flight: 3, ..settings(5, 1 << 30, Duration::from_secs(3600)) };
    let mut sink = Sink::new(storage.clone(), limits);
    for message in &messages[..23] {
        sink.push(message.clone()).await.unwrap();
    }
    // Revoked with four batches handed to writes (some may still be running) and three messages
    // buffered: the buffer is dropped, the writes finish, and recovery waits for them.
    sink.release(0);
    assert_eq!(sink.stats().released, 3);
    assert_eq!(sink.recover(0).await.unwrap(), 20, "recovery sees every batch handed to a write");
    assert_eq!(sink.committed().get(&0), Some(&20));
    // Redelivered from the committed offset, as the next owner would read it.
    for message in &messages[20..] {
        sink.push(message.clone()).await.unwrap();
    }
    sink.flush_all().await.unwrap();
    assert_stored_exactly(&storage, &messages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_caller_backpressure_a_failing_store_never_blocks_a_push_and_a_cancelled_wait_loses_nothing() {
    let (directory, storage) = temp_storage();
    let messages = mixed_messages(30);
    let limits = SinkSettings { flushes_in_flight: 1, ..settings(5, 1 << 30, Duration::from_secs(3600)) };
    let mut sink = Sink::new(storage.clone(), limits).with_caller_backpressure();
    sink.recover(0).await.unwrap();
    let blocker = break_data_directory(&directory);
    // Feed while there is room: two batches go to writes that keep failing, then there is none.
    let mut fed = 0;
    while sink.has_room().unwrap() {
        let push = tokio::time::timeout(Duration::from_secs(2), sink.push(messages[fed].clone()));
        push.await.expect("a push never waits for the store").unwrap();
        fed += 1;
    }
    assert_eq!(fed, 10, "flushes_in_flight + 1 full batches, then no room");
    // A wait given up (the Kafka driver's select! picks another branch) takes nothing away.
    for _ in 0..3 {
        assert!(tokio::time::timeout(Duration::from_millis(30), sink.wait_for_room()).await.is_err());
    }
    assert_eq!(sink.committed()[&0], 0);
    std::fs::remove_file(&blocker).unwrap();
    tokio::time::timeout(Duration::from_secs(10), sink.wait_for_room()).await.unwrap().unwrap();
    assert!(sink.metrics().store_retries.get() > 0);
    for message in &messages[fed..] {
        sink.push(message.clone()).await.unwrap();
        sink.wait_for_room().await.unwrap();
    }
    sink.flush_all().await.unwrap();
    assert_stored_exactly(&storage, &messages).await;
}
