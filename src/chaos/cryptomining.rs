//! `cryptomining`: a compromised instance mines for someone else, holding one long TCP session to a
//! mining pool for hours (MITRE ATT&CK T1496, Resource Hijacking,
//! <https://attack.mitre.org/techniques/T1496/>).
//!
//! A miner speaks Stratum to its pool: it subscribes and logs in once, then the pool pushes new
//! jobs every few tens of seconds and the miner submits shares, each a small JSON line (the
//! Stratum mining protocol, <https://en.bitcoin.it/wiki/Stratum_mining_protocol>). At flow-log
//! level that is one conversation that never goes quiet: a record in every aggregation window
//! (60 s), each direction at the instance's ENI (egress request, ingress reply), a handful of
//! small packets each way (4–12 up of 70–140 bytes, 3–10 down of 100–260, steady within ±20%
//! window to window). The first window's `tcp_flags` are SYN / SYN-ACK (2 / 18), the middle
//! windows' 0, the last window's FIN (1 / 1); the firewall logs the session once, at its end, with
//! its whole duration and volume.
//!
//! - **Overt**: to a pool on a Stratum port (3333, 4444, 14444 or 45700), for 1.5–6 hours.
//! - **Subtle**: Stratum over TLS on 443 to one proxy address (a pool behind a relay, as XMRig
//!   `--tls` through a proxy does), for 2–8 hours.
//!
//! # Calibration
//!
//! Panther's "AWS VPC Crypto Ports" rule (`panther-labs/panther-analysis`,
//! `rules/aws_vpc_flow_rules/aws_vpc_crypto_ports.py`) fires on any flow record from a private to
//! a public address whose destination port is in its list of mining ports; AWS GuardDuty's
//! `Behavior:EC2/NetworkPortUnusual` ("an EC2 instance is communicating with a remote host on an
//! unusual server port") fires on an egress port the instance's history lacks, and
//! `CryptoCurrency:EC2/BitcoinTool.B` on an address its threat lists hold
//! (<https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html>). The overt
//! form trips the first two from its first record (the baseline's egress is only 443, 123 and 53).
//! The subtle form stays under all three: its port is 443 like every SaaS call of the baseline, and
//! its one proxy address is on no list; what gives it away is its shape (a session that lasts
//! hours with a record every window at a steady small rate), which no port or list rule sees.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::network::baseline::{Baseline, ephemeral_port, normal_latency};
use crate::network::random::{LaneRng, between, pick, unit};
use crate::network::session::{Endpoint, Session, Side, WINDOW_SECONDS};
use crate::network::topology::{Host, Role};
use crate::records::{AnomalyKind, AppProto, TcpFlags, protocol};

use super::outside::unseen_address;
use super::{Actors, Emission, Episode, KindSpec, PerHourFlag, Placement, Start};

pub(super) static KIND: KindSpec = KindSpec {
    kind: AnomalyKind::Cryptomining,
    short_name: "mining",
    probability: None,
    per_hour: PerHourFlag {
        name: "cryptomining_per_hour",
        flag: "cryptomining-per-hour",
        env: "CRYPTOMINING_PER_HOUR",
        // A hijacked instance mines for hours: one start every 10 logical hours keeps a miner
        // running a third of the time or so.
        default: "0.1",
        help: "Cryptomining episodes (an instance holding a session to a mining pool for hours, a record every window) per logical hour",
    },
    technique: Some("T1496"),
    parameters: &[],
    mean_records: 500.0,
    target_span_seconds: 4.0 * 3600.0,
    difficulties: &["overt", "subtle"],
    placement: Placement::TrafficLanes,
    start,
};

/// Ports Stratum pools listen on.
const STRATUM_PORTS: [u16; 4] = [3333, 4444, 14444, 45700];

const WINDOW_MS: u64 = WINDOW_SECONDS as u64 * 1000;

