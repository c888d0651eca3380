//! The generator's metrics. The generator counts into them ([`crate::generator::MeteredOutput`]).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};

use crate::records::{AnomalyKind, EventType, PerKind};

use super::{Label, RateGauge, counters};

/// Labels of the event types, in [`EventType::index`] order.
fn event_type_labels() -> [Label; 2] {
    EventType::ALL.map(|event_type| [("event_type", event_type.as_str())])
}

/// One counter per anomaly kind of `family`, labelled `kind`.
fn kind_counters(family: &Family<Label, Counter>) -> PerKind<Counter> {
    PerKind::new(counters(family, AnomalyKind::ALL.map(|kind| [("kind", kind.as_str())])))
}

/// What the generator counts (`generate`, `run`).
#[derive(Debug, Clone)]
pub struct GeneratorMetrics {
    generated_family: Family<Label, Counter>,
    anomalies_family: Family<Label, Counter>,
    started_family: Family<Label, Counter>,
    completed_family: Family<Label, Counter>,
    delivered_family: Family<Label, Counter>,
    /// Records generated, per [`EventType::index`].
    pub generated: [Counter; 2],
    /// Anomaly records generated, per kind.
    pub anomalies: PerKind<Counter>,
    pub bytes: Counter,
    pub episodes_started: PerKind<Counter>,
    pub episodes_completed: PerKind<Counter>,
    /// Records the transport acknowledged (Kafka), or took (the in-process queue).
    pub delivered: [Counter; 2],
    /// Records Kafka did not acknowledge.
    pub delivery_errors: Counter,
    pub target_rate: RateGauge,
    pub achieved_rate: RateGauge,
}

impl Default for GeneratorMetrics {
    fn default() -> Self {
        let generated_family = Family::default();
        let anomalies_family = Family::default();
        let started_family = Family::default();
        let completed_family = Family::default();
        let delivered_family = Family::default();
        GeneratorMetrics {
            generated: counters(&generated_family, event_type_labels()),
            anomalies: kind_counters(&anomalies_family),
            episodes_started: kind_counters(&started_family),
            episodes_completed: kind_counters(&completed_family),
            delivered: counters(&delivered_family, event_type_labels()),
            generated_family,
            anomalies_family,
            started_family,
            completed_family,
            delivered_family,
            bytes: Counter::default(),
            delivery_errors: Counter::default(),
            target_rate: RateGauge::default(),
            achieved_rate: RateGauge::default(),
        }
    }
}

impl GeneratorMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("netchaos_generated_records", "Records generated, by event type", self.generated_family.clone());
        registry.register(
            "netchaos_generated_anomaly_records",
            "Anomaly records generated, by anomaly kind",
            self.anomalies_family.clone(),
        );
        registry.register_with_unit("netchaos_generated", "JSON bytes generated", Unit::Bytes, self.bytes.clone());
        registry.register("netchaos_episodes_started", "Anomaly episodes started, by kind", self.started_family.clone());
        registry.register(
            "netchaos_episodes_completed",
            "Anomaly episodes whose records were all accepted (or cut short at the end), by kind",
            self.completed_family.clone(),
        );
        registry.register(
            "netchaos_delivered_records",
            "Records the transport acknowledged (Kafka) or took (the in-process queue), by event type",
            self.delivered_family.clone(),
        );
        registry.register("netchaos_delivery_errors", "Records Kafka did not acknowledge", self.delivery_errors.clone());
        registry.register("netchaos_target_rate_records_per_second", "Target rate (0: as fast as possible)", self.target_rate.clone());
        registry.register(
            "netchaos_achieved_rate_records_per_second",
            "Records generated per second, over the last second",
            self.achieved_rate.clone(),
        );
    }

    /// Records generated so far.
    pub fn generated_records(&self) -> u64 {
        self.generated.iter().map(Counter::get).sum()
    }

    pub fn delivered_records(&self) -> u64 {
        self.delivered.iter().map(Counter::get).sum()
    }
}
