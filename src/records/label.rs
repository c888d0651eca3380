//! Ground truth carried by every record: `null` for normal traffic, else the anomaly kind and the
//! episode the record belongs to.
//!
//! [`AnomalyKind`] is the label vocabulary: the values `label.kind` may take, which the validator
//! accepts and the verifier counts. It lives here, below the generator, because a record must be
//! readable (and rejectable) without the code that makes anomalies. What each kind *does* is in
//! `chaos`, one file per kind; this list only names them, one line each.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares [`AnomalyKind`] from one `Variant => "snake_name"` line per kind: the enum, its
/// serde / JSON Schema names, [`AnomalyKind::ALL`], [`AnomalyKind::as_str`] and
/// [`AnomalyKind::from_name`] all come from that one list.
macro_rules! anomaly_kinds {
    ($($variant:ident => $name:literal,)+) => {
        // The doc comment is the JSON Schema's description of `label.kind`: changing it changes
        // what `netchaos schema` prints. The order of the variants is the order of every PerKind.
        /// The seven kinds of chaos episode (DESIGN §4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        pub enum AnomalyKind {
            $(#[serde(rename = $name)] $variant,)+
        }

        impl AnomalyKind {
            /// Every kind, in declaration order (the order of [`PerKind`]).
            pub const ALL: [AnomalyKind; [$($name),+].len()] = [$(AnomalyKind::$variant),+];

            /// The label value, as records carry it (`"port_scan"`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AnomalyKind::$variant => $name,)+
                }
            }
        }
    };
}

// One line per kind; what the kind does is in `chaos/<name>.rs`.
anomaly_kinds! {
    LatencySpike => "latency_spike",
    PortScan => "port_scan",
    DataExfiltration => "data_exfiltration",
    ConnectionReset => "connection_reset",
    Beaconing => "beaconing",
    LateralMovement => "lateral_movement",
    BruteForce => "brute_force",
    SynFlood => "syn_flood",
    DistributedScan => "distributed_scan",
    Cryptomining => "cryptomining",
}

impl AnomalyKind {
    /// How many kinds there are.
    pub const COUNT: usize = AnomalyKind::ALL.len();

    /// Position in [`AnomalyKind::ALL`]: the slot of this kind in a [`PerKind`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind a label value names; `None` for a name this version does not know.
    pub fn from_name(name: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `T` per anomaly kind, indexed by [`AnomalyKind`] (counts, counters, settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerKind<T>([T; AnomalyKind::COUNT]);

impl<T> PerKind<T> {
    /// The table from its values in [`AnomalyKind::ALL`] order.
    pub const fn new(values: [T; AnomalyKind::COUNT]) -> Self {
        PerKind(values)
    }

    /// The table whose entry for each kind is `value(kind)`.
    pub fn from_fn(mut value: impl FnMut(AnomalyKind) -> T) -> Self {
        PerKind(AnomalyKind::ALL.map(&mut value))
    }

    /// Each kind with its entry, in [`AnomalyKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (AnomalyKind, &T)> {
        AnomalyKind::ALL.into_iter().zip(&self.0)
    }

    /// Each kind with its entry, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (AnomalyKind, &mut T)> {
        AnomalyKind::ALL.into_iter().zip(&mut self.0)
    }

    /// The entries, in [`AnomalyKind::ALL`] order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    /// A table of `f` applied to each entry.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PerKind<U> {
        PerKind(self.0.map(f))
    }

    /// The table with these kinds' entries, every other kind's the default.
    pub fn of(entries: &[(AnomalyKind, T)]) -> Self
    where
        T: Default + Copy,
    {
        PerKind::from_fn(|kind| entries.iter().find(|(at, _)| *at == kind).map_or_else(T::default, |(_, value)| *value))
    }

    /// A table of references to the entries.
    pub fn each_ref(&self) -> PerKind<&T> {
        PerKind(self.0.each_ref())
    }
}

impl PerKind<u64> {
    /// Adds `other` entry by entry.
    pub fn add(&mut self, other: &PerKind<u64>) {
        for (total, add) in self.0.iter_mut().zip(&other.0) {
            *total += add;
        }
    }
}

impl<T: Default> Default for PerKind<T> {
    fn default() -> Self {
        PerKind::from_fn(|_| T::default())
    }
}

impl<T> std::ops::Index<AnomalyKind> for PerKind<T> {
    type Output = T;
    fn index(&self, kind: AnomalyKind) -> &T {
        &self.0[kind.index()]
    }
}

impl<T> std::ops::IndexMut<AnomalyKind> for PerKind<T> {
    fn index_mut(&mut self, kind: AnomalyKind) -> &mut T {
        &mut self.0[kind.index()]
    }
}

/// One `T` per label value: normal traffic, then each anomaly kind. Indexed by the record's
/// label kind, `None` for normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PerLabel<T> {
    pub normal: T,
    pub kinds: PerKind<T>,
}

impl<T> PerLabel<T> {
    /// Name of the normal label in counts and reports.
    pub const NORMAL: &'static str = "normal";

    /// Each label's name (`normal`, then the kinds) with its entry.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &T)> {
        std::iter::once((Self::NORMAL, &self.normal)).chain(self.kinds.iter().map(|(kind, value)| (kind.as_str(), value)))
    }
}

impl PerLabel<u64> {
    /// Adds `other` entry by entry.
    pub fn add(&mut self, other: &PerLabel<u64>) {
        self.normal += other.normal;
        self.kinds.add(&other.kinds);
    }
}

impl<T> std::ops::Index<Option<AnomalyKind>> for PerLabel<T> {
    type Output = T;
    fn index(&self, kind: Option<AnomalyKind>) -> &T {
        match kind {
            None => &self.normal,
            Some(kind) => &self.kinds[kind],
        }
    }
}

impl<T> std::ops::IndexMut<Option<AnomalyKind>> for PerLabel<T> {
    fn index_mut(&mut self, kind: Option<AnomalyKind>) -> &mut T {
        match kind {
            None => &mut self.normal,
            Some(kind) => &mut self.kinds[kind],
        }
    }
}

/// `{"kind": ..., "episode_id": ...}`: which episode an anomalous record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Label<'a> {
    pub kind: AnomalyKind,
    #[serde(borrow)]
    #[schemars(length(min = 1, max = super::rules::MAX_NAME_CHARS))]
    pub episode_id: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_label_values() {
        for kind in AnomalyKind::ALL {
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::Value::from(kind.as_str())));
            assert_eq!(AnomalyKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(AnomalyKind::ALL[kind.index()], kind);
        }
        assert_eq!(AnomalyKind::from_name("beaconing"), Some(AnomalyKind::Beaconing));
        assert_eq!(AnomalyKind::from_name("telnet_worm"), None);
    }

    #[test]
    fn per_label_indexes_normal_and_each_kind() {
        let mut counts = PerLabel::<u64>::default();
        counts[None] += 2;
        counts[Some(AnomalyKind::PortScan)] += 3;
        assert_eq!(counts.normal, 2);
        assert_eq!(counts.kinds[AnomalyKind::PortScan], 3);
        let names: Vec<&str> = counts.iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                "normal",
                "latency_spike",
                "port_scan",
                "data_exfiltration",
                "connection_reset",
                "beaconing",
                "lateral_movement",
                "brute_force",
                "syn_flood",
                "distributed_scan",
                "cryptomining"
            ]
        );
    }
}
