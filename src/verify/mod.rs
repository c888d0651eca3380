//! `verify`: audit a store against generator manifests, and prove (not guess) loss and
//! duplication.
//!
//! A manifest names exactly the ids its run emitted: lane *w* emitted `<run_id>-<w>-<seq>` for
//! every `seq` in `0..lanes[w].records`. [`verify`] reads every data object and every DLQ object
//! under the storage prefix (all sources), decompresses each by its extension, reads the
//! `event_id` of each line (`scan.rs`) and marks it in one bitset per (run, lane) (`expected.rs`).
//! Every expected id must be found exactly once across data and DLQ: a first copy in a data object
//! is *landed*, in a DLQ object *invalid* (present, but rejected); any further copy is
//! *duplicated*; an expected id never found is *lost*; a found id no manifest names is
//! *unexpected*. The report is [`VerifyReport`]; [`VerifyReport::ok`] is "nothing lost, nothing
//! duplicated". Lost ids cannot be typed without regenerating them, so they are reported per lane
//! with up to 20 examples.
//!
//! Objects are fetched a few at a time and decoded on the blocking pool; memory is the bitsets
//! (one bit per expected id) plus the objects in flight.

mod expected;
mod report;
mod scan;

#[cfg(test)]
mod tests;

use std::path::Path;

use futures::{StreamExt, TryStreamExt};

use crate::generator::RunManifest;
use crate::sink::keys::ObjectKind;
use crate::sink::{Compression, Storage, StorageError};

use expected::{ExpectedIds, Mark, run_id_text};
use scan::{LABEL_NAMES, ObjectScan, TYPE_NAMES};

pub use report::{KindCounts, LaneLoss, VerifyReport};

/// Objects fetched and decoded at once.
const READ_CONCURRENCY: usize = 4;

/// Where `netchaos run` stores its manifests, relative to the storage prefix.
pub const MANIFESTS_PREFIX: &str = "manifests";

/// Why an audit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("`{key}` is not a netchaos run manifest: {source}")]
    BadManifest { key: String, source: serde_json::Error },
    #[error("cannot read the manifest {path}: {source}")]
    ReadManifest { path: String, source: std::io::Error },
    #[error("manifest run_id `{0}` is not 16 lower-case hex digits: is this a netchaos manifest?")]
    BadRunId(String),
    #[error("a background task failed: {0}")]
    Task(String),
}

/// Audits every data and DLQ object under the storage prefix against `manifests`.
pub async fn verify(storage: &Storage, manifests: &[RunManifest]) -> Result<VerifyReport, VerifyError> {
    let mut expected = ExpectedIds::from_manifests(manifests)?;
    let mut audit =
        Audit { report: VerifyReport { manifests: manifests.len(), runs: expected.runs(), ..VerifyReport::default() }, ..Audit::default() };
    let mut objects = Vec::new();
    for kind in [ObjectKind::Data, ObjectKind::Dlq] {
        objects.extend(storage.list(kind.root()).await?.into_iter().map(|(key, _size)| (kind, key)));
    }
    let mut scans = futures::stream::iter(objects).map(|(kind, key)| read_object(storage, kind, key)).buffered(READ_CONCURRENCY);
    while let Some((kind, key, scan)) = scans.try_next().await? {
        match scan {
            Some(scan) => audit.count_object(&mut expected, kind, &scan),
            None => audit.report.damaged_objects.push(key),
        }
    }
    Ok(audit.finish(&expected))
}

/// Every manifest stored under `manifests/` (as `netchaos run` leaves them), ordered by run id.
pub async fn find_manifests(storage: &Storage) -> Result<Vec<RunManifest>, VerifyError> {
    let mut manifests = Vec::new();
    for (key, _size) in storage.list(MANIFESTS_PREFIX).await? {
        if !key.ends_with(".json") {
            continue;
        }
        let body = storage.get(&key).await?;
        let manifest: RunManifest = serde_json::from_slice(&body).map_err(|source| VerifyError::BadManifest { key, source })?;
        manifests.push(manifest);
    }
    manifests.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(manifests)
}

