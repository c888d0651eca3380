//! Prometheus metrics: what each stage counts, and the `/metrics` endpoint that serves it.
//!
//! Every metric is a handle (an atomic behind an `Arc`) created when the stage starts, for every
//! label value known then (event types, anomaly kinds, flush triggers): the hot path never looks
//! anything up in a registry. Reject reasons and partitions get their series when first seen, by
//! the sink's publication or the consumer's statistics, off the hot path. Stages count
//! in plain local variables and add to the handles once per chunk (the generator), once per
//! delivery report (the producer's callback thread, which counts each report anyway), or by
//! publishing the difference of their local statistics every half second and after every stored
//! batch (the sink). Label values are bounded: event types, anomaly kinds, flush triggers, the
//! validator's reject reasons, the topic's partitions.
//!
//! [`GeneratorMetrics`] and [`SinkMetrics`] exist whether or not they are served (the live status
//! line reads them); [`serve`] registers them and answers scrapes on its own thread.
//!
//! The consumer lag comes from librdkafka's statistics: the high watermark arrives with fetch
//! responses; while consumption is paused for a store outage (no fetches), the Kafka driver asks
//! the brokers for it every 2 s, so that the lag keeps growing when it matters most.

mod control;
mod generator;
mod server;
mod sink;
mod status;

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use control::{CONTROL_ENDPOINTS, ControlMetrics};
pub use generator::GeneratorMetrics;
pub use server::{BindError, MetricsAddr, MetricsServer, serve};
pub use sink::{BatchCounters, SinkMetrics};
pub use status::{LogWriter, StatusLine, human_bytes};

/// One label, fixed at start.
pub(crate) type Label = [(&'static str, &'static str); 1];

/// A float gauge (rates).
pub type RateGauge = Gauge<f64, AtomicU64>;

/// Counters of a family, one per label value, created up front so that every series exists (at
/// zero) from the first scrape.
pub(crate) fn counters<const N: usize>(family: &Family<Label, Counter>, labels: [Label; N]) -> [Counter; N] {
    labels.map(|label| family.get_or_create(&label).clone())
}

/// `netchaos_build_info{version, command}`.
pub fn register_build_info(registry: &mut Registry, command: &'static str) {
    let info = Info::new([("version", env!("CARGO_PKG_VERSION")), ("command", command)]);
    registry.register("netchaos_build", "The netchaos version and the command serving these metrics", info);
}

#[cfg(test)]
mod tests;
