//! Reading event ids out of stored objects, cheaply.
//!
//! A data line is a validated record, almost always in netchaos's own form: the validator's fast
//! path ([`parse_canonical`]) reads it, allocation-free and without serde_json, and its id, type and
//! label are taken from the record. Anything that path declines (another writer's key order,
//! escapes, a kind this version does not know) is read by a probe struct with only `event_id`,
//! `event_type` and `label.kind`, which skips the rest. The fast path only takes lines whose whole
//! value serde_json reads the same (`canonical_parse_agrees_with_serde_json` attacks that), so
//! both give the same `Found`; `the_fast_probe_finds_what_serde_json_finds` checks it on generated
//! runs. A DLQ line is a [`DlqEntry`]; its `raw` message is
//! probed the same way, and when it is not a readable record (cut, malformed) a plain search for
//! `"event_id":"…"` still finds the id, so a rejected record counts as present. Entries whose id
//! cannot be read at all (non-UTF-8 messages, garbage) are counted as unidentified.

use std::borrow::Cow;

use serde::Deserialize;

use crate::records::{AnomalyKind, EventId, EventType, Record, parse_canonical};
use crate::sink::dlq::DlqEntry;

use super::expected::parse_run_id;

/// Event type slots: the two kinds, then "unknown".
pub(super) const TYPE_NAMES: [&str; 3] = ["vpc_flow", "firewall", "unknown"];
const UNKNOWN_TYPE: usize = 2;

/// The label of a line: normal or an anomaly kind, or unknown (unreadable, or a kind this version
/// does not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LabelSlot {
    /// `None` for normal traffic.
    Known(Option<AnomalyKind>),
    Unknown,
}

/// One id found in an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) run: u64,
    pub(super) worker: u32,
    pub(super) seq: u64,
    /// Index into [`TYPE_NAMES`].
    pub(super) event_type: usize,
    pub(super) label: LabelSlot,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    label: Option<LabelProbe<'a>>,
}

#[derive(Deserialize)]
struct LabelProbe<'a> {
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
}

/// The id of a data line; `None` when it has no readable event id.
pub(super) fn data_line(line: &[u8]) -> Option<Found> {
    probe(line)
}

/// The id of the message in a DLQ line; `None` when it has no readable event id.
pub(super) fn dlq_line(line: &[u8]) -> Option<Found> {
    let raw = serde_json::from_slice::<DlqEntry<'_>>(line).ok().and_then(|entry| entry.raw)?;
    probe(raw.as_bytes()).or_else(|| search_event_id(&raw))
}

fn probe(line: &[u8]) -> Option<Found> {
    match parse_canonical(line) {
        Some(record) => found_in(&record),
        None => probe_json(line),
    }
}

/// The id, type and label of a record read whole.
fn found_in(record: &Record<'_>) -> Option<Found> {
    let id = record.event_id();
    Some(Found {
        run: parse_run_id(&id.run_id)?,
        worker: id.worker,
        seq: id.seq,
        event_type: record.event_type().index(),
        label: LabelSlot::Known(record.label().map(|label| label.kind)),
    })
}

/// The probe of any JSON text: only the three fields are read.
fn probe_json(line: &[u8]) -> Option<Found> {
    let probe: Probe<'_> = serde_json::from_slice(line).ok()?;
    let mut found = found_id(probe.event_id.as_deref()?)?;
    found.event_type = match probe.event_type.as_deref() {
        Some("vpc_flow") => EventType::VpcFlow.index(),
        Some("firewall") => EventType::Firewall.index(),
        _ => UNKNOWN_TYPE,
    };
    found.label = match probe.label {
        None => LabelSlot::Known(None),
        // By name, so that a kind this version does not know counts as unknown, not as an error.
        Some(LabelProbe { kind: Some(kind) }) => {
            AnomalyKind::from_name(&kind).map_or(LabelSlot::Unknown, |kind| LabelSlot::Known(Some(kind)))
        }
        Some(LabelProbe { kind: None }) => LabelSlot::Unknown,
    };
    Some(found)
}