/// Reads a manifest file (`netchaos generate --manifest PATH` writes them).
pub fn load_manifest_file(path: &Path) -> Result<RunManifest, VerifyError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| VerifyError::ReadManifest { path: shown.clone(), source })?;
    serde_json::from_slice(&text).map_err(|source| VerifyError::BadManifest { key: shown, source })
}

/// Fetches, decompresses and scans one object; `None` when it is not a readable JSON-lines object.
async fn read_object(storage: &Storage, kind: ObjectKind, key: String) -> Result<(ObjectKind, String, Option<ObjectScan>), VerifyError> {
    let Some(compression) = Compression::from_key(&key) else {
        return Ok((kind, key, None));
    };
    let body = storage.get(&key).await?;
    let decode = move || {
        let plain = compression.decompress(&body).ok()?;
        Some(match kind {
            ObjectKind::Data => scan::scan_data(&plain),
            ObjectKind::Dlq => scan::scan_dlq(&plain),
        })
    };
    let scan = tokio::task::spawn_blocking(decode).await.map_err(|join_error| VerifyError::Task(join_error.to_string()))?;
    Ok((kind, key, scan))
}

/// Counts as objects are scanned.
#[derive(Debug, Default)]
struct Audit {
    report: VerifyReport,
    by_event_type: [KindCounts; TYPE_NAMES.len()],
    by_label: [KindCounts; LABEL_NAMES.len()],
}

impl Audit {
    fn count_object(&mut self, expected: &mut ExpectedIds, kind: ObjectKind, scan: &ObjectScan) {
        let report = &mut self.report;
        match kind {
            ObjectKind::Data => {
                report.data_objects += 1;
                report.unreadable_lines += scan.unreadable;
            }
            ObjectKind::Dlq => {
                report.dlq_objects += 1;
                report.unidentified_invalid += scan.unreadable;
            }
        }
        for found in &scan.found {
            let mark = expected.mark(found.run, found.worker, found.seq);
            let (type_counts, label_counts) = (&mut self.by_event_type[found.event_type], &mut self.by_label[found.label]);
            match (mark, kind) {
                (Mark::First, ObjectKind::Data) => {
                    report.landed += 1;
                    type_counts.landed += 1;
                    label_counts.landed += 1;
                }
                (Mark::First, ObjectKind::Dlq) => {
                    report.invalid += 1;
                    type_counts.invalid += 1;
                    label_counts.invalid += 1;
                }
                (Mark::Duplicate, _) => {
                    report.duplicated += 1;
                    type_counts.duplicated += 1;
                    label_counts.duplicated += 1;
                }
                (Mark::Unexpected, _) => report.unexpected += 1,
            }
        }
    }

    fn finish(self, expected: &ExpectedIds) -> VerifyReport {
        let mut report = self.report;
        // The known kinds always show; "unknown" only when something was.
        let shown = |name: &str, counts: &KindCounts| name != "unknown" || *counts != KindCounts::default();
        report.by_event_type = TYPE_NAMES.into_iter().zip(self.by_event_type).filter(|(name, counts)| shown(name, counts)).collect();
        report.by_label = LABEL_NAMES.into_iter().zip(self.by_label).filter(|(name, counts)| shown(name, counts)).collect();
        for (run, worker, lane) in expected.lanes() {
            report.expected += lane.expected;
            report.unacknowledged += lane.unacknowledged();
            let lost = lane.lost();
            if lost == 0 {
                continue;
            }
            report.lost += lost;
            let run_id = run_id_text(run);
            report.lost_by_lane.push(LaneLoss { run_id: run_id.clone(), worker, expected: lane.expected, lost });
            let room = report::MAX_LOST_EXAMPLES - report.lost_examples.len();
            report.lost_examples.extend(lane.missing().take(room).map(|seq| format!("{run_id}-{worker}-{seq}")));
        }
        report
    }
}
