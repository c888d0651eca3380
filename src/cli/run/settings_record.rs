//! The settings of a run, written into the store when it starts, so that a rerun into the same
//! store resumes only a run that means the same thing.
//!
//! Only a finished run leaves a manifest. A run killed before that, rerun with the same seed (so
//! the same run id and the same keys) but, say, other `--workers`, would resume lanes that carry
//! other records: recovery skips offsets by lane, and the store ends up mixing two runs that no
//! manifest describes. So everything that changes what the generator emits is written to
//! `meta/source=run-{run_id}/run.json` before the first record, and a rerun whose settings differ
//! is refused, naming the first setting that differs (unless the run stored nothing yet, when the
//! record is replaced). A start time left to its default (now) is
//! taken from the record instead: the rerun then emits the very records the first run did.

use std::collections::BTreeMap;

use anyhow::Context;
use bytes::Bytes;

use crate::chaos::KINDS;
use crate::cli::UsageError;
use crate::generator::GeneratorSettings;
use crate::records::Timestamp;
use crate::sink::keys::{self, ObjectKind};
use crate::sink::{SourceName, Storage};

const RUN_FILE: &str = "run.json";
const START_TIME: &str = "--start-time";

/// The run's settings by flag name, in the order they are compared and reported.
fn settings_by_flag(settings: &GeneratorSettings) -> Vec<(String, String)> {
    // Destructured whole: a new setting does not compile until it is recorded here too. Each
    // kind's probability and parameters come from its spec.
    let GeneratorSettings { seed, instance_id, workers, eps, count, duration, start_time_ms, chaos, firewall_ratio, plan } = settings;
    // The speed changes when records come, never which: it is not recorded.
    let crate::generator::RunPlan { speed: _, profile, timeline, topology, shard, scenario: _, control: _, replay: _ } = plan;
    let optional = |value: Option<String>| value.unwrap_or_else(|| "none".to_owned());
    let mut flags = vec![
        ("--seed", seed.to_string()),
        ("--instance-id", instance_id.to_string()),
        ("--workers", workers.to_string()),
        ("--eps", eps.to_string()),
        ("--count", optional(count.map(|count| count.to_string()))),
        ("--duration", optional(duration.map(|duration| humantime::format_duration(duration).to_string()))),
        (START_TIME, Timestamp::from_unix_millis(*start_time_ms).to_string()),
    ]
    .into_iter()
    .map(|(flag, value)| (flag.to_owned(), value))
    .collect::<Vec<_>>();
    flags.extend(
        KINDS
            .iter()
            .filter_map(|(kind, spec)| spec.probability.map(|flag| (format!("--{}", flag.flag), chaos.probability[kind].to_string()))),
    );
    flags.extend(KINDS.iter().map(|(kind, spec)| (format!("--{}", spec.per_hour.flag), chaos.per_hour[kind].to_string())));
    let forms: Vec<String> = chaos.difficulty.iter().map(|(kind, form)| format!("{kind}={}", form.as_str())).collect();
    flags.push(("--difficulty".to_owned(), forms.join(",")));
    flags.push(("--lookalikes".to_owned(), if chaos.lookalikes { "on" } else { "off" }.to_owned()));
    flags.extend(chaos.parameters().map(|(parameter, value)| (format!("--{}", parameter.flag), value.to_string())));
    flags.push(("--firewall-ratio".to_owned(), firewall_ratio.to_string()));
    // What a scenario, --hurst or --shard add is recorded only when it is not the default, so a
    // store's record of a plain run reads as it always did.
    let defaults = crate::generator::RunPlan::default();
    if *profile != defaults.profile {
        flags.push(("--hurst and the rate profile".to_owned(), format!("{profile:?}")));
    }
    if *shard != defaults.shard {
        flags.push(("--shard".to_owned(), shard.to_string()));
    }
    if *topology != defaults.topology {
        flags.push(("the scenario's topology".to_owned(), format!("{topology:?}")));
    }
    if *timeline != defaults.timeline {
        flags.push(("the scenario's timeline (digest)".to_owned(), digest(&format!("{timeline:?}"))));
    }
    flags
}

