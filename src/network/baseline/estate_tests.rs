//! Statistical checks of the baseline over large seeded samples: the background rate per exposed
//! interface at any record rate, one `NODATA` record per idle interface per window, a record per
//! window of each long conversation, and the flow-size mix against the AGH 2015 reference.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::background::{BACKGROUND_RULE, HEAVY_SOURCES, PROBES_PER_MINUTE};
use super::idle::{interface_key, is_idle};
use super::{Baseline, Draw};
use crate::network::random::rng_for;
use crate::network::session::{Endpoint, Session, flow_records};
use crate::network::topology::Topology;
use crate::records::TcpFlags;

/// 2026-01-01T00:00:00Z, Unix milliseconds.
const T0: i64 = 1_767_225_600_000;

/// Draws of every lane of a run with `lanes` traffic lanes, each drawing `per_second`
/// conversations a second for `minutes` of logical time; `each` sees every draw, with its lane,
/// time and whether it was a probe.
fn run_lanes<'t>(topology: &'t Topology, lanes: u32, per_second: f64, minutes: i64, mut each: impl FnMut(u32, i64, bool, Draw<'t>)) {
    for lane in 0..lanes {
        let mut baseline = Baseline::new(topology);
        baseline.set_lane(lane, lanes);
        let mut rng = rng_for(77, u64::from(lane));
        let draws = (per_second * 60.0 * minutes as f64) as u64;
        for draw in 0..draws {
            let time_ms = T0 + (draw as f64 * 1000.0 / per_second) as i64;
            let probes = baseline.estate_counts().probes;
            let drawn = baseline.draw(&mut rng, time_ms);
            each(lane, time_ms, baseline.estate_counts().probes > probes, drawn);
        }
    }
}

/// Probes per exposed interface per minute, and per interface, of a run.
fn probe_rate(topology: &Topology, lanes: u32, per_second: f64, minutes: i64) -> (f64, HashMap<Ipv4Addr, u64>, Vec<Session<'_>>) {
    let mut per_host: HashMap<Ipv4Addr, u64> = HashMap::new();
    let mut probes = Vec::new();
    run_lanes(topology, lanes, per_second, minutes, |_, _, probe, draw| {
        if let (true, Draw::Session(session)) = (probe, draw) {
            *per_host.entry(session.server.address()).or_default() += 1;
            probes.push(session);
        }
    });
    let exposed = topology.hosts.iter().filter(|host| topology.is_exposed(host)).count();
    (probes.len() as f64 / exposed as f64 / minutes as f64, per_host, probes)
}

#[test]
fn background_probes_come_at_13_a_minute_per_exposed_interface_at_any_rate() {
    let topology = Topology::new(5);
    let exposed: Vec<Ipv4Addr> = topology.hosts.iter().filter(|host| topology.is_exposed(host)).map(|host| host.address).collect();
    assert_eq!(exposed.len(), 21, "web servers and bastions of three VPCs");
    // 21 interfaces × 13 a minute × 120 minutes = 32,760 probes: a Poisson count's spread is 0.6%.
    for (lanes, per_second, minutes) in [(2, 40.0, 120), (1, 400.0, 30), (3, 20.0, 120)] {
        let (rate, per_host, _) = probe_rate(&topology, lanes, per_second, minutes);
        assert!((12.5..13.5).contains(&rate), "{rate} probes a minute per interface at {per_second}/s in {lanes} lanes");
        assert_eq!(per_host.len(), exposed.len(), "every exposed interface is probed, only they are");
        let expected = PROBES_PER_MINUTE * minutes as f64;
        for (address, count) in &per_host {
            assert!(exposed.contains(address), "{address} is not exposed");
            assert!((*count as f64 - expected).abs() < 5.0 * expected.sqrt(), "{address}: {count} probes, {expected} expected");
        }
    }
    // Below the cap's rate (2 × 21 × 13 / 60 ≈ 9 draws a second) at most every other draw is one.
    let (rate, _, _) = probe_rate(&topology, 1, 4.0, 60);
    assert!(rate < PROBES_PER_MINUTE * 0.8 && rate * 21.0 <= 4.0 * 60.0 / 2.0, "capped rate {rate}");
}

#[test]
fn background_sources_are_a_few_heavy_scanners_and_a_long_tail_on_the_real_ports() {
    let topology = Topology::new(6);
    let (_, _, probes) = probe_rate(&topology, 1, 100.0, 60);
    let heavy: Vec<Ipv4Addr> = topology.internet_noise_sources[..HEAVY_SOURCES].to_vec();
    let sources: Vec<Ipv4Addr> = probes.iter().map(|probe| probe.client.address()).collect();
    let from_heavy = sources.iter().filter(|source| heavy.contains(source)).count() as f64 / sources.len() as f64;
    assert!((0.46..0.54).contains(&from_heavy), "heavy scanners send {from_heavy} of the probes");
    let distinct: std::collections::HashSet<&Ipv4Addr> = sources.iter().collect();
    assert!(distinct.len() as f64 > 0.45 * sources.len() as f64, "{} sources for {} probes", distinct.len(), sources.len());
    let mut ports: HashMap<u16, u64> = HashMap::new();
    for probe in &probes {
        *ports.entry(probe.server_port).or_default() += 1;
    }
    let mut ranked: Vec<(u16, u64)> = ports.into_iter().collect();
    ranked.sort_by_key(|(port, count)| (std::cmp::Reverse(*count), *port));
    assert_eq!(ranked[0].0, 23, "{:?}", &ranked[..5]);
    assert_eq!(ranked[1].0, 22, "{:?}", &ranked[..5]);
    let top: Vec<u16> = ranked[..8].iter().map(|(port, _)| *port).collect();
    for port in [445, 3389, 8080] {
        assert!(top.contains(&port), "{port} not among the top ports {top:?}");
    }
    let refused = probes.iter().filter(|probe| probe.rule == BACKGROUND_RULE).count() as f64 / probes.len() as f64;
    assert_eq!(refused, 1.0, "every probe is refused");
    let served = |probe: &Session<'_>| {
        topology.services.iter().any(|service| {
            service.port == probe.server_port
                && service.members.iter().any(|member| topology.hosts[*member].address == probe.server.address())
        })
    };
    assert!(!probes.iter().any(|probe| probe.protocol == crate::records::protocol::TCP && served(probe)), "a probe of a served port");
}