fn start<'t>(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Box<dyn Episode<'t> + 't> {
    Box::new(Cryptomining::start(rng, baseline, start))
}

#[derive(Debug)]
pub struct Cryptomining<'t> {
    host: &'t Host,
    pool: Ipv4Addr,
    port: u16,
    client_port: u16,
    /// Aggregation windows the session spans, each with one record each way.
    windows: u64,
    written: u64,
    /// How far into the first window the session began, ms before its first record.
    first_window_ms: u64,
    packets_up: f64,
    packets_down: f64,
    packet_bytes_up: u64,
    packet_bytes_down: u64,
    /// What the session carried so far, for the firewall's record at its end.
    total: Volume,
}

#[derive(Debug, Clone, Copy, Default)]
struct Volume {
    packets_up: u64,
    bytes_up: u64,
    packets_down: u64,
    bytes_down: u64,
}

impl<'t> Cryptomining<'t> {
    /// Mining on the start's target host (else a worker, API or web host), in the start's form,
    /// over the start's span when it fixes one (else the form's own hours times the intensity).
    pub fn start(rng: &mut LaneRng, baseline: &Baseline<'t>, start: &Start<'_>) -> Self {
        let host = match baseline.target_host(rng, start.target) {
            Some(host) => host,
            None => {
                let vpc = (unit(rng) * baseline.topology.vpcs.len() as f64) as usize % baseline.topology.vpcs.len();
                baseline.caller_host(rng, vpc, &[Role::Worker, Role::Api, Role::Web])
            }
        };
        let subtle = start.is_subtle();
        let (port, hours) = if subtle { (443, 2.0 + 6.0 * unit(rng)) } else { (*pick(rng, &STRATUM_PORTS), 1.5 + 4.5 * unit(rng)) };
        let span_ms = start.span_ms.unwrap_or_else(|| start.scaled((hours * 3_600_000.0) as u64));
        Cryptomining {
            host,
            pool: unseen_address(rng, baseline.topology),
            port,
            client_port: ephemeral_port(rng),
            windows: span_ms.div_ceil(WINDOW_MS).max(1),
            written: 0,
            first_window_ms: between(rng, 5_000, WINDOW_MS - 5_000),
            packets_up: between(rng, 4, 12) as f64,
            packets_down: between(rng, 3, 10) as f64,
            packet_bytes_up: between(rng, 70, 140),
            packet_bytes_down: between(rng, 100, 260),
            total: Volume::default(),
        }
    }

    /// A window's packets one way: the episode's rate within ±20%.
    fn packets(rng: &mut LaneRng, mean: f64) -> u64 {
        ((mean * (0.8 + 0.4 * unit(rng))).round() as u64).max(1)
    }

    /// The session's duration up to the end of window `index`.
    fn elapsed_ms(&self, index: u64) -> u64 {
        self.first_window_ms + index * WINDOW_MS
    }
}

