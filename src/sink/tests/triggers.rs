//! Each flush trigger fires as specified, including the age timer on an idle partition.

use super::*;

#[tokio::test]
async fn flushes_when_a_batch_holds_max_records() {
    let (_directory, storage) = temp_storage();
    let mut sink = Sink::new(storage.clone(), settings(3, 1 << 30, Duration::from_secs(3600)));
    for offset in 0..7 {
        sink.push(message(0, offset, &valid_lines()[offset as usize])).await.unwrap();
    }
    assert_eq!(sink.stats().flushes, FlushCounts { records: 2, ..FlushCounts::default() });
    assert_eq!(sink.committed()[&0], 6);
    sink.flush_all().await.unwrap();
    assert_eq!(sink.stats().flushes, FlushCounts { records: 2, shutdown: 1, ..FlushCounts::default() });
    assert_eq!(sink.committed()[&0], 7);
    let objects = read_objects(&storage, ObjectKind::Data).await;
    assert_eq!(ranges(&objects), vec![(0, 0, 2), (0, 3, 5), (0, 6, 6)]);
    assert_eq!(read_objects(&storage, ObjectKind::Dlq).await.len(), 0);
}

#[tokio::test]
async fn flushes_when_a_batch_holds_max_bytes() {
    let (_directory, storage) = temp_storage();
    let lines = valid_lines();
    let two_lines = lines[0].len() + lines[1].len();
    let mut sink = Sink::new(storage.clone(), settings(1_000, two_lines, Duration::from_secs(3600)));
    for offset in 0..3 {
        sink.push(message(0, offset, &lines[offset as usize])).await.unwrap();
    }
    assert_eq!(sink.stats().flushes, FlushCounts { bytes: 1, ..FlushCounts::default() });
    let objects = read_objects(&storage, ObjectKind::Data).await;
    assert_eq!(ranges(&objects), vec![(0, 0, 1)]);
    assert_eq!(lines_of(&objects[0].1), lines[..2].to_vec());
}

#[tokio::test]
async fn flushes_batches_that_reach_max_age_on_the_timer() {
    let (_directory, storage) = temp_storage();
    let max_age = Duration::from_secs(30);
    let mut sink = Sink::new(storage.clone(), settings(1_000, 1 << 30, max_age));
    assert_eq!(sink.next_deadline(), None);
    let before = Instant::now();
    sink.push(message(0, 0, &valid_lines()[0])).await.unwrap();
    sink.push(message(5, 0, &valid_lines()[1])).await.unwrap();
    let deadline = sink.next_deadline().unwrap();
    assert!(deadline >= before + max_age && deadline <= Instant::now() + max_age);
    sink.flush_expired_at(deadline - Duration::from_millis(1)).await.unwrap();
    assert_eq!(sink.stats().batches, 0, "nothing is due before the deadline");
    // Both partitions are idle: no new message arrives, the timer alone flushes them.
    sink.flush_expired_at(deadline + Duration::from_secs(1)).await.unwrap();
    assert_eq!(sink.stats().flushes, FlushCounts { age: 2, ..FlushCounts::default() });
    assert_eq!(sink.next_deadline(), None);
    assert_eq!(ranges(&read_objects(&storage, ObjectKind::Data).await), vec![(0, 0, 0), (5, 0, 0)]);
}

#[tokio::test]
async fn an_idle_input_still_flushes_by_age_in_run_lines() {
    let (_directory, storage) = temp_storage();
    let mut sink = Sink::new(storage.clone(), settings(1_000, 1 << 30, Duration::from_millis(50)));
    let (mut writer, reader) = tokio::io::duplex(1 << 16);
    let stop = Shutdown::new();
    let shutdown = stop.clone();
    let driver = tokio::spawn(async move {
        let outcome = run_lines(tokio::io::BufReader::new(reader), &mut sink, &shutdown).await;
        (sink, outcome)
    });
    for line in &valid_lines()[..2] {
        writer.write_all(line).await.unwrap();
        writer.write_all(b"\n").await.unwrap();
    }
    // The writer stays open: no more input, no end of input. Only the timer can flush.
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while storage.list("data").await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the idle batch was never flushed");
    stop.request();
    let (sink, outcome) = driver.await.unwrap();
    outcome.unwrap();
    assert_eq!(sink.stats().flushes, FlushCounts { age: 1, ..FlushCounts::default() });
    assert_eq!(sink.committed()[&0], 2);
    drop(writer);
}

#[tokio::test]
async fn max_age_is_also_checked_as_messages_arrive() {
    let (_directory, storage) = temp_storage();
    let mut sink = Sink::new(storage, settings(1_000, 1 << 30, Duration::ZERO));
    sink.push(message(0, 0, &valid_lines()[0])).await.unwrap();
    assert_eq!(sink.stats().flushes.age, 1);
}
