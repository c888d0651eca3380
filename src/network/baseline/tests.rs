//! The baseline's unit tests: its draws, the estate's records, and the realised rates and mix.

use super::*;
use crate::network::random::LaneRng;
use crate::network::random::rng_for;

/// 2026-01-01T00:00:00Z, Unix milliseconds.
const T0: i64 = 1_767_225_600_000;

#[test]
fn tcp_volume_respects_header_minimum() {
    let mut rng = rng_for(9, 9);
    for bytes in [0u64, 1, 39, 40, 41, 500, 20_001, 5_000_000_000] {
        let (packets, total) = tcp_volume(&mut rng, bytes);
        assert!(packets >= 1 && total >= packets * 40 && total <= packets * 65_535, "{bytes} -> {packets} {total}");
    }
}

#[test]
fn sizes_are_heavy_tailed() {
    let topology = Topology::new(3);
    let mut baseline = Baseline::new(&topology);
    let mut rng = rng_for(3, 3);
    let mut sizes: Vec<u64> = (0..20_000)
        .filter_map(|draw| match baseline.draw(&mut rng, T0 + draw * 20) {
            Draw::Session(session) if session.outcome == Outcome::Allowed => Some(session.bytes_down),
            _ => None,
        })
        .collect();
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2] as f64;
    let p999 = sizes[sizes.len() * 999 / 1000] as f64;
    let total: u64 = sizes.iter().sum();
    let top_one_percent: u64 = sizes[sizes.len() * 99 / 100..].iter().sum();
    assert!(p999 > 50.0 * median, "median {median} p99.9 {p999}");
    assert!(top_one_percent as f64 > 0.3 * total as f64, "elephants carry too little: {top_one_percent} of {total}");
}

#[test]
fn draw_weighted_draws_as_draw_with_the_vpcs_weights_and_follows_other_weights() {
    let topology = Topology::new(8);
    let (mut plain_baseline, mut weighted_baseline) = (Baseline::new(&topology), Baseline::new(&topology));
    let weights: Vec<f64> = topology.vpcs.iter().map(|vpc| vpc.weight).collect();
    let (mut plain, mut weighted_rng) = (rng_for(8, 8), rng_for(8, 8));
    for draw in 0..2_000 {
        let time_ms = T0 + draw * 50;
        assert_eq!(
            format!("{:?}", plain_baseline.draw(&mut plain, time_ms)),
            format!("{:?}", weighted_baseline.draw_weighted(&mut weighted_rng, time_ms, &weights))
        );
    }
    // Business conversations follow the weights; estate records (NODATA, probes, long
    // conversations' later windows) belong to their interfaces wherever they are.
    let mut baseline = Baseline::new(&topology);
    let mut vpc_of = |rng: &mut LaneRng, weights: &[f64]| loop {
        let before = baseline.estate_counts();
        let draw = baseline.draw_weighted(rng, T0, weights);
        if baseline.estate_counts() != before {
            continue;
        }
        break match draw {
            Draw::NoData(host) => host.vpc,
            Draw::Session(session) => match (session.client, session.server) {
                (Endpoint::Host(host), _) | (_, Endpoint::Host(host)) => host.vpc,
                _ => usize::MAX,
            },
        };
    };
    let mut rng = rng_for(9, 9);
    assert!((0..2_000).all(|_| vpc_of(&mut rng, &[0.0, 0.0, 1.0]) == 2));
    let in_first = (0..10_000).filter(|_| vpc_of(&mut rng, &[0.8, 0.1, 0.1]) == 0).count();
    assert!((7_700..8_300).contains(&in_first), "{in_first} of 10000 in the VPC weighted 0.8");
}

#[test]
fn caller_host_finds_the_first_host_of_the_role_going_round() {
    let topology = Topology::with_size(2, crate::network::topology::TopologySize { accounts: 1, vpcs: 2, instances: 500 }).unwrap();
    let baseline = Baseline::new(&topology);
    let (mut indexed, mut walked) = (rng_for(2, 2), rng_for(2, 2));
    for draw in 0..5_000 {
        let vpc = draw % 2;
        let roles: &[Role] = if draw % 3 == 0 { &[Role::Bastion] } else { &[Role::Api, Role::Worker, Role::Web] };
        let found = baseline.caller_host(&mut indexed, vpc, roles);
        // The walk it replaces, draw for draw.
        let role = *pick(&mut walked, roles);
        let hosts = &topology.vpcs[vpc].hosts;
        let start = (unit(&mut walked) * hosts.len() as f64) as usize;
        let walk = (0..hosts.len()).map(|offset| &topology.hosts[hosts[(start + offset) % hosts.len()]]).find(|host| host.role == role);
        assert!(std::ptr::eq(found, walk.unwrap()), "draw {draw}");
    }
}

#[test]
fn records_of_a_large_estate_validate() {
    use crate::network::session::{RecordContext, render_firewall, render_flow, render_no_data};
    use crate::records::{EventId, Record, validate, write_record};
    let size = crate::network::topology::TopologySize { accounts: 7, vpcs: 40, instances: 20_000 };
    let topology = Topology::with_size(12, size).unwrap();
    let mut baseline = Baseline::new(&topology);
    let mut rng = rng_for(12, 12);
    let mut out = Vec::new();
    let context = |seq: u64, time_ms: i64| RecordContext { event_id: EventId::new("0123456789abcdef", 0, seq), time_ms, label: None };
    let mut regions = std::collections::BTreeSet::new();
    let mut records = Vec::new();
    // Five logical minutes: NODATA records, probes and the later windows of long conversations
    // come in too.
    for seq in 0..30_000u64 {
        let time_ms = T0 + seq as i64 * 10;
        records.clear();
        match baseline.draw(&mut rng, time_ms) {
            Draw::NoData(host) => records.push(Record::VpcFlow(render_no_data(&topology, host, context(seq, time_ms)))),
            Draw::Session(session) => {
                for (side, prefer_destination) in crate::network::session::flow_records(&session) {
                    records.push(Record::VpcFlow(render_flow(&topology, &session, side, prefer_destination, context(seq, time_ms))));
                }
                records.push(Record::Firewall(render_firewall(&topology, &session, seq, context(seq, time_ms))));
            }
        }
        for record in &records {
            out.clear();
            write_record(record, &mut out);
            let parsed = validate(&out).unwrap_or_else(|rejection| panic!("{rejection:?}: {}", String::from_utf8_lossy(&out)));
            if let Record::VpcFlow(flow) = parsed {
                regions.insert(flow.region.to_string());
            }
        }
    }
    let estate = baseline.estate_counts();
    assert!(estate.no_data > 0 && estate.probes > 0 && estate.long_windows > 0, "{estate:?}");
    assert_eq!(regions.len(), crate::network::topology::REGIONS.len(), "{regions:?}");
}

#[test]
fn latency_stays_in_the_normal_band() {
    let mut rng = rng_for(4, 4);
    assert!((0..10_000).map(|_| normal_latency(&mut rng)).all(|latency| (10..=50).contains(&latency)));
}
