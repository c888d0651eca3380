//! A batch's valid records, written as pieces in a layout other than netchaos's own
//! ([`layout`](super::layout)), and the two netchaos objects that account for them: the *piece
//! table* (which pieces, how many rows each) and the *ground truth* (one line per valid record:
//! its event id, kind and label, and where it went), which is the batch's data object.
//!
//! The ground-truth lines keep what AWS's formats have no room for: the event id that `verify`
//! counts exactly once, and the label a detector is scored against. A line is
//! `{"event_id":…,"event_type":…,"label":…|null,"piece":i,"row":n}`: the record is row `n` (from
//! 0, after any header) of piece `i` of the table. A firewall session written as AWS Network
//! Firewall's events points at its first `netflow` event (its alert, if any, is in the alert
//! piece of the same window).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::formats::aws_flow;
use crate::formats::flow_parquet::FlowParquet;
use crate::formats::network_firewall;
use crate::formats::ocsf::{self, OcsfParquet};
use crate::records::{Firewall, Record, VpcFlow};

use super::compression::gzip_level;
use super::gzip;
use super::layout::{self, BatchName, FileFormat, Group, Layout, Output};

/// One object of a batch, ready to store.
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub(super) key: String,
    pub(super) body: Bytes,
}

/// What a piece table says of one piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// The piece's key, relative to the storage prefix.
    pub key: String,
    /// Data rows: lines after the header of a text piece, rows of a Parquet piece.
    pub rows: u64,
    /// The stored object's size.
    pub bytes: u64,
}

/// A batch's piece table, stored under `pieces/` before the pieces themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PieceTable {
    pub source: String,
    pub partition: u32,
    pub first: u64,
    pub last: u64,
    pub epoch: u64,
    /// Valid records of the batch (each is one ground-truth line).
    pub records: u64,
    pub pieces: Vec<TableEntry>,
}

impl PieceTable {
    /// Reads a stored table; `None` when the bytes are not one.
    pub fn parse(body: &[u8]) -> Option<PieceTable> {
        serde_json::from_slice(body).ok()
    }
}

/// What a piece holds while the batch is split.
enum Body {
    /// Text lines, with the header (if the format has one) already written.
    Lines {
        text: Vec<u8>,
        rows: u64,
    },
    Flows(FlowParquet),
    Ocsf(OcsfParquet),
}

impl Body {
    fn rows(&self) -> u64 {
        match self {
            Body::Lines { rows, .. } => *rows,
            Body::Flows(builder) => builder.len() as u64,
            Body::Ocsf(builder) => builder.len() as u64,
        }
    }
}

/// A batch's pieces as they fill, in order of their groups' first record.
pub(super) struct Pieces<'l> {
    layout: &'l Layout,
    index: BTreeMap<Group, usize>,
    bodies: Vec<(Group, Body)>,
    truth: Vec<u8>,
    records: u64,
}

impl std::fmt::Debug for Pieces<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces").field("pieces", &self.bodies.len()).field("records", &self.records).finish()
    }
}

/// A batch written as pieces: the objects and the two netchaos objects beside them.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) pieces: Vec<Piece>,
    /// The piece table, JSON.
    pub(super) table: Bytes,
    /// The ground-truth lines, uncompressed (they become the data object).
    pub(super) truth: Vec<u8>,
    /// Bytes of the pieces before compression.
    pub(super) raw_bytes: u64,
}

impl<'l> Pieces<'l> {
    pub(super) fn new(layout: &'l Layout) -> Self {
        Pieces { layout, index: BTreeMap::new(), bodies: Vec::new(), truth: Vec::new(), records: 0 }
    }

    /// Adds one valid record, whose JSON form is `payload`.
    pub(super) fn push(&mut self, payload: &[u8], record: &Record<'_>) {
        let (piece, row) = match record {
            Record::VpcFlow(flow) => self.push_flow(payload, flow),
            Record::Firewall(session) => self.push_firewall(payload, session),
        };
        self.write_truth(record, piece, row);
        self.records += 1;
    }

    fn push_flow(&mut self, payload: &[u8], flow: &VpcFlow<'_>) -> (usize, u64) {
        let layout = self.layout;
        let group = match layout.flows {
            Output::Json => Group::Json { event_type: "vpc_flow", day: layout::day_of(flow.end) },
            Output::Aws => Group::AwsFlow {
                account: flow.account_id.to_string(),
                region: flow.region.to_string(),
                flow_log_id: aws_flow::flow_log_id(&flow.vpc_id),
                window: layout::window_of(flow.end),
            },
            Output::Ocsf => {
                Group::Ocsf { account: flow.account_id.to_string(), region: flow.region.to_string(), day: layout::day_of(flow.end) }
            }
        };
        let (piece, body) = self.body(group);
        let row = body.rows();
        match body {
            Body::Lines { text, rows } => {
                match layout.flows {
                    Output::Json => push_json(payload, text),
                    Output::Aws => layout.fields.write_line(flow, text),
                    Output::Ocsf => ocsf::write_flow(flow, text),
                }
                *rows += 1;
            }
            Body::Flows(builder) => builder.push(flow),
            Body::Ocsf(builder) => builder.push_flow(flow),
        }
        (piece, row)
    }

