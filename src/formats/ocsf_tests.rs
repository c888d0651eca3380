use std::borrow::Cow;

use arrow_array::{Array, Int32Array, Int64Array, StringArray, StructArray};
use serde_json::{Value, json};

use super::*;
use crate::formats::network_firewall;
use crate::records::{AnomalyKind, EventId, VpcFlowTag};

pub(crate) fn flow() -> VpcFlow<'static> {
    VpcFlow {
        event_type: VpcFlowTag::VpcFlow,
        event_id: EventId::new("00ff00ff00ff00ff", 0, 9),
        version: 5,
        account_id: Cow::Borrowed("123456789012"),
        interface_id: Cow::Borrowed("eni-0123456789abcdef0"),
        srcaddr: Some("10.0.1.5".parse().unwrap()),
        dstaddr: Some("198.51.100.7".parse().unwrap()),
        srcport: Some(40_000),
        dstport: Some(443),
        protocol: Some(6),
        packets: Some(10),
        bytes: Some(4_000),
        start: 1_772_863_140,
        end: 1_772_863_199,
        action: Some(FlowAction::Accept),
        log_status: LogStatus::Ok,
        vpc_id: Cow::Borrowed("vpc-0a1b2c3d"),
        subnet_id: Cow::Borrowed("subnet-0a1b2c3d"),
        instance_id: Some(Cow::Borrowed("i-0123456789abcdef0")),
        tcp_flags: Some(3),
        traffic_type: Some(TrafficType::IPv4),
        pkt_srcaddr: Some("10.0.1.5".parse().unwrap()),
        pkt_dstaddr: Some("198.51.100.7".parse().unwrap()),
        region: Cow::Borrowed("us-east-1"),
        az_id: Cow::Borrowed("use1-az1"),
        sublocation_type: None,
        sublocation_id: None,
        pkt_src_aws_service: None,
        pkt_dst_aws_service: None,
        flow_direction: Some(FlowDirection::Egress),
        traffic_path: Some(8),
        latency_ms: Some(20),
        label: None,
    }
}

fn no_data() -> VpcFlow<'static> {
    VpcFlow {
        srcaddr: None,
        dstaddr: None,
        srcport: None,
        dstport: None,
        protocol: None,
        packets: None,
        bytes: None,
        action: None,
        log_status: LogStatus::Nodata,
        tcp_flags: None,
        traffic_type: None,
        pkt_srcaddr: None,
        pkt_dstaddr: None,
        flow_direction: None,
        traffic_path: None,
        latency_ms: None,
        ..flow()
    }
}

