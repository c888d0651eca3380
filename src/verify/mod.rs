//! `verify`: audit a store against generator manifests, and prove (not guess) loss and
//! duplication.
//!
//! A manifest names exactly the ids its run emitted: lane *w* emitted `<run_id>-<w>-<seq>` for
//! every `seq` in `0..lanes[w].records`. [`verify_with`] lists the store, turns the listing into
//! the data and DLQ objects to audit in one place (`objects_to_audit`), reads each as a stream of
//! lines (`read.rs`), reads the `event_id` of each line (`scan.rs`) and marks it in one bitset per
//! (run, lane) (`expected.rs`). Data objects are read before DLQ objects, so that the first copy of
//! an id decides what it is: in a data object it is *landed*, only in the DLQ *invalid* (present,
//! but rejected or truncated: not landed); any further copy is *duplicated*; an expected id never
//! found is *lost*; an id no manifest names is *unexpected*. The counts per label and event type of
//! what was found must match the manifests' (`counts.rs`).
//!
//! The verdict is [`VerifyReport::failures`]: lost, duplicated, a count that differs, an object
//! that could not be read, and (unless an [`Acceptance`] waives them) expected ids only in the
//! DLQ, manifests that name nothing, and records in data objects no manifest names.
//!
//! Memory is bounded whatever the store and the manifests hold: manifests are read within the
//! bounds of `manifests.rs`, the bitsets cost one bit per expected id, objects of at most
//! [`MAX_OBJECT_BYTES`] are fetched a few at a time (at most [`IN_FLIGHT_MIB`] MiB of them, or one
//! larger), and each is inflated as a stream with a bounded line (`read.rs`).

mod audit;
mod counts;
mod expected;
mod manifests;
mod pieces;
mod read;
mod records;
mod report;
mod scan;

#[cfg(test)]
mod pieces_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use crate::generator::RunManifest;
use crate::sink::keys::{self, ObjectKind, ParsedKey, parse_key};
use crate::sink::layout::PIECE_ROOTS;
use crate::sink::ledger::{self, Dead, Listed};
use crate::sink::{Storage, StorageError};

use audit::{Audit, CHUNK_IDS, lock};
use counts::ExpectedCounts;
use expected::ExpectedIds;

pub use manifests::{MAX_EXPECTED_IDS, MAX_LANES, MAX_MANIFEST_BYTES, find_manifests, load_manifest_file};
pub use records::for_each_record;
pub use report::{Acceptance, DamagedObject, Failure, KindCounts, LaneLoss, VerifyReport};

/// Objects fetched and decoded at once.
const READ_CONCURRENCY: usize = 4;

/// Compressed bytes fetched at once, in MiB (an object larger than this is read alone).
pub const IN_FLIGHT_MIB: u32 = 256;

/// Largest object read; a larger one is reported as damaged. The sink's objects are bounded by its
/// `--max-bytes` and `--memory-budget`, far below this.
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;

/// Where `netchaos run` stores its manifests, relative to the storage prefix.
pub const MANIFESTS_PREFIX: &str = "manifests";

/// The root of small metadata objects (written by the sink), never audited.
const META_ROOT: &str = "meta";

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
    /// A manifest too large, with too many lanes or ids.
    #[error("{0}")]
    ManifestOutOfBounds(String),
    #[error("not enough memory to track {ids} expected ids (one bit each): audit fewer runs at once")]
    OutOfMemory { ids: u64 },
    /// A store whose records cannot all be read (for the commands that analyse them).
    #[error("{0}")]
    Unreadable(String),
    #[error("a background task failed: {0}")]
    Task(String),
}

impl VerifyError {
    /// True when the manifests the user named are at fault (exit code 2), not the store.
    pub fn is_bad_manifest(&self) -> bool {
        matches!(
            self,
            VerifyError::BadManifest { .. }
                | VerifyError::ReadManifest { .. }
                | VerifyError::BadRunId(_)
                | VerifyError::ManifestOutOfBounds(_)
        )
    }
}

