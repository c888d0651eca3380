//! Reading event ids out of stored objects, cheaply.
//!
//! A data line is a validated record: a probe struct with only `event_id`, `event_type` and
//! `label.kind` reads it and skips the rest. A DLQ line is a [`DlqEntry`]; its `raw` message is
//! probed the same way, and when it is not a readable record (cut, malformed) a plain search for
//! `"event_id":"…"` still finds the id, so a rejected record counts as present. Entries whose id
//! cannot be read at all (non-UTF-8 messages, garbage) are counted as unidentified.

use std::borrow::Cow;

use serde::Deserialize;

use crate::records::{AnomalyKind, EventId, EventType};
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
