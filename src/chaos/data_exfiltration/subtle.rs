//! The subtle form of `data_exfiltration`: a trickle for hours, over one of two channels (drawn
//! per episode, named in its parameters as `channel`).
//!
//! - **`dns`**: ~200-byte queries (150–250 bytes each) to an external resolver, a conversation
//!   every 40–240 s give or take a quarter (so 30–300 s apart), each of a few queries, for 1–100 KB
//!   an hour (at least one query per conversation makes the floor about 2 KB an hour). That is the
//!   "low throughput" class of DNS-exfiltration malware (FrameworkPOS, Backdoor.Win32.Denis), which
//!   sends short, sporadic bursts to evade the volume rules that catch tunnelling tools' 10 kB/s
//!   and more (Nadler, Aminov & Shabtai, "Detection of malicious and low throughput data
//!   exfiltration over the DNS protocol", Computers & Security 80, 2019; summary at
//!   <https://securityboulevard.com/2018/04/effectively-detecting-low-throughput-and-malicious-dns-exfiltration/>).
//! - **`https`**: TLS sessions on 443 to one rare destination (an address nothing else in the
//!   estate talks to), each carrying one 50–500 KB chunk up and a few KB back, a chunk every 5–30
//!   minutes for 2–8 hours: megabytes in all, never a large flow. In ATT&CK terms this channel is
//!   T1048.002 (over an asymmetric encrypted protocol), which the parameters record as `variant`;
//!   the episode carries the kind's T1048.003.
//!
//! Each conversation is written whole: the request and the response flow at the host's ENI, and
//! for a quarter of them the firewall's session.
//!
//! # Calibration
//!
//! - Sigma's "High DNS Bytes Out - Firewall" (`net_firewall_high_dns_bytes_out.yml`, id
//!   `3b6e327d-8649-4102-993f-d25786481589`): `sum(message_size) by src_ip > 300000` over 1 minute
//!   to port 53; "High DNS Requests Rate" (`b4163085-4001-46a3-a79a-55d8bbbc7a3a`): more than 1,000
//!   queries a minute. The overt tunnel sends 10 MB in about four minutes (2.5 MB a minute in
//!   tens of thousands of queries) and trips both; the DNS trickle sends at most 100 KB an hour.
//! - Splunk ESCU's "Cisco Secure Firewall - Potential Data Exfiltration" flags a connection that
//!   moves more than 100 MB (initiator plus responder bytes); AWS GuardDuty's
//!   `Exfiltration:S3/AnomalousBehavior` and `Behavior:EC2/TrafficVolumeUnusual` publish no
//!   threshold. The HTTPS chunks stay at 500 KB a flow and a few MB an hour, three orders of
//!   magnitude under the per-flow figure and under the Sigma per-minute one too.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency, tcp_volume};
use crate::network::random::{LaneRng, between, chance, pick, unit};
use crate::network::session::{Endpoint, Session};
use crate::network::topology::Host;
use crate::records::{AppProto, TcpFlags, protocol};

use super::super::{Actors, Emission, Episode, Start};
use super::exfiltrating_host;

const HOUR_MS: u64 = 3_600_000;
/// Bytes of one tunnelled DNS query, at most (and at least: [`MIN_QUERY_BYTES`]).
pub const MAX_QUERY_BYTES: u64 = 250;
const MIN_QUERY_BYTES: u64 = 150;
/// The DNS channel's mean gaps between conversations: ±25% keeps every gap in 30–300 s.
const DNS_GAP_MS: (u64, u64) = (40_000, 240_000);
/// The most a DNS trickle sends in an hour.
pub const MAX_DNS_BYTES_PER_HOUR: u64 = 100_000;
/// An HTTPS chunk's bytes, and the mean gap between chunks.
pub const CHUNK_BYTES: (u64, u64) = (50_000, 500_000);
const HTTPS_GAP_MS: (u64, u64) = (300_000, 1_800_000);
/// First octets of hosting ranges a rare destination is drawn from.
const RARE_FIRST_OCTETS: [u8; 9] = [45, 91, 103, 141, 179, 185, 193, 194, 212];

/// The channel a trickle uses.
#[derive(Debug, Clone, Copy)]
enum Channel {
    /// `queries` ~200-byte queries per conversation to a resolver.
    Dns { resolver: Ipv4Addr, queries: u64 },
    /// One chunk of `CHUNK_BYTES` per TLS session to a rare destination.
    Https { destination: Ipv4Addr },
}

/// A subtle exfiltration in progress.
#[derive(Debug)]
pub struct Trickle<'t> {
    host: &'t Host,
    channel: Channel,
    /// Mean gap between conversations, ms; conversation *i* is due in `[i, i + ¼)` of it.
    gap_ms: u64,
    /// The jitter of conversation *i*, as a fraction of the gap, drawn when it is written.
    next_jitter: f64,
    conversations: u64,
    done: u64,
    bytes_sent: u64,
}

