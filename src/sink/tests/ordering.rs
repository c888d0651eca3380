//! A partition's objects become visible in flush order, whatever order their writes finish in;
//! a newer writer fences an older one; recovery resumes at the first hole and deletes what lies
//! past it. Over an in-memory store whose writes of chosen keys are held until released.

use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use super::*;

/// An in-memory store that holds every PUT whose key contains `held` until [`Gate::open`].
#[derive(Debug)]
struct Gated {
    inner: InMemory,
    held: String,
    gate: Arc<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    open: Mutex<bool>,
    opened: tokio::sync::Notify,
    /// Keys whose PUT was asked for, in order.
    asked: Mutex<Vec<String>>,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_waiters();
    }
}

impl std::fmt::Display for Gated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gated({})", self.held)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Gated {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.gate.asked.lock().unwrap().push(location.to_string());
        if location.as_ref().contains(&self.held) {
            loop {
                let opened = self.gate.opened.notified();
                if *self.gate.open.lock().unwrap() {
                    break;
                }
                opened.await;
            }
        }
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        self.inner.delete(location).await
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }
    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

fn gated(held: &str) -> (Storage, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let store = Gated { inner: InMemory::new(), held: held.to_owned(), gate: gate.clone() };
    (Storage::new(Arc::new(store), "", "memory://gated"), gate)
}

fn valid_messages(partition: u32, count: u64) -> Vec<SinkMessage> {
    (0..count).map(|offset| message(partition, offset, &valid_lines()[offset as usize])).collect()
}

async fn data_ranges(storage: &Storage) -> Vec<(u32, u64, u64)> {
    ranges(&read_objects(storage, ObjectKind::Data).await)
}

#[tokio::test]
async fn a_later_batch_is_never_visible_before_an_earlier_one() {
    // Batch 0..=9 is held in the store; batches 10..=19 and 20..=29 are compressed meanwhile.
    let (storage, gate) = gated("-00000000000000000000-00000000000000000009-");
    let mut sink = Sink::new(storage.clone(), SinkSettings { flushes_in_flight: 4, ..settings(10, 1 << 30, Duration::from_secs(3600)) });
    for message in valid_messages(0, 30) {
        sink.push(message).await.unwrap();
    }
    sink.flush_open().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(data_ranges(&storage).await, vec![], "nothing of the partition is visible while its first batch is held");
    let asked = gate.asked.lock().unwrap().clone();
    assert_eq!(asked.iter().filter(|key| key.starts_with("data/")).count(), 1, "only the held batch asked to be stored: {asked:?}");
    assert_eq!(sink.committed().get(&0), Some(&0));
    gate.open();
    sink.flush_all().await.unwrap();
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 19), (0, 20, 29)]);
    let data_puts: Vec<String> = gate.asked.lock().unwrap().iter().filter(|key| key.starts_with("data/")).cloned().collect();
    let mut sorted = data_puts.clone();
    sorted.sort_by_key(|key| keys::parse_key(key).unwrap().first);
    assert_eq!(data_puts, sorted, "data objects were stored in flush order");
}

#[tokio::test]
async fn other_partitions_do_not_wait_for_a_held_one() {
    let (storage, gate) = gated("part-00001-00000000000000000000-");
    let mut sink = Sink::new(storage.clone(), SinkSettings { flushes_in_flight: 4, ..settings(10, 1 << 30, Duration::from_secs(3600)) });
    for offset in 0..20 {
        for partition in [0, 1] {
            sink.push(message(partition, offset, &valid_lines()[offset as usize])).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 19)]);
    gate.open();
    sink.flush_all().await.unwrap();
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 19), (1, 0, 9), (1, 10, 19)]);
}

#[tokio::test]
async fn a_failed_write_stores_nothing_after_it_and_the_restart_resumes_at_it() {
    let (directory, storage) = temp_storage();
    let messages = valid_messages(0, 40);
    let abort = Shutdown::new();
    let mut sink = Sink::new(storage.clone(), SinkSettings { flushes_in_flight: 3, ..settings(10, 1 << 30, Duration::from_secs(3600)) })
        .with_abort_on(abort.clone());
    for message in &messages[..10] {
        sink.push(message.clone()).await.unwrap();
    }
    sink.wait_for_idle().await.unwrap();
    // The store breaks: batches 10.. are retried until the abort (a dangling link, which a retry
    // can outlive; a file there would be given up at once).
    let data = directory.path().join("data");
    std::fs::rename(&data, directory.path().join("data-away")).unwrap();
    std::os::unix::fs::symlink(directory.path().join("missing/data"), &data).unwrap();
    for message in &messages[10..] {
        sink.push(message.clone()).await.unwrap();
    }
    sink.flush_open().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    abort.request();
    assert!(sink.flush_all().await.is_err());
    std::fs::remove_file(&data).unwrap();
    std::fs::rename(directory.path().join("data-away"), &data).unwrap();
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9)]);
    let mut restarted = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    assert_eq!(restarted.recover(0).await.unwrap(), 10);
    for message in &messages {
        restarted.push(message.clone()).await.unwrap();
    }
    restarted.flush_all().await.unwrap();
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 19), (0, 20, 29), (0, 30, 39)]);
}

