//! Scoring a detector against a run's ground truth (`netchaos score`).
//!
//! - [`metrics`]: the metrics themselves, pure functions over ranges, labels and scores.

pub mod metrics;
