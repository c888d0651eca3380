//! Object keys: where a batch lands, and how to read a key back.
//!
//! ```text
//! data/source={source}/dt=YYYY-MM-DD/hour=HH/part-{partition:05}-{first:020}-{last:020}-e{epoch:010}.json.gz
//! dlq/source={source}/dt=YYYY-MM-DD/hour=HH/part-{partition:05}-{first:020}-{last:020}-e{epoch:010}.json.gz
//! pieces/source={source}/dt=YYYY-MM-DD/hour=HH/part-{partition:05}-{first:020}-{last:020}-e{epoch:010}.json.gz
//! fence/source={source}/part-{partition:05}/e{epoch:010}-{start:020}
//! ```
//!
//! Keys are relative to the [`Storage`](super::Storage) prefix, which alone adds it. The file name
//! is a function of the partition and the offset range the batch covers, so recovery can read
//! "where did this partition get to" from a listing alone; `dt` / `hour` are the UTC wall-clock time
//! of the flush, which query engines use to prune, and which recovery ignores. Offsets are
//! zero-padded to 20 digits (the width of `u64::MAX`) so that keys sort in offset order.
//! A piece table's key ends as its batch's data object's does (`.json.gz` by default), but the
//! table itself is plain JSON: it is small, and recovery reads it with the name parsed the same way.
//! A batch's data object and DLQ object share the same file name under different roots.
//!
//! The epoch is the writer's: each recovery of a partition takes a new one and first stores a
//! fence, an empty object saying "epoch E owns this partition from offset `start` on"; an object
//! of an older epoch starting at or past a newer fence's `start` is void (see
//! [`ledger`](super::ledger)). Keys written before epochs existed have no `-e` part and read as
//! epoch 0.

use std::fmt;

use crate::records::Timestamp;

use super::Compression;

/// Longest source name kept in keys.
const MAX_SOURCE_LEN: usize = 128;

/// A data object (the valid records) or a dead-letter object (the rejected ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Data,
    Dlq,
    /// A batch's piece table: which objects its records went to in a layout other than
    /// netchaos's own ([`layout`](super::layout)). Written before the pieces, beside its data
    /// object, like a DLQ object.
    Pieces,
}

/// The root under which fences are kept.
pub const FENCE_ROOT: &str = "fence";

/// Where recovery moves data objects that do not count but may hold records nothing else has
/// (a hole in a store an older netchaos wrote); `verify` and recovery do not read it.
pub const QUARANTINE_ROOT: &str = "quarantine";

impl ObjectKind {
    /// The first key segment.
    pub fn root(self) -> &'static str {
        match self {
            ObjectKind::Data => "data",
            ObjectKind::Dlq => "dlq",
            ObjectKind::Pieces => "pieces",
        }
    }
}

/// A short, key-safe name for where the messages came from: `stdin`, a file stem, `run`, a topic.
///
/// Only `[A-Za-z0-9._-]` survive; any other character becomes `_`, an empty name becomes `_`, and
/// names are cut at 128 characters. Two inputs that sanitize to the same name share a key space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceName(String);

