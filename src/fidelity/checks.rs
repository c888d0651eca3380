//! Domain-knowledge checks on single flow records, after Ring, Schlör, Landes and Hotho, "Flow-based
//! network traffic generation using generative adversarial networks", Computers & Security 82
//! (2019), §5 (arXiv:1810.07795): properties every real flow has, so the share of records that
//! pass each one says whether generated flows are internally consistent. Each check applies to
//! some records only (those its condition names); its figure is the share of those that pass.
//!
//! Ring et al.'s tests, as adapted here (their data set was CIDDS-001, NetFlow from a small
//! company network; ours are VPC flow logs):
//! - Test 1 → [`Check::UdpNoTcpFlags`]: a UDP flow (protocol 17) carries no TCP flags (`tcp_flags`
//!   absent or 0; AWS writes either for non-TCP flows).
//! - Test 2 → [`Check::InternalEndpoint`]: at least one address is internal. Ring's network was
//!   192.168.0.0/16; a VPC's interfaces hold private addresses, so here: RFC 1918, the shared
//!   space 100.64.0.0/10 (RFC 6598), link-local 169.254.0.0/16 and IPv6 ULA fc00::/7 and
//!   link-local fe80::/10. A flow log always records the interface's own (private) address on
//!   one side, so real logs pass almost always.
//! - Test 3 → [`Check::WebTcp`]: source or destination port 80 or 443 → TCP. Ring's rule, kept
//!   strict; real traffic fails it for HTTP/3 over QUIC (UDP 443, RFC 9000), which the figure
//!   then shows.
//! - Test 4 → [`Check::DnsUdp`]: source or destination port 53 → UDP, Ring's rule; and
//!   [`Check::DnsUdpOrTcp`], the same allowing TCP, which DNS uses for large answers and zone
//!   transfers (RFC 7766 makes TCP support mandatory).
//! - Test 5 → [`Check::BroadcastOnlyAsDestination`]: a multicast (224.0.0.0/4, ff00::/8) or
//!   limited-broadcast (255.255.255.255) address appears only as the destination.
//! - Test 6 (NetBIOS on ports 137/138 to an internal broadcast address) is not checked: it names
//!   CIDDS-001's own subnet broadcast, which a flow log does not tell.
//! - Test 7 → [`Check::BytesPerPacket`]: `42 × packets ≤ bytes ≤ 65,535 × packets`. 42 bytes is
//!   the smallest Ethernet frame carrying IPv4 + UDP headers (14 + 20 + 8); 65,535 the largest
//!   IPv4 packet (its 16-bit total length). Ring et al. count Ethernet bytes; AWS counts IP
//!   bytes, so a real log's bare TCP ACKs (40 bytes) fail the lower bound: compare the two
//!   inputs' shares, not either with 1.

use std::net::IpAddr;

use serde::Serialize;

use super::flow::Flow;
use crate::records::protocol;

/// One domain check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    UdpNoTcpFlags,
    InternalEndpoint,
    WebTcp,
    DnsUdp,
    DnsUdpOrTcp,
    BroadcastOnlyAsDestination,
    BytesPerPacket,
}

impl Check {
    pub const ALL: [Check; 7] = [
        Check::UdpNoTcpFlags,
        Check::InternalEndpoint,
        Check::WebTcp,
        Check::DnsUdp,
        Check::DnsUdpOrTcp,
        Check::BroadcastOnlyAsDestination,
        Check::BytesPerPacket,
    ];

