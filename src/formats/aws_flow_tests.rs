//! Tests of the AWS text form (a file of its own: the record fixtures are long).

use std::borrow::Cow;

use super::*;
use crate::records::{EventId, VpcFlowTag};

/// AWS's v2 example flow (VPC user guide, "Flow log record examples"), with v3-v5 fields added.
pub(crate) fn accepted_flow() -> VpcFlow<'static> {
    VpcFlow {
        event_type: VpcFlowTag::VpcFlow,
        event_id: EventId::new("00ff00ff", 1, 2),
        version: 5,
        account_id: Cow::Borrowed("123456789010"),
        interface_id: Cow::Borrowed("eni-1235b8ca123456789"),
        srcaddr: Some("172.31.16.139".parse().unwrap()),
        dstaddr: Some("172.31.16.21".parse().unwrap()),
        srcport: Some(20641),
        dstport: Some(22),
        protocol: Some(6),
        packets: Some(20),
        bytes: Some(4249),
        start: 1418530010,
        end: 1418530070,
        action: Some(FlowAction::Accept),
        log_status: LogStatus::Ok,
        vpc_id: Cow::Borrowed("vpc-abcdefab012345678"),
        subnet_id: Cow::Borrowed("subnet-aaaaaaaa012345678"),
        instance_id: Some(Cow::Borrowed("i-01234567890123456")),
        tcp_flags: Some(19),
        traffic_type: Some(TrafficType::IPv4),
        pkt_srcaddr: Some("172.31.16.139".parse().unwrap()),
        pkt_dstaddr: Some("172.31.16.21".parse().unwrap()),
        region: Cow::Borrowed("us-east-2"),
        az_id: Cow::Borrowed("use2-az2"),
        sublocation_type: None,
        sublocation_id: None,
        pkt_src_aws_service: None,
        pkt_dst_aws_service: Some(AwsService::S3),
        flow_direction: Some(FlowDirection::Egress),
        traffic_path: Some(1),
        latency_ms: Some(3),
        label: None,
    }
}

/// AWS's NODATA example: no addresses, ports, counts or action.
pub(crate) fn no_data_flow() -> VpcFlow<'static> {
    VpcFlow {
        srcaddr: None,
        dstaddr: None,
        srcport: None,
        dstport: None,
        protocol: None,
        packets: None,
        bytes: None,
        start: 1431280876,
        end: 1431280934,
        action: None,
        log_status: LogStatus::Nodata,
        instance_id: None,
        tcp_flags: None,
        traffic_type: None,
        pkt_srcaddr: None,
        pkt_dstaddr: None,
        pkt_dst_aws_service: None,
        flow_direction: None,
        traffic_path: None,
        latency_ms: None,
        ..accepted_flow()
    }
}