#[tokio::test]
async fn recovery_resumes_at_the_first_hole_and_deletes_what_lies_past_it() {
    let (_directory, storage) = temp_storage();
    let messages = valid_messages(0, 40);
    let mut sink = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    for message in &messages {
        sink.push(message.clone()).await.unwrap();
    }
    sink.flush_all().await.unwrap();
    // Damage: batch 10..=19 is gone (a later batch landed before it, then a crash).
    let (hole, _) = storage.list("data").await.unwrap().into_iter().find(|(key, _)| keys::parse_key(key).unwrap().first == 10).unwrap();
    storage.delete(&hole).await.unwrap();
    let mut restarted = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    assert_eq!(restarted.recover(0).await.unwrap(), 10, "the resume offset is the hole, not max(last) + 1");
    assert_eq!(restarted.stats().dead_deleted, 2);
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9)], "what lay past the hole is gone before anything new is written");
    let quarantined = storage.list(keys::QUARANTINE_ROOT).await.unwrap();
    assert_eq!(quarantined.len(), 2, "moved aside, not destroyed: {quarantined:?}");
    for message in &messages {
        restarted.push(message.clone()).await.unwrap();
    }
    restarted.flush_all().await.unwrap();
    assert_eq!(restarted.stats().skipped_replayed, 10);
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 19), (0, 20, 29), (0, 30, 39)]);
}

#[tokio::test]
async fn a_sink_whose_partition_was_taken_over_stops_writing_it() {
    let (_directory, storage) = temp_storage();
    let messages = valid_messages(0, 30);
    let mut old = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    for message in &messages[..10] {
        old.push(message.clone()).await.unwrap();
    }
    old.wait_for_idle().await.unwrap();
    // A second writer takes the partition over (it recovers at 10 and takes epoch 2).
    let mut new = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    assert_eq!(new.recover(0).await.unwrap(), 10);
    let mut outcome = Ok(());
    for message in &messages[10..20] {
        outcome = outcome.and(old.push(message.clone()).await);
    }
    let error = outcome.and(old.flush_all().await).unwrap_err();
    assert!(matches!(error, SinkError::Fenced { partition: 0, epoch: 1, newer: 2 }), "{error}");
    for message in &messages {
        new.push(message.clone()).await.unwrap();
    }
    new.flush_all().await.unwrap();
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 19), (0, 20, 29)]);
}

#[tokio::test]
async fn a_zombie_write_that_lands_after_the_takeover_is_void_and_deleted_by_the_next_recovery() {
    let (_directory, storage) = temp_storage();
    let messages = valid_messages(0, 30);
    let mut first = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    for message in &messages[..10] {
        first.push(message.clone()).await.unwrap();
    }
    first.flush_all().await.unwrap();
    let mut successor = Sink::new(storage.clone(), settings(15, 1 << 30, Duration::from_secs(3600)));
    assert_eq!(successor.recover(0).await.unwrap(), 10);
    for message in &messages {
        successor.push(message.clone()).await.unwrap();
    }
    successor.flush_all().await.unwrap();
    // The old writer (epoch 1) had passed its fence check when it stalled; its write lands now.
    let body = storage.get(&storage.list("data").await.unwrap()[0].0).await.unwrap();
    let zombie = keys::object_key(
        ObjectKind::Data,
        &SourceName::new("test"),
        Timestamp::now(),
        keys::FileName { partition: 0, first: 10, last: 19, epoch: 1, compression: Compression::Gzip },
    );
    storage.put(&zombie, body).await.unwrap();
    let mut next = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    assert_eq!(next.recover(0).await.unwrap(), 30);
    assert_eq!(next.stats().dead_deleted, 1);
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9), (0, 10, 24), (0, 25, 29)]);
}

#[tokio::test]
async fn a_write_that_lands_between_a_recovery_listing_and_its_fence_is_deleted_by_that_recovery() {
    // The successor's fence (epoch 2) is held in the store while the old writer's late object lands.
    let (storage, gate) = gated("fence/source=test/part-00000/e0000000002");
    let messages = valid_messages(0, 20);
    let mut first = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    for message in &messages[..10] {
        first.push(message.clone()).await.unwrap();
    }
    first.flush_all().await.unwrap();
    let successor = Sink::new(storage.clone(), settings(10, 1 << 30, Duration::from_secs(3600)));
    let recovering = tokio::spawn(async move {
        let mut successor = successor;
        let resumed = successor.recover(0).await.unwrap();
        (successor, resumed)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!recovering.is_finished(), "the successor's fence is held");
    // The old writer (epoch 1) stores its next batch now and finds no newer fence yet.
    let body = storage.get(&storage.list("data").await.unwrap()[0].0).await.unwrap();
    let late = keys::object_key(
        ObjectKind::Data,
        &SourceName::new("test"),
        Timestamp::now(),
        keys::FileName { partition: 0, first: 10, last: 19, epoch: 1, compression: Compression::Gzip },
    );
    storage.put(&late, body).await.unwrap();
    gate.open();
    let (successor, resumed) = recovering.await.unwrap();
    assert_eq!(resumed, 10);
    assert_eq!(successor.stats().dead_deleted, 1, "the second listing found the late object void");
    assert_eq!(data_ranges(&storage).await, vec![(0, 0, 9)]);
}
