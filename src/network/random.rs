//! Seeding and the few distributions the generator draws from.
//!
//! Every lane owns a [`LaneRng`] (xoshiro256++, a fixed, documented algorithm, so a seed means the
//! same stream on every machine and every build). Seeds for lanes and for the topology are split
//! from the run seed with SplitMix64. The distributions are written out here, a few lines each,
//! rather than taken from a crate whose sampling algorithms may change between versions: a
//! recorded seed must keep reproducing the same data.

use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub type LaneRng = Xoshiro256PlusPlus;

/// SplitMix64: a well-mixed 64-bit value from `state` and a stream tag.
pub fn split_seed(state: u64, stream: u64) -> u64 {
    let mut z = state ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn rng_for(seed: u64, stream: u64) -> LaneRng {
    LaneRng::seed_from_u64(split_seed(seed, stream))
}

/// A uniform draw in `[0, 1)`.
pub fn unit(rng: &mut LaneRng) -> f64 {
    // 53 random bits: exact and identical on every platform.
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p`.
pub fn chance(rng: &mut LaneRng, p: f64) -> bool {
    unit(rng) < p
}

/// Uniform integer in `low..=high`.
pub fn between(rng: &mut LaneRng, low: u64, high: u64) -> u64 {
    debug_assert!(low <= high);
    low + ((high - low + 1) as f64 * unit(rng)) as u64
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut LaneRng) -> f64 {
    let u1 = unit(rng).max(f64::MIN_POSITIVE);
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal with the given median and shape.
pub fn log_normal(rng: &mut LaneRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// Pareto with scale `minimum` and tail index `alpha` (heavier tail for smaller alpha).
pub fn pareto(rng: &mut LaneRng, minimum: f64, alpha: f64) -> f64 {
    let u = 1.0 - unit(rng);
    minimum / u.powf(1.0 / alpha)
}

/// Exponential with the given mean: the gap between events of a Poisson process.
pub fn exponential(rng: &mut LaneRng, mean: f64) -> f64 {
    -(1.0 - unit(rng)).ln() * mean
}

/// Picks an element; `items` must not be empty.
pub fn pick<'a, T>(rng: &mut LaneRng, items: &'a [T]) -> &'a T {
    &items[(unit(rng) * items.len() as f64) as usize % items.len()]
}

/// Picks an index by weight; `weights` must not be empty and must sum above zero.
pub fn weighted(rng: &mut LaneRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut target = unit(rng) * total;
    for (index, weight) in weights.iter().enumerate() {
        if target < *weight {
            return index;
        }
        target -= weight;
    }
    weights.len() - 1
}

/// `len` lower-case hex digits.
pub fn hex(rng: &mut LaneRng, len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..len).map(|_| DIGITS[(rng.next_u32() & 15) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut first = rng_for(7, 1);
        let mut again = rng_for(7, 1);
        let mut other = rng_for(7, 2);
        let a: Vec<u64> = (0..4).map(|_| first.next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|_| again.next_u64()).collect();
        let c: Vec<u64> = (0..4).map(|_| other.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn log_normal_median_is_close() {
        let mut rng = rng_for(1, 1);
        let mut draws: Vec<f64> = (0..20_001).map(|_| log_normal(&mut rng, 1000.0, 1.0)).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[10_000];
        assert!((900.0..1100.0).contains(&median), "median {median}");
    }

    #[test]
    fn between_stays_in_bounds() {
        let mut rng = rng_for(3, 3);
        for _ in 0..10_000 {
            let v = between(&mut rng, 5, 9);
            assert!((5..=9).contains(&v));
        }
    }
}
