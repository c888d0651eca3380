//! The validator's fast path (`records::parse_canonical`) against serde_json, the parser it stands
//! in for: every generated record of every kind and form must take the fast path and give
//! serde_json's value, and no mutation of one may be accepted by the fast path unless serde_json
//! reads it as the same value. `canonical_parse_agrees_with_serde_json` is the test that
//! `src/records/canonical.rs` names.

use std::sync::OnceLock;

use netchaos::chaos::Difficulty;
use netchaos::records::{self, Firewall, PerKind, Record, VpcFlow};
use proptest::prelude::*;

use crate::common::{chaos, run, settings};

/// Generated lines with every kind, in every form, with look-alikes: flows and firewall
/// records, normal and labelled.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut lines = Vec::new();
        for (seed, difficulty) in [(1u64, Difficulty::Overt), (2, Difficulty::Subtle), (3, Difficulty::Mixed)] {
            let mut chaos = chaos(0.01, 0.02, 0.005, 0.01);
            chaos.per_hour = PerKind::from_fn(|_| 8.0);
            chaos.difficulty = PerKind::from_fn(|_| difficulty);
            chaos.lookalikes = true;
            let mut settings = settings(seed, 2, 0, chaos);
            settings.count = None;
            settings.eps = 6.0;
            settings.duration = Some(std::time::Duration::from_secs(3_600));
            settings.plan = netchaos::generator::RunPlan { speed: netchaos::generator::Speed::Max, ..Default::default() };
            let (sink, _) = run(&settings);
            lines.extend(sink.lines().map(<[u8]>::to_vec));
        }
        lines
    })
}

/// What serde_json reads `text` as, through the record types' own derives.
/// (Each kind's `event_type` takes only its own name, so at most one of the two reads it.)
fn serde_record(text: &str) -> Option<Record<'_>> {
    serde_json::from_str::<VpcFlow<'_>>(text)
        .ok()
        .map(Record::VpcFlow)
        .or_else(|| serde_json::from_str::<Firewall<'_>>(text).ok().map(Record::Firewall))
}

/// The fast path declines `text`, or serde_json reads it as the same record.
fn agrees(text: &str) -> Result<bool, TestCaseError> {
    let Some(fast) = records::parse_canonical(text.as_bytes()) else { return Ok(false) };
    let slow = serde_record(text);
    prop_assert!(slow.as_ref() == Some(&fast), "the fast path accepted what serde_json reads as {:?}:\n{}", slow, text);
    Ok(true)
}

#[test]
fn every_generated_record_takes_the_fast_path_as_serde_json_reads_it() {
    let corpus = corpus();
    let (mut flows, mut firewalls, mut labelled) = (0, 0, 0);
    for line in corpus {
        let text = std::str::from_utf8(line).expect("UTF-8");
        let fast = records::parse_canonical(text.as_bytes()).unwrap_or_else(|| panic!("not in the canonical form: {text}"));
        assert_eq!(serde_record(text).as_ref(), Some(&fast), "{text}");
        match &fast {
            Record::VpcFlow(_) => flows += 1,
            Record::Firewall(_) => firewalls += 1,
        }
        labelled += usize::from(fast.label().is_some());
    }
    assert!(flows > 1_000 && firewalls > 100 && labelled > 100, "{flows} flows, {firewalls} firewall records, {labelled} labelled");
}

/// Values put in place of a field's value: other numbers (at and past each integer width, signs,
/// leading zeros, fractions, exponents), strings with escapes, other enum spellings, addresses,
/// other JSON types, padding.
const VALUES: &[&str] = &[
    "null",
    "0",
    "00",
    "01",
    "-0",
    "-1",
    "1",
    "5",
    "6",
    "17",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1.0",
    "1e2",
    "1E2",
    "-",
    "\"\"",
    "\"x\"",
    "\"5\"",
    "\"ACCEPT\"",
    "\"accept\"",
    "\"REJECT\"",
    "\"OK\"",
    "\"NODATA\"",
    "\"IPv4\"",
    "\"EFA\"",
    "\"ingress\"",
    "\"inbound\"",
    "\"UDP\"",
    "\"dns\"",
    "\"aged-out\"",
    "\"S3\"",
    "\"10.0.0.1\"",
    "\"010.0.0.1\"",
    "\"10.0.0.256\"",
    "\"::1\"",
    "\"2001:db8::1\"",
    "\"1a4c35a9e6b18e2a-0-1\"",
    "\"1A4C35A9E6B18E2A-0-1\"",
    "\"1a4c35a9e6b18e2a-01-1\"",
    "\"2026-12-06T16:36:17.000Z\"",
    "\"2026-12-06T16:36:17Z\"",
    "\"2026-02-30T00:00:00.000Z\"",
    "\"a\\u0041\"",
    "\"a\\\"b\"",
    "\"tab\tin\"",
    "\"ünï\"",
    "true",
    "false",
    "[]",
    "{}",
    " 1",
    "1 ",
    "{\"kind\":\"port_scan\",\"episode_id\":\"e1\"}",
    "{\"kind\":\"nope\",\"episode_id\":\"e1\"}",
    "{\"episode_id\":\"e1\",\"kind\":\"port_scan\"}",
    "{\"kind\":\"port_scan\",\"episode_id\":\"e1\",\"x\":1}",
    "{\"kind\":\"port_scan\"}",
];

/// Bytes put into the text at random places (`0xc3` and `0xff` can make it invalid UTF-8).
const BYTES: &[u8] = b"0123456789-+.eE\"\\,:{}[] \t\nnulx\x01\x7f\xc3\xa9\xff";

