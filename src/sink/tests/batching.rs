//! The property: batching never loses, duplicates or reorders records, whatever the limits.

use super::*;
use proptest::prelude::*;

const INVALID: [&[u8]; 6] = [b"", b"{", b"[1]", b"\xff\xfe", b"{\"event_type\":\"x\"}", b"42"];

#[derive(Debug, Clone)]
enum Action {
    Valid {
        partition: u32,
        line: usize,
    },
    Invalid {
        partition: u32,
        which: usize,
    },
    /// Deliver again a message already delivered, `back` positions before the newest.
    Replay {
        partition: u32,
        back: u64,
    },
    /// The age timer fires.
    Expire,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (0..3u32, 0..200usize).prop_map(|(partition, line)| Action::Valid { partition, line }),
        3 => (0..3u32, 0..INVALID.len()).prop_map(|(partition, which)| Action::Invalid { partition, which }),
        1 => (0..3u32, 0..50u64).prop_map(|(partition, back)| Action::Replay { partition, back }),
        1 => Just(Action::Expire),
    ]
}

/// What each partition was sent, in offset order.
#[derive(Default)]
struct Sent {
    payloads: [Vec<Vec<u8>>; 3],
    replays: u64,
}

async fn apply(sink: &mut Sink, actions: &[Action], max_age: Duration) -> Sent {
    let mut sent = Sent::default();
    for action in actions {
        let (partition, payload) = match action {
            Action::Valid { partition, line } => (*partition, valid_lines()[*line].clone()),
            Action::Invalid { partition, which } => (*partition, INVALID[*which].to_vec()),
            Action::Replay { partition, back } => {
                let delivered = &sent.payloads[*partition as usize];
                if delivered.is_empty() {
                    continue;
                }
                let offset = delivered.len() as u64 - 1 - back % delivered.len() as u64;
                sink.push(message(*partition, offset, &delivered[offset as usize])).await.unwrap();
                sent.replays += 1;
                continue;
            }
            Action::Expire => {
                sink.flush_expired_at(Instant::now() + max_age).await.unwrap();
                continue;
            }
        };
        let offset = sent.payloads[partition as usize].len() as u64;
        sink.push(message(partition, offset, &payload)).await.unwrap();
        sent.payloads[partition as usize].push(payload);
    }
    sink.flush_all().await.unwrap();
    sent
}

async fn check(storage: &Storage, sink: &Sink, sent: &Sent, max_records: u64, max_bytes: usize) -> Result<(), TestCaseError> {
    let data = read_objects(storage, ObjectKind::Data).await;
    let dlq = read_objects(storage, ObjectKind::Dlq).await;
    for partition in 0..3u32 {
        let payloads = &sent.payloads[partition as usize];
        let objects: Vec<_> = data.iter().filter(|(key, _)| key.partition == partition).collect();
        let mut next = 0;
        for (key, body) in &objects {
            prop_assert_eq!(key.first, next, "ranges tile the offsets");
            prop_assert!(key.last - key.first < max_records);
            let dead = dlq.iter().find(|(dead_key, _)| dead_key.partition == partition && dead_key.first == key.first);
            let dead_body = dead.map_or(&[][..], |(_, dead_body)| dead_body.as_slice());
            let lines: Vec<Vec<u8>> = lines_of(body).into_iter().chain(lines_of(dead_body)).collect();
            prop_assert_eq!(lines.len() as u64, key.last - key.first + 1, "every offset is in the batch once");
            let raw: Vec<&Vec<u8>> = payloads[key.first as usize..=key.last as usize].iter().collect();
            let raw_bytes: usize = raw.iter().map(|payload| payload.len()).sum();
            let largest = raw.iter().map(|payload| payload.len()).max().unwrap_or(0);
            prop_assert!(raw_bytes < max_bytes + largest, "a batch stops growing at max bytes");
            next = key.last + 1;
        }
        prop_assert_eq!(next, payloads.len() as u64);
        prop_assert_eq!(sink.committed().get(&partition).copied().unwrap_or(0), payloads.len() as u64);
        let landed: Vec<Vec<u8>> = objects.iter().flat_map(|(_, body)| lines_of(body)).collect();
        let valid: Vec<Vec<u8>> = payloads.iter().filter(|payload| crate::records::validate(payload).is_ok()).cloned().collect();
        prop_assert_eq!(landed, valid, "valid records land once each, in order");
        let dead: Vec<_> = dlq.iter().filter(|(key, _)| key.partition == partition).cloned().collect();
        let entries: Vec<(u64, Vec<u8>, String)> =
            dlq_entries(&dead).into_iter().map(|entry| (entry.offset, entry.payload().unwrap(), entry.reason.into_owned())).collect();
        let invalid: Vec<(u64, Vec<u8>, String)> = payloads
            .iter()
            .enumerate()
            .filter_map(|(offset, payload)| {
                crate::records::validate(payload)
                    .err()
                    .map(|rejection| (offset as u64, payload.clone(), rejection.reason.as_str().to_owned()))
            })
            .collect();
        prop_assert_eq!(entries, invalid, "invalid records land in the DLQ once each, in order");
    }
    prop_assert_eq!(sink.stats().skipped_replayed, sent.replays);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn batching_never_loses_duplicates_or_reorders(
        actions in proptest::collection::vec(action(), 0..90),
        max_records in 1u64..12,
        max_bytes in 1usize..5_000,
        codec in 0usize..3,
        flushes_in_flight in 0usize..4,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let (_directory, storage) = temp_storage();
            let max_age = Duration::from_secs(3600);
            let limits = SinkSettings { compression: Compression::ALL[codec], flushes_in_flight, ..settings(max_records, max_bytes, max_age) };
            let mut sink = Sink::new(storage.clone(), limits);
            let sent = apply(&mut sink, &actions, max_age).await;
            check(&storage, &sink, &sent, max_records, max_bytes).await
        })?;
    }
}