    /// The rule, as the table prints it.
    pub fn rule(self) -> &'static str {
        match self {
            Check::UdpNoTcpFlags => "UDP carries no TCP flags (Ring test 1)",
            Check::InternalEndpoint => "one address is private (Ring test 2)",
            Check::WebTcp => "port 80/443 is TCP (Ring test 3)",
            Check::DnsUdp => "port 53 is UDP (Ring test 4)",
            Check::DnsUdpOrTcp => "port 53 is UDP or TCP (RFC 7766)",
            Check::BroadcastOnlyAsDestination => "multi/broadcast only as dst (Ring test 5)",
            Check::BytesPerPacket => "42·pkts <= bytes <= 65535·pkts (Ring test 7)",
        }
    }

    /// `None` when the check does not apply to `flow`, else whether it passes.
    pub fn verdict(self, flow: &Flow) -> Option<bool> {
        let has_port = |port: u16| flow.srcport == Some(port) || flow.dstport == Some(port);
        match self {
            Check::UdpNoTcpFlags => (flow.protocol == Some(protocol::UDP)).then(|| flow.tcp_flags.unwrap_or(0) == 0),
            Check::InternalEndpoint => match (flow.srcaddr, flow.dstaddr) {
                (Some(src), Some(dst)) => Some(is_internal(src) || is_internal(dst)),
                _ => None,
            },
            Check::WebTcp => (has_port(80) || has_port(443)).then(|| flow.protocol == Some(protocol::TCP)),
            Check::DnsUdp => has_port(53).then(|| flow.protocol == Some(protocol::UDP)),
            Check::DnsUdpOrTcp => has_port(53).then_some(matches!(flow.protocol, Some(protocol::UDP | protocol::TCP))),
            Check::BroadcastOnlyAsDestination => flow.srcaddr.map(|src| !is_multi_or_broadcast(src)),
            Check::BytesPerPacket => match (flow.packets, flow.bytes) {
                (Some(packets), Some(bytes)) if packets > 0 => {
                    Some(u128::from(bytes) >= 42 * u128::from(packets) && u128::from(bytes) <= 65_535 * u128::from(packets))
                }
                _ => None,
            },
        }
    }
}

fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

fn is_multi_or_broadcast(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// How many records each check applied to, and how many passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckCounts {
    applicable: [u64; Check::ALL.len()],
    passed: [u64; Check::ALL.len()],
}

impl CheckCounts {
    pub fn add(&mut self, flow: &Flow) {
        for (at, check) in Check::ALL.iter().enumerate() {
            if let Some(pass) = check.verdict(flow) {
                self.applicable[at] += 1;
                self.passed[at] += u64::from(pass);
            }
        }
    }

    /// `(applicable, passed)` for `check`.
    pub fn of(&self, check: Check) -> (u64, u64) {
        let at = Check::ALL.iter().position(|c| *c == check).unwrap_or(0);
        (self.applicable[at], self.passed[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(protocol: u8, dstport: u16, packets: u64, bytes: u64) -> Flow {
        Flow {
            srcaddr: Some("10.0.0.5".parse().unwrap()),
            dstaddr: Some("8.8.8.8".parse().unwrap()),
            srcport: Some(40000),
            dstport: Some(dstport),
            protocol: Some(protocol),
            packets: Some(packets),
            bytes: Some(bytes),
            start: 0,
            end: 1,
            action: None,
            log_status: None,
            tcp_flags: if protocol == 6 { Some(2) } else { None },
        }
    }

    #[test]
    fn each_check_applies_to_its_records_and_decides_by_its_rule() {
        let dns_tcp = flow(6, 53, 2, 120);
        assert_eq!(Check::DnsUdp.verdict(&dns_tcp), Some(false));
        assert_eq!(Check::DnsUdpOrTcp.verdict(&dns_tcp), Some(true));
        assert_eq!(Check::UdpNoTcpFlags.verdict(&dns_tcp), None);
        let quic = flow(17, 443, 10, 12_000);
        assert_eq!(Check::WebTcp.verdict(&quic), Some(false));
        assert_eq!(Check::UdpNoTcpFlags.verdict(&Flow { tcp_flags: Some(2), ..quic.clone() }), Some(false));
        assert_eq!(Check::UdpNoTcpFlags.verdict(&Flow { tcp_flags: Some(0), ..quic }), Some(true));
        assert_eq!(Check::BytesPerPacket.verdict(&flow(6, 22, 1, 40)), Some(false));
        assert_eq!(Check::BytesPerPacket.verdict(&flow(6, 22, 1, 42)), Some(true));
        assert_eq!(Check::BytesPerPacket.verdict(&flow(6, 22, 1, 65_536)), Some(false));
        let external = Flow { srcaddr: Some("1.1.1.1".parse().unwrap()), ..flow(6, 22, 1, 60) };
        assert_eq!(Check::InternalEndpoint.verdict(&external), Some(false));
        let shared = Flow { srcaddr: Some("100.64.1.1".parse().unwrap()), ..external.clone() };
        assert_eq!(Check::InternalEndpoint.verdict(&shared), Some(true));
        let multicast = Flow { srcaddr: Some("239.1.1.1".parse().unwrap()), ..external };
        assert_eq!(Check::BroadcastOnlyAsDestination.verdict(&multicast), Some(false));
    }
}
