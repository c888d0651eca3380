//! AWS VPC Flow Logs in AWS's own text form: the fields, their names and order, the header line,
//! and one record line per [`VpcFlow`].
//!
//! Facts (AWS VPC user guide, "Flow log records", the "Available fields" table; the team's record-format notes):
//! - the 29 fields of versions 2 to 5 are listed in [`AwsField::ALL`] in AWS's table order; the
//!   default format is the 14 version-2 fields in that order ([`FieldList::v2_default`]);
//! - a line is the fields one space apart, `-` for a field that does not apply, in the flow log's
//!   format order; an S3 object starts with a header line naming the fields, hyphenated;
//! - the `version` field is the *flow log's* version, not the record's: "If you use the default
//!   format, the version is 2. If you use a custom format, the version is the highest version
//!   among the specified fields" (the `version` row of that table). So a `v2-default` line starts
//!   with `2` (as in AWS's examples, `2 123456789010 eni-1235b8ca123456789 ...`), a `v5-all` line
//!   with `5`, and a custom list with the highest version among its fields
//!   ([`FieldList::version`]), whatever the record's own `version` says.
//!
//! Writing a line allocates nothing: numbers go through `itoa`, IPv4 addresses octet by octet.

use std::io::Write as _;
use std::net::IpAddr;

use crate::records::{AwsService, FlowAction, FlowDirection, LogStatus, SublocationType, TrafficType, VpcFlow};

/// One field of AWS's VPC Flow Log format, v2-v5 (29 of them), in AWS's table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsField {
    Version,
    AccountId,
    InterfaceId,
    Srcaddr,
    Dstaddr,
    Srcport,
    Dstport,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcaddr,
    PktDstaddr,
    Region,
    AzId,
    SublocationType,
    SublocationId,
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
}

/// One field's value in one record, borrowed from it: what both the text line and the Parquet
/// column are written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValue<'a> {
    /// AWS writes `-` (Parquet: null).
    Missing,
    Unsigned(u64),
    Signed(i64),
    Text(&'a str),
    Address(IpAddr),
}

impl AwsField {
    /// AWS's table order: the 14 fields of version 2, then those of versions 3, 4 and 5.
    pub const ALL: [AwsField; 29] = [
        AwsField::Version,
        AwsField::AccountId,
        AwsField::InterfaceId,
        AwsField::Srcaddr,
        AwsField::Dstaddr,
        AwsField::Srcport,
        AwsField::Dstport,
        AwsField::Protocol,
        AwsField::Packets,
        AwsField::Bytes,
        AwsField::Start,
        AwsField::End,
        AwsField::Action,
        AwsField::LogStatus,
        AwsField::VpcId,
        AwsField::SubnetId,
        AwsField::InstanceId,
        AwsField::TcpFlags,
        AwsField::Type,
        AwsField::PktSrcaddr,
        AwsField::PktDstaddr,
        AwsField::Region,
        AwsField::AzId,
        AwsField::SublocationType,
        AwsField::SublocationId,
        AwsField::PktSrcAwsService,
        AwsField::PktDstAwsService,
        AwsField::FlowDirection,
        AwsField::TrafficPath,
    ];

