//! Where the records land and in what form, beyond netchaos's own JSON objects: VPC flows as AWS
//! writes them (`--layout aws`: text or Parquet, daily, hourly or Hive folders), firewall sessions
//! as AWS Network Firewall writes them (`--firewall-layout aws`), or both as OCSF Network Activity
//! under Security Lake's custom-source layout (`--format ocsf`).
//!
//! In any layout but the default, a batch's valid records are written as *pieces*: one object per
//! [`Group`] (for AWS flows, one flow-log id and one 5-minute window of `end`). A piece's key is a
//! pure function of the source, the partition, the batch's offset range and epoch, and the group
//! ([`piece_key`]), so a retried write rewrites the same key. Two batches of one group differ in
//! name only by `hash8` (32 bits, as AWS's): the chance that two of `n` such batches collide is
//! about n²/2³³, and a collision would overwrite a piece, which `verify` reports (a piece claimed
//! by two tables, its rows short). How
//! the pieces stay exactly once is argued in [`crate::sink`] (step 8).
//!
//! The key formats, from AWS's documentation:
//!
//! ```text
//! AWSLogs/{account}/vpcflowlogs/{region}/{yyyy}/{mm}/{dd}/[{HH}/]{account}_vpcflowlogs_{region}_{flow-log-id}_{yyyymmddTHHmmZ}_{hash8}.log.gz
//! AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={yyyy}/month={mm}/day={dd}/[hour={HH}/]…  (--hive)
//! AWSLogs/{account}/network-firewall/{flow|alert}/{region}/{firewall}/{yyyy}/{mm}/{dd}/{HH}/{account}_network-firewall_{flow|alert}_{region}_{firewall}_{yyyymmddHHmm}_{hash8}.log.gz
//! ext/{source}/region={region}/accountId={account}/eventDay={yyyymmdd}/{name}.json.gz | .gz.parquet  (OCSF)
//! records/source={source}/event_type={kind}/dt={yyyy-mm-dd}/{name}.json.gz   (netchaos JSON beside an AWS layout)
//! ```
//!
//! Parquet flow objects end in `.log.parquet`, as AWS names them ("…_{hash}.log.parquet" in the
//! VPC user guide's flow-logs-s3 page). The folder dates and the stamp are those of the group's
//! window (event time), not of the flush, so that where a record lands is deterministic.

use crate::formats::aws_flow::FieldList;
use crate::records::Timestamp;

use super::keys::SourceName;

/// Roots under which pieces live; `verify` lists them to find pieces no batch claims.
pub const PIECE_ROOTS: [&str; 3] = ["AWSLogs/", "ext/", "records/"];

/// How piece names end, after their hash.
const PIECE_SUFFIXES: [&str; 4] = [".log.gz", ".log.parquet", ".json.gz", ".gz.parquet"];

/// The width of AWS's delivery window: records are grouped by the 5 minutes their `end` falls in.
pub const WINDOW_SECONDS: i64 = 300;

/// How one record kind is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// netchaos's JSON lines.
    Json,
    /// As AWS writes the kind (VPC Flow Logs, or Network Firewall's EVE JSON).
    Aws,
    /// OCSF Network Activity (class 4001).
    Ocsf,
}

/// The body of AWS flow and OCSF pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    #[default]
    Text,
    Parquet,
}

/// The folders of AWS flow pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partitioning {
    /// `{yyyy}/{mm}/{dd}/`: AWS's default, the only one every reader accepts.
    #[default]
    Daily,
    /// `{yyyy}/{mm}/{dd}/{HH}/`.
    Hourly,
    /// `aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…/month=…/day=…/`.
    Hive { hourly: bool },
}

/// Where and how a sink writes its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub flows: Output,
    pub firewall: Output,
    pub file_format: FileFormat,
    pub partitioning: Partitioning,
    /// The flow fields of AWS text and Parquet pieces.
    pub fields: FieldList,
    /// The account in firewall pieces' keys (firewall sessions carry none).
    pub firewall_account: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            flows: Output::Json,
            firewall: Output::Json,
            file_format: FileFormat::Text,
            partitioning: Partitioning::Daily,
            fields: FieldList::v5_all(),
            firewall_account: DEFAULT_FIREWALL_ACCOUNT.to_owned(),
        }
    }
}

/// The account in firewall keys when none is given (`--firewall-account-id`). A firewall session
/// record carries no account, as Network Firewall's own events carry none: the account is the
/// delivery's, so it is a setting.
pub const DEFAULT_FIREWALL_ACCOUNT: &str = "123456789012";

