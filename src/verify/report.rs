//! The verdict of an audit: counts, breakdowns per event type and label, and where the lost
//! records were expected. Serializes for `--json`; `Display` is a compact table for people.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Most lost ids listed by name.
pub(super) const MAX_LOST_EXAMPLES: usize = 20;

/// Stored records of one event type or label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// First copies found in data objects.
    pub landed: u64,
    /// First copies found in DLQ objects.
    pub invalid: u64,
    /// Extra copies, in data or DLQ objects.
    pub duplicated: u64,
}

/// Records one lane emitted that the store does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneLoss {
    pub run_id: String,
    pub worker: u32,
    pub expected: u64,
    pub lost: u64,
}

/// What `verify` found: every id the manifests name must be stored exactly once, as a valid record
/// in a data object or as a rejected one in a DLQ object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub manifests: usize,
    pub runs: usize,
    pub data_objects: u64,
    pub dlq_objects: u64,
    /// Objects under `data/` or `dlq/` that are not JSON-lines objects, or could not be
    /// decompressed; their records, if any, count as lost.
    pub damaged_objects: Vec<String>,
    /// Ids the manifests say were emitted.
    pub expected: u64,
    /// Expected ids stored as valid records (in data objects).
    pub landed: u64,
    /// Expected ids stored in the DLQ (present, but rejected).
    pub invalid: u64,
    /// Expected ids stored nowhere.
    pub lost: u64,
    /// Ids the producer sent but Kafka never acknowledged (named in the manifest) and that are
    /// stored nowhere: reported, not lost.
    pub unacknowledged: u64,
    /// Extra copies of ids already found.
    pub duplicated: u64,
    /// Ids stored that no manifest names.
    pub unexpected: u64,
    /// Data lines without a readable event id.
    pub unreadable_lines: u64,
    /// DLQ entries whose message has no readable event id.
    pub unidentified_invalid: u64,
    pub by_event_type: BTreeMap<&'static str, KindCounts>,
    pub by_label: BTreeMap<&'static str, KindCounts>,
    /// Lanes with lost records.
    pub lost_by_lane: Vec<LaneLoss>,
    /// Up to 20 lost ids.
    pub lost_examples: Vec<String>,
}

impl VerifyReport {
    /// True when nothing is lost and nothing is duplicated.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rendered whole so that the table never ends in a stray newline or trailing blanks.
        let mut text = String::new();
        self.render(&mut text)?;
        out.write_str(text.trim_end())
    }
}

impl VerifyReport {
    fn render(&self, f: &mut String) -> fmt::Result {
        use std::fmt::Write;
        let verdict = if self.ok() { "OK" } else { "FAILED" };
        writeln!(f, "verify: {verdict}, {} lost and {} duplicated of {} expected records", self.lost, self.duplicated, self.expected)?;
        writeln!(
            f,
            "  {} manifest(s), {} run(s); {} data and {} DLQ objects",
            self.manifests, self.runs, self.data_objects, self.dlq_objects
        )?;
        let rows: [(&str, u64, &str); 6] = [
            ("expected", self.expected, ""),
            ("landed", self.landed, "valid, in data objects"),
            ("invalid", self.invalid, "rejected, in the DLQ"),
            ("lost", self.lost, ""),
            ("duplicated", self.duplicated, "extra copies"),
            ("unexpected", self.unexpected, "ids in no manifest"),
        ];
        for (name, count, note) in rows {
            let row = format!("  {name:<12}{count:>12}  {note}");
            writeln!(f, "{}", row.trim_end())?;
        }
        if self.unacknowledged > 0 {
            writeln!(
                f,
                "  unacked     {:>12}  Kafka never acknowledged them (see the manifest); not counted as lost",
                self.unacknowledged
            )?;
        }
        if self.unreadable_lines > 0 || self.unidentified_invalid > 0 {
            writeln!(f, "  unreadable  {:>12}  data lines without an event id", self.unreadable_lines)?;
            writeln!(f, "  unidentified{:>12}  DLQ entries without an event id", self.unidentified_invalid)?;
        }
        for damaged in &self.damaged_objects {
            writeln!(f, "  damaged object: {damaged}")?;
        }
        write_breakdown(f, "event type", &self.by_event_type)?;
        write_breakdown(f, "label", &self.by_label)?;
        if !self.lost_by_lane.is_empty() {
            writeln!(f, "  {:<18}{:>6}{:>12}{:>12}", "lost in run", "lane", "expected", "lost")?;
            for lane in &self.lost_by_lane {
                writeln!(f, "  {:<18}{:>6}{:>12}{:>12}", lane.run_id, lane.worker, lane.expected, lane.lost)?;
            }
            write!(f, "  lost ids, first {}: {}", self.lost_examples.len(), self.lost_examples.join(", "))?;
        }
        Ok(())
    }
}

fn write_breakdown(f: &mut String, title: &str, rows: &BTreeMap<&'static str, KindCounts>) -> fmt::Result {
    use std::fmt::Write;
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(f, "  {title:<18}{:>12}{:>10}{:>12}", "landed", "invalid", "duplicated")?;
    for (name, counts) in rows {
        writeln!(f, "  {name:<18}{:>12}{:>10}{:>12}", counts.landed, counts.invalid, counts.duplicated)?;
    }
    Ok(())
}
