//! The rate profile: how the logical rate moves around its mean — a daily and weekly rhythm in
//! each region's local time, and bursts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The shape of a day's traffic, in local time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bursts {
    /// The target Hurst parameter, 0.5 ≤ H < 1: 0.5 gives Poisson arrivals (no long-range
    /// dependence), more gives longer and longer-correlated bursts.
    pub hurst: f64,
}

/// How the logical rate moves around its mean. The default is flat: record *i* at `t0 + i / eps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

const MS_PER_HOUR: f64 = 3_600_000.0;
const MS_PER_DAY: i64 = 86_400_000;

impl RateProfile {
    /// True when the rate never moves: no daily curve, no weekend, no bursts. The schedule then
    /// keeps its exact metronome (record *i* at `t0 + i / eps`).
    pub fn is_flat(&self) -> bool {
        self.daily == DailyCurve::Flat && self.weekend_factor == 1.0 && self.bursts.is_none()
    }

    /// True when the rhythm (daily curve or weekend) moves the rate; bursts aside.
    pub fn has_rhythm(&self) -> bool {
        self.daily != DailyCurve::Flat || self.weekend_factor != 1.0
    }

    /// Offset of `region`'s local time from UTC, hours.
    pub fn utc_offset(&self, region: &str) -> f64 {
        self.utc_offsets.get(region).copied().unwrap_or_else(|| default_utc_offset(region))
    }

    /// The relative rate at Unix time `unix_ms` in a region `utc_offset_hours` from UTC, with a
    /// mean of exactly 1 over any whole week.
    pub fn factor(&self, unix_ms: i64, utc_offset_hours: f64) -> f64 {
        let local_ms = unix_ms + (utc_offset_hours * MS_PER_HOUR) as i64;
        let hour = local_ms.rem_euclid(MS_PER_DAY) as f64 / MS_PER_HOUR;
        // 1970-01-01 was a Thursday: day 0 is Thursday, so days 2 and 3 (mod 7) are the weekend.
        let weekday = local_ms.div_euclid(MS_PER_DAY).rem_euclid(7);
        let weekend = if weekday == 2 || weekday == 3 { self.weekend_factor } else { 1.0 };
        let weekly_mean = self.daily_mean() * (5.0 + 2.0 * self.weekend_factor) / 7.0;
        self.daily_value(hour) * weekend / weekly_mean
    }

    /// The daily curve at local `hour` (0–24), unnormalised.
    fn daily_value(&self, hour: f64) -> f64 {
        match &self.daily {
            DailyCurve::Flat => 1.0,
            DailyCurve::Diurnal { peak_hour, trough_to_peak } => {
                let middle = (1.0 + trough_to_peak) / 2.0;
                let amplitude = (1.0 - trough_to_peak) / 2.0;
                middle + amplitude * (std::f64::consts::TAU * (hour - peak_hour) / 24.0).cos()
            }
            DailyCurve::Hourly(rates) => {
                // Linear between hour midpoints, wrapping round midnight.
                let position = (hour - 0.5).rem_euclid(24.0);
                let below = position.floor() as usize % 24;
                let fraction = position - position.floor();
                rates[below] * (1.0 - fraction) + rates[(below + 1) % 24] * fraction
            }
        }
    }

