//! The verdict of an audit: counts, breakdowns per event type and label, where the lost records
//! were expected, and the list of [`Failure`]s that make it FAILED. Serializes for `--json`;
//! `Display` is a compact table for people.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Most lost (or DLQ-only) ids listed by name.
pub(super) const MAX_EXAMPLES: usize = 20;

/// Which findings the user accepts instead of failing on (`verify --allow-…`). The default
/// accepts none of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    /// Expected records that exist only in the DLQ (`--allow-invalid`).
    pub invalid: bool,
    /// Manifests that name no records at all (`--allow-empty`).
    pub empty: bool,
    /// Records in data objects that no manifest names, or without an event id
    /// (`--allow-unexpected`).
    pub unexpected: bool,
}

impl Acceptance {
    /// What `netchaos run` accepts when it audits its own run: the records of earlier runs in the
    /// same store (unexpected to this run's manifest), and a run stopped before it emitted
    /// anything. Everything else is as strict as `verify`'s default.
    pub const OWN_RUN: Acceptance = Acceptance { invalid: false, empty: true, unexpected: true };
}

/// Stored records of one event type or label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// What the manifests say was emitted.
    pub expected: u64,
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

/// An object under `data/` or `dlq/` that could not be audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedObject {
    pub key: String,
    pub reason: String,
}

/// Why an audit FAILED; each renders as one line that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    Lost {
        records: u64,
    },
    Duplicated {
        records: u64,
    },
    /// Expected ids found only in the DLQ: rejected or truncated, not landed.
    OnlyInDlq {
        records: u64,
    },
    /// The manifests name no records.
    NothingExpected,
    /// Ids in data objects that no manifest names, and data lines without an id.
    Unexpected {
        records: u64,
        without_id: u64,
    },
    /// A label or event type whose count differs from the manifests' by more than lost,
    /// unacknowledged or unreadable records explain.
    CountMismatch {
        dimension: &'static str,
        name: String,
        expected: u64,
        found: u64,
    },
    /// Two manifests of one run that disagree on its lanes: its expected counts are unknown.
    ManifestsDisagree {
        run_id: String,
    },
    DamagedObjects {
        objects: u64,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Lost { records } => write!(f, "{records} expected records are stored nowhere (lost)"),
            Failure::Duplicated { records } => write!(f, "{records} records are stored more than once (duplicated)"),
            Failure::OnlyInDlq { records } => write!(
                f,
                "{records} expected records exist only in the DLQ (rejected or truncated), not landed: \
                 find why they were rejected, or pass --allow-invalid to accept them"
            ),
            Failure::NothingExpected => {
                write!(f, "the manifests name no records, so nothing was proved: check the manifests, or pass --allow-empty")
            }
            Failure::Unexpected { records, without_id } => write!(
                f,
                "{records} records in data objects are named by no manifest ({without_id} of them without an event id): \
                 pass every run's manifest, or --allow-unexpected"
            ),
            Failure::CountMismatch { dimension, name, expected, found } => {
                write!(f, "{dimension} {name}: the manifests say {expected} records, the store holds {found}")
            }
            Failure::ManifestsDisagree { run_id } => write!(
                f,
                "the manifests of run {run_id} disagree on its lanes (the same seed and instance run with other settings?): \
                 pass the one that matches the store"
            ),
            Failure::DamagedObjects { objects } => {
                write!(
                    f,
                    "{objects} objects under data/ or dlq/ could not be audited (each is listed as a damaged object): their records are unproven"
                )
            }
        }
    }
}

