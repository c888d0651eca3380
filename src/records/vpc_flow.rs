//! The AWS VPC Flow Log record, version 5 field set (`notes/formats.md`).
//!
//! Field names are AWS's with `-` turned into `_`. A field that does not apply is `null` where AWS
//! writes `-` (e.g. every address, port and count of a `NODATA` record, `tcp_flags` of non-TCP
//! flows, `traffic_path` of ingress flows). `latency_ms` is netchaos's extension: flow logs carry no
//! latency, so the name says plainly that it is ours.

use std::borrow::Cow;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EventId, Label, required};

/// IANA protocol numbers netchaos knows; any other is rejected.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const ICMPV6: u8 = 58;
    pub const KNOWN: [u8; 6] = [ICMP, TCP, UDP, GRE, ESP, ICMPV6];
}

/// The constant `event_type` of a flow record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VpcFlowTag {
    #[default]
    #[serde(rename = "vpc_flow")]
    VpcFlow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum FlowAction {
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogStatus {
    Ok,
    Nodata,
    Skipdata,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TrafficType {
    IPv4,
    IPv6,
    #[serde(rename = "EFA")]
    Efa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlowDirection {
    Ingress,
    Egress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SublocationType {
    Wavelength,
    Outpost,
    Localzone,
}

/// Values of `pkt-src-aws-service` / `pkt-dst-aws-service` that AWS documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AwsService {
    Amazon,
    AmazonAppflow,
    AmazonConnect,
    ApiGateway,
    Cloudfront,
    Codebuild,
    Dynamodb,
    Ebs,
    Ec2,
    Ec2InstanceConnect,
    Globalaccelerator,
    Route53,
    Route53Healthchecks,
    Route53Resolver,
    S3,
    WorkspacesGateways,
}

/// One flow-log record: what one network interface saw of one 5-tuple in one aggregation window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VpcFlow<'a> {
    pub event_type: VpcFlowTag,
    #[serde(borrow)]
    pub event_id: EventId<'a>,
    /// Flow-log format version: always 5 (the highest version among the fields carried).
    #[schemars(range(min = 5, max = 5))]
    pub version: u8,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account_id: Cow<'a, str>,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^eni-[0-9a-f]{17}$"))]
    pub interface_id: Cow<'a, str>,
    #[serde(deserialize_with = "required")]
    pub srcaddr: Option<IpAddr>,
    #[serde(deserialize_with = "required")]
    pub dstaddr: Option<IpAddr>,
    #[serde(deserialize_with = "required")]
    pub srcport: Option<u16>,
    #[serde(deserialize_with = "required")]
    pub dstport: Option<u16>,
    /// IANA protocol number (1 ICMP, 6 TCP, 17 UDP, ...).
    #[serde(deserialize_with = "required")]
    pub protocol: Option<u8>,
    #[serde(deserialize_with = "required")]
    pub packets: Option<u64>,
    #[serde(deserialize_with = "required")]
    pub bytes: Option<u64>,
    /// Unix seconds of the first packet in the aggregation window.
    pub start: i64,
    /// Unix seconds of the last packet in the aggregation window.
    pub end: i64,
    #[serde(deserialize_with = "required")]
    pub action: Option<FlowAction>,
    pub log_status: LogStatus,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^vpc-[0-9a-f]{8,17}$"))]
    pub vpc_id: Cow<'a, str>,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^subnet-[0-9a-f]{8,17}$"))]
    pub subnet_id: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "required_cow")]
    #[schemars(regex(pattern = r"^i-[0-9a-f]{8,17}$"))]
    pub instance_id: Option<Cow<'a, str>>,
    /// Bitmask OR-ed over the window: FIN 1, SYN 2, RST 4, SYN-ACK 18. TCP only.
    #[serde(deserialize_with = "required")]
    pub tcp_flags: Option<u8>,
    #[serde(rename = "type", deserialize_with = "required")]
    pub traffic_type: Option<TrafficType>,
    /// The real source behind NAT.
    #[serde(deserialize_with = "required")]
    pub pkt_srcaddr: Option<IpAddr>,
    /// The real destination behind NAT.
    #[serde(deserialize_with = "required")]
    pub pkt_dstaddr: Option<IpAddr>,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"))]
    pub region: Cow<'a, str>,
    #[serde(borrow)]
    #[schemars(regex(pattern = r"^[a-z]{3,5}[0-9]-az[0-9]$"))]
    pub az_id: Cow<'a, str>,
    #[serde(deserialize_with = "required")]
    pub sublocation_type: Option<SublocationType>,
    #[serde(borrow, deserialize_with = "required_cow")]
    pub sublocation_id: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "required")]
    pub pkt_src_aws_service: Option<AwsService>,
    #[serde(deserialize_with = "required")]
    pub pkt_dst_aws_service: Option<AwsService>,
    #[serde(deserialize_with = "required")]
    pub flow_direction: Option<FlowDirection>,
    /// Egress only: 1 same VPC, 2 internet or gateway endpoint, 3 VGW, 4 intra-region peering,
    /// 5 inter-region peering, 6 local gateway, 7 gateway endpoint (Nitro), 8 IGW (Nitro).
    #[serde(deserialize_with = "required")]
    pub traffic_path: Option<u8>,
    /// Extension: round-trip latency seen on the flow, in milliseconds.
    #[serde(deserialize_with = "required")]
    pub latency_ms: Option<u32>,
    #[serde(borrow, deserialize_with = "required_label")]
    pub label: Option<Label<'a>>,
}

fn required_cow<'de: 'a, 'a, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct OptionalStr;
    impl<'de> serde::de::Visitor<'de> for OptionalStr {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            super::borrow_str(deserializer).map(Some)
        }
    }
    deserializer.deserialize_option(OptionalStr)
}

pub(crate) fn required_label<'de: 'a, 'a, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Label<'a>>, D::Error> {
    Option::<Label<'a>>::deserialize(deserializer)
}
