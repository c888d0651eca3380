//! The bad-input catalogue: each kind of bad input lands in the DLQ with its reason while its
//! valid neighbours land in the data objects.

use super::*;

/// Every kind of bad input, each with the reason it must be rejected for.
fn bad_input_catalogue() -> Vec<(&'static str, Vec<u8>)> {
    let flow = valid_flow();
    let mutated = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut record = flow.clone();
        change(record.as_object_mut().unwrap());
        serde_json::to_vec(&record).unwrap()
    };
    let end = flow["end"].as_i64().unwrap();
    let mut padded = serde_json::to_vec(&flow).unwrap();
    padded.resize(MAX_RECORD_BYTES + 10, b' ');
    vec![
        ("invalid_json", b"{\"event_type\": \"vpc_flow\", oops}".to_vec()),
        ("not_utf8", b"{\"event_type\":\"vpc_flow\xff\"}".to_vec()),
        ("empty", Vec::new()),
        ("not_an_object", b"[1, 2, 3]".to_vec()),
        ("not_an_object", b"42".to_vec()),
        ("unknown_field", mutated(&|record| drop(record.insert("colour".into(), json!("red"))))),
        ("missing_field", mutated(&|record| drop(record.remove("vpc_id")))),
        ("wrong_type", mutated(&|record| drop(record.insert("packets".into(), json!("many"))))),
        ("out_of_range", mutated(&|record| drop(record.insert("dstport".into(), json!(70_000))))),
        ("malformed_address", mutated(&|record| drop(record.insert("srcaddr".into(), json!("10.0.0.300"))))),
        ("start_after_end", mutated(&|record| drop(record.insert("start".into(), json!(end + 1))))),
        ("unknown_enum_value", mutated(&|record| drop(record.insert("log_status".into(), json!("MAYBE"))))),
        ("too_large", padded),
        ("too_large", vec![b'x'; MAX_RECORD_BYTES * 5]),
        ("too_deep", format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes()),
    ]
}

#[tokio::test]
async fn routes_each_bad_input_to_the_dlq_with_its_reason_and_keeps_valid_neighbours() {
    let catalogue = bad_input_catalogue();
    let valid = valid_lines();
    // valid, bad, valid, bad, ..., valid: line 2k is valid, line 2k + 1 is the k-th bad input.
    let mut input = Vec::new();
    for (index, (_, bad)) in catalogue.iter().enumerate() {
        input.extend_from_slice(&valid[index]);
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(bad);
        input.push(b'\n');
    }
    input.extend_from_slice(&valid[catalogue.len()]);
    let (_directory, storage) = temp_storage();
    let mut sink = Sink::new(storage.clone(), settings(7, 1 << 30, Duration::from_secs(3600)));
    run_lines(tokio::io::BufReader::with_capacity(1000, input.as_slice()), &mut sink, &Shutdown::new()).await.unwrap();

    let data: Vec<Vec<u8>> = read_objects(&storage, ObjectKind::Data).await.iter().flat_map(|(_, body)| lines_of(body)).collect();
    assert_eq!(data, valid[..=catalogue.len()].to_vec(), "valid neighbours land byte for byte, in order");
    let entries = dlq_entries(&read_objects(&storage, ObjectKind::Dlq).await);
    assert_eq!(entries.len(), catalogue.len());
    for (index, ((reason, bad), entry)) in catalogue.iter().zip(&entries).enumerate() {
        assert_eq!(entry.reason, *reason, "input {index}: {}", entry.detail);
        assert_eq!((entry.partition, entry.offset, entry.source.as_ref()), (0, 2 * index as u64 + 1, "test"));
        let kept = entry.payload().unwrap();
        if bad.len() <= MAX_RECORD_BYTES + 1024 {
            assert_eq!(&kept, bad, "input {index} is kept whole");
        } else {
            assert!(
                bad.starts_with(&kept) && entry.detail.contains(&bad.len().to_string()),
                "a cut line keeps its head and says its length"
            );
        }
    }
    assert_eq!(entries[1].raw, None, "non-UTF-8 input is kept as base64");
    assert_eq!(sink.stats().records_invalid, catalogue.len() as u64);
    assert_eq!(sink.stats().invalid_by_reason["too_large"], 2);
    assert_eq!(sink.committed()[&0], 2 * catalogue.len() as u64 + 1);
}
