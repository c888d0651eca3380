//! The part of a flow record that fidelity measures, read from either form a user has: netchaos
//! JSON lines, or the AWS VPC flow log text format (space-separated fields named by a header line
//! of hyphenated names, `-` for a field that does not apply; `notes/formats.md`).
//!
//! Reading is lenient about what is not measured (unknown JSON fields and AWS columns are
//! skipped, so any flow-log version and field order reads) and strict about what is: a measured
//! field that does not parse is an error naming the field, never a silent default.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;

use crate::formats::aws_flow::{AwsField, FieldList};
use crate::records::{FlowAction, LogStatus};

/// One flow record, as far as fidelity looks at it. `None` where the record has no value (AWS's
/// `-`, netchaos's `null`): every address, port and count of a NODATA record, `tcp_flags` of a
/// non-TCP flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub srcaddr: Option<IpAddr>,
    pub dstaddr: Option<IpAddr>,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Unix seconds of the window's first packet.
    pub start: i64,
    /// Unix seconds of the window's last packet.
    pub end: i64,
    pub action: Option<FlowAction>,
    pub log_status: Option<LogStatus>,
    pub tcp_flags: Option<u8>,
}

/// What one line of input holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Flow(Flow),
    /// A netchaos firewall record: not a flow log, counted and skipped.
    Firewall,
    /// An empty line.
    Blank,
}

/// A netchaos JSON record's kind, read first: a firewall record's fields of the same names have
/// other types (`protocol` is `"TCP"` there).
#[derive(Deserialize)]
struct JsonKind<'a> {
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
}

/// The fields of a netchaos flow record that are measured; the rest is ignored.
#[derive(Deserialize)]
struct JsonFlow {
    #[serde(default)]
    srcaddr: Option<IpAddr>,
    #[serde(default)]
    dstaddr: Option<IpAddr>,
    #[serde(default)]
    srcport: Option<u16>,
    #[serde(default)]
    dstport: Option<u16>,
    #[serde(default)]
    protocol: Option<u8>,
    #[serde(default)]
    packets: Option<u64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    start: Option<i64>,
    #[serde(default)]
    end: Option<i64>,
    #[serde(default)]
    action: Option<FlowAction>,
    #[serde(default)]
    log_status: Option<LogStatus>,
    #[serde(default)]
    tcp_flags: Option<u8>,
}

/// One netchaos JSON line: a flow, a firewall record, or an error saying what is wrong.
pub fn parse_json_line(line: &[u8]) -> Result<Line, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Line::Blank);
    }
    let kind: JsonKind<'_> = serde_json::from_slice(line).map_err(|error| format!("not a netchaos JSON record ({error})"))?;
    match kind.event_type.as_deref() {
        Some("vpc_flow") => {}
        Some("firewall") => return Ok(Line::Firewall),
        Some(other) => return Err(format!("`event_type` is `{other}`, not `vpc_flow` or `firewall`")),
        None => return Err("a JSON object without `event_type`: not a netchaos record".into()),
    }
    let record: JsonFlow = serde_json::from_slice(line).map_err(|error| format!("not a netchaos flow record ({error})"))?;
    let (Some(start), Some(end)) = (record.start, record.end) else {
        return Err("a vpc_flow record without `start` or `end`".into());
    };
    Ok(Line::Flow(Flow {
        srcaddr: record.srcaddr,
        dstaddr: record.dstaddr,
        srcport: record.srcport,
        dstport: record.dstport,
        protocol: record.protocol,
        packets: record.packets,
        bytes: record.bytes,
        start,
        end,
        action: record.action,
        log_status: record.log_status,
        tcp_flags: record.tcp_flags,
    }))
}

/// The columns every AWS input must name: the measured fields of the version 2 default format.
const REQUIRED: [&str; 11] =
    ["srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "action", "log-status"];

/// The layout of an AWS text file: which of AWS's fields each column holds (`None`: a name
/// AWS's format does not have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLayout {
    columns: Vec<Option<AwsField>>,
}

impl AwsLayout {
    /// The layout a header line names (`version account-id ... log-status`, any order, any
    /// version's fields); an error when it lacks a required field or names one twice.
    pub fn from_header(header: &str) -> Result<Self, String> {
        let names: Vec<&str> = header.split_ascii_whitespace().collect();
        for required in REQUIRED {
            if !names.contains(&required) {
                return Err(format!("the AWS flow-log header has no `{required}` field (it needs at least: {})", REQUIRED.join(" ")));
            }
        }
        let mut columns = Vec::with_capacity(names.len());
        for (at, name) in names.iter().enumerate() {
            if names[..at].contains(name) {
                return Err(format!("the AWS flow-log header names `{name}` twice"));
            }
            columns.push(AwsField::parse(name));
        }
        Ok(Self { columns })
    }

    /// Whether `line` is a header (names fields) rather than a record: its first field is AWS's
    /// `version` or it names `srcaddr`.
    pub fn is_header(line: &str) -> bool {
        let mut fields = line.split_ascii_whitespace();
        let first = fields.next();
        first == Some("version") || first == Some("srcaddr") || line.split_ascii_whitespace().any(|field| field == "srcaddr")
    }

    /// The version 2 default layout (AWS's default format, in its fixed order), for a file
    /// without a header whose first line is a v2 record.
    pub fn v2_default() -> Self {
        Self { columns: FieldList::v2_default().fields().iter().copied().map(Some).collect() }
    }