impl<'t> Trickle<'t> {
    /// A trickle from the start's target host (else a worker, API, database or bastion host) over
    /// 2–8 hours (or the start's span); intensity scales the conversations, packing them closer.
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let host = exfiltrating_host(rng, baseline, start);
        let span_ms = start.span_ms.unwrap_or_else(|| between(rng, 2 * HOUR_MS, 8 * HOUR_MS));
        let (channel, own_gap_ms, min_gap_ms) = if chance(rng, 0.5) {
            let gap_ms = between(rng, DNS_GAP_MS.0, DNS_GAP_MS.1);
            // Log-uniform in 1–100 KB an hour, in whole queries per conversation: one more
            // conversation than the hour's share fits (a window's edge) stays under the bytes.
            let bytes_per_hour = 1_000.0 * 100f64.powf(unit(rng));
            let conversations_per_hour = HOUR_MS / gap_ms + 1;
            let queries = ((bytes_per_hour / (MAX_QUERY_BYTES * conversations_per_hour) as f64) as u64).max(1);
            let resolver = *pick(rng, &baseline.topology.dns_resolvers);
            (Channel::Dns { resolver, queries }, gap_ms, DNS_GAP_MS.0)
        } else {
            let first = *pick(rng, &RARE_FIRST_OCTETS);
            let destination = Ipv4Addr::new(first, between(rng, 0, 255) as u8, between(rng, 0, 255) as u8, between(rng, 1, 254) as u8);
            (Channel::Https { destination }, between(rng, HTTPS_GAP_MS.0, HTTPS_GAP_MS.1), HTTPS_GAP_MS.0)
        };
        // At intensity 1 the gap drawn; more intensity, more conversations, never closer than the
        // channel's shortest mean gap.
        let conversations = start.scaled((span_ms / own_gap_ms).max(1)).min((span_ms / min_gap_ms).max(1));
        let gap_ms = (span_ms / conversations).max(min_gap_ms.min(span_ms));
        Trickle { host, channel, gap_ms, next_jitter: 0.25 * unit(rng), conversations, done: 0, bytes_sent: 0 }
    }
}