/// Where each top-level value starts and ends, in a compact object whose strings hold no `"`.
fn value_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 1;
    while at < text.len() {
        // `"key":`
        let Some(colon) = text[at..].iter().position(|&byte| byte == b':') else { break };
        let start = at + colon + 1;
        let mut end = start;
        let mut depth = 0i32;
        let mut in_string = false;
        while end < text.len() {
            match text[end] {
                b'"' => in_string = !in_string,
                b'{' | b'[' if !in_string => depth += 1,
                b'}' | b']' if !in_string && depth > 0 => depth -= 1,
                b',' | b'}' if !in_string && depth == 0 => break,
                _ => {}
            }
            end += 1;
        }
        spans.push((start, end));
        at = end + 1;
    }
    spans
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value of the field at this index (modulo their number) with `VALUES[i]`, or
    /// with a random integer.
    Value(usize, usize),
    Integer(usize, i128),
    /// Swap the key-value pairs at two indexes.
    Swap(usize, usize),
    /// Repeat a key-value pair.
    Repeat(usize),
    /// Overwrite, insert or delete one byte at a position (modulo the length).
    Overwrite(usize, usize),
    Insert(usize, usize),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0..VALUES.len()).prop_map(|(field, value)| Mutation::Value(field, value)),
        2 => (any::<usize>(), any::<i128>()).prop_map(|(field, value)| Mutation::Integer(field, value)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => any::<usize>().prop_map(Mutation::Repeat),
        2 => (any::<usize>(), 0..BYTES.len()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        2 => (any::<usize>(), 0..BYTES.len()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        1 => any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn apply(text: &mut Vec<u8>, mutation: &Mutation) {
    let spans = value_spans(text);
    if spans.is_empty() || text.is_empty() {
        return;
    }
    // The pair at index `i` runs from the byte after the comma (or brace) before its key to its
    // value's end.
    let pair = |index: usize| -> (usize, usize) {
        let index = index % spans.len();
        let start = if index == 0 { 1 } else { spans[index - 1].1 + 1 };
        (start, spans[index].1)
    };
    match *mutation {
        Mutation::Value(field, value) => {
            let (start, end) = spans[field % spans.len()];
            text.splice(start..end, VALUES[value].bytes());
        }
        Mutation::Integer(field, value) => {
            let (start, end) = spans[field % spans.len()];
            // Mostly small magnitudes, where the fields' ranges end.
            let value = if value % 3 == 0 { value } else { value % 70_000 };
            text.splice(start..end, value.to_string().into_bytes());
        }
        Mutation::Swap(a, b) => {
            let (a, b) = (a % spans.len(), b % spans.len());
            let (first, second) = (pair(a.min(b)), pair(a.max(b)));
            if first != second {
                let mut swapped = text[..first.0].to_vec();
                swapped.extend_from_slice(&text[second.0..second.1]);
                swapped.extend_from_slice(&text[first.1..second.0]);
                swapped.extend_from_slice(&text[first.0..first.1]);
                swapped.extend_from_slice(&text[second.1..]);
                *text = swapped;
            }
        }
        Mutation::Repeat(index) => {
            let (start, end) = pair(index);
            let mut copy = text[start..end].to_vec();
            copy.push(b',');
            text.splice(start..start, copy);
        }
        Mutation::Overwrite(at, byte) => {
            let len = text.len();
            text[at % len] = BYTES[byte];
        }
        Mutation::Insert(at, byte) => {
            let len = text.len();
            text.insert(at % (len + 1), BYTES[byte]);
        }
        Mutation::Delete(at) => {
            let len = text.len();
            text.remove(at % len);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6_000, ..ProptestConfig::default() })]

    #[test]
    fn canonical_parse_agrees_with_serde_json(index in any::<usize>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let corpus = corpus();
        let mut text = corpus[index % corpus.len()].clone();
        for mutation in &mutations {
            apply(&mut text, mutation);
        }
        // The fast path reads bytes; it must decline what is not UTF-8, which the validator
        // then names.
        let Ok(text) = std::str::from_utf8(&text) else {
            prop_assert!(records::parse_canonical(&text).is_none());
            let rejection = records::validate(&text).map(|_| ()).map_err(|rejection| rejection.reason);
            prop_assert!(rejection == Err(records::RejectReason::NotUtf8) || rejection == Err(records::RejectReason::TooLarge));
            return Ok(());
        };
        agrees(text)?;
        // And the whole validator gives what serde_json and the rules give.
        let expected = serde_record(text).map(|record| records::validate_record(&record).map(|()| record));
        match (records::validate(text.as_bytes()), expected) {
            (Ok(record), Some(Ok(expected))) => prop_assert_eq!(record, expected),
            (Err(rejection), Some(Err(expected))) => prop_assert_eq!(rejection, expected),
            (Err(_), None) => {}
            (got, expected) => prop_assert!(false, "validate gave {:?}, serde_json and the rules {:?}:\n{}", got, expected, text),
        }
    }
}

/// The mutations above are not all declined: many give another valid record (another port,
/// another enum value) that the fast path must read as serde_json does, so the property tests
/// acceptance as well as refusal.
#[test]
fn mutations_are_accepted_as_well_as_declined() {
    let corpus = corpus();
    let (mut accepted, mut declined) = (0, 0);
    for (index, line) in corpus.iter().enumerate().take(400) {
        for (value, _) in VALUES.iter().enumerate() {
            let mut text = line.clone();
            apply(&mut text, &Mutation::Value(index * 7 + value, value));
            let Ok(text) = std::str::from_utf8(&text) else { continue };
            if agrees(text).expect("agrees") { accepted += 1 } else { declined += 1 }
        }
    }
    assert!(accepted > 1_000 && declined > 1_000, "{accepted} accepted, {declined} declined");
}
