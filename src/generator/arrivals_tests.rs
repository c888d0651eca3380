use super::*;
use crate::generator::hurst::aggregated_variance;
use crate::generator::profile::{Bursts, DailyCurve};

const MONDAY_MS: i64 = 1_767_571_200_000; // 2026-01-05T00:00:00Z
const HOUR_NS: u64 = 3_600_000_000_000;

fn shape(eps: f64, profile: RateProfile, regions: Vec<(f64, f64)>, bound_ns: Option<u64>, seed: u64) -> RateShape {
    RateShape::new(MONDAY_MS, (eps, 0.0), Vec::new(), profile, regions, bound_ns, seed)
}

/// Every record's offset, in order, until the stream ends or `limit` records.
fn offsets(shape: &RateShape, stream: Stream, limit: u64) -> Vec<u64> {
    let mut arrivals = Arrivals::new(shape, stream);
    (0..limit).map_while(|position| arrivals.offset_ns(position)).collect()
}

/// Records per `bucket_ns` of logical time.
fn counts(offsets: &[u64], bucket_ns: u64, buckets: usize) -> Vec<f64> {
    let mut counts = vec![0.0; buckets];
    for offset in offsets {
        counts[(*offset / bucket_ns) as usize] += 1.0;
    }
    counts
}

#[test]
fn a_flat_bounded_run_is_the_metronome_with_the_exact_count() {
    let shape = shape(1_000.0, RateProfile { weekend_factor: 1.0, ..RateProfile::default() }, vec![(1.0, 0.0)], Some(HOUR_NS / 60), 1);
    assert_eq!(shape.count(Stream::Traffic), Some(60_000));
    let times = offsets(&shape, Stream::Traffic, u64::MAX);
    assert_eq!(times.len(), 60_000);
    for (position, offset) in times.iter().enumerate().step_by(997) {
        let exact = position as u64 * 1_000_000;
        assert!(offset.abs_diff(exact) <= 1, "record {position} at {offset} ns, not {exact}");
    }
}

#[test]
fn a_diurnal_day_follows_its_curve_hour_by_hour_and_holds_the_mean() {
    let profile = RateProfile { daily: DailyCurve::Diurnal { peak_hour: 14.0, trough_to_peak: 0.2 }, ..RateProfile::default() };
    let shape = shape(50.0, profile.clone(), vec![(1.0, 0.0)], Some(24 * HOUR_NS), 2);
    let times = offsets(&shape, Stream::Traffic, u64::MAX);
    assert_eq!(times.len() as u64, 50 * 86_400, "the mean rate over the run is --eps");
    let hourly = counts(&times, HOUR_NS, 24);
    let curve: Vec<f64> = (0..24).map(|hour| profile.factor(MONDAY_MS + hour * 3_600_000 + 1_800_000, 0.0)).collect();
    let curve_sum: f64 = curve.iter().sum();
    for hour in 0..24 {
        let expected = curve[hour] / curve_sum * times.len() as f64;
        assert!((hourly[hour] / expected - 1.0).abs() < 0.01, "hour {hour}: {} records, expected {expected:.0}", hourly[hour]);
    }
    let peak = (0..24).max_by(|a, b| hourly[*a].total_cmp(&hourly[*b])).unwrap();
    assert!((13..=14).contains(&peak), "peak at {peak}:00");
}

#[test]
fn regions_peak_in_their_own_local_time() {
    let profile = RateProfile { daily: DailyCurve::Diurnal { peak_hour: 14.0, trough_to_peak: 0.1 }, ..RateProfile::default() };
    let shape = shape(10.0, profile, vec![(0.5, -5.0), (0.5, 0.0)], None, 3);
    let mut weights = Vec::new();
    let at_hour = |hour: u64, weights: &mut Vec<f64>| {
        assert!(shape.vpc_weights(hour * HOUR_NS, weights));
        weights.clone()
    };
    // 14:00 UTC: Europe at its peak, New York (09:00) still climbing.
    let afternoon = at_hour(14, &mut weights);
    assert!(afternoon[1] > afternoon[0]);
    let evening = at_hour(19, &mut weights);
    assert!(evening[0] > evening[1], "19:00 UTC is 14:00 in us-east-1");
}

#[test]
fn bursts_keep_the_exact_count_of_a_bounded_run() {
    for hurst in [0.5, 0.8] {
        let profile = RateProfile { bursts: Some(Bursts { hurst }), ..RateProfile::default() };
        let shape = shape(200.0, profile, vec![(1.0, 0.0)], Some(HOUR_NS), 4);
        let times = offsets(&shape, Stream::Traffic, u64::MAX);
        assert_eq!(times.len(), 720_000, "H = {hurst}");
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "times run forward");
        assert!(*times.last().unwrap() < HOUR_NS);
    }
}

#[test]
fn bursts_are_self_similar_at_the_hurst_parameter_asked_for_and_poisson_at_one_half() {
    let hurst_of = |hurst: f64| {
        let profile = RateProfile { bursts: Some(Bursts { hurst }), ..RateProfile::default() };
        let shape = shape(100.0, profile, vec![(1.0, 0.0)], Some(12 * HOUR_NS), 5);
        let times = offsets(&shape, Stream::Traffic, u64::MAX);
        let per_second = counts(&times, 1_000_000_000, 12 * 3600);
        aggregated_variance(&per_second, 10).unwrap()
    };
    let bursty = hurst_of(0.8);
    assert!(bursty >= 0.7, "H = {bursty} with --hurst 0.8");
    let poisson = hurst_of(0.5);
    assert!((0.4..=0.6).contains(&poisson), "H = {poisson} with --hurst 0.5");
}

#[test]
fn the_same_seed_walks_the_same_times_and_another_seed_does_not() {
    let profile = RateProfile { bursts: Some(Bursts { hurst: 0.9 }), ..RateProfile::default() };
    let a = offsets(&shape(300.0, profile.clone(), vec![(1.0, 0.0)], None, 9), Stream::Traffic, 50_000);
    let b = offsets(&shape(300.0, profile.clone(), vec![(1.0, 0.0)], None, 9), Stream::Traffic, 50_000);
    let c = offsets(&shape(300.0, profile, vec![(1.0, 0.0)], None, 10), Stream::Traffic, 50_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn phases_set_the_rate_and_the_port_scan_share_of_their_stretch() {
    let phases = vec![Segment { start_ns: HOUR_NS / 6, end_ns: HOUR_NS / 3, eps: 300.0, scan_share: 0.5 }];
    let shape = RateShape::new(MONDAY_MS, (100.0, 0.0), phases, RateProfile::default(), vec![(1.0, 0.0)], Some(HOUR_NS / 2), 6);
    // 10 min at 100/s, 10 min at 150/s traffic + 150/s scan, 10 min at 100/s.
    assert_eq!(shape.count(Stream::Traffic), Some(60_000 + 90_000 + 60_000));
    assert_eq!(shape.count(Stream::PortScan), Some(90_000));
    let scan = offsets(&shape, Stream::PortScan, u64::MAX);
    assert_eq!(scan.len(), 90_000);
    assert!(scan.iter().all(|offset| (HOUR_NS / 6..HOUR_NS / 3).contains(offset)));
    let traffic = counts(&offsets(&shape, Stream::Traffic, u64::MAX), HOUR_NS / 6, 3);
    assert_eq!(traffic, vec![60_000.0, 90_000.0, 60_000.0]);
}
