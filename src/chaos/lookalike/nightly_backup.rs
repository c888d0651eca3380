//! `nightly_backup` (resembles `data_exfiltration`): a database host streams its nightly dump to
//! S3 or to a peer VPC's host, gigabytes over long sessions.
//!
//! The cron job starts at 01:00 UTC plus up to two hours ([`When::Daily`]), on the first database
//! host of a VPC drawn by the VPCs' weights (the primary whose dump is taken). It sends 5–400 GB
//! at 15–120 MB/s, which takes 15 minutes to 6 hours:
//!
//! - to **S3** (three nights in four): 10 parallel TCP connections on 443, the AWS CLI's default
//!   `max_concurrent_requests` for multipart uploads (<https://docs.aws.amazon.com/cli/latest/topic/s3-config.html>),
//!   each to an address of the region's S3 prefixes (from AWS's published ranges,
//!   <https://ip-ranges.amazonaws.com/ip-ranges.json>, `"service": "S3"`, as of 2026-08-22), as a
//!   gateway VPC endpoint reaches them. No firewall record: a gateway endpoint is a route to S3's
//!   prefix list, which bypasses the NAT gateway and the firewall in front of it;
//! - to the **first database host of another VPC** (a DR replica, one night in four when there is
//!   another VPC): 1–4 rsync-over-SSH streams on 22; the firewall logs each stream once, at its end.
//!
//! Each stream is one long connection: a record per direction at each of our ENIs in every 60 s
//! aggregation window it spans, `tcp_flags` SYN (2, SYN-ACK 18 back) in the first, 0 in the
//! middle, FIN (1) in the last; full-size segments up, delayed ACKs (one per two segments, 52
//! bytes) down, so bytes out ≫ bytes in, as in an exfiltration.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency, tcp_volume};
use crate::network::random::{LaneRng, between, chance, unit};
use crate::network::session::{Endpoint, Session, WINDOW_SECONDS};
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::super::{Actors, Emission, Episode, Start};
use super::{LookalikeSpec, When, address_in, first_of_role, log_uniform, vpc_by_weight};

pub(super) static LOOKALIKE: LookalikeSpec = LookalikeSpec {
    name: "nightly_backup",
    resembles: AnomalyKind::DataExfiltration,
    when: When::Daily { hour_utc: 1, jitter_minutes: 120 },
    start,
};

/// S3's largest published IPv4 prefix in each region of the topology ([`REGIONS`] order).
///
/// [`REGIONS`]: crate::network::topology::REGIONS
const S3_PREFIXES: [(&str, (Ipv4Addr, u8)); 13] = [
    ("us-east-1", (Ipv4Addr::new(52, 216, 0, 0), 15)),
    ("eu-west-1", (Ipv4Addr::new(52, 218, 0, 0), 17)),
    ("us-west-2", (Ipv4Addr::new(52, 218, 128, 0), 17)),
    ("eu-central-1", (Ipv4Addr::new(16, 12, 24, 0), 21)),
    ("ap-southeast-1", (Ipv4Addr::new(16, 12, 48, 0), 21)),
    ("ap-southeast-2", (Ipv4Addr::new(52, 95, 128, 0), 21)),
    ("ap-south-1", (Ipv4Addr::new(16, 12, 36, 0), 22)),
    ("sa-east-1", (Ipv4Addr::new(3, 5, 232, 0), 22)),
    ("us-east-2", (Ipv4Addr::new(52, 219, 80, 0), 20)),
    ("eu-west-2", (Ipv4Addr::new(3, 5, 244, 0), 22)),
    ("ap-northeast-2", (Ipv4Addr::new(3, 5, 184, 0), 21)),
    ("eu-north-1", (Ipv4Addr::new(3, 5, 216, 0), 22)),
    ("eu-west-3", (Ipv4Addr::new(3, 5, 204, 0), 22)),
];

/// The AWS CLI's default `max_concurrent_requests`: parallel parts of a multipart upload.
const S3_STREAMS: usize = 10;

const WINDOW_MS: u64 = WINDOW_SECONDS as u64 * 1_000;

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(NightlyBackup::start(rng, baseline, start))
}

