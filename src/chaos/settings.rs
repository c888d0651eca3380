//! [`ChaosSettings`]: each kind's expected fraction of records, its episodes per logical hour, its
//! difficulty, the look-alikes switch and the parameters users tune.
//!
//! Serialized flat, as the run manifest's settings carry them: each kind's `…_prob` in kind order
//! (the kinds that have one), each kind's `…_per_hour`, then each kind's parameters
//! (`exfil_bytes`), the keys named by the kinds' specs; then `difficulty` (kind → form) and
//! `lookalikes`. A manifest written before the per-hour keys existed reads with none of them.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::records::{AnomalyKind, PerKind};

use super::KINDS;
use super::kind::Parameter;

/// Which form of a kind a run writes (`--difficulty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    /// The obvious form: it trips the common public rules (today's behaviour).
    #[default]
    Overt,
    /// The form that stays under those rules, scheduled by the hour.
    Subtle,
    /// Both: each episode scheduled by the hour is one or the other, evenly; a kind with a
    /// probability keeps its overt fraction and adds subtle episodes by the hour.
    Mixed,
}

impl Difficulty {
    pub const NAMES: [&'static str; 3] = ["overt", "subtle", "mixed"];

    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Overt => "overt",
            Difficulty::Subtle => "subtle",
            Difficulty::Mixed => "mixed",
        }
    }

    pub fn from_name(name: &str) -> Option<Difficulty> {
        match name {
            "overt" => Some(Difficulty::Overt),
            "subtle" => Some(Difficulty::Subtle),
            "mixed" => Some(Difficulty::Mixed),
            _ => None,
        }
    }

    /// Each kind's difficulty from `--difficulty`'s text: a form for every kind (`subtle`), a
    /// kind's form (`port_scan=subtle`), or a comma list of both (`mixed,port_scan=overt`), later
    /// items over earlier ones, starting from `base`.
    pub fn parse_list(text: &str, base: PerKind<Difficulty>) -> Result<PerKind<Difficulty>, String> {
        let mut forms = base;
        let form_of = |name: &str| {
            Difficulty::from_name(name.trim()).ok_or_else(|| format!("unknown difficulty `{}`: use overt, subtle or mixed", name.trim()))
        };
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            match item.split_once('=') {
                None => {
                    let form = form_of(item)?;
                    forms = PerKind::from_fn(|_| form);
                }
                Some((kind, form)) => {
                    let kind = AnomalyKind::from_name(kind.trim()).ok_or_else(|| {
                        let kinds: Vec<&str> = AnomalyKind::ALL.iter().map(|kind| kind.as_str()).collect();
                        format!("unknown anomaly kind `{}` in --difficulty: use one of {}", kind.trim(), kinds.join(", "))
                    })?;
                    forms[kind] = form_of(form)?;
                }
            }
        }
        Ok(forms)
    }
}

/// Expected fraction of records per anomaly kind, episodes per hour, difficulty, look-alikes, and
/// the episode parameters users tune.
#[derive(Debug, Clone, PartialEq)]
pub struct ChaosSettings {
    /// Expected fraction of all records that belong to each kind's overt episodes (0 for a kind
    /// without a probability flag).
    pub probability: PerKind<f64>,
    /// Episodes per logical hour of each kind's forms scheduled by time.
    pub per_hour: PerKind<f64>,
    /// The form each kind takes.
    pub difficulty: PerKind<Difficulty>,
    /// Benign look-alikes on (each at its own rate).
    pub lookalikes: bool,
    /// Every kind's parameters by [`Parameter::name`], each one present.
    parameters: BTreeMap<&'static str, u64>,
}

impl ChaosSettings {
    /// These probabilities and nothing else: no episode by the hour, every kind overt, no
    /// look-alikes, every parameter at its default.
    pub fn new(probability: PerKind<f64>) -> Self {
        let parameters = KINDS.values().flat_map(|spec| spec.parameters).map(|parameter| (parameter.name, parameter.default)).collect();
        ChaosSettings { probability, per_hour: PerKind::default(), difficulty: PerKind::default(), lookalikes: false, parameters }
    }