impl<'t> Episode<'t> for Trickle<'t> {
    /// Two flows per conversation, and the firewall's record of a quarter.
    fn planned_records(&self) -> u64 {
        self.conversations * 2 + self.conversations / 4
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        self.done += 1;
        let session = match self.channel {
            Channel::Dns { resolver, queries } => {
                let bytes_up: u64 = (0..queries).map(|_| between(rng, MIN_QUERY_BYTES, MAX_QUERY_BYTES)).sum();
                // In this order: the reply's size, the client's port, the duration, the latency.
                let bytes_down = queries * between(rng, 80, 200);
                Session::new(
                    (Endpoint::Host(self.host), ephemeral_port(rng)),
                    (Endpoint::External(resolver), 53),
                    protocol::UDP,
                    AppProto::Dns,
                    "allow-egress-dns",
                )
                .with_request(queries, bytes_up)
                .with_response(queries, bytes_down)
                .with_timing(between(rng, 1, 400 * queries), normal_latency(rng))
            }
            Channel::Https { destination } => {
                let chunk = between(rng, CHUNK_BYTES.0, CHUNK_BYTES.1);
                let (packets_up, bytes_up) = tcp_volume(rng, chunk);
                let reply = between(rng, 3_000, 8_000);
                let (packets_down, bytes_down) = tcp_volume(rng, reply);
                // A whole short connection each way: SYN, FIN and ACK (19).
                let flags = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::ACK;
                Session::new(
                    (Endpoint::Host(self.host), ephemeral_port(rng)),
                    (Endpoint::External(destination), 443),
                    protocol::TCP,
                    AppProto::Tls,
                    "allow-egress-https",
                )
                .with_request(packets_up, bytes_up)
                .with_response(packets_down, bytes_down)
                .with_flags(flags, flags)
                .with_timing(between(rng, 500, 20_000), normal_latency(rng))
            }
        };
        self.bytes_sent += session.bytes_up;
        self.next_jitter = 0.25 * unit(rng);
        Emission::conversation(session, chance(rng, 0.25), out);
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.done >= self.conversations
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let (channel, variant, destination, port, per_conversation) = match self.channel {
            Channel::Dns { resolver, queries } => ("dns", "T1048.003", resolver, 53, json!({ "queries": queries })),
            Channel::Https { destination } => {
                ("https", "T1048.002", destination, 443, json!({ "chunk_bytes": [CHUNK_BYTES.0, CHUNK_BYTES.1] }))
            }
        };
        let parameters = json!({
            "form": "trickle",
            "channel": channel,
            "variant": variant,
            "port": port,
            "mean_gap_ms": self.gap_ms,
            "planned_conversations": self.conversations,
            "conversations": self.done,
            "per_conversation": per_conversation,
            "bytes_sent": self.bytes_sent,
        });
        let actors = Actors {
            sources: vec![IpAddr::V4(self.host.address)],
            targets: vec![IpAddr::V4(destination)],
            ports: vec![port],
            service: None,
        };
        (parameters, actors)
    }

    /// Conversation *i* at `(i + jitter) × gap`, the jitter in `[0, ¼)`.
    fn next_due_ms(&self) -> Option<u64> {
        Some(((self.done as f64 + self.next_jitter) * self.gap_ms as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{TimedRun, involves, run_timed, session_of};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::Topology;
    use crate::records::AnomalyKind;

    fn runs<'t>(topology: &'t Topology, channel: &str) -> Vec<TimedRun<'t>> {
        let runs: Vec<TimedRun<'t>> = (0..24)
            .map(|seed| run_timed(AnomalyKind::DataExfiltration, topology, &Target::Any, 1.0, None, seed))
            .filter(|run| run.parameters["channel"] == channel)
            .collect();
        assert!(runs.len() >= 4, "{} {channel} episodes in 24", runs.len());
        runs
    }

    /// Bytes out of the host in one record (the request flows; the firewall's session repeats them).
    fn bytes_out(emission: &Emission<'_>) -> u64 {
        match emission {
            Emission::Flow { session, side: crate::network::session::Side::Request, .. } => session.bytes_up,
            _ => 0,
        }
    }

    #[test]
    fn the_dns_trickle_sends_200_byte_queries_30_to_300_s_apart_under_100_kb_an_hour() {
        let topology = Topology::new(7);
        for run in runs(&topology, "dns") {
            let times = run.conversation_times();
            assert!(times.windows(2).all(|pair| (30_000..=300_000).contains(&(pair[1] - pair[0]))), "{:?}", run.parameters);
            assert!(times.last().unwrap() - times[0] >= 2 * 3_600_000 - 300_000, "it lasts hours");
            let most_per_hour = run.most_in_window(3_600_000, bytes_out);
            assert!(most_per_hour <= MAX_DNS_BYTES_PER_HOUR, "{most_per_hour} bytes in an hour");
            // Sigma's "High DNS Bytes Out": 300,000 bytes in a minute.
            assert!(run.most_in_window(60_000, bytes_out) < 30_000);
            for (_, emission) in &run.records {
                let session = session_of(emission).unwrap();
                assert_eq!((session.server_port, session.protocol, session.app_proto), (53, protocol::UDP, AppProto::Dns));
                let per_query = session.bytes_up / session.packets_up;
                assert!((MIN_QUERY_BYTES..=MAX_QUERY_BYTES).contains(&per_query), "{per_query} bytes a query");
            }
        }
    }

    #[test]
    fn the_dns_trickle_spans_its_range_of_hourly_bytes() {
        let topology = Topology::new(7);
        let hourly: Vec<f64> = runs(&topology, "dns")
            .iter()
            .map(|run| run.parameters["bytes_sent"].as_f64().unwrap() / ((run.records.last().unwrap().0 - run.first_ms) as f64 / 3.6e6))
            .collect();
        assert!(hourly.iter().all(|bytes| (1_000.0..=100_000.0).contains(bytes)), "{hourly:?}");
        assert!(hourly.iter().any(|bytes| *bytes < 10_000.0) && hourly.iter().any(|bytes| *bytes > 20_000.0), "{hourly:?}");
    }

    #[test]
    fn the_https_trickle_sends_chunks_under_500_kb_to_one_rare_destination() {
        let topology = Topology::new(7);
        for run in runs(&topology, "https") {
            let destination = run.actors.targets[0];
            let IpAddr::V4(address) = destination else { panic!("an IPv6 destination") };
            let known = topology.saas_endpoints.iter().chain(&topology.internet_clients).chain(&topology.dns_resolvers);
            assert!(!known.into_iter().any(|other| *other == address), "{address} is not rare");
            let times = run.conversation_times();
            assert!(times.windows(2).all(|pair| (225_000..=2_250_000).contains(&(pair[1] - pair[0]))), "{times:?}");
            for (_, emission) in &run.records {
                let session = session_of(emission).unwrap();
                assert_eq!((IpAddr::V4(session.server.address()), session.server_port), (destination, 443));
                assert!(session.bytes_up <= CHUNK_BYTES.1 && session.bytes_down < 20_000, "{session:?}");
            }
            assert!(run.most_in_window(3_600_000, bytes_out) <= 13 * CHUNK_BYTES.1);
        }
    }

    #[test]
    fn a_target_host_trickles_and_a_fixed_span_holds_it() {
        let topology = Topology::new(7);
        let host = &topology.hosts[5];
        for seed in 0..6 {
            let run = run_timed(AnomalyKind::DataExfiltration, &topology, &Target::Host(host.address), 1.0, Some(HOUR_MS), seed);
            assert!(run.records.iter().all(|(_, emission)| involves(emission, host.address)));
            assert!(run.records.last().unwrap().0 - run.first_ms < HOUR_MS as i64, "seed {seed}");
            let twice = run_timed(AnomalyKind::DataExfiltration, &topology, &Target::Host(host.address), 2.0, Some(HOUR_MS), seed);
            let conversations = |run: &TimedRun<'_>| run.parameters["planned_conversations"].as_u64().unwrap();
            let shortest_gap = if run.parameters["channel"] == "dns" { DNS_GAP_MS.0 } else { HTTPS_GAP_MS.0 };
            assert_eq!(conversations(&twice), (2 * conversations(&run)).min(HOUR_MS / shortest_gap), "seed {seed}");
        }
    }
}