    /// The name AWS uses in a log format and in the header line: hyphenated (`account-id`, `type`).
    pub fn name(self) -> &'static str {
        match self {
            AwsField::Version => "version",
            AwsField::AccountId => "account-id",
            AwsField::InterfaceId => "interface-id",
            AwsField::Srcaddr => "srcaddr",
            AwsField::Dstaddr => "dstaddr",
            AwsField::Srcport => "srcport",
            AwsField::Dstport => "dstport",
            AwsField::Protocol => "protocol",
            AwsField::Packets => "packets",
            AwsField::Bytes => "bytes",
            AwsField::Start => "start",
            AwsField::End => "end",
            AwsField::Action => "action",
            AwsField::LogStatus => "log-status",
            AwsField::VpcId => "vpc-id",
            AwsField::SubnetId => "subnet-id",
            AwsField::InstanceId => "instance-id",
            AwsField::TcpFlags => "tcp-flags",
            AwsField::Type => "type",
            AwsField::PktSrcaddr => "pkt-srcaddr",
            AwsField::PktDstaddr => "pkt-dstaddr",
            AwsField::Region => "region",
            AwsField::AzId => "az-id",
            AwsField::SublocationType => "sublocation-type",
            AwsField::SublocationId => "sublocation-id",
            AwsField::PktSrcAwsService => "pkt-src-aws-service",
            AwsField::PktDstAwsService => "pkt-dst-aws-service",
            AwsField::FlowDirection => "flow-direction",
            AwsField::TrafficPath => "traffic-path",
        }
    }

    /// The column name in AWS's Parquet objects and Athena tables: the name with `-` turned into
    /// `_` (`account_id`), as AWS's Athena DDL for flow logs names its columns (Athena docs,
    /// "vpc-flow-logs-parquet"; Athena matches Parquet columns by name).
    pub fn column_name(self) -> &'static str {
        match self {
            AwsField::AccountId => "account_id",
            AwsField::InterfaceId => "interface_id",
            AwsField::LogStatus => "log_status",
            AwsField::VpcId => "vpc_id",
            AwsField::SubnetId => "subnet_id",
            AwsField::InstanceId => "instance_id",
            AwsField::TcpFlags => "tcp_flags",
            AwsField::PktSrcaddr => "pkt_srcaddr",
            AwsField::PktDstaddr => "pkt_dstaddr",
            AwsField::AzId => "az_id",
            AwsField::SublocationType => "sublocation_type",
            AwsField::SublocationId => "sublocation_id",
            AwsField::PktSrcAwsService => "pkt_src_aws_service",
            AwsField::PktDstAwsService => "pkt_dst_aws_service",
            AwsField::FlowDirection => "flow_direction",
            AwsField::TrafficPath => "traffic_path",
            other => other.name(),
        }
    }

    /// A field by name: AWS's hyphenated name (`log-status`), the column name with `_`
    /// (`log_status`), or AWS's log-format placeholder (`${log-status}`). Lowercase only, as AWS
    /// spells them.
    pub fn parse(name: &str) -> Option<AwsField> {
        let bare = name.strip_prefix("${").and_then(|rest| rest.strip_suffix('}')).unwrap_or(name);
        AwsField::ALL.into_iter().find(|field| field.name() == bare || field.column_name() == bare)
    }

    /// The flow-log version that introduced the field (2 to 5).
    pub fn version(self) -> u8 {
        match self {
            AwsField::Version
            | AwsField::AccountId
            | AwsField::InterfaceId
            | AwsField::Srcaddr
            | AwsField::Dstaddr
            | AwsField::Srcport
            | AwsField::Dstport
            | AwsField::Protocol
            | AwsField::Packets
            | AwsField::Bytes
            | AwsField::Start
            | AwsField::End
            | AwsField::Action
            | AwsField::LogStatus => 2,
            AwsField::VpcId
            | AwsField::SubnetId
            | AwsField::InstanceId
            | AwsField::TcpFlags
            | AwsField::Type
            | AwsField::PktSrcaddr
            | AwsField::PktDstaddr => 3,
            AwsField::Region | AwsField::AzId | AwsField::SublocationType | AwsField::SublocationId => 4,
            AwsField::PktSrcAwsService | AwsField::PktDstAwsService | AwsField::FlowDirection | AwsField::TrafficPath => 5,
        }
    }

    /// AWS's Parquet type is INT_32: version, srcport, dstport, protocol, tcp-flags, traffic-path.
    pub fn is_int32(self) -> bool {
        matches!(
            self,
            AwsField::Version | AwsField::Srcport | AwsField::Dstport | AwsField::Protocol | AwsField::TcpFlags | AwsField::TrafficPath
        )
    }

    /// AWS's Parquet type is INT_64: packets, bytes, start, end. Every other field is a STRING.
    pub fn is_int64(self) -> bool {
        matches!(self, AwsField::Packets | AwsField::Bytes | AwsField::Start | AwsField::End)
    }

    /// The column type in AWS's Athena DDL for flow logs: `int`, `bigint` or `string`. It follows
    /// the Parquet types except for `protocol`, which AWS's DDL declares `bigint` (an INT_32
    /// Parquet column reads as `bigint` too).
    pub fn athena_type(self) -> &'static str {
        match self {
            AwsField::Protocol => "bigint",
            field if field.is_int32() => "int",
            field if field.is_int64() => "bigint",
            _ => "string",
        }
    }

    /// This field's value in `flow`; `version` is the flow log's version ([`FieldList::version`]).
    pub(crate) fn value<'a>(self, flow: &'a VpcFlow<'_>, version: u8) -> FieldValue<'a> {
        use FieldValue::{Address, Missing, Signed, Text, Unsigned};
        let unsigned = |value: Option<u64>| value.map_or(Missing, Unsigned);
        let address = |value: Option<IpAddr>| value.map_or(Missing, Address);
        let text = |value: Option<&'a str>| value.map_or(Missing, Text);
        match self {
            AwsField::Version => Unsigned(u64::from(version)),
            AwsField::AccountId => Text(&flow.account_id),
            AwsField::InterfaceId => Text(&flow.interface_id),
            AwsField::Srcaddr => address(flow.srcaddr),
            AwsField::Dstaddr => address(flow.dstaddr),
            AwsField::Srcport => unsigned(flow.srcport.map(u64::from)),
            AwsField::Dstport => unsigned(flow.dstport.map(u64::from)),
            AwsField::Protocol => unsigned(flow.protocol.map(u64::from)),
            AwsField::Packets => unsigned(flow.packets),
            AwsField::Bytes => unsigned(flow.bytes),
            AwsField::Start => Signed(flow.start),
            AwsField::End => Signed(flow.end),
            AwsField::Action => text(flow.action.map(action_name)),
            AwsField::LogStatus => Text(log_status_name(flow.log_status)),
            AwsField::VpcId => Text(&flow.vpc_id),
            AwsField::SubnetId => Text(&flow.subnet_id),
            AwsField::InstanceId => text(flow.instance_id.as_deref()),
            AwsField::TcpFlags => unsigned(flow.tcp_flags.map(u64::from)),
            AwsField::Type => text(flow.traffic_type.map(traffic_type_name)),
            AwsField::PktSrcaddr => address(flow.pkt_srcaddr),
            AwsField::PktDstaddr => address(flow.pkt_dstaddr),
            AwsField::Region => Text(&flow.region),
            AwsField::AzId => Text(&flow.az_id),
            AwsField::SublocationType => text(flow.sublocation_type.map(sublocation_type_name)),
            AwsField::SublocationId => text(flow.sublocation_id.as_deref()),
            AwsField::PktSrcAwsService => text(flow.pkt_src_aws_service.map(aws_service_name)),
            AwsField::PktDstAwsService => text(flow.pkt_dst_aws_service.map(aws_service_name)),
            AwsField::FlowDirection => text(flow.flow_direction.map(flow_direction_name)),
            AwsField::TrafficPath => unsigned(flow.traffic_path.map(u64::from)),
        }
    }
}

