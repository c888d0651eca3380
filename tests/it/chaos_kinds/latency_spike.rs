//! `latency_spike`'s subtle form on the hourly clock: a slow creep of the slow tail over hours of
//! logical time.

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, time_ms};

#[test]
fn a_subtle_latency_spike_creeps_up_on_one_service_and_never_reaches_a_second() {
    // 8 hours at 8 records/s: 230,400 records.
    let run = hourly_run(AnomalyKind::LatencySpike, Difficulty::Subtle, 1.0, 8, 8.0, 17);
    let episodes = run.of_kind(AnomalyKind::LatencySpike);
    assert!(episodes.len() >= 3, "{} episodes", episodes.len());
    for (episode, records) in episodes.iter().filter(|(episode, _)| episode.complete) {
        let tail = episode.parameters["tail_added_ms"].as_f64().unwrap();
        let port = episode.actors.ports[0];
        let latencies: Vec<(i64, f64)> = records.iter().map(|record| (time_ms(record), record["latency_ms"].as_f64().unwrap())).collect();
        assert!(latencies.iter().all(|(_, latency)| *latency < 1_000.0), "{}: under the 1 s alerts", episode.episode_id);
        assert!(records.iter().all(|record| record["http_status"] != 504), "no timeouts");
        assert!(records.iter().all(|record| record["dstport"] == port || record["srcport"] == port || record["dest_port"] == port));
        let (start, end) = (latencies[0].0, latencies.last().unwrap().0);
        assert!(end - start >= 3_600_000 - 120_000, "{}: over an hour or more", episode.episode_id);
        let mean = |from: i64, to: i64| {
            let part: Vec<f64> = latencies.iter().filter(|(at, _)| (from..to).contains(at)).map(|(_, latency)| *latency).collect();
            part.iter().sum::<f64>() / part.len() as f64
        };
        let quarter = (end - start) / 4;
        let (early, late) = (mean(start, start + quarter), mean(end - quarter, end + 1));
        assert!(late - early > 0.3 * tail, "{}: {early} ms early, {late} ms late, tail {tail}", episode.episode_id);
        // The service's other conversations stay healthy: the creep is on a share of requests.
        let healthy = run
            .all
            .iter()
            .filter(|record| record["label"].is_null() && record["dstport"] == port && record["latency_ms"].is_number())
            .filter(|record| (start..=end).contains(&time_ms(record)))
            .count();
        assert!(healthy > 0, "{}: the service also serves unaffected requests", episode.episode_id);
    }
}