/// Audits the records of `manifests` in a store that may also hold other runs' records, as
/// `netchaos run` checks its own run: [`verify_with`] and [`Acceptance::OWN_RUN`].
pub async fn verify(storage: &Storage, manifests: &[RunManifest]) -> Result<VerifyReport, VerifyError> {
    verify_with(storage, manifests, Acceptance::OWN_RUN).await
}

/// Audits every data and DLQ object in the store against `manifests`; `accept` says which
/// findings do not fail the audit.
pub async fn verify_with(storage: &Storage, manifests: &[RunManifest], accept: Acceptance) -> Result<VerifyReport, VerifyError> {
    let expected = ExpectedIds::from_manifests(manifests)?;
    let expected_counts = ExpectedCounts::from_manifests(manifests);
    let audit = Arc::new(Mutex::new(Audit::new(expected, manifests.len())));
    let selection = objects_to_audit(storage.list("").await?);
    for (key, reason) in selection.foreign {
        lock(&audit).damaged(key, reason);
    }
    let found = pieces::audit_pieces(storage, selection.tables, selection.piece_keys).await?;
    {
        let mut audit = lock(&audit);
        for (key, reason) in found.damaged {
            audit.damaged(key, reason);
        }
        audit.count_pieces(found.pieces, found.rows);
    }
    let in_flight = Semaphore::new(IN_FLIGHT_MIB as usize);
    // Data first: the first copy of an id decides whether it landed or is only in the DLQ.
    for objects in [selection.data, selection.dlq] {
        futures::stream::iter(objects)
            .map(|object| audit_object(storage, &audit, &in_flight, object))
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect::<()>()
            .await?;
    }
    let audit = Arc::into_inner(audit).ok_or_else(|| VerifyError::Task("an object reader outlived the audit".into()))?;
    Ok(audit.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).finish(&expected_counts, accept))
}

/// A data or DLQ object to audit, as its key names it.
#[derive(Debug)]
struct AuditObject {
    key: String,
    size: u64,
    parsed: ParsedKey,
}

/// What a listing of the store holds for the audit.
#[derive(Debug, Default)]
struct Selection {
    data: Vec<AuditObject>,
    dlq: Vec<AuditObject>,
    /// The piece tables of batches that count.
    tables: Vec<String>,
    /// Every key under a piece root (`AWSLogs/`, `ext/`, `records/`), with its size.
    piece_keys: BTreeMap<String, u64>,
    /// Keys under `data/` or `dlq/` that are not netchaos object keys, and why they are not read:
    /// they may hold records, so the audit reports them and fails.
    foreign: Vec<(String, String)>,
}