/// Where the dump goes.
#[derive(Debug)]
enum Destination<'t> {
    /// S3 in the host's region, one address per stream.
    S3 { region: &'static str, addresses: Vec<Ipv4Addr> },
    /// A host of another VPC, over SSH.
    Peer(&'t Host),
}

#[derive(Debug)]
pub(super) struct NightlyBackup<'t> {
    host: &'t Host,
    destination: Destination<'t>,
    /// Per stream: its source port, when it opens (ms after the start), the bytes it has sent.
    streams: Vec<(u16, u64, u64)>,
    planned_bytes: u64,
    duration_ms: u64,
    windows: u64,
    /// The next (window, stream) to write, as `window * streams + stream`.
    cursor: u64,
}

impl<'t> NightlyBackup<'t> {
    /// A backup from the start's target host (else the first database host of a VPC drawn by
    /// weight), lasting the start's span when it fixes one.
    pub(super) fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let topology = baseline.topology;
        let host = baseline.target_host(rng, start.target).unwrap_or_else(|| {
            let vpc = vpc_by_weight(rng, baseline);
            first_of_role(baseline, vpc, Role::Database)
        });
        let to_peer = topology.vpcs.len() > 1 && chance(rng, 0.25);
        let (destination, stream_count) = if to_peer {
            let others = topology.vpcs.len() - 1;
            let other = (host.vpc + 1 + (unit(rng) * others as f64) as usize % others) % topology.vpcs.len();
            (Destination::Peer(first_of_role(baseline, other, Role::Database)), between(rng, 1, 4) as usize)
        } else {
            let region = topology.vpc_of(host).region;
            let prefix = S3_PREFIXES.iter().find(|(name, _)| *name == region).unwrap_or(&S3_PREFIXES[0]).1;
            let addresses = (0..S3_STREAMS).map(|_| address_in(rng, prefix)).collect();
            (Destination::S3 { region, addresses }, S3_STREAMS)
        };
        let planned_bytes = (log_uniform(rng, 5e9, 400e9) * start.intensity.max(0.0)).max(1e6) as u64;
        let bytes_per_second = log_uniform(rng, 15e6, 120e6);
        let duration_ms =
            start.span_ms.unwrap_or_else(|| ((planned_bytes as f64 / bytes_per_second * 1_000.0) as u64).clamp(15 * 60_000, 6 * 3_600_000));
        // The connections open one after another, 50 ms to 3 s apart; all close at the end.
        let mut opens_ms = 0;
        let streams = (0..stream_count)
            .map(|index| {
                if index > 0 {
                    opens_ms += between(rng, 50, 3_000);
                }
                (ephemeral_port(rng), opens_ms, 0)
            })
            .collect();
        NightlyBackup {
            host,
            destination,
            streams,
            planned_bytes,
            duration_ms: duration_ms.max(1_000),
            windows: duration_ms.div_ceil(WINDOW_MS).max(1),
            cursor: 0,
        }
    }

    fn conversations(&self) -> u64 {
        self.windows * self.streams.len() as u64
    }

    /// The stream's end of window `window`, ms after the start: when its record is written.
    fn window_end_ms(&self, window: u64, opens_ms: u64) -> u64 {
        opens_ms + ((window + 1) * WINDOW_MS).min(self.duration_ms)
    }

    fn server(&self, stream: usize) -> (Endpoint<'t>, u16) {
        match &self.destination {
            Destination::S3 { addresses, .. } => (Endpoint::External(addresses[stream]), 443),
            Destination::Peer(peer) => (Endpoint::Host(peer), 22),
        }
    }
}