#[test]
fn each_idle_interface_gets_one_nodata_record_per_window() {
    let topology = Topology::new(7);
    let minutes = 90;
    let mut written: HashMap<(Ipv4Addr, i64), u32> = HashMap::new();
    run_lanes(&topology, 2, 30.0, minutes, |_, time_ms, _, draw| {
        if let Draw::NoData(host) = draw {
            *written.entry((host.address, time_ms.div_euclid(60_000))).or_default() += 1;
        }
    });
    let first = T0.div_euclid(60_000);
    let idle: Vec<(Ipv4Addr, i64)> = (first..first + minutes)
        .flat_map(|window| {
            topology
                .hosts
                .iter()
                .filter(move |host| is_idle(interface_key(host), host.role, window))
                .map(move |host| (host.address, window))
        })
        .collect();
    let per_window = idle.len() as f64 / minutes as f64;
    assert!((4.0..12.0).contains(&per_window), "{per_window} idle interfaces a window of 117");
    assert!(written.values().all(|count| *count == 1), "an interface got two NODATA records in one window");
    assert!(written.keys().all(|key| idle.contains(key)), "a busy interface got a NODATA record");
    let per_idle = written.len() as f64 / idle.len() as f64;
    assert!(per_idle > 0.99, "{per_idle} NODATA records per idle interface and window");
}

/// A long conversation's record: its time, window index, window count, and the window's view.
type WindowRecord<'t> = (i64, u32, u32, Session<'t>);

#[test]
fn long_conversations_have_a_record_in_every_window_syn_first_fin_last() {
    let topology = Topology::new(8);
    // Per long conversation (by its client end): the time, index and window count of each record.
    let mut seen: HashMap<(Ipv4Addr, u16), Vec<WindowRecord<'_>>> = HashMap::new();
    let minutes = 150;
    run_lanes(&topology, 1, 20.0, minutes, |_, time_ms, _, draw| {
        if let Draw::Session(session) = draw
            && let Some(part) = session.window
        {
            let key = (session.client.address(), session.client_port);
            seen.entry(key).or_default().push((time_ms, part.index, part.windows, session));
        }
    });
    let complete: Vec<_> =
        seen.values().filter(|records| records.first().is_some_and(|first| first.1 == 0 && first.0 < T0 + 60 * 60_000)).collect();
    assert!(complete.len() >= 30, "{} long conversations started in the first hour", complete.len());
    for records in complete {
        let windows = records[0].2;
        assert!((2..=60).contains(&windows), "{windows} windows");
        assert_eq!(records.iter().map(|record| record.1).collect::<Vec<_>>(), (0..windows).collect::<Vec<_>>(), "a window is missing");
        for pair in records.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!((59_000..61_000).contains(&gap), "{gap} ms between windows");
        }
        for (_, index, _, session) in records {
            let (up, down) = (
                session.window_traffic(crate::network::session::Side::Request),
                session.window_traffic(crate::network::session::Side::Response),
            );
            let expected = if *index == 0 {
                (TcpFlags::SYN, TcpFlags::SYN_ACK)
            } else if index + 1 == windows {
                (TcpFlags::FIN, TcpFlags::FIN)
            } else {
                (TcpFlags::NONE, TcpFlags::NONE)
            };
            assert_eq!((up.flags, down.flags), expected, "window {index} of {windows}");
            assert!(up.packets >= 1 && up.bytes >= 40 * up.packets && up.duration_ms <= 60_000);
            assert!(matches!(session.client, Endpoint::Host(_)));
        }
    }
}

/// The AGH 2015 reference: one-packet flows, flows over 1 MiB and their share of bytes.
#[test]
fn flow_sizes_match_the_agh_2015_campus_mix() {
    let topology = Topology::new(9);
    let (mut flows, mut one_packet, mut elephants) = (0u64, 0u64, 0u64);
    let (mut bytes, mut elephant_bytes) = (0u128, 0u128);
    run_lanes(&topology, 1, 20.0, 80, |_, _, probe, draw| {
        let Draw::Session(session) = draw else { return };
        if probe {
            return;
        }
        for (side, _) in flow_records(&session) {
            let traffic = session.window_traffic(side);
            flows += 1;
            one_packet += u64::from(traffic.packets == 1);
            bytes += u128::from(traffic.bytes);
            if traffic.bytes > 1 << 20 {
                elephants += 1;
                elephant_bytes += u128::from(traffic.bytes);
            }
        }
    });
    assert!(flows >= 200_000, "{flows} flows");
    let one_packet_share = one_packet as f64 / flows as f64;
    let elephant_share = elephants as f64 / flows as f64;
    let elephant_byte_share = elephant_bytes as f64 / bytes as f64;
    assert!((0.417..0.477).contains(&one_packet_share), "one-packet flows {one_packet_share}");
    assert!((0.003..0.007).contains(&elephant_share), "flows over 1 MiB {elephant_share}");
    assert!((0.85..0.97).contains(&elephant_byte_share), "bytes in flows over 1 MiB {elephant_byte_share}");
}