impl<'t> Episode<'t> for Cryptomining<'t> {
    /// Two flow records a window, and the firewall's at the end.
    fn planned_records(&self) -> u64 {
        self.windows * 2 + 1
    }

    fn next(&mut self, rng: &mut LaneRng, _baseline: &Baseline<'t>, _time_ms: i64, out: &mut VecDeque<Emission<'t>>) {
        let index = self.written;
        let (first, last) = (index == 0, index + 1 >= self.windows);
        let (flags_up, flags_down) = match (first, last) {
            (true, true) => (TcpFlags::SYN | TcpFlags::FIN, TcpFlags::SYN_ACK | TcpFlags::FIN),
            (true, false) => (TcpFlags::SYN, TcpFlags::SYN_ACK),
            (false, false) => (TcpFlags::NONE, TcpFlags::NONE),
            (false, true) => (TcpFlags::FIN, TcpFlags::FIN),
        };
        let packets_up = Self::packets(rng, self.packets_up);
        let packets_down = Self::packets(rng, self.packets_down);
        let bytes_up = packets_up * self.packet_bytes_up;
        let bytes_down = packets_down * self.packet_bytes_down;
        let (app_proto, rule) =
            if self.port == 443 { (AppProto::Tls, "allow-egress-https") } else { (AppProto::Unknown, "default-allow-egress") };
        let latency_ms = normal_latency(rng);
        // The window's record spans the part of the window the session was open in.
        let window_ms = if first { self.first_window_ms } else { WINDOW_MS };
        let session = Session::new(
            (Endpoint::Host(self.host), self.client_port),
            (Endpoint::External(self.pool), self.port),
            protocol::TCP,
            app_proto,
            rule,
        )
        .with_request(packets_up, bytes_up)
        .with_response(packets_down, bytes_down)
        .with_flags(flags_up, flags_down)
        .with_timing(window_ms, latency_ms);
        self.total.packets_up += packets_up;
        self.total.bytes_up += bytes_up;
        self.total.packets_down += packets_down;
        self.total.bytes_down += bytes_down;
        out.push_back(Emission::Flow { session: session.clone(), side: Side::Request, prefer_destination: false });
        if last {
            let whole = Session {
                packets_up: self.total.packets_up,
                bytes_up: self.total.bytes_up,
                packets_down: self.total.packets_down,
                bytes_down: self.total.bytes_down,
                flags_up: TcpFlags::SYN | TcpFlags::FIN,
                flags_down: TcpFlags::SYN_ACK | TcpFlags::FIN,
                duration_ms: self.elapsed_ms(index),
                ..session.clone()
            };
            out.push_back(Emission::Flow { session, side: Side::Response, prefer_destination: true });
            out.push_back(Emission::Firewall(whole));
        } else {
            out.push_back(Emission::Flow { session, side: Side::Response, prefer_destination: true });
        }
        self.written += 1;
    }

    fn is_planned_out(&self, _emitted: u64) -> bool {
        self.written >= self.windows
    }

    /// One window after the other.
    fn next_due_ms(&self) -> Option<u64> {
        Some(self.written * WINDOW_MS)
    }

    fn describe(&self) -> (serde_json::Value, Actors) {
        let parameters = json!({
            "port": self.port,
            "protocol": if self.port == 443 { "stratum+tls" } else { "stratum+tcp" },
            "planned_windows": self.windows,
            "windows": self.written,
            "packets_up_per_window": self.packets_up,
            "packets_down_per_window": self.packets_down,
            "bytes_up": self.total.bytes_up,
            "bytes_down": self.total.bytes_down,
        });
        let actors = Actors {
            sources: vec![IpAddr::V4(self.host.address)],
            targets: vec![IpAddr::V4(self.pool)],
            ports: vec![self.port],
            service: None,
        };
        (parameters, actors)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TimedRun, run_timed_form};
    use super::*;
    use crate::network::target::Target;
    use crate::network::topology::Topology;

    /// The flow records of one direction: (time, session).
    fn flows<'r, 't>(run: &'r TimedRun<'t>, wanted: Side) -> Vec<(i64, &'r Session<'t>)> {
        run.records
            .iter()
            .filter_map(|(time, emission)| match emission {
                Emission::Flow { session, side, .. } if *side == wanted => Some((*time, session)),
                _ => None,
            })
            .collect()
    }

    fn check_session(run: &TimedRun<'_>, form: &str) {
        for side in [Side::Request, Side::Response] {
            let flows = flows(run, side);
            let windows = run.parameters["planned_windows"].as_u64().unwrap();
            assert_eq!(flows.len() as u64, windows, "{form}: a record each window");
            for pair in flows.windows(2) {
                assert_eq!(pair[1].0 - pair[0].0, WINDOW_MS as i64, "{form}: windows back to back");
            }
            let (first, last) = (flows[0].1, flows[flows.len() - 1].1);
            let (syn, fin) = if side == Side::Request { (TcpFlags::SYN, TcpFlags::FIN) } else { (TcpFlags::SYN_ACK, TcpFlags::FIN) };
            assert_eq!(if side == Side::Request { first.flags_up } else { first.flags_down }, syn);
            assert_eq!(if side == Side::Request { last.flags_up } else { last.flags_down }, fin);
            for (_, middle) in &flows[1..flows.len() - 1] {
                assert_eq!((middle.flags_up, middle.flags_down, middle.duration_ms), (TcpFlags::NONE, TcpFlags::NONE, WINDOW_MS));
            }
            let packets: Vec<u64> =
                flows.iter().map(|(_, session)| if side == Side::Request { session.packets_up } else { session.packets_down }).collect();
            let (low, high) = (packets.iter().min().unwrap(), packets.iter().max().unwrap());
            assert!(*low >= 1 && *high <= 15 && *high as f64 <= 1.6 * *low as f64 + 1.0, "{form}: steady small packets, {low}-{high}");
            assert!(flows.iter().all(|(_, session)| session.client_port == first.client_port), "{form}: one session");
        }
        let firewall: Vec<&Emission<'_>> =
            run.records.iter().map(|(_, emission)| emission).filter(|emission| matches!(emission, Emission::Firewall(_))).collect();
        assert_eq!(firewall.len(), 1, "{form}: the firewall logs the session once");
        let Emission::Firewall(whole) = firewall[0] else { unreachable!() };
        assert!(whole.duration_ms >= (run.parameters["planned_windows"].as_u64().unwrap() - 1) * WINDOW_MS);
        assert_eq!(whole.bytes_up, run.parameters["bytes_up"].as_u64().unwrap());
    }

    #[test]
    fn overt_mining_holds_one_session_to_a_stratum_port_for_hours() {
        let topology = Topology::new(7);
        for seed in 0..8 {
            let run = run_timed_form(AnomalyKind::Cryptomining, &topology, &Target::Any, 1.0, "overt", None, seed);
            assert!(STRATUM_PORTS.contains(&(run.parameters["port"].as_u64().unwrap() as u16)));
            let hours = run.parameters["planned_windows"].as_u64().unwrap() as f64 / 60.0;
            assert!((1.5..=6.0).contains(&hours), "seed {seed}: {hours} h");
            check_session(&run, "overt");
        }
    }

    #[test]
    fn subtle_mining_is_stratum_over_tls_to_one_proxy() {
        let topology = Topology::new(7);
        for seed in 0..8 {
            let run = run_timed_form(AnomalyKind::Cryptomining, &topology, &Target::Any, 1.0, "subtle", None, seed);
            assert_eq!(run.parameters["port"], 443);
            assert_eq!(run.actors.targets.len(), 1);
            let all_tls = run.records.iter().all(|(_, emission)| match emission {
                Emission::Flow { session, .. } | Emission::Firewall(session) => {
                    session.app_proto == AppProto::Tls && session.server_port == 443
                }
                Emission::NoData(_) | Emission::SkipData(_) => false,
            });
            assert!(all_tls, "seed {seed}");
            check_session(&run, "subtle");
        }
    }

    #[test]
    fn a_fixed_span_sets_the_windows_and_a_target_mines() {
        let topology = Topology::new(7);
        let host = &topology.hosts[12];
        let run = run_timed_form(AnomalyKind::Cryptomining, &topology, &Target::Host(host.address), 1.0, "overt", Some(30 * 60_000), 1);
        assert_eq!(run.parameters["planned_windows"], 30);
        assert_eq!(run.actors.sources, [IpAddr::V4(host.address)]);
        check_session(&run, "a fixed span");
        let one = run_timed_form(AnomalyKind::Cryptomining, &topology, &Target::Any, 1.0, "overt", Some(20_000), 1);
        let flows = flows(&one, Side::Request);
        assert_eq!((flows.len(), flows[0].1.flags_up), (1, TcpFlags::SYN | TcpFlags::FIN), "one window opens and closes");
    }
}
