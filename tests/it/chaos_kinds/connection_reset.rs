//! `connection_reset`'s subtle form on the hourly clock: resets on one service rise to a few a
//! minute over hours of logical time.

use netchaos::chaos::Difficulty;
use netchaos::records::AnomalyKind;

use super::{hourly_run, most_in_window, time_ms};

#[test]
fn subtle_resets_rise_to_a_few_a_minute_on_one_service() {
    // 8 hours at 8 records/s: 230,400 records.
    let run = hourly_run(AnomalyKind::ConnectionReset, Difficulty::Subtle, 1.0, 8, 8.0, 29);
    let episodes = run.of_kind(AnomalyKind::ConnectionReset);
    assert!(episodes.len() >= 3, "{} episodes", episodes.len());
    for (episode, records) in episodes.iter().filter(|(episode, _)| episode.complete) {
        let peak = episode.parameters["peak_per_minute"].as_f64().unwrap();
        assert!((0.95..=4.05).contains(&peak), "{peak}");
        let port = episode.actors.ports[0];
        for record in *records {
            match record["event_type"].as_str().unwrap() {
                "vpc_flow" => assert!(record["tcp_flags"].as_u64().unwrap() & 4 != 0, "a flow with RST: {record}"),
                _ => assert_eq!(record["action"], "reset", "{record}"),
            }
            assert!(record["dstport"] == port || record["srcport"] == port || record["dest_port"] == port);
        }
        let times: Vec<i64> = records.iter().map(time_ms).collect();
        // Rate bound: the peak in any minute, and one more at a minute's edge (times are to the second).
        assert!(most_in_window(&times, 60_000) as f64 <= peak.ceil() + 2.0, "{}: peak {peak}", episode.episode_id);
        let span = episode.parameters["span_ms"].as_i64().unwrap();
        let start = times[0];
        let count = |from: i64, to: i64| times.iter().filter(|time| (start + from..start + to).contains(*time)).count() as f64;
        let (first_quarter, second_half) = (count(0, span / 4), count(span / 2, span + 1));
        assert!(first_quarter * 2.0 < second_half / 2.0 + 3.0, "{}: rising, {first_quarter} then {second_half}", episode.episode_id);
    }
}