impl<'t> Episode<'t> for NightlyBackup<'t> {
    /// Per window and stream, each direction at each of our ENIs; a firewall record per peer stream.
    fn planned_records(&self) -> u64 {
        match self.destination {
            Destination::S3 { .. } => self.conversations() * 2,
            Destination::Peer(_) => self.conversations() * 4 + self.streams.len() as u64,
        }
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let stream_count = self.streams.len() as u64;
        let (window, stream) = (self.cursor / stream_count, (self.cursor % stream_count) as usize);
        self.cursor += 1;
        let (first, last) = (window == 0, window + 1 == self.windows);
        let window_ms = (self.duration_ms - window * WINDOW_MS).min(WINDOW_MS);
        // This window's share of the stream's bytes, ±15% (TCP throughput wanders).
        let share = self.planned_bytes as f64 / (stream_count * self.duration_ms) as f64 * window_ms as f64;
        let bytes = (share * (0.85 + 0.3 * unit(rng))).max(1_500.0) as u64;
        let (packets_up, bytes_up) = tcp_volume(rng, bytes);
        let packets_down = packets_up / 2 + 1;
        let (flags_up, flags_down) = match (first, last) {
            (true, true) => (TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN),
            (true, false) => (TcpFlags::SYN, TcpFlags::SYN_ACK),
            (false, true) => (TcpFlags::FIN, TcpFlags::FIN),
            (false, false) => (TcpFlags::NONE, TcpFlags::NONE),
        };
        let (source_port, _, sent) = &mut self.streams[stream];
        *sent += bytes_up;
        let (source_port, sent) = (*source_port, *sent);
        let (app_proto, rule) = match self.destination {
            Destination::S3 { .. } => (AppProto::Tls, "allow-egress-s3-endpoint"),
            Destination::Peer(_) => (AppProto::Ssh, "allow-backup-replication"),
        };
        let latency = normal_latency(rng);
        let session = Session::new((Endpoint::Host(self.host), source_port), self.server(stream), protocol::TCP, app_proto, rule)
            .with_request(packets_up, bytes_up)
            .with_response(packets_down, packets_down * 52)
            .with_flags(flags_up, flags_down)
            .with_timing(window_ms, latency);
        Emission::conversation(session, false, out);
        if last && matches!(self.destination, Destination::Peer(_)) {
            let packets = sent / 1_448 + 1;
            let whole = Session::new((Endpoint::Host(self.host), source_port), self.server(stream), protocol::TCP, app_proto, rule)
                .with_request(packets, sent)
                .with_response(packets / 2 + 1, (packets / 2 + 1) * 52)
                .with_flags(TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN)
                .with_timing(self.duration_ms, latency);
            out.push_back(Emission::Firewall(whole));
        }
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.cursor >= self.conversations()
    }

    fn next_due_ms(&self) -> Option<u64> {
        let stream_count = self.streams.len() as u64;
        let cursor = self.cursor.min(self.conversations() - 1);
        Some(self.window_end_ms(cursor / stream_count, self.streams[(cursor % stream_count) as usize].1))
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let bytes_sent: u64 = self.streams.iter().map(|(_, _, sent)| sent).sum();
        let (destination, region, targets, port) = match &self.destination {
            Destination::S3 { region, addresses } => ("s3", *region, addresses.iter().map(|address| IpAddr::V4(*address)).collect(), 443),
            Destination::Peer(peer) => ("peer_vpc", "", vec![IpAddr::V4(peer.address)], 22),
        };
        let parameters = json!({
            "destination": destination,
            "region": region,
            "streams": self.streams.len(),
            "planned_bytes": self.planned_bytes,
            "bytes_sent": bytes_sent,
            "duration_ms": self.duration_ms,
            "windows": self.windows,
        });
        let actors = Actors { sources: vec![IpAddr::V4(self.host.address)], targets, ports: vec![port], service: None };
        (parameters, actors)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{T0_MS, run_timed};
    use super::*;
    use crate::network::session::Side;
    use crate::network::target::Target;
    use crate::network::topology::Topology;

    #[test]
    fn a_backup_streams_gigabytes_in_a_record_per_window_for_tens_of_minutes_to_hours() {
        let topology = Topology::new(7);
        let (mut to_s3, mut to_peer) = (0, 0);
        for seed in 0..12 {
            let backup = run_timed(&LOOKALIKE, &topology, &Target::Any, None, seed);
            let duration_ms = backup.parameters["duration_ms"].as_u64().unwrap();
            assert!((15 * 60_000..=6 * 3_600_000).contains(&duration_ms), "seed {seed}: {duration_ms} ms");
            let sent = backup.parameters["bytes_sent"].as_u64().unwrap() as f64;
            let planned = backup.parameters["planned_bytes"].as_u64().unwrap() as f64;
            assert!(sent >= 5e9 * 0.85 && (sent / planned - 1.0).abs() < 0.1, "seed {seed}: {sent} of {planned}");
            let source = backup.actors.sources[0];
            let IpAddr::V4(source_address) = source else { panic!("an IPv6 source") };
            assert_eq!(topology.host_at(source_address).unwrap().role, Role::Database, "seed {seed}");
            let streams = backup.parameters["streams"].as_u64().unwrap();
            let windows = backup.parameters["windows"].as_u64().unwrap();
            let sessions = backup.sessions();
            assert_eq!(sessions.len() as u64, streams * windows, "seed {seed}: a record per stream per window");
            // Every stream: SYN in its first window, nothing in the middle, FIN in its last; its
            // records a window apart.
            for port in sessions.iter().map(|(_, session)| session.client_port).collect::<std::collections::BTreeSet<_>>() {
                let stream: Vec<&(i64, &Session<'_>)> = sessions.iter().filter(|(_, session)| session.client_port == port).collect();
                assert_eq!(stream.len() as u64, windows);
                assert!(stream[0].1.flags_up.contains(TcpFlags::SYN));
                assert!(stream.last().unwrap().1.flags_up.contains(TcpFlags::FIN));
                assert!(stream[1..stream.len() - 1].iter().all(|(_, session)| session.flags_up == TcpFlags::NONE));
                for pair in stream.windows(2).take(stream.len().saturating_sub(2)) {
                    assert_eq!(pair[1].0 - pair[0].0, 60_000, "seed {seed}: a record every window");
                }
                assert!(stream.iter().all(|(_, session)| session.bytes_up > 20 * session.bytes_down));
            }
            let last = sessions.iter().map(|(time, _)| *time).max().unwrap();
            assert!((last - T0_MS - duration_ms as i64) < 60_000, "seed {seed}: ends with its duration");
            match backup.parameters["destination"].as_str().unwrap() {
                "s3" => {
                    to_s3 += 1;
                    assert_eq!(streams, 10);
                    let region = backup.parameters["region"].as_str().unwrap();
                    let prefix = S3_PREFIXES.iter().find(|(name, _)| *name == region).unwrap().1;
                    let in_prefix = |address: Ipv4Addr| u32::from(address) >> (32 - prefix.1) == u32::from(prefix.0) >> (32 - prefix.1);
                    assert!(sessions.iter().all(|(_, session)| session.server_port == 443 && in_prefix(session.server.address())));
                    assert!(backup.records.iter().all(|(_, emission)| matches!(emission, Emission::Flow { .. })), "no firewall");
                }
                _ => {
                    to_peer += 1;
                    let IpAddr::V4(peer) = backup.actors.targets[0] else { panic!("an IPv6 peer") };
                    let peer = topology.host_at(peer).unwrap();
                    assert_ne!(peer.vpc, topology.host_at(source_address).unwrap().vpc, "seed {seed}: a peer VPC");
                    let firewall = backup.records.iter().filter(|(_, emission)| matches!(emission, Emission::Firewall(_))).count();
                    assert_eq!(firewall as u64, streams, "one firewall record per stream");
                }
            }
        }
        assert!(to_s3 > 0 && to_peer > 0, "{to_s3} to S3, {to_peer} to a peer");
    }

    #[test]
    fn a_fixed_span_and_a_host_target_are_kept() {
        let topology = Topology::new(7);
        let host = &topology.hosts[50];
        let backup = run_timed(&LOOKALIKE, &topology, &Target::Host(host.address), Some(30 * 60_000), 3);
        assert_eq!(backup.parameters["duration_ms"], 30 * 60_000);
        assert_eq!(backup.parameters["windows"], 30);
        assert_eq!(backup.actors.sources, [IpAddr::V4(host.address)]);
        assert!(backup.end_ms - backup.start_ms <= 31 * 60_000 + 3_000, "{} ms", backup.end_ms - backup.start_ms);
        let egress = backup.records.iter().filter(|(_, emission)| matches!(emission, Emission::Flow { side: Side::Request, .. })).count();
        assert!(egress > 0);
    }
}
