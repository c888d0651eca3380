//! [`RateCurve`]: the run's target rate after its first live rate change, as a function of logical
//! time, and its inverse, so that a lane can place its records on it.
//!
//! From the first change at `T₀` on, the rate is piecewise: each change at `Tᵢ` starts a segment
//! that moves linearly from the rate in force at `Tᵢ` to its target over its ramp, then holds.
//! `count(t) = ∫ rate` from `T₀` is the stream's record count by time `t`; a lane's record at
//! stream position `q` is due where `count` reaches `q`. Both directions are closed forms (a
//! quadratic inside a ramp, linear outside), so every lane finds the same times, to the
//! nanosecond, from the same commands. Tests: below, and `it::control::a_ramp_reaches_its_rate`
//! for the achieved rate over 10-second windows.

/// One change: from `start_ns`, the rate moves from `from` to `to` (records per nanosecond)
/// over `ramp_ns`, then holds until the next segment.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start_ns: f64,
    /// The count at `start_ns`.
    count: f64,
    from: f64,
    to: f64,
    ramp_ns: f64,
}

impl Segment {
    fn slope(&self) -> f64 {
        if self.ramp_ns > 0.0 { (self.to - self.from) / self.ramp_ns } else { 0.0 }
    }

    /// Records of the segment by `tau` ns after its start.
    fn count_after(&self, tau: f64) -> f64 {
        let ramp = tau.min(self.ramp_ns);
        let in_ramp = self.from * ramp + self.slope() * ramp * ramp / 2.0;
        in_ramp + self.to * (tau - ramp).max(0.0)
    }

    /// Nanoseconds after its start at which the segment's count reaches `records`.
    fn time_after(&self, records: f64) -> f64 {
        let ramp_count = self.count_after(self.ramp_ns);
        if records >= ramp_count || self.ramp_ns <= 0.0 {
            return self.ramp_ns.max(0.0) + (records - ramp_count.max(0.0)) / self.to;
        }
        // slope/2 τ² + from τ − records = 0, in the form that stays exact as the slope goes to 0.
        let root = (self.from * self.from + 2.0 * self.slope() * records).max(0.0).sqrt();
        2.0 * records / (self.from + root)
    }

    fn rate_after(&self, tau: f64) -> f64 {
        if tau >= self.ramp_ns { self.to } else { self.from + self.slope() * tau }
    }
}

/// The live target rate, in records per second of logical time, from its first change on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateCurve {
    segments: Vec<Segment>,
}

impl RateCurve {
    /// Whether a change has happened (before it, the schedule's own rate holds).
    pub fn is_live(&self) -> bool {
        !self.segments.is_empty()
    }

    /// Where the count starts (`T₀`, logical ns from t0).
    pub fn origin_ns(&self) -> Option<u64> {
        self.segments.first().map(|segment| segment.start_ns as u64)
    }

    /// A change at `at_ns` to `eps` over `ramp_ns`. `current_eps` is the rate before the first
    /// change (later ones ramp from the curve's own rate). Changes come in time order.
    pub fn change(&mut self, at_ns: u64, current_eps: f64, eps: f64, ramp_ns: u64) {
        let at = at_ns as f64;
        let (count, from) = match self.segments.last() {
            Some(last) => (last.count + last.count_after(at - last.start_ns), last.rate_after(at - last.start_ns)),
            None => (0.0, current_eps / 1e9),
        };
        self.segments.push(Segment { start_ns: at, count, from, to: eps / 1e9, ramp_ns: ramp_ns as f64 });
    }

    /// The target rate at `at_ns`, records per second (`None` before the first change).
    pub fn eps_at(&self, at_ns: u64) -> Option<f64> {
        let at = at_ns as f64;
        let segment = self.segments.iter().rev().find(|segment| segment.start_ns <= at).or(self.segments.first())?;
        Some(segment.rate_after((at - segment.start_ns).max(0.0)) * 1e9)
    }

    /// Logical ns from t0 at which the count since the first change reaches `records`.
    pub fn time_of(&self, records: f64) -> Option<u64> {
        let index = self.segments.partition_point(|segment| segment.count <= records).checked_sub(1)?;
        let segment = &self.segments[index];
        let at = segment.start_ns + segment.time_after(records - segment.count);
        at.is_finite().then_some(at as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records_between(curve: &RateCurve, from_ns: u64, to_ns: u64) -> u64 {
        (0..10_000_000u64).map(|q| curve.time_of(q as f64).unwrap_or(u64::MAX)).filter(|t| (from_ns..to_ns).contains(t)).count() as u64
    }

    #[test]
    fn a_step_change_holds_its_rate_exactly() {
        let mut curve = RateCurve::default();
        curve.change(5_000_000_000, 1_000.0, 2_000.0, 0);
        assert_eq!(curve.time_of(0.0), Some(5_000_000_000));
        assert_eq!(curve.time_of(2_000.0), Some(6_000_000_000));
        assert_eq!(records_between(&curve, 6_000_000_000, 16_000_000_000), 20_000);
    }

    #[test]
    fn a_ramp_moves_linearly_and_then_holds() {
        let mut curve = RateCurve::default();
        // 1,000/s to 3,000/s over 10 s: 20,000 records in the ramp, then 3,000/s.
        curve.change(0, 1_000.0, 3_000.0, 10_000_000_000);
        let ramp_end = curve.time_of(20_000.0).unwrap_or(0) as f64;
        assert!((ramp_end - 1e10).abs() < 1e3, "{ramp_end}");
        assert!((curve.eps_at(5_000_000_000).unwrap_or(0.0) - 2_000.0).abs() < 1e-6);
        assert_eq!(records_between(&curve, 10_000_000_000, 20_000_000_000), 30_000);
        // The first second of the ramp holds about 1,100 records (1,000 rising to 1,200).
        let first = records_between(&curve, 0, 1_000_000_000);
        assert!((1_099..=1_101).contains(&first), "{first}");
    }

    #[test]
    fn a_change_during_a_ramp_starts_from_where_the_ramp_got_to() {
        let mut curve = RateCurve::default();
        curve.change(0, 1_000.0, 3_000.0, 10_000_000_000);
        curve.change(5_000_000_000, 0.0, 500.0, 0);
        assert!((curve.eps_at(4_999_000_000).unwrap_or(0.0) - 1_999.8).abs() < 1e-6);
        assert_eq!(curve.eps_at(6_000_000_000), Some(500.0));
        // 7,500 records in the first 5 s (mean 1,500/s), then 500/s.
        let at = curve.time_of(7_500.0 + 500.0).unwrap_or(0);
        assert!(at.abs_diff(6_000_000_000) < 1_000, "{at}");
    }

    #[test]
    fn a_ramp_down_stays_inside_its_ramp() {
        let mut curve = RateCurve::default();
        curve.change(0, 10_000.0, 100.0, 60_000_000_000);
        let times: Vec<u64> = (0..400_000).map(|q| curve.time_of(q as f64).unwrap_or(u64::MAX)).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!((curve.eps_at(59_000_000_000).unwrap_or(0.0) - 265.0).abs() < 1.0);
    }
}
