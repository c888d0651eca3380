//! `NODATA`: one record per idle interface per aggregation window.
//!
//! AWS writes a `NODATA` record for an ENI that saw no traffic in an aggregation window. Which
//! interfaces are idle in a window is decided per interface and window from a hash of the
//! interface id and the window number, with a probability by role ([`idle_probability`]: a
//! bastion is idle most minutes, a batch worker between jobs, a web server almost never), so every
//! lane and every run of the same seed agrees. Each idle interface belongs to one traffic lane (by
//! its position in the estate, modulo the lanes), which writes its one record for the window,
//! spread evenly over the window. An idle interface may still show in other records of that
//! window at high rates (the conversations draw their hosts on their own); the count of `NODATA`
//! records is right either way, one per idle interface per window.

use crate::network::random::split_seed;
use crate::network::session::WINDOW_SECONDS;
use crate::network::topology::{Host, Role, Topology};

const WINDOW_MS: i64 = WINDOW_SECONDS * 1000;

/// The chance that an interface of `role` sees no traffic in a window.
pub fn idle_probability(role: Role) -> f64 {
    match role {
        Role::Bastion => 0.7,
        Role::Worker => 0.15,
        Role::Search => 0.05,
        Role::Web | Role::Api | Role::Auth | Role::Database | Role::Cache | Role::Broker => 0.01,
    }
}

/// Whether the interface with key `key` (see [`interface_key`]) of `role` is idle in `window`
/// (Unix seconds / 60).
pub fn is_idle(key: u64, role: Role, window: i64) -> bool {
    let draw = split_seed(key, window as u64) >> 11;
    (draw as f64) * (1.0 / (1u64 << 53) as f64) < idle_probability(role)
}

/// A stable 64-bit key of an interface: FNV-1a of its id (seed-dependent, as the ids are).
pub fn interface_key(host: &Host) -> u64 {
    host.interface_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// One lane's idle interfaces: which of its interfaces are idle in the current window, and how
/// many of their records it has written.
#[derive(Debug)]
pub(super) struct Idle<'t> {
    hosts: Vec<(&'t Host, u64)>,
    window: Option<i64>,
    idle: Vec<&'t Host>,
    written: usize,
}

impl<'t> Idle<'t> {
    /// The interfaces of traffic lane `lane` of `lanes`: those at positions `lane` modulo `lanes`.
    pub(super) fn new(topology: &'t Topology, lane: u32, lanes: u32) -> Self {
        let lanes = lanes.max(1) as usize;
        let hosts = topology
            .hosts
            .iter()
            .enumerate()
            .filter(|(position, _)| position % lanes == lane as usize % lanes)
            .map(|(_, host)| (host, interface_key(host)))
            .collect();
        Idle { hosts, window: None, idle: Vec::new(), written: 0 }
    }

    /// The idle interface whose `NODATA` record is due at `time_ms`, if one is. The `k`th of the
    /// window's `n` idle interfaces is due `k/n` of the way through the window; those the cap
    /// kept back until the window ended are not written.
    pub(super) fn due(&mut self, time_ms: i64) -> Option<&'t Host> {
        let window = time_ms.div_euclid(WINDOW_MS);
        if self.window != Some(window) {
            self.window = Some(window);
            self.written = 0;
            self.idle.clear();
            self.idle.extend(self.hosts.iter().filter(|(host, key)| is_idle(*key, host.role, window)).map(|(host, _)| *host));
        }
        let into_window = time_ms - window * WINDOW_MS;
        let due_at = i64::try_from(self.written).unwrap_or(i64::MAX).saturating_mul(WINDOW_MS) / self.idle.len().max(1) as i64;
        if self.written < self.idle.len() && into_window >= due_at {
            self.written += 1;
            return Some(self.idle[self.written - 1]);
        }
        None
    }
}