    /// The flags' defaults: each kind's default probability and rate per hour, every kind overt,
    /// look-alikes on, every parameter at its default.
    pub fn defaults() -> Self {
        // Each default is a literal in the kind's spec; a test checks that it reads as a number.
        let probability = PerKind::from_fn(|kind| KINDS[kind].probability.map_or(0.0, |flag| flag.default.parse().unwrap_or(0.0)));
        ChaosSettings {
            per_hour: PerKind::from_fn(|kind| KINDS[kind].per_hour.default.parse().unwrap_or(0.0)),
            lookalikes: true,
            ..ChaosSettings::new(probability)
        }
    }

    /// The fraction of records the kind's overt form takes by probability: none while the kind
    /// is subtle only.
    pub fn record_fraction(&self, kind: AnomalyKind) -> f64 {
        if self.difficulty[kind] == Difficulty::Subtle { 0.0 } else { self.probability[kind] }
    }

    /// Episodes per logical hour the hourly clock starts for `kind`: a kind with a probability
    /// has them only in its subtle form (subtle or mixed); any other kind always.
    pub fn hourly_rate(&self, kind: AnomalyKind) -> f64 {
        let by_probability = KINDS[kind].probability.is_some();
        if by_probability && self.difficulty[kind] == Difficulty::Overt { 0.0 } else { self.per_hour[kind] }
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

    /// The share of all records the probabilities take.
    pub fn total(&self) -> f64 {
        AnomalyKind::ALL.iter().map(|kind| self.record_fraction(*kind)).sum()
    }
}

impl Serialize for ChaosSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (kind, spec) in KINDS.iter() {
            if let Some(flag) = spec.probability {
                map.serialize_entry(flag.name, &self.probability[kind])?;
            }
        }
        for (kind, spec) in KINDS.iter() {
            map.serialize_entry(spec.per_hour.name, &self.per_hour[kind])?;
        }
        for (parameter, value) in self.parameters() {
            map.serialize_entry(parameter.name, &value)?;
        }
        let difficulty: BTreeMap<&str, Difficulty> = self.difficulty.iter().map(|(kind, form)| (kind.as_str(), *form)).collect();
        map.serialize_entry("difficulty", &difficulty)?;
        map.serialize_entry("lookalikes", &self.lookalikes)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ChaosSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let number =
            |value: &serde_json::Value, name: &str| value.as_f64().ok_or_else(|| D::Error::custom(format!("{name} is not a number")));
        let mut probability = PerKind::default();
        for (kind, spec) in KINDS.iter() {
            if let Some(flag) = spec.probability {
                let value = fields.remove(flag.name).ok_or_else(|| D::Error::missing_field(flag.name))?;
                probability[kind] = number(&value, flag.name)?;
            }
        }
        let mut settings = ChaosSettings::new(probability);
        for (kind, spec) in KINDS.iter() {
            if let Some(value) = fields.remove(spec.per_hour.name) {
                settings.per_hour[kind] = number(&value, spec.per_hour.name)?;
            }
        }
        for parameter in KINDS.values().flat_map(|spec| spec.parameters) {
            let value = fields.remove(parameter.name).ok_or_else(|| D::Error::missing_field(parameter.name))?;
            let value = value.as_u64().ok_or_else(|| D::Error::custom(format!("{} is not a whole number", parameter.name)))?;
            settings = settings.with(parameter, value);
        }
        if let Some(value) = fields.remove("difficulty") {
            let forms = BTreeMap::<String, Difficulty>::deserialize(value).map_err(D::Error::custom)?;
            for (name, form) in forms {
                // A kind this version does not know is ignored, as any other unknown key is.
                if let Some(kind) = AnomalyKind::from_name(&name) {
                    settings.difficulty[kind] = form;
                }
            }
        }
        if let Some(value) = fields.remove("lookalikes") {
            settings.lookalikes = value.as_bool().ok_or_else(|| D::Error::custom("lookalikes is not true or false"))?;
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
        // A kind scheduled only by the hour has no probability to carry.
        let probability = |kind: AnomalyKind| match KINDS[kind].probability {
            None => 0.0,
            Some(_) if kind == AnomalyKind::PortScan => 0.02,
            Some(_) => 0.01,
        };
        let mut settings = ChaosSettings::new(PerKind::from_fn(probability)).with(&EXFIL_BYTES, 200_000);
        settings.per_hour[AnomalyKind::PortScan] = 3.0;
        settings.difficulty[AnomalyKind::PortScan] = Difficulty::Mixed;
        settings.lookalikes = true;
        let text = serde_json::to_string(&settings).unwrap();
        assert!(
            text.starts_with(r#"{"latency_spike_prob":0.01,"port_scan_prob":0.02,"data_exfil_prob":0.01,"conn_reset_prob":0.01,"#),
            "{text}"
        );
        for part in [r#""port_scan_per_hour":3.0"#, r#""exfil_bytes":200000"#, r#""port_scan":"mixed""#, r#""lookalikes":true}"#] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert_eq!(serde_json::from_str::<ChaosSettings>(&text).unwrap(), settings);
        assert!(serde_json::from_str::<ChaosSettings>(r#"{"latency_spike_prob":0.01}"#).is_err());
    }

    #[test]
    fn a_manifest_from_before_the_hourly_clock_reads_with_none_of_it() {
        let old = r#"{"latency_spike_prob":0.01,"port_scan_prob":0.02,"data_exfil_prob":0.005,"conn_reset_prob":0.5,"exfil_bytes":200000}"#;
        let settings: ChaosSettings = serde_json::from_str(old).unwrap();
        assert_eq!(settings.probability[AnomalyKind::ConnectionReset], 0.5);
        assert!(settings.per_hour.values().all(|rate| *rate == 0.0) && !settings.lookalikes);
        assert!(settings.difficulty.values().all(|form| *form == Difficulty::Overt));
    }

    #[test]
    fn difficulty_lists_read_left_to_right() {
        let forms = Difficulty::parse_list("mixed,port_scan=overt", PerKind::default()).unwrap();
        assert_eq!(forms[AnomalyKind::PortScan], Difficulty::Overt);
        assert_eq!(forms[AnomalyKind::LatencySpike], Difficulty::Mixed);
        assert_eq!(
            Difficulty::parse_list("port_scan=subtle", PerKind::default()).unwrap()[AnomalyKind::DataExfiltration],
            Difficulty::Overt
        );
        assert_eq!(
            Difficulty::parse_list("hard", PerKind::default()).unwrap_err(),
            "unknown difficulty `hard`: use overt, subtle or mixed"
        );
        assert!(Difficulty::parse_list("portscan=subtle", PerKind::default()).unwrap_err().starts_with("unknown anomaly kind `portscan`"));
    }

    #[test]
    fn a_subtle_kind_takes_no_share_of_records_and_an_overt_one_no_hourly_starts() {
        let mut settings = ChaosSettings::defaults();
        assert_eq!(settings.hourly_rate(AnomalyKind::PortScan), 0.0);
        settings.difficulty[AnomalyKind::PortScan] = Difficulty::Subtle;
        assert_eq!(settings.record_fraction(AnomalyKind::PortScan), 0.0);
        assert_eq!(settings.hourly_rate(AnomalyKind::PortScan), settings.per_hour[AnomalyKind::PortScan]);
    }

    #[test]
    fn a_parameter_not_set_has_its_default() {
        let settings = ChaosSettings::new(PerKind::default());
        assert_eq!(settings.parameter(&EXFIL_BYTES), 10_000_000);
        assert_eq!(settings, ChaosSettings::new(PerKind::default()).with(&EXFIL_BYTES, 10_000_000));
    }
}