    fn push_firewall(&mut self, payload: &[u8], session: &Firewall<'_>) -> (usize, u64) {
        let layout = self.layout;
        let seconds = session.timestamp.unix_seconds();
        let region = network_firewall::region_of(&session.availability_zone).to_owned();
        let account = layout.firewall_account.clone();
        let group = match layout.firewall {
            Output::Json => Group::Json { event_type: "firewall", day: layout::day_of(seconds) },
            Output::Aws => Group::Firewall {
                alert: false,
                account: account.clone(),
                region: region.clone(),
                firewall: layout::segment(&session.firewall_name),
                window: layout::window_of(seconds),
            },
            Output::Ocsf => Group::Ocsf { account: account.clone(), region: region.clone(), day: layout::day_of(seconds) },
        };
        let (piece, body) = self.body(group);
        let row = body.rows();
        match body {
            Body::Lines { text, rows } => match layout.firewall {
                Output::Json => {
                    push_json(payload, text);
                    *rows += 1;
                }
                Output::Aws => {
                    let before = text.len();
                    network_firewall::write_flow_events(session, text);
                    *rows += memchr::memchr_iter(b'\n', &text[before..]).count() as u64;
                }
                Output::Ocsf => {
                    ocsf::write_firewall(session, text);
                    *rows += 1;
                }
            },
            Body::Flows(_) => {}
            Body::Ocsf(builder) => builder.push_firewall(session),
        }
        if layout.firewall == Output::Aws {
            let mut alert = Vec::new();
            if network_firewall::write_alert_event(session, &mut alert) {
                let group = Group::Firewall {
                    alert: true,
                    account,
                    region,
                    firewall: layout::segment(&session.firewall_name),
                    window: layout::window_of(seconds),
                };
                if let (_, Body::Lines { text, rows }) = self.body(group) {
                    text.extend_from_slice(&alert);
                    *rows += 1;
                }
            }
        }
        (piece, row)
    }

    /// The piece of `group`, opened on its first record.
    fn body(&mut self, group: Group) -> (usize, &mut Body) {
        // Most records go to a piece already open: look it up without cloning the group's names.
        let index = match self.index.get(&group) {
            Some(index) => *index,
            None => {
                let index = self.bodies.len();
                self.index.insert(group.clone(), index);
                let body = self.open(&group);
                self.bodies.push((group, body));
                index
            }
        };
        (index, &mut self.bodies[index].1)
    }

    fn open(&self, group: &Group) -> Body {
        let parquet = self.layout.file_format == FileFormat::Parquet;
        match group {
            Group::AwsFlow { .. } if parquet => Body::Flows(FlowParquet::new(&self.layout.fields)),
            Group::AwsFlow { .. } => {
                let mut text = self.layout.fields.header().into_bytes();
                text.push(b'\n');
                Body::Lines { text, rows: 0 }
            }
            Group::Ocsf { .. } if parquet => Body::Ocsf(OcsfParquet::new()),
            Group::Ocsf { .. } | Group::Firewall { .. } | Group::Json { .. } => Body::Lines { text: Vec::new(), rows: 0 },
        }
    }

    fn write_truth(&mut self, record: &Record<'_>, piece: usize, row: u64) {
        #[derive(Serialize)]
        struct Truth<'r, 'a> {
            event_id: &'r crate::records::EventId<'a>,
            event_type: &'static str,
            label: Option<&'r crate::records::Label<'a>>,
            piece: usize,
            row: u64,
        }
        let line = Truth { event_id: record.event_id(), event_type: record.event_type().as_str(), label: record.label(), piece, row };
        // Serializing these plain fields into a Vec cannot fail.
        if serde_json::to_writer(&mut self.truth, &line).is_ok() {
            self.truth.push(b'\n');
        }
    }

    /// Compresses the pieces (gzip, as AWS writes them; Parquet pages are gzip inside) and names
    /// them after `batch`.
    pub(super) fn finish(self, batch: BatchName<'_>, level: Option<i32>) -> std::io::Result<Finished> {
        let mut pieces = Vec::with_capacity(self.bodies.len());
        let mut entries = Vec::with_capacity(self.bodies.len());
        let mut raw_bytes = 0;
        let gzip_level = gzip_level(level);
        for (group, body) in self.bodies {
            let rows = body.rows();
            let bytes = match body {
                Body::Lines { text, .. } => {
                    raw_bytes += text.len() as u64;
                    // One gzip member on one thread, as AWS delivers a log file (a batch's
                    // pieces are many and small beside the batch's own members).
                    gzip::compress(&text, gzip_level, usize::MAX, 1)?
                }
                Body::Flows(builder) => builder.finish().map_err(std::io::Error::other)?,
                Body::Ocsf(builder) => builder.finish().map_err(std::io::Error::other)?,
            };
            let key = layout::piece_key(self.layout, batch, &group);
            entries.push(TableEntry { key: key.clone(), rows, bytes: bytes.len() as u64 });
            pieces.push(Piece { key, body: Bytes::from(bytes) });
        }
        let table = PieceTable {
            source: batch.source.to_string(),
            partition: batch.partition,
            first: batch.first,
            last: batch.last,
            epoch: batch.epoch,
            records: self.records,
            pieces: entries,
        };
        let mut body = serde_json::to_vec(&table).map_err(std::io::Error::other)?;
        body.push(b'\n');
        Ok(Finished { pieces, table: Bytes::from(body), truth: self.truth, raw_bytes })
    }
}

/// A valid payload as one JSON line (a raw `\n`, JSON whitespace, becomes a space).
fn push_json(payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(payload);
    for byte in &mut out[start..] {
        if *byte == b'\n' {
            *byte = b' ';
        }
    }
    out.push(b'\n');
}