fn line(fields: &FieldList, flow: &VpcFlow<'_>) -> String {
    let mut out = Vec::new();
    fields.write_line(flow, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn field_lists_have_aws_counts_and_versions() {
    assert_eq!(FieldList::v2_default().fields().len(), 14);
    assert_eq!(FieldList::v5_all().fields().len(), 29);
    assert_eq!(FieldList::v2_default().version(), 2);
    assert_eq!(FieldList::v5_all().version(), 5);
    assert_eq!(FieldList::v5_all().fields(), &AwsField::ALL);
    // Versions rise along AWS's table, and each version's count is AWS's: 14, 7, 4, 4.
    let per_version: Vec<usize> = (2..=5).map(|v| AwsField::ALL.iter().filter(|f| f.version() == v).count()).collect();
    assert_eq!(per_version, [14, 7, 4, 4]);
    assert!(AwsField::ALL.windows(2).all(|pair| pair[0].version() <= pair[1].version()));
}

#[test]
fn header_is_the_hyphenated_names() {
    assert_eq!(
        FieldList::v2_default().header(),
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    );
    let header = FieldList::v5_all().header();
    assert!(header.ends_with("pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"), "{header}");
    assert!(header.contains(" vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id "), "{header}");
    assert_eq!(header.split(' ').count(), 29);
}

#[test]
fn v2_line_is_awss_example() {
    assert_eq!(
        line(&FieldList::v2_default(), &accepted_flow()),
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n"
    );
}

#[test]
fn no_data_line_is_awss_example() {
    assert_eq!(
        line(&FieldList::v2_default(), &no_data_flow()),
        "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n"
    );
}

#[test]
fn v5_line_writes_every_field_and_dashes_for_none() {
    let text = line(&FieldList::v5_all(), &accepted_flow());
    assert_eq!(
        text,
        "5 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK \
         vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 19 IPv4 172.31.16.139 172.31.16.21 us-east-2 use2-az2 \
         - - - S3 egress 1\n"
    );
    let no_data = line(&FieldList::v5_all(), &no_data_flow());
    for text in [&text, &no_data] {
        let body = text.strip_suffix('\n').unwrap();
        assert!(!body.contains('\n') && !body.contains('\r') && !body.ends_with(' ') && !body.contains("  "), "{text:?}");
        assert_eq!(body.split(' ').count(), 29);
    }
}

#[test]
fn version_is_the_flow_logs_not_the_records() {
    let custom = FieldList::parse("version,srcaddr,vpc-id").unwrap();
    assert_eq!(custom.version(), 3);
    assert_eq!(line(&custom, &accepted_flow()), "3 172.31.16.139 vpc-abcdefab012345678\n");
    let only_v2 = FieldList::parse("dstport version").unwrap();
    assert_eq!(line(&only_v2, &accepted_flow()), "22 2\n");
}

#[test]
fn ipv6_addresses_are_written_in_their_usual_form() {
    let flow = VpcFlow { srcaddr: Some("2001:db8::1".parse().unwrap()), ..accepted_flow() };
    let fields = FieldList::parse("srcaddr,dstaddr").unwrap();
    assert_eq!(line(&fields, &flow), "2001:db8::1 172.31.16.21\n");
}

#[test]
fn parse_takes_names_placeholders_and_presets() {
    assert_eq!(FieldList::parse("v2-default"), Ok(FieldList::v2_default()));
    assert_eq!(FieldList::parse(" v5-all "), Ok(FieldList::v5_all()));
    let aws_format = AwsField::ALL.map(|field| format!("${{{}}}", field.name())).join(" ");
    assert_eq!(FieldList::parse(&aws_format), Ok(FieldList::v5_all()));
    let underscored = AwsField::ALL.map(AwsField::column_name).join(",");
    assert_eq!(FieldList::parse(&underscored), Ok(FieldList::v5_all()));
    for field in AwsField::ALL {
        assert_eq!(AwsField::parse(field.name()), Some(field));
        assert_eq!(AwsField::parse(field.column_name()), Some(field));
        assert_eq!(field.column_name(), field.name().replace('-', "_"));
    }
    assert_eq!(AwsField::parse("Version"), None);
    assert_eq!(AwsField::parse("latency_ms"), None);
}

#[test]
fn parse_errors_say_what_and_how() {
    let unknown = FieldList::parse("version,srcadr").unwrap_err();
    assert!(unknown.contains("`srcadr`") && unknown.contains("v2-default") && unknown.contains("pkt-src-aws-service"), "{unknown}");
    let twice = FieldList::parse("version,srcaddr,version").unwrap_err();
    assert!(twice.contains("`version` is given twice"), "{twice}");
    for empty in ["", " , ,", "   "] {
        let error = FieldList::parse(empty).unwrap_err();
        assert!(error.contains("no flow-log fields"), "{error}");
    }
    for error in [unknown, twice] {
        assert!(!error.contains('\n'));
    }
}

#[test]
fn parquet_and_athena_types_are_awss() {
    let int32: Vec<&str> = AwsField::ALL.into_iter().filter(|f| f.is_int32()).map(AwsField::name).collect();
    assert_eq!(int32, ["version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path"]);
    let int64: Vec<&str> = AwsField::ALL.into_iter().filter(|f| f.is_int64()).map(AwsField::name).collect();
    assert_eq!(int64, ["packets", "bytes", "start", "end"]);
    assert_eq!(AwsField::Protocol.athena_type(), "bigint");
    assert_eq!(AwsField::Srcport.athena_type(), "int");
    assert_eq!(AwsField::End.athena_type(), "bigint");
    assert_eq!(AwsField::Type.athena_type(), "string");
}

#[test]
fn enum_names_are_the_records_serde_names() {
    fn serde_name(value: impl serde::Serialize) -> String {
        serde_json::to_value(value).unwrap().as_str().unwrap().to_owned()
    }
    for value in [FlowAction::Accept, FlowAction::Reject] {
        assert_eq!(action_name(value), serde_name(value));
    }
    for value in [LogStatus::Ok, LogStatus::Nodata, LogStatus::Skipdata] {
        assert_eq!(log_status_name(value), serde_name(value));
    }
    for value in [TrafficType::IPv4, TrafficType::IPv6, TrafficType::Efa] {
        assert_eq!(traffic_type_name(value), serde_name(value));
    }
    for value in [SublocationType::Wavelength, SublocationType::Outpost, SublocationType::Localzone] {
        assert_eq!(sublocation_type_name(value), serde_name(value));
    }
    for value in [FlowDirection::Ingress, FlowDirection::Egress] {
        assert_eq!(flow_direction_name(value), serde_name(value));
    }
    let services = [
        AwsService::Amazon,
        AwsService::AmazonAppflow,
        AwsService::AmazonConnect,
        AwsService::ApiGateway,
        AwsService::Cloudfront,
        AwsService::Codebuild,
        AwsService::Dynamodb,
        AwsService::Ebs,
        AwsService::Ec2,
        AwsService::Ec2InstanceConnect,
        AwsService::Globalaccelerator,
        AwsService::Route53,
        AwsService::Route53Healthchecks,
        AwsService::Route53Resolver,
        AwsService::S3,
        AwsService::WorkspacesGateways,
    ];
    for value in services {
        assert_eq!(aws_service_name(value), serde_name(value));
    }
}

#[test]
fn flow_log_ids_are_stable_and_shaped_like_awss() {
    let id = flow_log_id("vpc-0a1b2c3d4e5f67890");
    assert_eq!(id, flow_log_id("vpc-0a1b2c3d4e5f67890"));
    assert_ne!(id, flow_log_id("vpc-0a1b2c3d4e5f67891"));
    let hex = id.strip_prefix("fl-").unwrap();
    assert_eq!(hex.len(), 17, "{id}");
    assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    // Pinned: a change of hash would rename every object a user has stored.
    assert_eq!(flow_log_id("vpc-00000000"), PINNED_FLOW_LOG_ID);
}

/// `flow_log_id("vpc-00000000")`, as first computed.
const PINNED_FLOW_LOG_ID: &str = "fl-e070a36580f29f9be";