/// The one place where the store's listing becomes the objects to audit.
///
/// Keys are read only through [`parse_key`]. Keys under `meta/` (metadata objects) and keys of
/// other roots (`manifests/`, `episodes/`, `fence/`) are not audited; a key under a data or DLQ
/// root that does not parse is foreign. The sink's own rule, [`ledger`](crate::sink::ledger),
/// applied per source with the source's fences, says which objects are void: stored by a writer
/// after a newer one took its partition over. They are not read but reported, and fail the
/// audit like foreign ones, because readers other than netchaos would read them (the sink's next
/// recovery of the source deletes them). Every other object is read, whatever the rule says of
/// it, since that is what a reader of the store sees: a hole shows as lost records, an overlap
/// as duplicated ones.
fn objects_to_audit(listing: Vec<(String, u64)>) -> Selection {
    let mut selection = Selection::default();
    let mut by_source: BTreeMap<String, ledger::Parts> = BTreeMap::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (key, size) in listing {
        let root = key.split('/').next().unwrap_or_default();
        if root == META_ROOT {
            continue;
        }
        if PIECE_ROOTS.iter().any(|piece_root| key.starts_with(piece_root)) {
            selection.piece_keys.insert(key, size);
            continue;
        }
        if root == keys::FENCE_ROOT {
            if let (Some(fence), Some(source)) =
                (keys::parse_fence_key(&key), key.split('/').nth(1).and_then(|s| s.strip_prefix("source=")))
            {
                by_source.entry(source.to_owned()).or_default().2.push(fence);
            }
            continue;
        }
        match parse_key(&key) {
            Some(parsed) => {
                sizes.insert(key.clone(), size);
                let parts = by_source.entry(parsed.source.clone()).or_default();
                match parsed.kind {
                    ObjectKind::Data => parts.0.push((key, parsed)),
                    ObjectKind::Dlq | ObjectKind::Pieces => parts.1.push((key, parsed)),
                }
            }
            None if root == ObjectKind::Data.root() || root == ObjectKind::Dlq.root() || root == ObjectKind::Pieces.root() => {
                selection.foreign.push((key, "not a netchaos object key".to_owned()));
            }
            None => {}
        }
    }
    let audited = |(key, parsed): Listed| AuditObject { size: sizes.get(&key).copied().unwrap_or(0), key, parsed };
    for (_source, (data, dlq, fences)) in by_source {
        for (_partition, ledger) in ledger::ledgers(data, dlq, &fences) {
            selection.data.extend(ledger.chain.into_iter().map(audited));
            for (key, parsed) in ledger.dlq {
                match parsed.kind {
                    ObjectKind::Pieces => selection.tables.push(key),
                    _ => selection.dlq.push(audited((key, parsed))),
                }
            }
            for ((key, parsed), why) in ledger.dead {
                match (why, parsed.kind) {
                    (Dead::Void { .. }, _) => {
                        let reason = format!("{}; the sink's next recovery of the source deletes it", why.describe());
                        selection.foreign.push((key, reason));
                    }
                    // Records a reader sees: counted (a hole shows as lost, an overlap as
                    // duplicated) until the sink's next recovery deletes them.
                    (_, ObjectKind::Data) => selection.data.push(audited((key, parsed))),
                    (_, ObjectKind::Dlq) => selection.dlq.push(audited((key, parsed))),
                    // Its pieces are claimed by no batch that counts, and reported so.
                    (_, ObjectKind::Pieces) => {
                        selection.foreign.push((key, format!("{}; the sink's next recovery deletes it and its pieces", why.describe())))
                    }
                }
            }
        }
    }
    selection
}

/// Fetches one object and marks its ids; an object that cannot be read within bounds is reported
/// as damaged, not skipped.
async fn audit_object(storage: &Storage, audit: &Arc<Mutex<Audit>>, in_flight: &Semaphore, object: AuditObject) -> Result<(), VerifyError> {
    if object.size > MAX_OBJECT_BYTES {
        let reason = format!("{} bytes, larger than the {} MiB verify reads", object.size, MAX_OBJECT_BYTES >> 20);
        lock(audit).damaged(object.key, reason);
        return Ok(());
    }
    let mebibytes = u32::try_from(object.size >> 20).unwrap_or(u32::MAX).clamp(1, IN_FLIGHT_MIB);
    let _permit = in_flight.acquire_many(mebibytes).await.map_err(|error| VerifyError::Task(error.to_string()))?;
    let body = storage.get(&object.key).await?;
    let (kind, compression) = (object.parsed.kind, object.parsed.compression);
    let reader_audit = Arc::clone(audit);
    let read = move || {
        let line_id = match kind {
            ObjectKind::Data => scan::data_line,
            ObjectKind::Dlq | ObjectKind::Pieces => scan::dlq_line,
        };
        let mut chunk = Vec::with_capacity(CHUNK_IDS);
        let outcome = read::for_each_line(&body, compression, |line| {
            chunk.push(line_id(line));
            if chunk.len() == CHUNK_IDS {
                lock(&reader_audit).count_lines(kind, &chunk);
                chunk.clear();
            }
        });
        let mut audit = lock(&reader_audit);
        audit.count_lines(kind, &chunk);
        match outcome {
            Ok(()) => audit.count_object(kind),
            Err(error) => audit.damaged(object.key, error.to_string()),
        }
    };
    tokio::task::spawn_blocking(read).await.map_err(|join_error| VerifyError::Task(join_error.to_string()))
}