impl Layout {
    /// netchaos's own layout: whole JSON records in `data/` objects named by offset range.
    pub fn is_netchaos(&self) -> bool {
        self.flows == Output::Json && self.firewall == Output::Json
    }

    /// How many buffers of a batch's size a write holds beside the batch and its lines while it
    /// builds the pieces: their uncompressed bodies and the ground truth. Measured on generated
    /// records (`generate --format`, 20,000 records): AWS flow text is 0.3× the JSON records,
    /// OCSF JSON 1.8×, the ground truth about 0.25×; Parquet's column buffers stay under one.
    /// Network Firewall's EVE lines (two netflow events and an alert) are up to 2× a session.
    /// OCSF Parquet holds the JSON lines and the columns decoded from them at once: 4 (measured
    /// by `sink_sources::the_piece_layouts_stay_inside_the_memory_budget`, which peaked at the
    /// budget's edge with 2).
    pub fn extra_buffers(&self) -> u64 {
        let ocsf = self.flows == Output::Ocsf || self.firewall == Output::Ocsf;
        if self.is_netchaos() {
            0
        } else if ocsf && self.file_format == FileFormat::Parquet {
            4
        } else if ocsf || self.firewall != Output::Json {
            2
        } else {
            1
        }
    }
}

/// What one piece of a batch holds: every valid record of the batch with the same group goes
/// into one piece. Ordered so that a batch's pieces are named and written in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// One flow log (one VPC) in one 5-minute window of `end`.
    AwsFlow { account: String, region: String, flow_log_id: String, window: i64 },
    /// One firewall's flow or alert events in one 5-minute window.
    Firewall { alert: bool, account: String, region: String, firewall: String, window: i64 },
    /// OCSF records of one account and region on one day.
    Ocsf { account: String, region: String, day: i64 },
    /// netchaos JSON records of one kind on one day.
    Json { event_type: &'static str, day: i64 },
}

/// The start of the 5-minute window holding `seconds`.
pub fn window_of(seconds: i64) -> i64 {
    seconds.div_euclid(WINDOW_SECONDS) * WINDOW_SECONDS
}

/// The start of the UTC day holding `seconds`.
pub fn day_of(seconds: i64) -> i64 {
    seconds.div_euclid(86_400) * 86_400
}

/// A batch's identity, which every one of its piece names derives from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchName<'a> {
    pub source: &'a SourceName,
    pub partition: u32,
    pub first: u64,
    pub last: u64,
    pub epoch: u64,
}

/// Eight lowercase hex characters: a pure function of the batch and of the rest of the piece's
/// key (`named`, the key with `{}` where the hash goes), which itself is one of the group.
fn hash8(batch: BatchName<'_>, named: &str) -> String {
    use std::hash::Hasher;
    let mut hasher = twox_hash::XxHash64::with_seed(0);
    let identity = format!("{}\0{}\0{}\0{}\0{}\0{named}", batch.source, batch.partition, batch.first, batch.last, batch.epoch);
    hasher.write(identity.as_bytes());
    format!("{:08x}", hasher.finish() as u32)
}

/// Whether `key` is a piece that `batch` writes: its hash is the one `batch` gives the rest of
/// the key. Recovery deletes only such pieces of a table that does not count, so a damaged table
/// naming another batch's pieces cannot make it delete records that count.
pub fn is_piece_of(key: &str, batch: BatchName<'_>) -> bool {
    let name_at = key.rfind('/').map_or(0, |slash| slash + 1);
    let Some(suffix) = PIECE_SUFFIXES.iter().find(|suffix| key.ends_with(*suffix)) else { return false };
    let dot = key.len() - suffix.len();
    let Some(hash_at) = dot.checked_sub(8).filter(|at| *at >= name_at) else { return false };
    // A damaged table may name anything: cut only at character boundaries.
    let (Some(before), Some(hash), Some(after)) = (key.get(..hash_at), key.get(hash_at..dot), key.get(dot..)) else { return false };
    hash8(batch, &format!("{before}{{}}{after}")) == hash
}