/// The fields of one flow log's format, in its order: no field twice, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldList {
    fields: Vec<AwsField>,
    /// The flow log's version, written in its `version` field.
    version: u8,
}

impl FieldList {
    /// AWS's default format: the 14 version-2 fields in order. Its version is 2.
    pub fn v2_default() -> Self {
        FieldList::custom(AwsField::ALL[..14].to_vec())
    }

    /// All 29 fields of versions 2 to 5 in AWS's table order. Its version is 5.
    pub fn v5_all() -> Self {
        FieldList::custom(AwsField::ALL.to_vec())
    }

    /// `fields` must be non-empty and without duplicates (the callers check).
    fn custom(fields: Vec<AwsField>) -> Self {
        let version = fields.iter().map(|field| field.version()).max().unwrap_or(2);
        FieldList { fields, version }
    }

    /// "v2-default" | "v5-all" | a list of field names, separated by commas or spaces (so AWS's
    /// own `--log-format` string, `${version} ${account-id} ...`, is accepted as it is). Names as
    /// [`AwsField::parse`] takes them. Err is one line saying what was wrong and what is accepted
    /// (unknown name, duplicate, empty).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "v2-default" => return Ok(FieldList::v2_default()),
            "v5-all" => return Ok(FieldList::v5_all()),
            _ => {}
        }
        let mut fields = Vec::new();
        for name in text.split(|c: char| c == ',' || c.is_ascii_whitespace()).filter(|name| !name.is_empty()) {
            let Some(field) = AwsField::parse(name) else {
                return Err(format!(
                    "unknown flow-log field `{name}`: give v2-default, v5-all or a comma list of AWS's field names ({})",
                    AwsField::ALL.map(AwsField::name).join(",")
                ));
            };
            if fields.contains(&field) {
                return Err(format!("flow-log field `{}` is given twice: name each field once", field.name()));
            }
            fields.push(field);
        }
        if fields.is_empty() {
            return Err("no flow-log fields given: give v2-default, v5-all or a comma list of AWS's field names".into());
        }
        Ok(FieldList::custom(fields))
    }

    pub fn fields(&self) -> &[AwsField] {
        &self.fields
    }

    /// The flow log's version, as AWS writes it in the `version` field: the highest version among
    /// the fields (2 for the default format).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The header line AWS writes first in each object: the names, one space apart, no newline.
    pub fn header(&self) -> String {
        self.fields.iter().map(|field| field.name()).collect::<Vec<_>>().join(" ")
    }

    /// Appends one record line + '\n': fields one space apart, `-` for a field that is None,
    /// no trailing space. Allocates nothing beyond `out`'s growth.
    pub fn write_line(&self, flow: &VpcFlow<'_>, out: &mut Vec<u8>) {
        for (index, field) in self.fields.iter().enumerate() {
            if index > 0 {
                out.push(b' ');
            }
            write_value(field.value(flow, self.version), out);
        }
        out.push(b'\n');
    }
}