/// 16 hex digits of FNV-1a over `text`: a stable digest (the same in every build) of a setting too
/// long to record whole.
fn digest(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// Records `settings` for the run's source at its first start; on a rerun, adopts the recorded
/// start time when `start_time_given` is false, then refuses (a [`UsageError`]) settings that
/// differ from the record.
pub(super) async fn claim(
    storage: &Storage,
    source: &SourceName,
    settings: &mut GeneratorSettings,
    start_time_given: bool,
) -> anyhow::Result<()> {
    let key = keys::source_meta_key(source, RUN_FILE);
    let folder = key.rsplit_once('/').map_or("", |(folder, _)| folder);
    let listing = storage.list(folder).await.context("reading the store")?;
    if !listing.iter().any(|(listed, _)| *listed == key) {
        return record(storage, &key, settings).await;
    }
    let body = storage.get(&key).await.context("reading the store")?;
    let recorded: BTreeMap<String, String> =
        serde_json::from_slice(&body).with_context(|| format!("reading the settings of the unfinished run in `{key}`"))?;
    if !start_time_given && let Some(start) = recorded.get(START_TIME).and_then(|text| Timestamp::parse(text)) {
        settings.start_time_ms = start.unix_millis();
    }
    match first_difference(&recorded, &settings_by_flag(settings)) {
        None => Ok(()),
        // A run that stored nothing (it stopped before its first batch) leaves nothing to mix.
        Some(_) if !holds_objects(storage, source).await? => record(storage, &key, settings).await,
        Some(difference) => Err(UsageError(format!(
            "the store holds an unfinished run {source} with {difference}: rerun with its settings to resume it, \
             or pass another --seed, --instance-id or --store"
        ))
        .into()),
    }
}

async fn record(storage: &Storage, key: &str, settings: &GeneratorSettings) -> anyhow::Result<()> {
    let record: BTreeMap<String, String> = settings_by_flag(settings).into_iter().collect();
    let body = serde_json::to_vec_pretty(&record).context("encoding the run's settings")?;
    storage.put(key, Bytes::from(body)).await.context("recording the run's settings in the store")
}

async fn holds_objects(storage: &Storage, source: &SourceName) -> anyhow::Result<bool> {
    for kind in [ObjectKind::Data, ObjectKind::Dlq] {
        if !storage.list(&keys::source_prefix(kind, source)).await.context("reading the store")?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first setting whose value differs from the record, as "FLAG OLD, not NEW".
fn first_difference(recorded: &BTreeMap<String, String>, current: &[(String, String)]) -> Option<String> {
    for (flag, value) in current {
        match recorded.get(flag) {
            Some(old) if old == value => {}
            Some(old) => return Some(format!("{flag} {old}, not {value}")),
            None => return Some(format!("no {flag} recorded (another netchaos version), not {value}")),
        }
    }
    recorded
        .iter()
        .find(|(flag, _)| !current.iter().any(|(name, _)| name == *flag))
        .map(|(flag, old)| format!("{flag} {old} recorded, not set now (or unknown to this version)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    use crate::chaos::ChaosSettings;
    use crate::chaos::data_exfiltration::EXFIL_BYTES;
    use crate::records::{AnomalyKind, PerKind};

    fn settings(workers: u32) -> GeneratorSettings {
        GeneratorSettings {
            seed: 7,
            instance_id: 0,
            workers: NonZeroU32::new(workers).unwrap(),
            eps: 5000.0,
            count: None,
            duration: Some(std::time::Duration::from_secs(10)),
            start_time_ms: 1_767_225_600_000,
            chaos: ChaosSettings::new(PerKind::of(&[
                (crate::records::AnomalyKind::LatencySpike, 0.01),
                (crate::records::AnomalyKind::PortScan, 0.01),
                (crate::records::AnomalyKind::DataExfiltration, 0.005),
                (crate::records::AnomalyKind::ConnectionReset, 0.01),
            ]))
            .with(&EXFIL_BYTES, 10_000_000),
            firewall_ratio: 0.5,
            plan: Default::default(),
        }
    }

    fn record(settings: &GeneratorSettings) -> BTreeMap<String, String> {
        settings_by_flag(settings).into_iter().collect()
    }

    #[test]
    fn the_first_differing_setting_is_named() {
        let four = record(&settings(4));
        assert_eq!(first_difference(&four, &settings_by_flag(&settings(4))), None);
        assert_eq!(first_difference(&four, &settings_by_flag(&settings(2))).unwrap(), "--workers 4, not 2");
        let mut faster = settings(4);
        faster.eps = 6000.0;
        faster.chaos.probability[AnomalyKind::PortScan] = 0.2;
        assert_eq!(first_difference(&four, &settings_by_flag(&faster)).unwrap(), "--eps 5000, not 6000");
        assert_eq!(four["--duration"], "10s");
        assert_eq!(four["--start-time"], "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_chaos_flags_keep_the_names_stores_hold() {
        let flags: Vec<String> = settings_by_flag(&settings(4)).into_iter().map(|(flag, _)| flag).collect();
        let held =
            ["--latency-spike-prob", "--port-scan-prob", "--data-exfil-prob", "--conn-reset-prob", "--exfil-bytes", "--firewall-ratio"];
        let positions: Vec<usize> = held.iter().map(|name| flags.iter().position(|flag| flag == name).expect(name)).collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{flags:?}");
        for name in ["--port-scan-per-hour", "--difficulty", "--lookalikes"] {
            assert!(flags.iter().any(|flag| flag == name), "{name} in {flags:?}");
        }
        let four = record(&settings(4));
        assert_eq!((four["--data-exfil-prob"].as_str(), four["--exfil-bytes"].as_str()), ("0.005", "10000000"));
    }
}
