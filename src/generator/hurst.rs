//! The Hurst parameter of a count series, by the aggregated-variance method (Beran, *Statistics
//! for Long-Memory Processes*, 1994, §4.4; Taqqu, Teverovsky and Willinger, 1995): the variance of
//! the means of blocks of *m* values falls as `m^(2H − 2)`, so H is one plus half the slope of
//! log variance against log *m*. Independent counts give 0.5; long-range dependent ones more.

/// The aggregated-variance estimate of H for `series`, over block sizes from `min_block` up to a
/// tenth of its length (at least ten blocks per size), spaced evenly in log scale. `None` when the
/// series is too short for three sizes or has no variance.
pub fn aggregated_variance(series: &[f64], min_block: usize) -> Option<f64> {
    let min_block = min_block.max(1);
    let max_block = series.len() / 10;
    let mut points = Vec::new();
    let mut block = min_block as f64;
    while block as usize <= max_block {
        let m = block as usize;
        if points.last().is_none_or(|(last, _): &(f64, f64)| (m as f64).ln() > *last) {
            let means: Vec<f64> = series.chunks_exact(m).map(|chunk| chunk.iter().sum::<f64>() / m as f64).collect();
            let variance = variance(&means);
            if variance > 0.0 {
                points.push(((m as f64).ln(), variance.ln()));
            }
        }
        block *= 1.5;
    }
    if points.len() < 3 {
        return None;
    }
    Some(1.0 + slope(&points) / 2.0)
}

fn variance(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / (values.len() as f64 - 1.0)
}

/// The least-squares slope of `points`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|point| point.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|point| point.1).sum::<f64>() / n;
    let covariance: f64 = points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let spread: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    covariance / spread
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::{rng_for, unit};

    #[test]
    fn independent_values_give_one_half() {
        let mut rng = rng_for(3, 0);
        let series: Vec<f64> = (0..200_000).map(|_| unit(&mut rng)).collect();
        let h = aggregated_variance(&series, 1).unwrap();
        assert!((h - 0.5).abs() < 0.05, "{h}");
    }

    #[test]
    fn a_random_walk_gives_one() {
        // The cumulative sum is as persistent as a series gets: H near 1.
        let mut rng = rng_for(4, 0);
        let mut level = 0.0;
        let series: Vec<f64> = (0..100_000)
            .map(|_| {
                level += unit(&mut rng) - 0.5;
                level
            })
            .collect();
        assert!(aggregated_variance(&series, 1).unwrap() > 0.9);
    }

    #[test]
    fn too_short_or_constant_series_have_no_estimate() {
        assert_eq!(aggregated_variance(&[1.0; 20], 1), None);
        assert_eq!(aggregated_variance(&[2.0; 10_000], 1), None);
    }
}
