//! The distances between two distributions that synthetic-flow papers report, as NetShare
//! computes them (Yin et al., SIGCOMM 2022; `netshare/pre_post_processors/netshare/dist_metrics.py`):
//! total-variation distance over counts, the earth mover's (first Wasserstein) distance between
//! samples as `scipy.stats.wasserstein_distance` defines it, and the EMD between popularity-rank
//! distributions (`compute_IP_rank_distance`). Plus the sample autocorrelation of a count series.

/// Total-variation distance between two count vectors over the same categories: half the sum of
/// the absolute differences of their shares (`compute_port_proto_distance`, `type="TV"`). 0 for
/// the same shares, 1 for disjoint supports; 0 when either is empty (nothing to compare).
pub fn total_variation(reference: &[u64], candidate: &[u64]) -> f64 {
    debug_assert_eq!(reference.len(), candidate.len());
    let reference_total: u64 = reference.iter().sum();
    let candidate_total: u64 = candidate.iter().sum();
    if reference_total == 0 || candidate_total == 0 {
        return 0.0;
    }
    let sum: f64 =
        reference.iter().zip(candidate).map(|(&p, &q)| (p as f64 / reference_total as f64 - q as f64 / candidate_total as f64).abs()).sum();
    sum / 2.0
}

/// The earth mover's distance between two samples: the area between their empirical CDFs,
/// `∫ |F_u(x) − F_v(x)| dx` (scipy's `_cdf_distance` with p = 1). Sorts both in place.
pub fn earth_movers(u: &mut [f64], v: &mut [f64]) -> f64 {
    if u.is_empty() || v.is_empty() {
        return 0.0;
    }
    u.sort_unstable_by(f64::total_cmp);
    v.sort_unstable_by(f64::total_cmp);
    let (mut i, mut j) = (0usize, 0usize);
    let mut area = 0.0;
    let mut previous = u[0].min(v[0]);
    while i < u.len() || j < v.len() {
        let next = match (u.get(i), v.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        let gap = (i as f64 / u.len() as f64 - j as f64 / v.len() as f64).abs();
        area += gap * (next - previous);
        while i < u.len() && u[i] <= next {
            i += 1;
        }
        while j < v.len() && v[j] <= next {
            j += 1;
        }
        previous = next;
    }
    area
}

/// The EMD between two popularity-rank distributions: each record stands at the rank of its
/// address (1 for the most frequent), so a distribution is the address counts sorted from most to
/// least frequent; the distance is `Σ_r |F_u(r) − F_v(r)|` over ranks, unit apart. This is
/// `wasserstein_distance` of NetShare's rank lists without building them.
pub fn rank_earth_movers(reference_sorted: &[u64], candidate_sorted: &[u64]) -> f64 {
    let reference_total: u64 = reference_sorted.iter().sum();
    let candidate_total: u64 = candidate_sorted.iter().sum();
    if reference_total == 0 || candidate_total == 0 {
        return 0.0;
    }
    let ranks = reference_sorted.len().max(candidate_sorted.len());
    let (mut reference_cdf, mut candidate_cdf) = (0u64, 0u64);
    let mut area = 0.0;
    // The CDFs meet at 1 after the last rank: the sum runs over the gaps between ranks.
    for rank in 0..ranks.saturating_sub(1) {
        reference_cdf += reference_sorted.get(rank).copied().unwrap_or(0);
        candidate_cdf += candidate_sorted.get(rank).copied().unwrap_or(0);
        area += (reference_cdf as f64 / reference_total as f64 - candidate_cdf as f64 / candidate_total as f64).abs();
    }
    area
}

/// The sample autocorrelation of `series` at lags 1..=`max_lag` (Box and Jenkins): the lag-k
/// autocovariance over the variance, both about the series mean and divided by n. `None` for a
/// lag the series is too short for, and for every lag of a constant series.
pub fn autocorrelation(series: &[f64], max_lag: usize) -> Vec<Option<f64>> {
    let n = series.len();
    let mean = series.iter().sum::<f64>() / n.max(1) as f64;
    let variance: f64 = series.iter().map(|x| (x - mean).powi(2)).sum();
    (1..=max_lag)
        .map(|lag| {
            if lag >= n || variance == 0.0 {
                return None;
            }
            let covariance: f64 = series.iter().zip(&series[lag..]).map(|(a, b)| (a - mean) * (b - mean)).sum();
            Some(covariance / variance)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earth_movers_matches_hand_worked_cases() {
        // scipy: wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5.0; ([0, 1], [0, 1, 1, 1]) = 0.25.
        assert!((earth_movers(&mut [0.0, 1.0, 3.0], &mut [5.0, 6.0, 8.0]) - 5.0).abs() < 1e-12);
        assert!((earth_movers(&mut [0.0, 1.0], &mut [0.0, 1.0, 1.0, 1.0]) - 0.25).abs() < 1e-12);
        assert_eq!(earth_movers(&mut [2.0, 1.0, 2.0], &mut [1.0, 2.0, 2.0]), 0.0);
    }

    #[test]
    fn total_variation_is_half_the_l1_of_shares() {
        assert_eq!(total_variation(&[1, 1, 0], &[0, 0, 5]), 1.0);
        assert!((total_variation(&[3, 1], &[1, 1]) - 0.25).abs() < 1e-12);
        assert_eq!(total_variation(&[2, 4], &[1, 2]), 0.0);
    }

    #[test]
    fn rank_distance_equals_the_emd_of_rank_lists() {
        // Ranks [1, 1, 1, 2] against [1, 2, 3, 4]: by the sample EMD.
        let expected = earth_movers(&mut [1.0, 1.0, 1.0, 2.0], &mut [1.0, 2.0, 3.0, 4.0]);
        assert!((rank_earth_movers(&[3, 1], &[1, 1, 1, 1]) - expected).abs() < 1e-12);
        assert_eq!(rank_earth_movers(&[5, 2, 1], &[10, 4, 2]), 0.0);
    }

    #[test]
    fn autocorrelation_of_an_alternating_series_is_minus_one_then_one() {
        let series: Vec<f64> = (0..1000).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let acf = autocorrelation(&series, 2);
        assert!((acf[0].unwrap() + 1.0).abs() < 0.01 && (acf[1].unwrap() - 1.0).abs() < 0.01, "{acf:?}");
        assert_eq!(autocorrelation(&[3.0; 10], 1), vec![None]);
    }
}