impl SourceName {
    pub fn new(raw: &str) -> Self {
        let mut name: String = raw
            .chars()
            .take(MAX_SOURCE_LEN)
            .map(|character| if character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-') { character } else { '_' })
            .collect();
        if name.is_empty() {
            name.push('_');
        }
        SourceName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `{root}/source={source}`: everything one source wrote of one kind.
pub fn source_prefix(kind: ObjectKind, source: &SourceName) -> String {
    format!("{}/source={}", kind.root(), source)
}

/// `part-{partition:05}-{first:020}-{last:020}-e{epoch:010}{extension}`.
pub fn file_name(name: FileName) -> String {
    let FileName { partition, first, last, epoch, compression } = name;
    format!("part-{partition:05}-{first:020}-{last:020}-e{epoch:010}{}", compression.extension())
}

/// The full key (relative to the storage prefix) of one object of a batch flushed at `flushed_at`.
pub fn object_key(kind: ObjectKind, source: &SourceName, flushed_at: Timestamp, name: FileName) -> String {
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`: the date is the first 10 characters, the hour characters 11-12.
    let time = flushed_at.to_string();
    let date = time.get(..10).unwrap_or("1970-01-01");
    let hour = time.get(11..13).unwrap_or("00");
    format!("{}/dt={date}/hour={hour}/{}", source_prefix(kind, source), file_name(name))
}

/// What a key says about its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub kind: ObjectKind,
    pub source: String,
    pub partition: u32,
    pub first: u64,
    pub last: u64,
    /// The writer's epoch; 0 for keys written before epochs.
    pub epoch: u64,
    pub compression: Compression,
}

/// Reads a key written by [`object_key`]; `None` for any other key.
pub fn parse_key(key: &str) -> Option<ParsedKey> {
    let mut segments = key.split('/');
    let kind = match segments.next()? {
        "data" => ObjectKind::Data,
        "dlq" => ObjectKind::Dlq,
        "pieces" => ObjectKind::Pieces,
        _ => return None,
    };
    let source = segments.next()?.strip_prefix("source=")?;
    let date = segments.next()?.strip_prefix("dt=")?;
    let hour = segments.next()?.strip_prefix("hour=")?;
    let name = segments.next()?;
    if segments.next().is_some() || source.is_empty() || !is_date(date) || !is_hour(hour) {
        return None;
    }
    let name = parse_file_name(name)?;
    Some(ParsedKey {
        kind,
        source: source.to_owned(),
        partition: name.partition,
        first: name.first,
        last: name.last,
        epoch: name.epoch,
        compression: name.compression,
    })
}

/// What an object's file name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileName {
    pub partition: u32,
    pub first: u64,
    pub last: u64,
    pub epoch: u64,
    pub compression: Compression,
}

/// Reads `part-{partition}-{first}-{last}[-e{epoch}]{extension}` into its parts; `None` when
/// `first > last`.
pub fn parse_file_name(name: &str) -> Option<FileName> {
    let compression = Compression::from_key(name)?;
    let stem = name.strip_prefix("part-")?.strip_suffix(compression.extension())?;
    let mut numbers = stem.split('-');
    let partition = parse_digits(numbers.next()?)?;
    let first = parse_digits(numbers.next()?)?;
    let last = parse_digits(numbers.next()?)?;
    let epoch = match numbers.next() {
        None => 0,
        Some(epoch) => parse_digits(epoch.strip_prefix('e')?)?,
    };
    if numbers.next().is_some() || first > last {
        return None;
    }
    Some(FileName { partition: u32::try_from(partition).ok()?, first, last, epoch, compression })
}

/// `fence/source={source}`: every fence of a source.
pub fn fence_prefix(source: &SourceName) -> String {
    format!("{FENCE_ROOT}/source={source}")
}

/// `fence/source={source}/part-{partition:05}`: one partition's fences.
pub fn partition_fence_prefix(source: &SourceName, partition: u32) -> String {
    format!("{}/part-{partition:05}", fence_prefix(source))
}

/// The key of the fence saying that `epoch` owns `partition` from `start` on.
pub fn fence_key(source: &SourceName, partition: u32, epoch: u64, start: u64) -> String {
    format!("{}/e{epoch:010}-{start:020}", partition_fence_prefix(source, partition))
}

/// A fence, read back from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fence {
    pub partition: u32,
    pub epoch: u64,
    pub start: u64,
}

/// Reads a key written by [`fence_key`] (of any source); `None` for any other key.
pub fn parse_fence_key(key: &str) -> Option<Fence> {
    let mut segments = key.split('/');
    if segments.next()? != FENCE_ROOT {
        return None;
    }
    segments.next()?.strip_prefix("source=").filter(|source| !source.is_empty())?;
    let partition = u32::try_from(parse_digits(segments.next()?.strip_prefix("part-")?)?).ok()?;
    let (epoch, start) = segments.next()?.strip_prefix('e')?.split_once('-')?;
    if segments.next().is_some() {
        return None;
    }
    Some(Fence { partition, epoch: parse_digits(epoch)?, start: parse_digits(start)? })
}

fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit())
}

fn is_hour(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|byte| byte.is_ascii_digit()) && text < "24"
}

/// `meta/source={source}/{name}`: a small metadata object of a source (which input it stands for,
/// the settings of the run that writes it). Recovery lists only `data/` and `dlq/` of its source,
/// and `verify` only `data/` and `dlq/`, so neither sees these.
pub fn source_meta_key(source: &SourceName, name: &str) -> String {
    format!("meta/source={source}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn named(partition: u32, first: u64, last: u64, epoch: u64, compression: Compression) -> FileName {
        FileName { partition, first, last, epoch, compression }
    }

    #[test]
    fn lays_out_data_and_dlq_keys() {
        let source = SourceName::new("stdin");
        let time = at("2026-03-07T05:59:59.999Z");
        assert_eq!(
            object_key(ObjectKind::Data, &source, time, named(3, 0, 99, 1, Compression::Gzip)),
            "data/source=stdin/dt=2026-03-07/hour=05/part-00003-00000000000000000000-00000000000000000099-e0000000001.json.gz"
        );
        assert_eq!(
            object_key(ObjectKind::Dlq, &source, time, named(3, 0, 99, 12, Compression::Zstd)),
            "dlq/source=stdin/dt=2026-03-07/hour=05/part-00003-00000000000000000000-00000000000000000099-e0000000012.json.zst"
        );
        assert_eq!(
            object_key(ObjectKind::Data, &source, at("2026-12-31T23:00:00Z"), named(0, 5, 5, 7, Compression::None)),
            "data/source=stdin/dt=2026-12-31/hour=23/part-00000-00000000000000000005-00000000000000000005-e0000000007.json"
        );
        assert_eq!(fence_key(&source, 3, 2, 100), "fence/source=stdin/part-00003/e0000000002-00000000000000000100");
    }

    #[test]
    fn reads_keys_without_an_epoch_as_epoch_zero() {
        let key = "data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz";
        assert_eq!(parse_key(key).unwrap().epoch, 0);
        assert_eq!(parse_key(&key.replace(".json.gz", "-e0000000004.json.gz")).unwrap().epoch, 4);
    }

    #[test]
    fn fences_parse_back_and_other_keys_do_not() {
        let source = SourceName::new("topic-a");
        assert_eq!(parse_fence_key(&fence_key(&source, 7, 3, 12_345)), Some(Fence { partition: 7, epoch: 3, start: 12_345 }));
        for bad in [
            "fence/source=s/part-00001/e0000000001",
            "fence/source=/part-00001/e1-0",
            "fence/source=s/part-x/e1-0",
            "fence/source=s/part-00001/1-0",
            "fence/source=s/part-00001/e1-0/extra",
            "data/source=s/part-00001/e1-0",
        ] {
            assert_eq!(parse_fence_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn sanitizes_source_names() {
        assert_eq!(SourceName::new("flows.2026-03_07").as_str(), "flows.2026-03_07");
        assert_eq!(SourceName::new("my topic/with=odd#chars").as_str(), "my_topic_with_odd_chars");
        assert_eq!(SourceName::new("").as_str(), "_");
        assert_eq!(SourceName::new("é").as_str(), "_");
        assert_eq!(SourceName::new(&"x".repeat(500)).as_str().len(), MAX_SOURCE_LEN);
    }

    #[test]
    fn parses_back_what_it_writes() {
        let source = SourceName::new("run");
        let key =
            object_key(ObjectKind::Dlq, &source, at("2026-01-02T03:04:05Z"), named(70_000, 12, 4_000_000_000_000, 9, Compression::Zstd));
        let parsed = parse_key(&key).unwrap();
        assert_eq!(
            parsed,
            ParsedKey {
                kind: ObjectKind::Dlq,
                source: "run".into(),
                partition: 70_000,
                first: 12,
                last: 4_000_000_000_000,
                epoch: 9,
                compression: Compression::Zstd
            }
        );
    }

    #[test]
    fn rejects_other_keys() {
        let good = "data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz";
        assert!(parse_key(good).is_some());
        for bad in [
            "manifests/manifest-00ff00ff00ff00ff.json",
            "other/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz",
            "data/s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz",
            "data/source=s/dt=2026-1-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.gz",
            "data/source=s/dt=2026-01-02/hour=24/part-00001-00000000000000000000-00000000000000000009.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000009-00000000000000000000.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000-00000000000000000009.json.bz2",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-00000000000000000000.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-0-9-1.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-0-9-e.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-0-9-e1-e2.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-99999999999-0-9.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/extra/part-00001-0-9.json.gz",
            "data/source=s/dt=2026-01-02/hour=03/part-00001-+0-9.json.gz",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_key_round_trips(partition: u32, first in 0u64..u64::MAX, span in 0u64..1_000_000, epoch: u64, millis in 0i64..253_402_300_799_999, source in "[ -~]{0,40}", codec in 0usize..3) {
            let last = first.saturating_add(span);
            let compression = Compression::ALL[codec];
            let source = SourceName::new(&source);
            for kind in [ObjectKind::Data, ObjectKind::Dlq, ObjectKind::Pieces] {
                let key = object_key(kind, &source, Timestamp::from_unix_millis(millis), named(partition, first, last, epoch, compression));
                let parsed = parse_key(&key).unwrap();
                prop_assert_eq!(parsed, ParsedKey { kind, source: source.to_string(), partition, first, last, epoch, compression });
            }
        }

        #[test]
        fn keys_sort_in_offset_order(partition: u32, a: u64, b: u64, epoch_a: u64, epoch_b: u64) {
            let (low, high) = (a.min(b), a.max(b));
            let name_low = file_name(named(partition, low, low, epoch_a, Compression::Gzip));
            let name_high = file_name(named(partition, high, high, epoch_b, Compression::Gzip));
            prop_assume!(low != high);
            prop_assert_eq!(name_low <= name_high, true);
        }
    }
}