/// One value as AWS writes it in a text line.
fn write_value(value: FieldValue<'_>, out: &mut Vec<u8>) {
    let mut numbers = itoa::Buffer::new();
    match value {
        FieldValue::Missing => out.push(b'-'),
        FieldValue::Unsigned(number) => out.extend_from_slice(numbers.format(number).as_bytes()),
        FieldValue::Signed(number) => out.extend_from_slice(numbers.format(number).as_bytes()),
        // Record strings are validated identifiers (no spaces); `-` would only be ambiguous for
        // an empty one, which validation rejects too.
        FieldValue::Text(text) => out.extend_from_slice(text.as_bytes()),
        FieldValue::Address(IpAddr::V4(address)) => {
            for (index, octet) in address.octets().into_iter().enumerate() {
                if index > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(numbers.format(octet).as_bytes());
            }
        }
        // Writing into a Vec cannot fail; `Display` for an address formats on the stack.
        FieldValue::Address(address) => {
            let _ = write!(out, "{address}");
        }
    }
}

/// AWS's flow-log id for a VPC: "fl-" + 17 lowercase hex, a pure function of the VPC id (one
/// flow log per VPC), stable across runs and machines. The 68 bits are XxHash64 (seed 0) of the
/// VPC id, then the low 4 bits of XxHash64 with seed 1.
pub fn flow_log_id(vpc_id: &str) -> String {
    let high = twox_hash::XxHash64::oneshot(0, vpc_id.as_bytes());
    let low = twox_hash::XxHash64::oneshot(1, vpc_id.as_bytes()) & 0xf;
    let wide = (u128::from(high) << 4) | u128::from(low);
    format!("fl-{wide:017x}")
}

/// The names AWS writes, the same as the records' serde names (a test checks each against serde).
pub(crate) fn action_name(action: FlowAction) -> &'static str {
    match action {
        FlowAction::Accept => "ACCEPT",
        FlowAction::Reject => "REJECT",
    }
}

pub(crate) fn log_status_name(status: LogStatus) -> &'static str {
    match status {
        LogStatus::Ok => "OK",
        LogStatus::Nodata => "NODATA",
        LogStatus::Skipdata => "SKIPDATA",
    }
}

pub(crate) fn traffic_type_name(traffic_type: TrafficType) -> &'static str {
    match traffic_type {
        TrafficType::IPv4 => "IPv4",
        TrafficType::IPv6 => "IPv6",
        TrafficType::Efa => "EFA",
    }
}

pub(crate) fn sublocation_type_name(sublocation: SublocationType) -> &'static str {
    match sublocation {
        SublocationType::Wavelength => "wavelength",
        SublocationType::Outpost => "outpost",
        SublocationType::Localzone => "localzone",
    }
}

pub(crate) fn flow_direction_name(direction: FlowDirection) -> &'static str {
    match direction {
        FlowDirection::Ingress => "ingress",
        FlowDirection::Egress => "egress",
    }
}

pub(crate) fn aws_service_name(service: AwsService) -> &'static str {
    match service {
        AwsService::Amazon => "AMAZON",
        AwsService::AmazonAppflow => "AMAZON_APPFLOW",
        AwsService::AmazonConnect => "AMAZON_CONNECT",
        AwsService::ApiGateway => "API_GATEWAY",
        AwsService::Cloudfront => "CLOUDFRONT",
        AwsService::Codebuild => "CODEBUILD",
        AwsService::Dynamodb => "DYNAMODB",
        AwsService::Ebs => "EBS",
        AwsService::Ec2 => "EC2",
        AwsService::Ec2InstanceConnect => "EC2_INSTANCE_CONNECT",
        AwsService::Globalaccelerator => "GLOBALACCELERATOR",
        AwsService::Route53 => "ROUTE53",
        AwsService::Route53Healthchecks => "ROUTE53_HEALTHCHECKS",
        AwsService::Route53Resolver => "ROUTE53_RESOLVER",
        AwsService::S3 => "S3",
        AwsService::WorkspacesGateways => "WORKSPACES_GATEWAYS",
    }
}

#[cfg(test)]
#[path = "aws_flow_tests.rs"]
pub(crate) mod tests;
