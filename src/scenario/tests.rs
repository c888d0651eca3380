//! The scenario format through its API: what a valid file resolves to. The catalogue of broken
//! files runs through the binary (tests/it/scenario.rs).

use super::*;
use crate::chaos::data_exfiltration::EXFIL_BYTES;
use crate::generator::profile::{Bursts, DailyCurve};
use crate::network::target::Target;
use crate::records::AnomalyKind;

fn valid(text: &str) -> Scenario {
    parse(text, "test.yaml").unwrap_or_else(|errors| panic!("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))
}

fn errors(text: &str) -> Vec<String> {
    parse(text, "test.yaml").expect_err("the scenario should be refused").iter().map(ToString::to_string).collect()
}

#[test]
fn every_top_level_value_is_read() {
    let scenario = valid(
        "name: n\ndescription: d\nstart: 2026-11-30T00:00:00Z\nduration: 7d\nseed: 9\neps: 12.5\ntopology: {vpcs: 5}\n\
         profile:\n  hourly: [1,1,1,1,1,1,2,2,2,2,2,2,3,3,3,3,3,3,1,1,1,1,1,1]\n  weekend_factor: 0.5\n  utc_offsets: {eu-west-1: 1}\n  bursts: {hurst: 0.8}\n\
         chaos: {port_scan_prob: 0.2, exfil_bytes: 1MiB}\n",
    );
    assert_eq!((scenario.name.as_deref(), scenario.description.as_deref()), (Some("n"), Some("d")));
    assert_eq!(scenario.start, Some(Timestamp::from_unix_millis(1_795_996_800_000)));
    assert_eq!(scenario.duration, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!((scenario.seed, scenario.eps), (Some(9), Some(12.5)));
    assert_eq!(scenario.topology, Some(TopologySize { vpcs: 5, ..TopologySize::default() }), "fields left out keep the default's");
    assert!(matches!(scenario.profile.daily, DailyCurve::Hourly(curve) if curve[12] == 3.0));
    assert_eq!(scenario.profile.weekend_factor, 0.5);
    assert_eq!(scenario.profile.utc_offsets.get("eu-west-1"), Some(&1.0));
    assert_eq!(scenario.profile.bursts, Some(Bursts { hurst: 0.8 }));
    assert_eq!(scenario.chaos.names(), ["port_scan_prob", "exfil_bytes"]);
    let background = scenario.background_chaos();
    assert_eq!(background.probability[AnomalyKind::PortScan], 0.2);
    assert_eq!(background.probability[AnomalyKind::LatencySpike], ChaosSettings::defaults().probability[AnomalyKind::LatencySpike]);
    assert_eq!(background.parameter(&EXFIL_BYTES), 1_048_576);
}

#[test]
fn an_empty_scenario_sets_nothing() {
    let scenario = valid("name: bare\n");
    assert_eq!((scenario.start, scenario.duration, scenario.seed, scenario.eps, scenario.topology), (None, None, None, None, None));
    assert_eq!(scenario.profile, RateProfile::default());
    assert!(scenario.chaos.is_empty() && scenario.lookalikes.is_none());
    assert_eq!(scenario.timeline, Timeline::default());
}

#[test]
fn repeats_expand_into_one_episode_per_occurrence_in_time_order() {
    let scenario = valid(
        "duration: 4h\ntimeline:\n  episodes:\n\
         \x20   - {kind: connection_reset, at: +30m, duration: 10m, repeat: {every: 1h, count: 3}, intensity: 2}\n\
         \x20   - {kind: latency_spike, at: +1h, duration: 20m, ramp: 5m, target: {host: 10.16.0.11}}\n",
    );
    let starts: Vec<(AnomalyKind, u64, u32)> =
        scenario.timeline.episodes.iter().map(|episode| (episode.kind, episode.at_ms / 60_000, episode.occurrence)).collect();
    use AnomalyKind::{ConnectionReset, LatencySpike};
    assert_eq!(starts, [(ConnectionReset, 30, 0), (LatencySpike, 60, 0), (ConnectionReset, 90, 1), (ConnectionReset, 150, 2)]);
    let spike = &scenario.timeline.episodes[1];
    assert_eq!((spike.duration_ms, spike.ramp_ms, spike.intensity, spike.difficulty), (1_200_000, 300_000, 1.0, "overt"));
    assert_eq!(spike.target, Target::Host("10.16.0.11".parse().unwrap()));
    assert_eq!(spike.origin, Some(Origin { file: "test.yaml".into(), line: 5 }));
    assert!(scenario.timeline.episodes.iter().filter(|episode| episode.kind == ConnectionReset).all(|episode| episode.intensity == 2.0));
}

#[test]
fn absolute_times_are_offsets_from_the_start() {
    let scenario = valid(
        "start: 2026-11-30T00:00:00Z\ntimeline:\n  episodes:\n\
         \x20   - {kind: data_exfiltration, at: 2026-11-30T09:40:00Z, duration: 10m, parameters: {exfil_bytes: 20MB}, target: {subnet: 10.16.16.0/20}}\n",
    );
    let episode = &scenario.timeline.episodes[0];
    assert_eq!(episode.at_ms, (9 * 60 + 40) * 60_000);
    assert_eq!(episode.parameters.get("exfil_bytes"), Some(&20_000_000));
    assert_eq!(episode.target, Target::Subnet { network: "10.16.16.0".parse().unwrap(), prefix: 20 });
    let plan = scenario.plan();
    assert_eq!(plan.episodes[0].start.map(|time| time.to_string()).as_deref(), Some("2026-11-30T09:40:00.000Z"));
    assert_eq!(plan.episodes[0].end.map(|time| time.to_string()).as_deref(), Some("2026-11-30T09:50:00.000Z"));
}

#[test]
fn phases_follow_each_other_and_the_last_runs_to_the_end() {
    let text = "duration: 3h\neps: 100\nchaos: {conn_reset_prob: 0}\ntimeline:\n  phases:\n\
                \x20   - {name: baseline, duration: 30m}\n\
                \x20   - {name: incident, rate: 2x, chaos: {conn_reset_prob: 0.3}}\n\
                \x20   - {name: recovery, at: +2h, eps: 50}\n";
    let scenario = valid(text);
    let spans: Vec<(&str, u64, u64, f64)> = scenario
        .timeline
        .phases
        .iter()
        .map(|phase| (phase.name.as_str(), phase.start_ms / 60_000, phase.end_ms / 60_000, phase.eps))
        .collect();
    assert_eq!(spans, [("baseline", 0, 30, 100.0), ("incident", 30, 120, 200.0), ("recovery", 120, 180, 50.0)]);
    assert_eq!(scenario.timeline.phases[0].chaos.probability[AnomalyKind::ConnectionReset], 0.0);
    assert_eq!(scenario.timeline.phases[1].chaos.probability[AnomalyKind::ConnectionReset], 0.3);
    // Flags in force: a relative rate follows --eps, an absolute one stays; phase keys stay over
    // the background.
    let background = ChaosSettings::defaults().with(&EXFIL_BYTES, 5);
    let timeline = scenario.timeline_with(1000.0, &background);
    let rates: Vec<f64> = timeline.phases.iter().map(|phase| phase.eps).collect();
    assert_eq!(rates, [1000.0, 2000.0, 50.0]);
    assert_eq!(timeline.phases[1].chaos.probability[AnomalyKind::ConnectionReset], 0.3);
    assert_eq!(timeline.phases[1].chaos.parameter(&EXFIL_BYTES), 5);
    let endless = valid("eps: 10\ntimeline:\n  phases:\n    - {name: only}\n");
    assert_eq!(endless.timeline.phases[0].end_ms, u64::MAX, "without a duration the last phase runs to the run's end");
}

#[test]
fn chaos_overrides_apply_key_by_key() {
    let scenario = valid("chaos:\n  latency_spike_prob: 0\n  exfil_bytes: 2MB\n");
    assert!(scenario.chaos.contains("latency_spike_prob") && !scenario.chaos.contains("port_scan_prob"));
    let flags = ChaosSettings::new(crate::records::PerKind::of(&[
        (crate::records::AnomalyKind::LatencySpike, 0.1),
        (crate::records::AnomalyKind::PortScan, 0.2),
        (crate::records::AnomalyKind::DataExfiltration, 0.3),
        (crate::records::AnomalyKind::ConnectionReset, 0.05),
    ]));
    let applied = scenario.chaos.apply(flags);
    assert_eq!(
        applied.probability,
        crate::records::PerKind::of(&[
            (crate::records::AnomalyKind::LatencySpike, 0.0),
            (crate::records::AnomalyKind::PortScan, 0.2),
            (crate::records::AnomalyKind::DataExfiltration, 0.3),
            (crate::records::AnomalyKind::ConnectionReset, 0.05)
        ])
    );
    assert_eq!(applied.parameter(&EXFIL_BYTES), 2_000_000);
}

#[test]
fn every_error_is_reported_in_file_order() {
    let found = errors("seed: -1\nduraton: 1h\neps: 0\ntopology: {accounts: 0}\n");
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].starts_with("test.yaml:1:7: `seed` is `-1`, not a whole number;"), "{}", found[0]);
    assert!(found[1].starts_with("test.yaml:2:1: unknown key `duraton` in `the scenario`; did you mean `duration`?"), "{}", found[1]);
    assert!(found[2].starts_with("test.yaml:3:6: `eps` is 0, but it must be more than 0"), "{}", found[2]);
    assert!(found[3].starts_with("test.yaml:4:22: `accounts` is 0, less than 1;"), "{}", found[3]);
}

#[test]
fn absolute_times_need_a_start_and_phases_need_a_rate() {
    let found =
        errors("timeline:\n  phases:\n    - {name: a}\n  episodes:\n    - {kind: port_scan, at: 2026-11-30T09:12:00Z, duration: 5m}\n");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("test.yaml:3:7: this phase has no `eps`"), "{}", found[0]);
    assert!(found[1].contains("has no `start`"), "{}", found[1]);
}
