//! Ground truth carried by every record: `null` for normal traffic, else the anomaly kind and the
//! episode the record belongs to.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The four kinds of chaos episode (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    LatencySpike,
    PortScan,
    DataExfiltration,
    ConnectionReset,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 4] =
        [AnomalyKind::LatencySpike, AnomalyKind::PortScan, AnomalyKind::DataExfiltration, AnomalyKind::ConnectionReset];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::LatencySpike => "latency_spike",
            AnomalyKind::PortScan => "port_scan",
            AnomalyKind::DataExfiltration => "data_exfiltration",
            AnomalyKind::ConnectionReset => "connection_reset",
        }
    }

    /// Position in [`AnomalyKind::ALL`], for per-kind counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
