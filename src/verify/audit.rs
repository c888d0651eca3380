//! The audit's running tally: ids marked in the expected bitsets as objects are read, counts per
//! event type and label, damaged objects; then the verdict ([`Audit::finish`]).
//!
//! Objects are read on several threads at once; each hands its ids over in chunks of
//! [`CHUNK_IDS`], so that what an object holds never accumulates in memory.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::sink::keys::ObjectKind;

use super::counts::{self, ExpectedCounts, UNKNOWN};
use super::expected::{ExpectedIds, Mark, run_id_text};
use super::report::{self, Acceptance, DamagedObject, Failure, KindCounts, LaneLoss, VerifyReport};
use crate::records::PerLabel;

use super::scan::{Found, LabelSlot, TYPE_NAMES};

/// Ids an object's reader collects before it takes the lock and marks them.
pub(super) const CHUNK_IDS: usize = 4096;

/// Counts as objects are read.
#[derive(Debug)]
pub(super) struct Audit {
    report: VerifyReport,
    expected: ExpectedIds,
    by_event_type: [KindCounts; TYPE_NAMES.len()],
    by_label: PerLabel<KindCounts>,
    /// Lines whose label could not be read, or names a kind this version does not know.
    unknown_label: KindCounts,
}

/// Locks the tally; a reader that panicked while holding it left counts that are still counts.
pub(super) fn lock(audit: &Mutex<Audit>) -> MutexGuard<'_, Audit> {
    audit.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Audit {
    pub(super) fn new(expected: ExpectedIds, manifests: usize) -> Self {
        let report = VerifyReport { manifests, runs: expected.runs(), ..VerifyReport::default() };
        Audit { report, expected, by_event_type: Default::default(), by_label: Default::default(), unknown_label: Default::default() }
    }

    /// An object read to its end.
    pub(super) fn count_object(&mut self, kind: ObjectKind) {
        match kind {
            ObjectKind::Data => self.report.data_objects += 1,
            ObjectKind::Dlq => self.report.dlq_objects += 1,
            ObjectKind::Pieces => {}
        }
    }

    /// Pieces read whole and as their tables say, and the rows they hold.
    pub(super) fn count_pieces(&mut self, pieces: u64, rows: u64) {
        self.report.piece_objects += pieces;
        self.report.piece_rows += rows;
    }

    pub(super) fn damaged(&mut self, key: String, reason: String) {
        self.report.damaged_objects.push(DamagedObject { key, reason });
    }

    /// The lines of one object, read so far: an id each, or `None` for a line without one.
    pub(super) fn count_lines(&mut self, kind: ObjectKind, lines: &[Option<Found>]) {
        let report = &mut self.report;
        for line in lines {
            let Some(found) = line else {
                match kind {
                    ObjectKind::Data => report.unreadable_lines += 1,
                    ObjectKind::Dlq | ObjectKind::Pieces => report.unidentified_invalid += 1,
                }
                continue;
            };
            let mark = self.expected.mark(found.run, found.worker, found.seq);
            let label_counts = match found.label {
                LabelSlot::Known(kind) => &mut self.by_label[kind],
                LabelSlot::Unknown => &mut self.unknown_label,
            };
            let type_counts = &mut self.by_event_type[found.event_type];
            match (mark, kind) {
                (Mark::First, ObjectKind::Data) => {
                    report.landed += 1;
                    type_counts.landed += 1;
                    label_counts.landed += 1;
                }
                (Mark::First, ObjectKind::Dlq | ObjectKind::Pieces) => {
                    report.invalid += 1;
                    type_counts.invalid += 1;
                    label_counts.invalid += 1;
                    if report.invalid_examples.len() < report::MAX_EXAMPLES {
                        report.invalid_examples.push(format!("{}-{}-{}", run_id_text(found.run), found.worker, found.seq));
                    }
                }
                (Mark::Duplicate, _) => {
                    report.duplicated += 1;
                    type_counts.duplicated += 1;
                    label_counts.duplicated += 1;
                }
                (Mark::Unexpected, ObjectKind::Data) => report.unexpected += 1,
                (Mark::Unexpected, ObjectKind::Dlq | ObjectKind::Pieces) => report.unexpected_invalid += 1,
            }
        }
    }

    /// The report, its failures judged with `accept`.
    pub(super) fn finish(self, expected_counts: &ExpectedCounts, accept: Acceptance) -> VerifyReport {
        let mut report = self.report;
        report.accepted = accept;
        report.by_event_type = breakdown(TYPE_NAMES.into_iter().zip(self.by_event_type), &expected_counts.by_event_type);
        let labels = self.by_label.iter().map(|(name, counts)| (name, *counts)).chain([(UNKNOWN, self.unknown_label)]);
        report.by_label = breakdown(labels, &expected_counts.by_label);
        for (run, worker, lane) in self.expected.lanes() {
            report.expected += lane.expected;
            report.unacknowledged += lane.unacknowledged();
            let lost = lane.lost();
            if lost == 0 {
                continue;
            }
            report.lost += lost;
            let run_id = run_id_text(run);
            report.lost_by_lane.push(LaneLoss { run_id: run_id.clone(), worker, expected: lane.expected, lost });
            let room = report::MAX_EXAMPLES - report.lost_examples.len();
            report.lost_examples.extend(lane.missing().take(room).map(|seq| format!("{run_id}-{worker}-{seq}")));
        }
        report.failures = failures(&report, expected_counts, accept);
        report
    }
}

/// Found counts by name with the manifests' expected counts beside them: every known name, every
/// name a manifest gives, and "unknown" only when something was.
fn breakdown(
    found: impl Iterator<Item = (&'static str, KindCounts)>,
    expected: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, KindCounts> {
    let mut rows: std::collections::BTreeMap<String, KindCounts> = found
        .filter(|(name, counts)| *name != UNKNOWN || *counts != KindCounts::default())
        .map(|(name, counts)| (name.to_owned(), counts))
        .collect();
    for (name, count) in expected {
        rows.entry(name.clone()).or_default().expected = *count;
    }
    rows
}

fn failures(report: &VerifyReport, expected_counts: &ExpectedCounts, accept: Acceptance) -> Vec<Failure> {
    let mut failures = Vec::new();
    if report.lost > 0 {
        failures.push(Failure::Lost { records: report.lost });
    }
    if report.duplicated > 0 {
        failures.push(Failure::Duplicated { records: report.duplicated });
    }
    if report.invalid > 0 && !accept.invalid {
        failures.push(Failure::OnlyInDlq { records: report.invalid });
    }
    if report.expected == 0 && !accept.empty {
        failures.push(Failure::NothingExpected);
    }
    let strangers = report.unexpected + report.unreadable_lines;
    if strangers > 0 && !accept.unexpected {
        failures.push(Failure::Unexpected { records: strangers, without_id: report.unreadable_lines });
    }
    failures.extend(expected_counts.disagreeing_runs.iter().map(|run_id| Failure::ManifestsDisagree { run_id: run_id.clone() }));
    if expected_counts.disagreeing_runs.is_empty() {
        let untyped = report.lost + report.unacknowledged;
        failures.extend(counts::check("event type", &report.by_event_type, untyped));
        failures.extend(counts::check("label", &report.by_label, untyped));
    }
    if !report.damaged_objects.is_empty() {
        failures.push(Failure::DamagedObjects { objects: report.damaged_objects.len() as u64 });
    }
    failures
}