    /// Whether `line` looks like a record of the v2 default format: 14 fields, the first a version.
    pub fn is_v2_record(line: &str) -> bool {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        fields.len() == 14 && fields[0].parse::<u8>().is_ok()
    }

    /// One record line in this layout.
    pub fn parse(&self, line: &str) -> Result<Line, String> {
        if line.trim().is_empty() {
            return Ok(Line::Blank);
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() != self.columns.len() {
            return Err(format!("{} fields where the header names {}", fields.len(), self.columns.len()));
        }
        let mut flow = Flow {
            srcaddr: None,
            dstaddr: None,
            srcport: None,
            dstport: None,
            protocol: None,
            packets: None,
            bytes: None,
            start: 0,
            end: 0,
            action: None,
            log_status: None,
            tcp_flags: None,
        };
        let (mut start, mut end) = (None, None);
        for (column, text) in self.columns.iter().zip(fields) {
            let Some(column) = column else { continue };
            if text == "-" {
                continue;
            }
            match column {
                AwsField::Srcaddr => flow.srcaddr = Some(value(text, "srcaddr")?),
                AwsField::Dstaddr => flow.dstaddr = Some(value(text, "dstaddr")?),
                AwsField::Srcport => flow.srcport = Some(value(text, "srcport")?),
                AwsField::Dstport => flow.dstport = Some(value(text, "dstport")?),
                AwsField::Protocol => flow.protocol = Some(value(text, "protocol")?),
                AwsField::Packets => flow.packets = Some(value(text, "packets")?),
                AwsField::Bytes => flow.bytes = Some(value(text, "bytes")?),
                AwsField::Start => start = Some(value(text, "start")?),
                AwsField::End => end = Some(value(text, "end")?),
                AwsField::TcpFlags => flow.tcp_flags = Some(value(text, "tcp-flags")?),
                AwsField::Action => {
                    flow.action = Some(match text {
                        "ACCEPT" => FlowAction::Accept,
                        "REJECT" => FlowAction::Reject,
                        _ => return Err(format!("`action` is `{text}`, not ACCEPT, REJECT or -")),
                    });
                }
                AwsField::LogStatus => {
                    flow.log_status = Some(match text {
                        "OK" => LogStatus::Ok,
                        "NODATA" => LogStatus::Nodata,
                        "SKIPDATA" => LogStatus::Skipdata,
                        _ => return Err(format!("`log-status` is `{text}`, not OK, NODATA or SKIPDATA")),
                    });
                }
                // Fields fidelity does not measure.
                _ => {}
            }
        }
        let (Some(start), Some(end)) = (start, end) else {
            return Err("a record without `start` or `end`".into());
        };
        flow.start = start;
        flow.end = end;
        Ok(Line::Flow(flow))
    }
}

fn value<T: std::str::FromStr>(text: &str, field: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("`{field}` is `{text}`, which does not parse"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_in_any_order_reads_its_fields_and_dashes_as_none() {
        let layout =
            AwsLayout::from_header("start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status tcp-flags vpc-id")
                .unwrap();
        let Line::Flow(flow) =
            layout.parse("1418530010 1418530070 172.31.16.139 172.31.16.21 20641 22 6 20 4249 ACCEPT OK 19 vpc-1").unwrap()
        else {
            panic!("not a flow")
        };
        assert_eq!(
            (flow.start, flow.end, flow.dstport, flow.bytes, flow.tcp_flags),
            (1418530010, 1418530070, Some(22), Some(4249), Some(19))
        );
        assert_eq!(flow.srcaddr, Some("172.31.16.139".parse().unwrap()));
        let Line::Flow(nodata) = layout.parse("1431280876 1431280934 - - - - - - - - NODATA - vpc-1").unwrap() else {
            panic!("not a flow")
        };
        assert_eq!((nodata.srcaddr, nodata.packets, nodata.action, nodata.log_status), (None, None, None, Some(LogStatus::Nodata)));
    }

    #[test]
    fn the_v2_default_reads_aws_documented_example() {
        let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        assert!(AwsLayout::is_v2_record(line) && !AwsLayout::is_header(line));
        let Line::Flow(flow) = AwsLayout::v2_default().parse(line).unwrap() else { panic!("not a flow") };
        assert_eq!((flow.protocol, flow.packets, flow.action), (Some(6), Some(20), Some(FlowAction::Accept)));
    }

    #[test]
    fn bad_headers_and_fields_say_what_is_wrong() {
        assert!(AwsLayout::from_header("version srcaddr dstaddr").unwrap_err().contains("`srcport`"));
        let layout = AwsLayout::v2_default();
        assert!(layout.parse("2 1 eni-1 1.2.3.4 5.6.7.8 x 22 6 20 4249 1 2 ACCEPT OK").unwrap_err().contains("`srcport` is `x`"));
        assert!(layout.parse("2 1 eni-1").unwrap_err().contains("3 fields"));
        assert!(parse_json_line(b"{\"event_type\":\"dns\"}").unwrap_err().contains("`dns`"));
        assert!(parse_json_line(b"garbage").is_err());
        assert_eq!(parse_json_line(b"{\"event_type\":\"firewall\",\"x\":1}"), Ok(Line::Firewall));
    }
}
