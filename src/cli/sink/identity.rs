//! Which input a source name stands for, so that two inputs never share one key space by accident.
//!
//! `sink --from` resumes by line number: the store says how far the source got, and the lines
//! below are skipped as stored. That is right for a second pass over the same file, and silent
//! data loss for any other input under the same name (stdin twice, two `flows.jsonl` of different
//! folders). So the first use of a source records what it is in `meta/source={source}/source.json`
//! ([`keys::source_meta_key`]), before anything else of it is stored, and a later run without
//! `--source`:
//!
//! - from stdin (or a fifo) is refused when the store holds objects of its source: a stream cannot
//!   be replayed, so resuming it by offset would skip lines it never sent before;
//! - from a regular file resumes only when the record names the same file (by canonical path), and
//!   is refused when it names another input, or when objects exist without a record (a store
//!   written by an older netchaos).
//!
//! `--source NAME` is the user saying "this is NAME": it is never refused, and resumes NAME.

use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cli::UsageError;
use crate::sink::keys::{self, ObjectKind};
use crate::sink::{SourceName, Storage};

use super::Input;

/// The metadata object's file name under `meta/source={source}/`.
const SOURCE_FILE: &str = "source.json";

/// What a source was first written from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Identity {
    Stdin,
    /// A fifo or device, by path: read once, never again.
    Stream {
        path: String,
    },
    /// A regular file, by canonical path.
    File {
        path: String,
    },
}

impl Identity {
    fn of(input: &Input) -> Self {
        let text = |path: &Path| path.to_string_lossy().into_owned();
        match input {
            Input::Stdin => Identity::Stdin,
            Input::Stream(path) => Identity::Stream { path: text(path) },
            Input::File(path) => Identity::File { path: text(path) },
        }
    }

    fn describe(&self) -> String {
        match self {
            Identity::Stdin => "stdin".to_owned(),
            Identity::Stream { path } | Identity::File { path } => path.clone(),
        }
    }
}

/// Refuses (a [`UsageError`]) an input that would resume a source it is not; records the input's
/// identity at the source's first use. `named` says the user gave `--source`.
pub(super) async fn claim(storage: &Storage, source: &SourceName, input: &Input, named: bool) -> anyhow::Result<()> {
    let this = Identity::of(input);
    let recorded = recorded(storage, source).await?;
    // The same file resumes without a listing; anything else unnamed asks what the store holds.
    let same_file = matches!(this, Identity::File { .. }) && recorded.as_ref() == Some(&this);
    if !named
        && !same_file
        && let Some(refusal) = refusal(&this, recorded.as_ref(), holds_objects(storage, source).await?, source)
    {
        return Err(UsageError(refusal).into());
    }
    if recorded.as_ref() != Some(&this) && (recorded.is_none() || !named) {
        // First use, or a source whose earlier input stored nothing: this input is what it is now.
        let body = serde_json::to_vec(&this)?;
        let key = keys::source_meta_key(source, SOURCE_FILE);
        storage.put(&key, Bytes::from(body)).await.with_context(|| format!("recording which input source `{source}` is"))?;
    }
    Ok(())
}

/// Why `this` may not resume `source`, if it may not.
fn refusal(this: &Identity, recorded: Option<&Identity>, holds_objects: bool, source: &SourceName) -> Option<String> {
    if !holds_objects {
        return None;
    }
    let rename = "name this input with --source NAME (a new name; the earlier one only if this input replays it)";
    match (this, recorded) {
        (Identity::File { .. }, Some(recorded)) if recorded == this => None,
        (Identity::Stdin | Identity::Stream { .. }, _) => {
            Some(format!("the store already holds source `{source}`, and a stream cannot be resumed by line number: {rename}"))
        }
        (Identity::File { path }, Some(recorded)) => {
            Some(format!("source `{source}` in the store came from {}, not {path}: {rename}", recorded.describe()))
        }
        (Identity::File { path }, None) => Some(format!(
            "the store holds source `{source}` but no record of which input it came from (an older netchaos wrote it), \
             so {path} cannot be resumed by line number: {rename}"
        )),
    }
}

async fn recorded(storage: &Storage, source: &SourceName) -> anyhow::Result<Option<Identity>> {
    let key = keys::source_meta_key(source, SOURCE_FILE);
    let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder);
    let listing = storage.list(folder).await.context("reading the store")?;
    if !listing.iter().any(|(listed, _)| *listed == key) {
        return Ok(None);
    }
    let body = storage.get(&key).await.context("reading the store")?;
    // An unreadable record is no record: a run that names its source rewrites it.
    Ok(serde_json::from_slice(&body).ok())
}

async fn holds_objects(storage: &Storage, source: &SourceName) -> anyhow::Result<bool> {
    for kind in [ObjectKind::Data, ObjectKind::Dlq] {
        let listing = storage.list(&keys::source_prefix(kind, source)).await.context("reading the store")?;
        if !listing.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Identity {
        Identity::File { path: path.into() }
    }

    #[test]
    fn only_the_same_file_resumes_a_source_without_a_name() {
        let source = SourceName::new("flows");
        assert_eq!(refusal(&file("/a/flows.jsonl"), Some(&file("/a/flows.jsonl")), true, &source), None);
        let other = refusal(&file("/b/flows.jsonl"), Some(&file("/a/flows.jsonl")), true, &source).unwrap();
        assert!(other.contains("came from /a/flows.jsonl, not /b/flows.jsonl") && other.contains("--source NAME"), "{other}");
        let unknown = refusal(&file("/a/flows.jsonl"), None, true, &source).unwrap();
        assert!(unknown.contains("no record"), "{unknown}");
        let stream = refusal(&Identity::Stdin, Some(&Identity::Stdin), true, &source).unwrap();
        assert!(stream.contains("cannot be resumed") && !stream.contains('\n'), "{stream}");
        for this in [Identity::Stdin, file("/b/flows.jsonl")] {
            assert_eq!(refusal(&this, Some(&file("/a/flows.jsonl")), false, &source), None, "nothing stored, nothing to skip");
        }
    }

    #[test]
    fn identities_are_small_tagged_json() {
        assert_eq!(serde_json::to_string(&file("/a/b.jsonl")).unwrap(), r#"{"kind":"file","path":"/a/b.jsonl"}"#);
        assert_eq!(serde_json::to_string(&Identity::Stdin).unwrap(), r#"{"kind":"stdin"}"#);
    }
}
