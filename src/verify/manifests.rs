//! Reading manifests within bounds: a manifest is read as a stream of at most
//! [`MAX_MANIFEST_BYTES`], and may name at most [`MAX_LANES`] lanes and [`MAX_EXPECTED_IDS`] ids,
//! so that `verify --manifest /dev/zero` or a lane of 2^60 records is one clear error, not an
//! allocation abort or a read that lasts until memory runs out.
//!
//! The bounds are far above what a run writes: at most 1,025 lanes (1,024 workers and the
//! port-scan lane), and a manifest grows past a few kilobytes only by the ids Kafka did not
//! acknowledge (about 2 million fit in 64 MiB). [`MAX_EXPECTED_IDS`] bounds the bitsets (one bit
//! per expected id: 2 GiB at the bound).

use std::io::Read;
use std::path::Path;

use crate::generator::RunManifest;
use crate::sink::Storage;

use super::{MANIFESTS_PREFIX, VerifyError};

/// Largest manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Most lanes one manifest may name.
pub const MAX_LANES: usize = 4096;

/// Most ids all the manifests of one audit may name together (and so any one lane).
pub const MAX_EXPECTED_IDS: u64 = 1 << 34;

/// Reads a manifest file (`netchaos generate --manifest PATH` writes them), within the bounds.
pub fn load_manifest_file(path: &Path) -> Result<RunManifest, VerifyError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| VerifyError::ReadManifest { path: shown.clone(), source })?;
    parse_manifest(file, &shown)
}

/// Every manifest stored under `manifests/` (as `netchaos run` leaves them), ordered by run id.
pub async fn find_manifests(storage: &Storage) -> Result<Vec<RunManifest>, VerifyError> {
    let mut manifests = Vec::new();
    for (key, size) in storage.list(MANIFESTS_PREFIX).await? {
        if !key.ends_with(".json") {
            continue;
        }
        if size > MAX_MANIFEST_BYTES {
            return Err(too_large(&key));
        }
        let body = storage.get(&key).await?;
        manifests.push(parse_manifest(&body[..], &key)?);
    }
    manifests.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(manifests)
}

/// Parses a manifest as it is read, stopping at [`MAX_MANIFEST_BYTES`], then checks its lanes.
fn parse_manifest(reader: impl Read, shown: &str) -> Result<RunManifest, VerifyError> {
    let mut limited = std::io::BufReader::new(reader.take(MAX_MANIFEST_BYTES + 1));
    let parsed: Result<RunManifest, serde_json::Error> = serde_json::from_reader(&mut limited);
    // Whatever the parser made of it, a manifest that reached the bound is too large.
    if limited.get_ref().limit() == 0 {
        return Err(too_large(shown));
    }
    let manifest = parsed.map_err(|source| match source.io_error_kind() {
        Some(_) => VerifyError::ReadManifest { path: shown.to_owned(), source: source.into() },
        None => VerifyError::BadManifest { key: shown.to_owned(), source },
    })?;
    check_manifest(&manifest, shown)?;
    Ok(manifest)
}

fn too_large(shown: &str) -> VerifyError {
    VerifyError::ManifestOutOfBounds(format!(
        "the manifest {shown} is larger than {} MiB: is it a netchaos run manifest?",
        MAX_MANIFEST_BYTES >> 20
    ))
}

/// The lane count and each lane's records within the bounds.
pub(super) fn check_manifest(manifest: &RunManifest, shown: &str) -> Result<(), VerifyError> {
    if manifest.lanes.len() > MAX_LANES {
        return Err(VerifyError::ManifestOutOfBounds(format!(
            "the manifest {shown} names {} lanes, more than the {MAX_LANES} verify accepts (a run has at most 1025)",
            manifest.lanes.len()
        )));
    }
    if let Some(lane) = manifest.lanes.iter().find(|lane| lane.records > MAX_EXPECTED_IDS) {
        return Err(VerifyError::ManifestOutOfBounds(format!(
            "the manifest {shown} says lane {} emitted {} records, more than the {MAX_EXPECTED_IDS} verify can track",
            lane.worker, lane.records
        )));
    }
    Ok(())
}
