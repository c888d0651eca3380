//! Arbitrary bytes into the validator, the sink's decoder of every line and Kafka message.
//!
//! Beyond "never panics": a record it accepts is re-encoded by the generator's writer, which must
//! produce exactly what serde_json produces, and that encoding must be accepted again as the same
//! record (nothing the validator lets through is something netchaos could not write back).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netchaos_fuzz::records;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = records::validate(data) else { return };
    let mut encoded = Vec::new();
    records::write_record(&record, &mut encoded);
    let by_serde = serde_json::to_vec(&record).expect("an accepted record serializes");
    assert_eq!(encoded, by_serde, "the fast writer and serde_json disagree");
    let again = records::validate(&encoded).expect("a re-encoded accepted record is accepted again");
    assert_eq!(again, record, "re-encoding changed the record");
});