/// Finds `"event_id": "…"` in text that is not a readable record.
fn search_event_id(text: &str) -> Option<Found> {
    let (_, after_key) = text.split_once("\"event_id\"")?;
    let value = after_key.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let (id, _) = value.split_once('"')?;
    found_id(id)
}

fn found_id(text: &str) -> Option<Found> {
    let id = EventId::parse(text)?;
    Some(Found { run: parse_run_id(&id.run_id)?, worker: id.worker, seq: id.seq, event_type: UNKNOWN_TYPE, label: LabelSlot::Unknown })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{RejectReason, Rejection};

    #[test]
    fn type_slots_follow_the_event_types() {
        assert_eq!(TYPE_NAMES[EventType::VpcFlow.index()], "vpc_flow");
        assert_eq!(TYPE_NAMES[EventType::Firewall.index()], "firewall");
    }

    #[test]
    fn the_fast_probe_finds_what_serde_json_finds() {
        let run = crate::sink::test_support::generate(7, 3, 3_000);
        let mut labelled = 0;
        for line in &run.lines {
            let record = parse_canonical(line).expect("a generated line takes the fast path");
            let found = found_in(&record);
            assert!(found.is_some());
            assert_eq!(found, probe_json(line), "{}", String::from_utf8_lossy(line));
            labelled += usize::from(record.label().is_some());
        }
        assert!(labelled > 0, "the run has labelled records");
        // A line the fast path declines (a space after a colon) is still read, by serde_json.
        let spaced = String::from_utf8(run.lines[0].clone()).unwrap().replacen("\"event_id\":", "\"event_id\": ", 1);
        assert!(parse_canonical(spaced.as_bytes()).is_none());
        assert_eq!(probe(spaced.as_bytes()), probe_json(&run.lines[0]));
    }

    #[test]
    fn reads_ids_types_and_labels_of_data_lines() {
        let body = b"{\"event_type\":\"firewall\",\"event_id\":\"00000000000000ff-2-7\",\"x\":[1,{}],\"label\":{\"kind\":\"port_scan\",\"episode_id\":\"e\"}}\n\
{\"event_type\":\"vpc_flow\",\"event_id\":\"00000000000000ff-0-0\",\"label\":null}\nnot json\n";
        let found: Vec<Option<Found>> = body.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(data_line).collect();
        assert_eq!(found.iter().filter(|found| found.is_none()).count(), 1);
        assert_eq!(
            found.into_iter().flatten().collect::<Vec<_>>(),
            vec![
                Found { run: 255, worker: 2, seq: 7, event_type: 1, label: LabelSlot::Known(Some(AnomalyKind::PortScan)) },
                Found { run: 255, worker: 0, seq: 0, event_type: 0, label: LabelSlot::Known(None) },
            ]
        );
    }

    #[test]
    fn reads_ids_of_rejected_messages_even_when_malformed() {
        let rejection = Rejection { reason: RejectReason::InvalidJson, field: None, detail: "cut".into() };
        let mut lines = Vec::new();
        for raw in [
            &b"{\"event_type\":\"vpc_flow\",\"event_id\":\"00000000000000ff-1-3\",\"start\":"[..],
            b"{\"event_id\" : \"00000000000000ff-1-4\", oops",
            b"\xff\xfe",
            b"[]",
        ] {
            let mut line = Vec::new();
            DlqEntry::new(&rejection, "s", 0, 0, raw).write_line(&mut line);
            line.pop();
            lines.push(line);
        }
        let found: Vec<Option<Found>> = lines.iter().map(|line| dlq_line(line)).collect();
        assert_eq!(found.iter().flatten().map(|found| (found.worker, found.seq)).collect::<Vec<_>>(), vec![(1, 3), (1, 4)]);
        assert_eq!(found.iter().filter(|found| found.is_none()).count(), 2);
    }
}
