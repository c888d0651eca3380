//! The rate profile: how the logical rate moves around its mean — a daily and weekly rhythm in
//! each region's local time, and bursts.

use std::collections::BTreeMap;

/// The shape of a day's traffic, in local time.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DailyCurve {
    /// The same rate at every hour.
    #[default]
    Flat,
    /// A smooth (cosine) day: highest at `peak_hour` (local, 0–24), lowest twelve hours later at
    /// `trough_to_peak` times the peak (0 < ratio ≤ 1).
    Diurnal { peak_hour: f64, trough_to_peak: f64 },
    /// 24 relative rates, one per local hour from 00:00 (any positive scale; interpolated
    /// linearly between hour midpoints).
    Hourly([f64; 24]),
}

/// Self-similar bursts: an ON/OFF superposition with heavy-tailed periods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bursts {
    /// The target Hurst parameter, 0.5 ≤ H < 1: 0.5 gives Poisson arrivals (no long-range
    /// dependence), more gives longer and longer-correlated bursts.
    pub hurst: f64,
}

/// How the logical rate moves around its mean. The default is flat: record *i* at `t0 + i / eps`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateProfile {
    pub daily: DailyCurve,
    /// Rate multiplier on Saturday and Sunday, local time (1: no weekend).
    pub weekend_factor: f64,
    /// Offset of each region's local time from UTC, hours (standard time, no daylight saving).
    /// Regions not listed use [`default_utc_offset`].
    pub utc_offsets: BTreeMap<String, f64>,
    pub bursts: Option<Bursts>,
}

impl Default for RateProfile {
    fn default() -> Self {
        RateProfile { daily: DailyCurve::Flat, weekend_factor: 1.0, utc_offsets: BTreeMap::new(), bursts: None }
    }
}

/// Standard-time UTC offset of an AWS region, hours (0 for a region this table does not know).
pub fn default_utc_offset(region: &str) -> f64 {
    match region {
        "us-east-1" | "us-east-2" | "ca-central-1" => -5.0,
        "us-west-1" | "us-west-2" => -8.0,
        "sa-east-1" => -3.0,
        "eu-west-1" | "eu-west-2" => 0.0,
        "eu-central-1" | "eu-west-3" | "eu-north-1" | "eu-south-1" => 1.0,
        "me-south-1" => 3.0,
        "ap-south-1" => 5.5,
        "ap-southeast-1" => 8.0,
        "ap-northeast-1" | "ap-northeast-2" => 9.0,
        "ap-southeast-2" => 10.0,
        _ => 0.0,
    }
}
