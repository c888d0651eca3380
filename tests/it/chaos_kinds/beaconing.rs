//! `beaconing` over hours of logical time: the check-ins' intervals and jitter, their sizes
//! against the byte test of Elastic's beaconing transform, and the subtle form's rate bound.

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{HourlyRun, hourly_run, time_ms};

/// One episode's check-ins, in time order: (time ms, bytes up, bytes down), from its request
/// records (at the host's ENI, to the server) and its reply records.
struct CheckIns {
    interval_ms: f64,
    jitter: f64,
    symmetric: bool,
    times: Vec<i64>,
    up: Vec<(i64, u64)>,
    down: Vec<(i64, u64)>,
}

fn check_ins(run: &HourlyRun) -> Vec<CheckIns> {
    let mut all = Vec::new();
    for (episode, records) in run.of_kind(AnomalyKind::Beaconing) {
        let (host, server) = (episode.actors.sources[0].to_string(), episode.actors.targets[0].to_string());
        let flows = records.iter().filter(|record| record.get("end").is_some());
        let mut up = Vec::new();
        let mut down = Vec::new();
        for flow in flows {
            let bytes = flow["bytes"].as_u64().unwrap();
            if flow["srcaddr"] == host.as_str() && flow["dstaddr"] == server.as_str() {
                up.push((time_ms(flow), bytes));
            } else {
                assert_eq!((flow["srcaddr"].as_str(), flow["dstaddr"].as_str()), (Some(server.as_str()), Some(host.as_str())));
                down.push((time_ms(flow), bytes));
            }
        }
        assert_eq!(up.len(), down.len(), "{}: a reply to every check-in", episode.episode_id);
        let parameters = &episode.parameters;
        all.push(CheckIns {
            interval_ms: parameters["interval_s"].as_f64().unwrap() * 1000.0,
            jitter: parameters["jitter"].as_f64().unwrap(),
            symmetric: parameters["jitter_mode"] == "symmetric",
            times: up.iter().map(|(time, _)| *time).collect(),
            up,
            down,
        });
    }
    all
}

fn coefficient_of_variation(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt() / mean
}

/// The byte test of Elastic's Network Beaconing Identification transform
/// (`max_beaconing_bytes_cov` 0.05): the mean bytes per record of each 60-s bucket, the buckets
/// between the 10th and 80th percentiles kept, their coefficient of variation at most 0.05. `None`
/// with 6 buckets or fewer (the transform's `min_number_periods`).
fn elastic_low_bytes_variation(records: &[(i64, u64)]) -> Option<bool> {
    let mut buckets: std::collections::BTreeMap<i64, (f64, f64)> = std::collections::BTreeMap::new();
    for (time, bytes) in records {
        let bucket = buckets.entry(time.div_euclid(60_000)).or_default();
        bucket.0 += *bytes as f64;
        bucket.1 += 1.0;
    }
    let mut means: Vec<f64> = buckets.values().map(|(bytes, count)| bytes / count).collect();
    if means.len() <= 6 {
        return None;
    }
    let mut sorted = means.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |fraction: f64| sorted[((fraction * sorted.len() as f64 + 0.5) as usize).min(sorted.len() - 1)];
    let (low, high) = (at(0.1), at(0.8));
    means.retain(|mean| (low..=high).contains(mean));
    Some(coefficient_of_variation(&means) <= 0.05)
}

#[test]
fn overt_beacons_keep_their_interval_and_jitter_and_trip_the_byte_test() {
    // 8 hours at 10 records/s: 288,000 records.
    let run = hourly_run(AnomalyKind::Beaconing, Difficulty::Overt, 3.0, 8, 10.0, 23);
    let beacons = check_ins(&run);
    let long: Vec<&CheckIns> = beacons.iter().filter(|beacon| beacon.times.len() >= 8).collect();
    assert!(long.len() >= 3, "only {} overt beacons with 8 check-ins in 8 hours", long.len());
    for beacon in long {
        assert!((30_000.0..=1_800_000.0).contains(&beacon.interval_ms) && beacon.jitter <= 0.2);
        let (low, high) = if beacon.symmetric { (1.0 - beacon.jitter, 1.0 + beacon.jitter) } else { (1.0 - beacon.jitter, 1.0) };
        // A record is stamped with its slot's second: 1 s either way, and a slot (200 ms) late.
        let gaps: Vec<f64> = beacon.times.windows(2).map(|pair| (pair[1] - pair[0]) as f64).collect();
        for gap in &gaps {
            assert!(*gap >= beacon.interval_ms * low - 1_200.0 && *gap <= beacon.interval_ms * high + 1_200.0, "a gap of {gap} ms");
        }
        assert!(coefficient_of_variation(&gaps) <= 0.13, "interval CoV {}", coefficient_of_variation(&gaps));
        for records in [&beacon.up, &beacon.down] {
            assert!(records.iter().all(|(_, bytes)| *bytes < 1_000), "a check-in of 1 KB or more");
            assert_ne!(elastic_low_bytes_variation(records), Some(false), "overt sizes vary past Elastic's 0.05");
        }
        if beacon.times.len() >= 12 {
            assert_eq!(elastic_low_bytes_variation(&beacon.up), Some(true));
        }
    }
}

#[test]
fn subtle_beacons_jitter_widely_vary_their_sizes_and_stay_minutes_apart() {
    // 10 hours at 8 records/s: 288,000 records.
    let run = hourly_run(AnomalyKind::Beaconing, Difficulty::Subtle, 1.0, 10, 8.0, 22);
    let beacons = check_ins(&run);
    let long: Vec<&CheckIns> = beacons.iter().filter(|beacon| beacon.times.len() >= 10).collect();
    assert!(long.len() >= 3, "only {} subtle beacons with 10 check-ins in 10 hours", long.len());
    for beacon in long {
        assert!((120_000.0..=1_200_000.0).contains(&beacon.interval_ms) && (0.3..=0.5).contains(&beacon.jitter) && beacon.symmetric);
        let gaps: Vec<f64> = beacon.times.windows(2).map(|pair| (pair[1] - pair[0]) as f64).collect();
        assert!(gaps.iter().all(|gap| *gap >= beacon.interval_ms * 0.5 - 1_200.0), "a gap under S·(1 - 50%)");
        assert!(coefficient_of_variation(&gaps) > 0.1, "interval CoV {}: too regular", coefficient_of_variation(&gaps));
        for records in [&beacon.up, &beacon.down] {
            assert_eq!(elastic_low_bytes_variation(records), Some(false), "subtle sizes pass Elastic's byte test");
        }
        // The rate bound: at most one check-in a minute, and at most 30 an hour on average.
        let hours = (beacon.times[beacon.times.len() - 1] - beacon.times[0]) as f64 / 3_600_000.0;
        assert!(beacon.times.len() as f64 <= 30.0 * hours + 2.0, "{} check-ins in {hours} h", beacon.times.len());
        assert!(gaps.iter().all(|gap| *gap >= 58_000.0));
    }
}
