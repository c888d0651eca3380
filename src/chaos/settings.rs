//! [`ChaosSettings`]: each kind's expected fraction of records and the parameters users tune.
//!
//! Serialized flat, as the run manifest's settings carry them: each kind's `…_prob` in kind order,
//! then each kind's parameters (`exfil_bytes`), the keys named by the kinds' specs.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::records::{AnomalyKind, PerKind};

use super::KINDS;
use super::kind::Parameter;

/// Expected fraction of records per anomaly kind, and the episode parameters users tune.
#[derive(Debug, Clone, PartialEq)]
pub struct ChaosSettings {
    /// Expected fraction of all records that belong to each kind.
    pub probability: PerKind<f64>,
    /// Every kind's parameters by [`Parameter::name`], each one present.
    parameters: BTreeMap<&'static str, u64>,
}

impl ChaosSettings {
    /// These probabilities, every parameter at its default.
    pub fn new(probability: PerKind<f64>) -> Self {
        let parameters = KINDS.values().flat_map(|spec| spec.parameters).map(|parameter| (parameter.name, parameter.default)).collect();
        ChaosSettings { probability, parameters }
    }

    /// The flags' defaults: each kind's default probability, every parameter at its default.
    pub fn defaults() -> Self {
        // Each default is a literal in the kind's spec; a test checks that it reads as a number.
        ChaosSettings::new(PerKind::from_fn(|kind| KINDS[kind].probability.default.parse().unwrap_or(0.0)))
    }

    /// The same settings with `parameter` set to `value`.
    pub fn with(mut self, parameter: &Parameter, value: u64) -> Self {
        self.parameters.insert(parameter.name, value);
        self
    }

    /// The value of one of a kind's parameters (its default for one no registered kind has).
    pub fn parameter(&self, parameter: &Parameter) -> u64 {
        self.parameters.get(parameter.name).copied().unwrap_or(parameter.default)
    }

    /// Every kind's parameters with their values, in kind order.
    pub fn parameters(&self) -> impl Iterator<Item = (&'static Parameter, u64)> + '_ {
        KINDS.values().flat_map(|spec| spec.parameters).map(|parameter| (parameter, self.parameter(parameter)))
    }

    pub fn probability(&self, kind: AnomalyKind) -> f64 {
        self.probability[kind]
    }

    /// The anomalies' share of all records.
    pub fn total(&self) -> f64 {
        self.probability.values().sum()
    }
}

impl Serialize for ChaosSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (kind, spec) in KINDS.iter() {
            map.serialize_entry(spec.probability.name, &self.probability[kind])?;
        }
        for (parameter, value) in self.parameters() {
            map.serialize_entry(parameter.name, &value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ChaosSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = BTreeMap::<String, serde_json::Number>::deserialize(deserializer)?;
        let mut take = |name: &'static str| fields.remove(name).ok_or_else(|| D::Error::missing_field(name));
        let mut probability = PerKind::default();
        for (kind, spec) in KINDS.iter() {
            let number = take(spec.probability.name)?;
            probability[kind] = number.as_f64().ok_or_else(|| D::Error::custom(format!("{} is not a number", spec.probability.name)))?;
        }
        let mut settings = ChaosSettings::new(probability);
        for parameter in KINDS.values().flat_map(|spec| spec.parameters) {
            let number = take(parameter.name)?;
            let value = number.as_u64().ok_or_else(|| D::Error::custom(format!("{} is not a whole number", parameter.name)))?;
            settings = settings.with(parameter, value);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::data_exfiltration::EXFIL_BYTES;

    #[test]
    fn serializes_flat_in_kind_order_and_reads_back() {
        let settings = ChaosSettings::new(PerKind::new([0.01, 0.02, 0.005, 0.5])).with(&EXFIL_BYTES, 200_000);
        let text = serde_json::to_string(&settings).unwrap();
        assert_eq!(
            text,
            r#"{"latency_spike_prob":0.01,"port_scan_prob":0.02,"data_exfil_prob":0.005,"conn_reset_prob":0.5,"exfil_bytes":200000}"#
        );
        assert_eq!(serde_json::from_str::<ChaosSettings>(&text).unwrap(), settings);
        assert!(serde_json::from_str::<ChaosSettings>(r#"{"latency_spike_prob":0.01}"#).is_err());
    }

    #[test]
    fn a_parameter_not_set_has_its_default() {
        let settings = ChaosSettings::new(PerKind::default());
        assert_eq!(settings.parameter(&EXFIL_BYTES), 10_000_000);
        assert_eq!(settings, ChaosSettings::new(PerKind::default()).with(&EXFIL_BYTES, 10_000_000));
    }
}