/// What `verify` found: every id the manifests name must be stored exactly once, as a valid record
/// in a data object, with the counts per label and event type the manifests give; what the store
/// holds beyond that, or could not be read, is reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The findings accepted instead of failing on.
    pub accepted: Acceptance,
    /// Why the audit FAILED; empty when it is OK.
    pub failures: Vec<Failure>,
    pub manifests: usize,
    pub runs: usize,
    pub data_objects: u64,
    pub dlq_objects: u64,
    /// Pieces (objects in the AWS or OCSF layout) read whole, as their batches' tables say.
    pub piece_objects: u64,
    /// Rows those pieces hold (Parquet rows, or lines after any header).
    pub piece_rows: u64,
    /// Objects under `data/` or `dlq/` that could not be audited: not netchaos object keys, not
    /// readable within bounds, or not decompressible. Any makes the audit fail.
    pub damaged_objects: Vec<DamagedObject>,
    /// Ids the manifests say were emitted.
    pub expected: u64,
    /// Expected ids stored as valid records (in data objects).
    pub landed: u64,
    /// Expected ids stored only in the DLQ (present, but rejected or truncated).
    pub invalid: u64,
    /// Expected ids stored nowhere.
    pub lost: u64,
    /// Ids the producer sent but Kafka never acknowledged (named in the manifest) and that are
    /// stored nowhere: reported, not lost.
    pub unacknowledged: u64,
    /// Extra copies of ids already found.
    pub duplicated: u64,
    /// Ids in data objects that no manifest names.
    pub unexpected: u64,
    /// Ids in DLQ objects that no manifest names (foreign input, rejected as it should be).
    pub unexpected_invalid: u64,
    /// Data lines without a readable event id.
    pub unreadable_lines: u64,
    /// DLQ entries whose message has no readable event id.
    pub unidentified_invalid: u64,
    pub by_event_type: BTreeMap<String, KindCounts>,
    pub by_label: BTreeMap<String, KindCounts>,
    /// Lanes with lost records.
    pub lost_by_lane: Vec<LaneLoss>,
    /// Up to 20 lost ids.
    pub lost_examples: Vec<String>,
    /// Up to 20 expected ids found only in the DLQ.
    pub invalid_examples: Vec<String>,
}

impl VerifyReport {
    /// True when nothing made the audit fail: nothing lost or duplicated, the counts per label
    /// and type as the manifests say, every object read, and nothing the [`Acceptance`] does not
    /// accept.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
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
        for failure in &self.failures {
            writeln!(f, "  FAILED: {failure}")?;
        }
        writeln!(
            f,
            "  {} manifest(s), {} run(s); {} data and {} DLQ objects",
            self.manifests, self.runs, self.data_objects, self.dlq_objects
        )?;
        if self.piece_objects > 0 {
            writeln!(f, "  {} pieces holding {} rows, each as its batch's table says", self.piece_objects, self.piece_rows)?;
        }
        let rows: [(&str, u64, &str); 6] = [
            ("expected", self.expected, ""),
            ("landed", self.landed, "valid, in data objects"),
            ("invalid", self.invalid, "only in the DLQ: rejected or truncated, not landed"),
            ("lost", self.lost, ""),
            ("duplicated", self.duplicated, "extra copies"),
            ("unexpected", self.unexpected, "ids in data objects no manifest names"),
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
        if self.unexpected_invalid > 0 {
            writeln!(f, "  foreign DLQ {:>12}  rejected ids no manifest names", self.unexpected_invalid)?;
        }
        if self.unreadable_lines > 0 || self.unidentified_invalid > 0 {
            writeln!(f, "  unreadable  {:>12}  data lines without an event id", self.unreadable_lines)?;
            writeln!(f, "  unidentified{:>12}  DLQ entries without an event id", self.unidentified_invalid)?;
        }
        for damaged in &self.damaged_objects {
            writeln!(f, "  damaged object: {} ({})", damaged.key, damaged.reason)?;
        }
        write_breakdown(f, "event type", &self.by_event_type)?;
        write_breakdown(f, "label", &self.by_label)?;
        if !self.invalid_examples.is_empty() {
            writeln!(f, "  only in the DLQ, first {}: {}", self.invalid_examples.len(), self.invalid_examples.join(", "))?;
        }
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

fn write_breakdown(f: &mut String, title: &str, rows: &BTreeMap<String, KindCounts>) -> fmt::Result {
    use std::fmt::Write;
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(f, "  {title:<18}{:>12}{:>12}{:>10}{:>12}", "expected", "landed", "invalid", "duplicated")?;
    for (name, counts) in rows {
        writeln!(f, "  {name:<18}{:>12}{:>12}{:>10}{:>12}", counts.expected, counts.landed, counts.invalid, counts.duplicated)?;
    }
    Ok(())
}