    /// The daily curve's mean over a day (interpolation between midpoints keeps the hourly mean).
    fn daily_mean(&self) -> f64 {
        match &self.daily {
            DailyCurve::Flat => 1.0,
            DailyCurve::Diurnal { trough_to_peak, .. } => (1.0 + trough_to_peak) / 2.0,
            DailyCurve::Hourly(rates) => rates.iter().sum::<f64>() / 24.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diurnal(peak_hour: f64, trough_to_peak: f64, weekend_factor: f64) -> RateProfile {
        RateProfile { daily: DailyCurve::Diurnal { peak_hour, trough_to_peak }, weekend_factor, ..RateProfile::default() }
    }

    /// The mean of `factor` over a week from `start_ms`, sampled every minute.
    fn weekly_mean(profile: &RateProfile, start_ms: i64, offset: f64) -> f64 {
        let samples = 7 * 24 * 60;
        (0..samples).map(|minute| profile.factor(start_ms + minute * 60_000, offset)).sum::<f64>() / samples as f64
    }

    #[test]
    fn every_profile_has_a_weekly_mean_of_one() {
        let mut hourly = [1.0; 24];
        hourly[9] = 5.0;
        hourly[17] = 0.1;
        for profile in [
            RateProfile::default(),
            diurnal(14.0, 0.2, 1.0),
            diurnal(3.5, 0.05, 0.3),
            RateProfile { daily: DailyCurve::Hourly(hourly), weekend_factor: 2.0, ..RateProfile::default() },
        ] {
            for offset in [-8.0, 0.0, 5.5] {
                let mean = weekly_mean(&profile, 1_767_225_600_000, offset);
                assert!((mean - 1.0).abs() < 1e-3, "{profile:?} at UTC{offset:+}: {mean}");
            }
        }
    }

    #[test]
    fn the_peak_and_the_trough_are_where_and_what_the_profile_says_in_local_time() {
        let profile = diurnal(14.0, 0.25, 1.0);
        let monday = 1_767_571_200_000; // 2026-01-05T00:00:00Z, a Monday
        let at = |hour: f64, offset: f64| profile.factor(monday + ((hour - offset) * MS_PER_HOUR) as i64, offset);
        assert!((at(14.0, 0.0) / at(2.0, 0.0) - 4.0).abs() < 1e-9, "peak / trough = 1 / 0.25");
        // eu-west-1 (UTC+0) peaks at 14:00 UTC, us-east-1 (UTC-5) five hours later.
        let utc = |hour: f64, offset: f64| profile.factor(monday + (hour * MS_PER_HOUR) as i64, offset);
        let peak_utc =
            |offset: f64| (0..24 * 60).max_by(|a, b| utc(*a as f64 / 60.0, offset).total_cmp(&utc(*b as f64 / 60.0, offset))).unwrap();
        assert_eq!(peak_utc(0.0), 14 * 60);
        assert_eq!(peak_utc(-5.0), 19 * 60);
        assert!(at(14.0, -5.0) > at(13.0, -5.0));
    }

    #[test]
    fn weekends_are_saturday_and_sunday_local_time() {
        let profile = RateProfile { weekend_factor: 0.5, ..RateProfile::default() };
        let friday_noon = 1_767_960_000_000; // 2026-01-09T12:00:00Z
        let saturday_noon = friday_noon + MS_PER_DAY;
        let monday_noon = friday_noon + 3 * MS_PER_DAY;
        assert!((profile.factor(saturday_noon, 0.0) / profile.factor(friday_noon, 0.0) - 0.5).abs() < 1e-12);
        assert_eq!(profile.factor(monday_noon, 0.0), profile.factor(friday_noon, 0.0));
        // Friday 23:00 UTC is already Saturday 08:00 in UTC+9.
        assert!(profile.factor(friday_noon + 11 * 3_600_000, 9.0) < profile.factor(friday_noon + 11 * 3_600_000, 0.0));
    }

    #[test]
    fn an_hourly_curve_passes_through_its_values_at_hour_midpoints() {
        let mut hourly = [2.0; 24];
        hourly[10] = 6.0;
        let profile = RateProfile { daily: DailyCurve::Hourly(hourly), ..RateProfile::default() };
        let mean = (23.0 * 2.0 + 6.0) / 24.0;
        let at = |hour: f64| profile.factor(1_767_571_200_000 + (hour * MS_PER_HOUR) as i64, 0.0);
        assert!((at(10.5) - 6.0 / mean).abs() < 1e-9);
        assert!((at(3.5) - 2.0 / mean).abs() < 1e-9);
        assert!((at(11.0) - 4.0 / mean).abs() < 1e-9, "halfway between 10:30 and 11:30");
    }
}
