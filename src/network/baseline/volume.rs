//! The draws every conversation class shares: the rule that lets a service through, a healthy
//! latency, an ephemeral port, packets for a byte count, and the TCP flags and duration of a
//! conversation that fits in one window.

use crate::records::TcpFlags;

use crate::network::random::{LaneRng, between, chance, log_normal, pareto, weighted};
use crate::network::topology::Service;

/// The firewall rule that allows a service.
pub fn service_rule(service: &Service) -> &'static str {
    match service.name {
        "web-https" | "web-http" => "allow-inbound-web",
        "ssh" => "allow-inbound-ssh-admins",
        "postgres" | "redis" | "kafka" | "search" => "allow-internal-data",
        _ => "allow-internal-app",
    }
}

/// Latency of a healthy service: 10–50 ms, most near 20.
pub fn normal_latency(rng: &mut LaneRng) -> u32 {
    log_normal(rng, 21.0, 0.35).clamp(10.0, 50.0) as u32
}

/// Linux's ephemeral range most of the time, Windows' otherwise.
pub fn ephemeral_port(rng: &mut LaneRng) -> u16 {
    if chance(rng, 0.8) { between(rng, 32_768, 60_999) as u16 } else { between(rng, 49_152, 65_535) as u16 }
}

/// Packets for a TCP byte count: full-size segments for bulk, small ones for chatter; at least
/// 40 bytes (IP + TCP headers) per packet.
pub fn tcp_volume(rng: &mut LaneRng, bytes: u64) -> (u64, u64) {
    let segment = if bytes > 20_000 { between(rng, 1_200, 1_448) } else { between(rng, 120, 600) };
    let packets = (bytes / segment + 1).max(1);
    (packets, bytes.max(packets * 40))
}

/// The chance that a transfer direction is an elephant (over 1 MiB).
pub(super) const ELEPHANT_SHARE: f64 = 0.009;

/// The elephants' Pareto tail index: the smaller, the more of the bytes the largest carry.
const ELEPHANT_ALPHA: f64 = 0.9;

/// Bytes of one direction of a transfer: a mouse around `median` (kept under 1 MiB), or, with
/// [`ELEPHANT_SHARE`], a Pareto elephant from 1 MiB, cut at 1 GB (a cut that keeps one giant from deciding a sample's byte share).
pub(super) fn transfer_bytes(rng: &mut LaneRng, median: f64, sigma: f64) -> u64 {
    if chance(rng, ELEPHANT_SHARE) {
        pareto(rng, 1.05 * (1u64 << 20) as f64, ELEPHANT_ALPHA).min(1.0e9) as u64
    } else {
        log_normal(rng, median, sigma).clamp(60.0, (1u64 << 20) as f64) as u64
    }
}

/// What one TCP conversation's record carries each way.
#[derive(Debug, Clone, Copy)]
pub(super) struct TcpExchange {
    pub flags_up: TcpFlags,
    pub flags_down: TcpFlags,
    pub duration_ms: u64,
    pub packets_up: u64,
    pub bytes_up: u64,
    pub packets_down: u64,
    pub bytes_down: u64,
}

/// How a TCP conversation's record sits in its window, by weight: the whole connection (SYN|FIN,
/// SYN-ACK|FIN), the middle of a long one (ACK/PSH only: no flag), its opening, its close, an
/// abort. A close is the tail of a persistent connection closed by an idle timeout after the
/// window of its last request: a FIN and an ACK, one packet each way (the largest source of
/// one-packet flows besides DNS, NTP and ICMP).
const TCP_PHASES: [f64; 5] = [0.53, 0.06, 0.05, 0.34, 0.02];

/// The record of a TCP conversation that sends `request_bytes` and answers `response_bytes`.
pub(super) fn tcp_exchange(rng: &mut LaneRng, request_bytes: u64, response_bytes: u64) -> TcpExchange {
    use TcpFlags as F;
    let whole_window_ms = between(rng, 50_000, 59_900);
    let (flags_up, flags_down, duration_ms) = match weighted(rng, &TCP_PHASES) {
        0 => (
            F::SYN | F::FIN,
            F::SYN_ACK | F::FIN,
            (log_normal(rng, 600.0, 1.4) + response_bytes as f64 / 5_000.0).clamp(1.0, 59_000.0) as u64,
        ),
        1 => (F::NONE, F::NONE, whole_window_ms),
        2 => (F::SYN, F::SYN_ACK, between(rng, 1_000, 59_000)),
        3 => {
            let (up, down) = (between(rng, 40, 52), between(rng, 40, 52));
            let duration_ms = between(rng, 1, 200);
            return TcpExchange {
                flags_up: F::FIN,
                flags_down: F::FIN,
                duration_ms,
                packets_up: 1,
                bytes_up: up,
                packets_down: 1,
                bytes_down: down,
            };
        }
        _ => (F::SYN | F::FIN, F::SYN_ACK | F::RST, between(rng, 5, 5_000)),
    };
    let (packets_up, bytes_up) = tcp_volume(rng, request_bytes);
    let (packets_down, bytes_down) = tcp_volume(rng, response_bytes);
    TcpExchange { flags_up, flags_down, duration_ms, packets_up, bytes_up, packets_down, bytes_down }
}
