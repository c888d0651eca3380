//! Reading a store's landed records, for the commands that analyse them (`score`, `fidelity`):
//! the same objects an audit reads as data (the chain of each partition, [`objects_to_audit`]),
//! one at a time, each streamed in bounded memory.

use super::read::for_each_line;
use super::{MAX_OBJECT_BYTES, VerifyError, objects_to_audit};
use crate::sink::Storage;

/// Hands every data line of the store to `each`, in key order per partition; returns how many.
/// A store with foreign or void objects under `data/`, or an object that cannot be read to its
/// end, is an error: an analysis of part of the records would mislead.
pub async fn for_each_record(storage: &Storage, mut each: impl FnMut(&[u8])) -> Result<u64, VerifyError> {
    let selection = objects_to_audit(storage.list("").await?);
    if let Some((key, reason)) = selection.foreign.first() {
        return Err(VerifyError::Unreadable(format!("the store holds `{key}`, which is not read ({reason}): run `netchaos verify` on it")));
    }
    if let Some(table) = selection.tables.first() {
        return Err(VerifyError::Unreadable(format!(
            "the store was written in the AWS or OCSF layout (`{table}`): its data objects hold ground truth, not records; \
             write the records in netchaos's own layout (without --layout/--firewall-layout aws or --format ocsf) to analyse them"
        )));
    }
    let mut count = 0u64;
    for object in selection.data {
        if object.size > MAX_OBJECT_BYTES {
            return Err(VerifyError::Unreadable(format!(
                "`{}` is larger than the {} MiB that can be read",
                object.key,
                MAX_OBJECT_BYTES >> 20
            )));
        }
        let body = storage.get(&object.key).await?;
        for_each_line(&body, object.parsed.compression, |line| {
            count += 1;
            each(line);
        })
        .map_err(|error| VerifyError::Unreadable(format!("`{}` cannot be read: {error}", object.key)))?;
    }
    Ok(count)
}