/// The calendar parts of a UTC time: `(yyyy, mm, dd, HH, MM)`, as text.
fn parts(seconds: i64) -> (String, String, String, String, String) {
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`
    let text = Timestamp::from_unix_millis(seconds.saturating_mul(1000)).to_string();
    let at = |range: std::ops::Range<usize>| text.get(range).unwrap_or("00").to_owned();
    (at(0..4), at(5..7), at(8..10), at(11..13), at(14..16))
}

/// Keeps a key segment to `[A-Za-z0-9._-]` (a firewall's name is free text). A firewall name as a key segment. Pieces are grouped by it, so names that read the same in a
/// key (`edge fw`, `edge_fw`) share one piece rather than overwrite each other's.
pub(super) fn segment(raw: &str) -> String {
    SourceName::new(raw).as_str().to_owned()
}

/// The key of one piece, relative to the storage prefix.
pub fn piece_key(layout: &Layout, batch: BatchName<'_>, group: &Group) -> String {
    let (before, suffix) = key_around_hash(layout, batch, group);
    let hash = hash8(batch, &format!("{before}{{}}{suffix}"));
    format!("{before}{hash}{suffix}")
}

/// A piece's key up to its hash, and from the `.` after it.
fn key_around_hash(layout: &Layout, batch: BatchName<'_>, group: &Group) -> (String, &'static str) {
    match group {
        Group::AwsFlow { account, region, flow_log_id, window } => {
            let (year, month, day, hour, minute) = parts(*window);
            let folders = match layout.partitioning {
                Partitioning::Daily => format!("AWSLogs/{account}/vpcflowlogs/{region}/{year}/{month}/{day}"),
                Partitioning::Hourly => format!("AWSLogs/{account}/vpcflowlogs/{region}/{year}/{month}/{day}/{hour}"),
                Partitioning::Hive { hourly } => {
                    let hour = if hourly { format!("/hour={hour}") } else { String::new() };
                    format!(
                        "AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={year}/month={month}/day={day}{hour}"
                    )
                }
            };
            let suffix = match layout.file_format {
                FileFormat::Text => ".log.gz",
                FileFormat::Parquet => ".log.parquet",
            };
            (format!("{folders}/{account}_vpcflowlogs_{region}_{flow_log_id}_{year}{month}{day}T{hour}{minute}Z_"), suffix)
        }
        Group::Firewall { alert, account, region, firewall, window } => {
            let (year, month, day, hour, minute) = parts(*window);
            let kind = if *alert { "alert" } else { "flow" };
            let firewall = segment(firewall);
            let before = format!(
                "AWSLogs/{account}/network-firewall/{kind}/{region}/{firewall}/{year}/{month}/{day}/{hour}/\
                 {account}_network-firewall_{kind}_{region}_{firewall}_{year}{month}{day}{hour}{minute}_"
            );
            (before, ".log.gz")
        }
        Group::Ocsf { account, region, day } => {
            let (year, month, date, _, _) = parts(*day);
            let suffix = match layout.file_format {
                FileFormat::Text => ".json.gz",
                FileFormat::Parquet => ".gz.parquet",
            };
            (
                format!("ext/{}/region={region}/accountId={account}/eventDay={year}{month}{date}/{}-", batch.source, piece_stem(batch)),
                suffix,
            )
        }
        Group::Json { event_type, day } => {
            let (year, month, date, _, _) = parts(*day);
            (format!("records/source={}/event_type={event_type}/dt={year}-{month}-{date}/{}-", batch.source, piece_stem(batch)), ".json.gz")
        }
    }
}

/// `part-{partition:05}-{first:020}-{last:020}-e{epoch:010}`: the start of the name of pieces in
/// layouts whose names are netchaos's to choose (the hash follows).
fn piece_stem(batch: BatchName<'_>) -> String {
    let BatchName { partition, first, last, epoch, .. } = batch;
    format!("part-{partition:05}-{first:020}-{last:020}-e{epoch:010}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(source: &SourceName) -> BatchName<'_> {
        BatchName { source, partition: 3, first: 100, last: 199, epoch: 2 }
    }

    fn flow_group(end: i64) -> Group {
        Group::AwsFlow {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            flow_log_id: "fl-0123456789abcdef0".into(),
            window: window_of(end),
        }
    }

    #[test]
    fn windows_are_five_minutes_of_end() {
        // AWS: a file stamped 16:20 holds records whose end is 16:20:00 to 16:24:59.
        let at_1620 = Timestamp::parse("2026-03-07T16:20:00Z").unwrap().unix_seconds();
        assert_eq!(window_of(at_1620), at_1620);
        assert_eq!(window_of(at_1620 + 299), at_1620);
        assert_eq!(window_of(at_1620 + 300), at_1620 + 300);
        assert_eq!(window_of(-1), -300);
        assert_eq!(day_of(at_1620), Timestamp::parse("2026-03-07T00:00:00Z").unwrap().unix_seconds());
    }

    #[test]
    fn flow_keys_follow_aws_in_each_partitioning() {
        let source = SourceName::new("run");
        let end = Timestamp::parse("2026-03-07T16:24:59Z").unwrap().unix_seconds();
        let group = flow_group(end);
        let mut layout = Layout { flows: Output::Aws, firewall: Output::Aws, ..Layout::default() };
        let key = piece_key(&layout, batch(&source), &group);
        let hash = key[key.len() - 15..key.len() - 7].to_owned();
        assert_eq!(
            key,
            format!(
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/07/123456789012_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20260307T1620Z_{hash}.log.gz"
            )
        );
        assert_eq!(hash.len(), 8);
        assert!(hash.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)));
        layout.partitioning = Partitioning::Hourly;
        assert!(piece_key(&layout, batch(&source), &group).starts_with("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/07/16/"));
        layout.partitioning = Partitioning::Hive { hourly: true };
        layout.file_format = FileFormat::Parquet;
        let hive = piece_key(&layout, batch(&source), &group);
        assert!(
            hive.starts_with(
                "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2026/month=03/day=07/hour=16/"
            ),
            "{hive}"
        );
        assert!(hive.ends_with(".log.parquet"), "{hive}");
        assert!(is_piece_of(&key, batch(&source)) && is_piece_of(&hive, batch(&source)));
        // A damaged table's key, cut inside a character, is no piece and no panic.
        assert!(!is_piece_of("AWSLogs/\u{fc}1234567.log.gz", batch(&source)));
        assert!(!is_piece_of("\u{fc}\u{fc}\u{fc}\u{fc}.log.gz", batch(&source)));
    }

    #[test]
    fn the_hash_is_a_pure_function_of_batch_and_group() {
        let source = SourceName::new("run");
        let layout = Layout { flows: Output::Aws, ..Layout::default() };
        let group = flow_group(1_000_000);
        let key = piece_key(&layout, batch(&source), &group);
        assert_eq!(key, piece_key(&layout, batch(&source), &group));
        let mut others = vec![piece_key(&layout, batch(&source), &flow_group(1_000_300))];
        for (first, last, epoch) in [(100, 198, 2), (101, 199, 2), (100, 199, 3)] {
            let other = BatchName { first, last, epoch, ..batch(&source) };
            others.push(piece_key(&layout, other, &group));
            assert!(!is_piece_of(&key, other), "a piece belongs to one batch only");
        }
        let moved = BatchName { partition: 4, ..batch(&source) };
        others.push(piece_key(&layout, moved, &group));
        assert!(!is_piece_of(&key, moved));
        let source_b = SourceName::new("other");
        others.push(piece_key(&layout, batch(&source_b), &group));
        assert!(!is_piece_of(&key, batch(&source_b)));
        let names: std::collections::BTreeSet<_> = others.iter().chain([&key]).collect();
        assert_eq!(names.len(), 7, "every input changes the name");
        assert!(is_piece_of(&key, batch(&source)));
        for damaged in ["", "x", "AWSLogs/a_b.log.gz", &key.replace("AWSLogs/1", "AWSLogs/2"), &format!("{key}x")] {
            assert!(!is_piece_of(damaged, batch(&source)), "{damaged}");
        }
    }

    #[test]
    fn firewall_ocsf_and_json_keys() {
        let source = SourceName::new("run");
        let layout = Layout { firewall: Output::Aws, ..Layout::default() };
        let window = Timestamp::parse("2026-03-07T05:55:00Z").unwrap().unix_seconds();
        let group = Group::Firewall {
            alert: true,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            firewall: "edge fw/1".into(),
            window,
        };
        let key = piece_key(&layout, batch(&source), &group);
        let hash = &key[key.len() - 15..key.len() - 7];
        assert_eq!(
            key,
            format!(
                "AWSLogs/111122223333/network-firewall/alert/us-east-1/edge_fw_1/2026/03/07/05/111122223333_network-firewall_alert_us-east-1_edge_fw_1_202603070555_{hash}.log.gz"
            )
        );
        let ocsf = Group::Ocsf { account: "111122223333".into(), region: "eu-west-1".into(), day: day_of(window) };
        let key = piece_key(&layout, batch(&source), &ocsf);
        assert!(key.starts_with("ext/run/region=eu-west-1/accountId=111122223333/eventDay=20260307/part-00003-"), "{key}");
        let json = Group::Json { event_type: "firewall", day: day_of(window) };
        let key = piece_key(&layout, batch(&source), &json);
        assert!(key.starts_with("records/source=run/event_type=firewall/dt=2026-03-07/part-00003-"), "{key}");
        assert!(PIECE_ROOTS.iter().all(|root| root.ends_with('/')));
    }
}