fn one(write: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut out = Vec::new();
    write(&mut out);
    assert_eq!(out.iter().filter(|byte| **byte == b'\n').count(), 1);
    assert_eq!(out.last(), Some(&b'\n'));
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn an_accepted_flow_is_traffic_allowed() {
    let event = one(|out| write_flow(&flow(), out));
    assert_eq!(event["class_uid"], 4001);
    assert_eq!(event["category_uid"], 4);
    assert_eq!(event["activity_id"], 6);
    assert_eq!(event["type_uid"], 400106);
    assert_eq!(event["action_id"], 1);
    assert_eq!(event["disposition_id"], 1);
    assert_eq!(event["severity_id"], 1);
    assert_eq!(event["time"], 1_772_863_199_000i64);
    assert_eq!(event["start_time"], 1_772_863_140_000i64);
    assert_eq!(event["end_time"], 1_772_863_199_000i64);
    assert_eq!(event["metadata"]["version"], "1.1.0");
    assert_eq!(event["metadata"]["product"]["name"], "netchaos");
    assert_eq!(event["metadata"]["uid"], "00ff00ff00ff00ff-0-9");
    assert!(event["metadata"].get("correlation_uid").is_none());
    assert_eq!(event["cloud"], json!({"provider": "AWS", "account": {"uid": "123456789012"}, "region": "us-east-1", "zone": "use1-az1"}));
    // Egress: the ENI is the source's.
    assert_eq!(
        event["src_endpoint"],
        json!({"ip": "10.0.1.5", "port": 40000, "interface_uid": "eni-0123456789abcdef0", "vpc_uid": "vpc-0a1b2c3d",
            "subnet_uid": "subnet-0a1b2c3d", "instance_uid": "i-0123456789abcdef0"})
    );
    assert_eq!(event["dst_endpoint"], json!({"ip": "198.51.100.7", "port": 443}));
    assert_eq!(event["connection_info"]["protocol_num"], 6);
    assert_eq!(event["connection_info"]["tcp_flags"], 3);
    assert_eq!(event["connection_info"]["direction_id"], 2);
    assert_eq!(event["connection_info"]["boundary_id"], 11);
    assert_eq!(event["connection_info"]["protocol_ver_id"], 4);
    assert_eq!(event["traffic"], json!({"bytes": 4000, "packets": 10}));
    assert_eq!(event["unmapped"]["netchaos_latency_ms"], 20);
}

#[test]
fn a_rejected_ingress_flow_is_refuse_denied_blocked() {
    let rejected = VpcFlow {
        action: Some(FlowAction::Reject),
        flow_direction: Some(FlowDirection::Ingress),
        traffic_path: None,
        label: Some(Label { kind: AnomalyKind::PortScan, episode_id: Cow::Borrowed("scan-3") }),
        ..flow()
    };
    let event = one(|out| write_flow(&rejected, out));
    assert_eq!((event["activity_id"].clone(), event["type_uid"].clone()), (json!(5), json!(400105)));
    assert_eq!((event["action_id"].clone(), event["disposition_id"].clone()), (json!(2), json!(2)));
    assert_eq!(event["connection_info"]["direction_id"], 1);
    assert!(event["connection_info"].get("boundary_id").is_none());
    assert_eq!(event["dst_endpoint"]["interface_uid"], "eni-0123456789abcdef0");
    assert!(event["src_endpoint"].get("interface_uid").is_none());
    assert_eq!(event["metadata"]["correlation_uid"], "scan-3");
    assert_eq!(event["metadata"]["labels"], json!(["port_scan"]));
}

#[test]
fn traffic_paths_map_to_boundaries() {
    let boundaries: Vec<u32> = (1..=8).map(|path| boundary(path).unwrap().0).collect();
    assert_eq!(boundaries, [4, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(boundary(1).unwrap().1, "Same VPC");
    assert_eq!(boundary(8).unwrap().1, "Internet Gateway");
    assert_eq!(boundary(0), None);
    assert_eq!(boundary(9), None);
}

#[test]
fn nat_addresses_go_to_intermediate_ips() {
    let behind_nat = VpcFlow { pkt_srcaddr: Some("10.9.9.9".parse().unwrap()), ..flow() };
    let event = one(|out| write_flow(&behind_nat, out));
    assert_eq!(event["src_endpoint"]["intermediate_ips"], json!(["10.9.9.9"]));
    assert!(event["dst_endpoint"].get("intermediate_ips").is_none());
}

#[test]
fn nodata_and_skipdata_are_other_with_the_eni_only() {
    let event = one(|out| write_flow(&no_data(), out));
    assert_eq!((event["activity_id"].clone(), event["activity_name"].clone()), (json!(99), json!("NODATA")));
    assert_eq!(event["type_uid"], 400199);
    assert_eq!((event["action_id"].clone(), event["disposition_id"].clone()), (json!(0), json!(0)));
    assert_eq!(event["status_id"], 1);
    assert_eq!(event["src_endpoint"]["interface_uid"], "eni-0123456789abcdef0");
    assert!(event["src_endpoint"].get("ip").is_none());
    // The class requires both endpoints and each to name something: both carry the ENI.
    assert_eq!(event["dst_endpoint"], event["src_endpoint"]);
    assert_eq!(event["connection_info"], json!({"direction_id": 0, "direction": "Unknown"}));
    assert!(event.get("traffic").is_none());
    let skipped = one(|out| write_flow(&VpcFlow { log_status: LogStatus::Skipdata, ..no_data() }, out));
    assert_eq!((skipped["activity_name"].clone(), skipped["status_id"].clone()), (json!("SKIPDATA"), json!(2)));
    // Whatever direction such a record claims, both endpoints carry its ENI.
    let ingress = one(|out| write_flow(&VpcFlow { flow_direction: Some(FlowDirection::Ingress), ..no_data() }, out));
    assert_eq!(ingress["src_endpoint"]["interface_uid"], "eni-0123456789abcdef0");
    assert_eq!(ingress["dst_endpoint"]["interface_uid"], "eni-0123456789abcdef0");
}

#[test]
fn firewall_actions_map_to_activities_and_dispositions() {
    let session = network_firewall::tests::session();
    for (action, activity, action_id, disposition_id) in [
        (FirewallAction::Allow, 6, 1, 1),
        (FirewallAction::Deny, 5, 2, 2),
        (FirewallAction::Drop, 5, 2, 6),
        (FirewallAction::Reset, 3, 2, 21),
    ] {
        let event = one(|out| write_firewall(&Firewall { action, ..session.clone() }, out));
        assert_eq!(event["activity_id"], activity, "{action:?}");
        assert_eq!(event["type_uid"], 400100 + activity);
        assert_eq!(event["action_id"], action_id);
        assert_eq!(event["disposition_id"], disposition_id);
        assert_eq!(event["severity_id"], if action == FirewallAction::Allow { 1 } else { 2 });
    }
}

#[test]
fn a_firewall_session_carries_its_tuple_counts_and_rule() {
    let session = network_firewall::tests::session();
    let event = one(|out| write_firewall(&session, out));
    assert_eq!(event["time"], 1_772_863_199_999i64);
    assert_eq!(event["start_time"], 1_772_863_197_499i64);
    assert_eq!(event["duration"], 2_500);
    assert_eq!(event["app_name"], "fw-prod");
    assert_eq!(event["cloud"], json!({"provider": "AWS", "region": "us-east-1", "zone": "us-east-1a"}));
    assert_eq!(event["src_endpoint"], json!({"ip": "203.0.113.9", "port": 51000}));
    assert_eq!(event["dst_endpoint"], json!({"ip": "10.0.1.5", "port": 443}));
    assert_eq!(event["connection_info"]["direction_id"], 1);
    assert_eq!(event["connection_info"]["uid"], network_firewall::flow_id(&session).to_string());
    assert_eq!(
        event["traffic"],
        json!({"bytes": 57200, "packets": 52, "bytes_out": 1200, "bytes_in": 56000, "packets_out": 12, "packets_in": 40})
    );
    assert_eq!(event["firewall_rule"]["name"], "allow-ingress-https");
    assert_eq!(event["unmapped"]["session_end_reason"], "tcp-fin");
    let internal = one(|out| write_firewall(&Firewall { direction: FirewallDirection::Internal, ..session.clone() }, out));
    assert_eq!(
        (internal["connection_info"]["direction_id"].clone(), internal["connection_info"]["direction"].clone()),
        (json!(3), json!("Lateral"))
    );
}

fn column<'a, T: 'static>(parent: &'a StructArray, name: &str) -> &'a T {
    parent.column_by_name(name).unwrap().as_any().downcast_ref::<T>().unwrap()
}

#[test]
fn parquet_holds_every_event_with_nested_columns() {
    let mut parquet = OcsfParquet::new();
    assert!(parquet.is_empty());
    parquet.push_flow(&flow());
    parquet.push_flow(&no_data());
    parquet.push_flow(&VpcFlow {
        pkt_srcaddr: Some("10.9.9.9".parse().unwrap()),
        label: Some(Label { kind: AnomalyKind::Beaconing, episode_id: Cow::Borrowed("b-1") }),
        ..flow()
    });
    let session = network_firewall::tests::session();
    parquet.push_firewall(&session);
    parquet.push_firewall(&Firewall { http_status: Some(503), app_proto: crate::records::AppProto::Http, ..session });
    assert_eq!(parquet.len(), 5);
    let file = parquet.finish().unwrap();
    assert_eq!(&file[..4], b"PAR1");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file)).unwrap();
    let compression = reader.metadata().row_group(0).column(0).compression();
    assert!(matches!(compression, parquet::basic::Compression::GZIP(_)), "{compression:?}");
    let batches: Vec<_> = reader.build().unwrap().map(Result::unwrap).collect();
    let batch = arrow_select_concat(&batches);
    assert_eq!(batch.num_rows(), 5);
    let root = StructArray::from(batch);
    let activity: &Int32Array = column(&root, "activity_id");
    assert_eq!(activity.values().to_vec(), [6, 99, 6, 6, 6]);
    let time: &Int64Array = column(&root, "time");
    assert_eq!(time.value(3), 1_772_863_199_999);
    let metadata: &StructArray = column(&root, "metadata");
    let uid: &StringArray = column(metadata, "uid");
    assert_eq!(uid.value(0), "00ff00ff00ff00ff-0-9");
    let correlation: &StringArray = column(metadata, "correlation_uid");
    assert!(correlation.is_null(0));
    assert_eq!(correlation.value(2), "b-1");
    let traffic: &StructArray = column(&root, "traffic");
    let bytes_in: &Int64Array = column(traffic, "bytes_in");
    assert_eq!(bytes_in.value(3), 56_000);
    let unmapped: &StructArray = column(&root, "unmapped");
    let http: &Int32Array = column(unmapped, "http_status");
    assert_eq!(http.value(4), 503);
}

/// The batches as one (the reader may split rows across batches).
fn arrow_select_concat(batches: &[arrow_array::RecordBatch]) -> arrow_array::RecordBatch {
    assert_eq!(batches.len(), 1, "five rows fit one batch");
    batches[0].clone()
}

#[test]
fn parquet_of_nothing_is_a_valid_empty_file() {
    let file = OcsfParquet::new().finish().unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file)).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
}

#[test]
fn counters_past_i64_saturate_so_parquet_still_writes() {
    let mut session = network_firewall::tests::session();
    session.session_id = u64::MAX;
    session.bytes_sent = u64::MAX;
    let event = one(|out| write_firewall(&session, out));
    assert_eq!(event["unmapped"]["session_id"], i64::MAX);
    assert_eq!(event["traffic"]["bytes_out"], i64::MAX);
    let mut parquet = OcsfParquet::new();
    parquet.push_firewall(&session);
    assert!(parquet.finish().is_ok(), "a valid record never makes a piece unwritable");
}
