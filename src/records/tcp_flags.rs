//! [`TcpFlags`]: the `tcp_flags` of a flow or a firewall session, as flow logs encode them.
//!
//! A flow-log record carries the OR of the TCP flags seen over its aggregation window, as the
//! header's bits: FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32. AWS logs ACK only as part of
//! SYN-ACK (18), and leaves PSH and URG out; [`TcpFlags::is_loggable`] says which values a record
//! may carry.

use std::ops::{BitOr, BitOrAssign};

/// A set of TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No flag: the middle of a long connection (only ACK / PSH, which flow logs leave out), or
    /// a protocol without flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    pub const FIN: TcpFlags = TcpFlags(1);
    pub const SYN: TcpFlags = TcpFlags(2);
    pub const RST: TcpFlags = TcpFlags(4);
    pub const PSH: TcpFlags = TcpFlags(8);
    pub const ACK: TcpFlags = TcpFlags(16);
    pub const URG: TcpFlags = TcpFlags(32);
    /// The server's answer to a SYN (18): the one place flow logs show ACK.
    pub const SYN_ACK: TcpFlags = TcpFlags::SYN.union(TcpFlags::ACK);

    /// The flags flow logs record: FIN, SYN, RST, and ACK as part of SYN-ACK.
    const LOGGED: TcpFlags = TcpFlags::FIN.union(TcpFlags::SYN).union(TcpFlags::RST).union(TcpFlags::ACK);

    /// The set of the bits of a record's `tcp_flags`.
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    /// The bits, as a record's `tcp_flags` carries them.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets' flags.
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// True when every flag of `other` is set here.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when a flow log could carry this value: only FIN, SYN, RST and ACK, and ACK only
    /// with SYN (SYN-ACK).
    pub const fn is_loggable(self) -> bool {
        let only_logged = self.0 & !TcpFlags::LOGGED.0 == 0;
        let ack_without_syn = self.contains(TcpFlags::ACK) && !self.contains(TcpFlags::SYN);
        only_logged && !ack_without_syn
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, other: TcpFlags) -> TcpFlags {
        self.union(other)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, other: TcpFlags) {
        *self = self.union(other);
    }
}

impl std::fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bits_are_the_headers() {
        assert_eq!(
            [TcpFlags::FIN, TcpFlags::SYN, TcpFlags::RST, TcpFlags::PSH, TcpFlags::ACK, TcpFlags::URG, TcpFlags::SYN_ACK]
                .map(TcpFlags::bits),
            [1, 2, 4, 8, 16, 32, 18]
        );
        assert_eq!((TcpFlags::SYN_ACK | TcpFlags::RST).bits(), 22);
        assert!(TcpFlags::from_bits(22).contains(TcpFlags::RST));
        assert!(!TcpFlags::from_bits(18).contains(TcpFlags::RST));
    }

    #[test]
    fn flow_logs_carry_fin_syn_rst_and_syn_ack_only() {
        let loggable: Vec<u8> = (0..=u8::MAX).filter(|bits| TcpFlags::from_bits(*bits).is_loggable()).collect();
        // Every OR of FIN, SYN and RST (0-7), and each of those with SYN and ACK (18, 19, 22, 23).
        assert_eq!(loggable, [0, 1, 2, 3, 4, 5, 6, 7, 18, 19, 22, 23]);
    }
}
