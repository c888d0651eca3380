//! Long connections: conversations that outlast the aggregation window.
//!
//! A small share of east-west calls to the data tier (connection pools to a database, a cache or
//! a broker) and of egress sessions to SaaS APIs (websockets, streaming APIs) stay open for
//! minutes to an hour ([`LONG_MIN_MS`]–[`LONG_MAX_MS`], log-uniform), carrying a small steady
//! trickle each way; some are idle keep-alives of a packet or two a window. AWS writes a flow
//! record of such a conversation in every window it spans ([`WindowPart`]): SYN in the first, no
//! flag in the middle ones, FIN in the last. The baseline writes the first window when it draws
//! the conversation and keeps it open here; each later window is due a window after the one
//! before. A lane keeps at most [`MAX_OPEN`] open: beyond that, a conversation drawn long stays
//! short (at very high rates the long ones are a fixed crowd, not a share).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::records::TcpFlags;

use crate::network::random::{LaneRng, between, chance, log_normal, unit};
use crate::network::session::{Session, WINDOW_SECONDS, WindowPart};

/// Shortest and longest long conversation.
pub const LONG_MIN_MS: u64 = 2 * 60_000;
pub const LONG_MAX_MS: u64 = 60 * 60_000;

/// The share of candidate conversations (east-west to the data tier, egress to SaaS) that are long.
pub const LONG_SHARE: f64 = 0.01;

/// Most long conversations a lane keeps open.
pub const MAX_OPEN: usize = 4_096;

const WINDOW_MS: i64 = WINDOW_SECONDS * 1000;

/// A long conversation's next window, due at `due_ms`.
#[derive(Debug)]
struct Open<'t> {
    due_ms: i64,
    /// Tie-break, so that the order is total and reproducible.
    number: u64,
    session: Session<'t>,
}

impl PartialEq for Open<'_> {
    fn eq(&self, other: &Self) -> bool {
        (self.due_ms, self.number) == (other.due_ms, other.number)
    }
}

impl Eq for Open<'_> {}

impl PartialOrd for Open<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Open<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due_ms, self.number).cmp(&(other.due_ms, other.number))
    }
}

/// One lane's open long conversations, earliest window first.
#[derive(Debug, Default)]
pub(super) struct LongConnections<'t> {
    open: BinaryHeap<Reverse<Open<'t>>>,
    started: u64,
}

impl<'t> LongConnections<'t> {
    /// Whether a candidate conversation drawn now should be long.
    pub(super) fn should_start(&self, rng: &mut LaneRng) -> bool {
        chance(rng, LONG_SHARE) && self.open.len() < MAX_OPEN
    }

    /// Makes `session` long and returns the record of its first window, ending at `time_ms`; its
    /// later windows are kept for [`LongConnections::due`].
    pub(super) fn start(&mut self, rng: &mut LaneRng, session: Session<'t>, time_ms: i64) -> Session<'t> {
        let span = (LONG_MAX_MS as f64 / LONG_MIN_MS as f64).ln();
        let duration_ms = (LONG_MIN_MS as f64 * (unit(rng) * span).exp()) as u64;
        let windows = WindowPart::windows_for(duration_ms);
        // A steady trickle, or an idle keep-alive of a packet or two a window.
        let per_window = if chance(rng, 0.4) { between(rng, 1, 2) as f64 } else { log_normal(rng, 24.0, 0.8).clamp(3.0, 2_000.0) };
        let packets = (per_window * f64::from(windows)) as u64;
        let packet_bytes_up = between(rng, 52, 300);
        let packet_bytes_down = between(rng, 52, 600);
        let session = session
            .with_request(packets, packets * packet_bytes_up)
            .with_response(packets, packets * packet_bytes_down)
            .with_flags(TcpFlags::SYN.union(TcpFlags::FIN), TcpFlags::SYN_ACK.union(TcpFlags::FIN));
        let session = Session { duration_ms, ..session };
        let first = session.clone().in_window(WindowPart { index: 0, windows });
        self.started += 1;
        self.open.push(Reverse(Open { due_ms: time_ms + WINDOW_MS, number: self.started, session: first.clone() }));
        first
    }

    /// The record of the next window due at `time_ms`, if one is.
    pub(super) fn due(&mut self, time_ms: i64) -> Option<Session<'t>> {
        if self.open.peek().is_none_or(|Reverse(next)| next.due_ms > time_ms) {
            return None;
        }
        let Reverse(Open { due_ms, number, session }) = self.open.pop()?;
        let part = session.window?;
        let next = session.in_window(WindowPart { index: part.index + 1, windows: part.windows });
        if next.window.is_some_and(|part| !part.is_last()) {
            self.open.push(Reverse(Open { due_ms: due_ms + WINDOW_MS, number, session: next.clone() }));
        }
        Some(next)
    }
}
