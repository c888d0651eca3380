//! The inputs the fidelity tests compare: netchaos samples, perturbed copies of them, and the same
//! records in the AWS text format.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::common::cli::{KIND_FLAGS, netchaos, run_ok};

/// `netchaos generate --seed SEED --count COUNT` at 3 records a logical second (COUNT / 180
/// minutes of traffic), no chaos, into `dir/NAME.jsonl`.
pub(super) fn generate(dir: &Path, name: &str, seed: u64, count: u64) -> PathBuf {
    let output = dir.join(format!("{name}.jsonl"));
    let mut command = netchaos();
    command.args(["generate", "--seed", &seed.to_string(), "--count", &count.to_string(), "--eps", "3", "--speed", "max"]);
    command.args(["--start-time", "2026-03-02T08:00:00Z", "--workers", "2", "--lookalikes", "off"]);
    for kind in KIND_FLAGS {
        command.args([format!("--{kind}-per-hour"), "0".into()]);
    }
    for kind in ["latency-spike", "port-scan", "data-exfil", "conn-reset"] {
        command.args([format!("--{kind}-prob"), "0".into()]);
    }
    run_ok(command.arg("--output").arg(&output));
    output
}

pub(super) fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

pub(super) fn write_records(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|record| format!("{record}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn is_traffic(record: &Value) -> bool {
    record["event_type"] == "vpc_flow" && !record["srcaddr"].is_null()
}

/// The sample, perturbed: destination ports shuffled among the flows (the marginal kept, the
/// port-protocol pairing broken), bytes ×3, every flow 30 s longer, every source one of three
/// addresses, every action REJECT, and every start pulled back to its ten-minute mark (the
/// per-minute counts become a spike every ten minutes). Protocol, packets, tcp_flags and
/// log_status are left as they were.
pub(super) fn perturbed(records: &[Value], seed: u64) -> Vec<Value> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut records = records.to_vec();
    let mut ports: Vec<Value> = records.iter().filter(|r| is_traffic(r)).map(|r| r["dstport"].clone()).collect();
    ports.shuffle(&mut rng);
    let mut ports = ports.into_iter();
    for record in records.iter_mut().filter(|r| r["event_type"] == "vpc_flow") {
        let start = record["start"].as_i64().unwrap();
        let end = record["end"].as_i64().unwrap();
        let pulled = start - start.rem_euclid(600);
        record["start"] = pulled.into();
        record["end"] = (end - (start - pulled) + 30).into();
        if !is_traffic(record) {
            continue;
        }
        record["dstport"] = ports.next().unwrap();
        if let Some(bytes) = record["bytes"].as_u64() {
            record["bytes"] = (bytes * 3).into();
        }
        record["srcaddr"] = format!("10.9.9.{}", rng.random_range(1..=3)).into();
        record["action"] = "REJECT".into();
    }
    records
}

/// The AWS text form's field order in these tests: not the default one, with fields netchaos
/// does not measure mixed in.
pub(super) const AWS_HEADER: &str = "version account-id interface-id start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status vpc-id tcp-flags flow-direction";

/// The flow records of `records` in the AWS text format with [`AWS_HEADER`], gzip-compressed:
/// `-` for JSON null, as AWS writes a field that does not apply.
pub(super) fn write_aws_gz(path: &Path, records: &[Value]) {
    let mut text = format!("{AWS_HEADER}\n");
    for record in records.iter().filter(|r| r["event_type"] == "vpc_flow") {
        let fields: Vec<String> = AWS_HEADER
            .split(' ')
            .map(|name| match &record[name.replace('-', "_")] {
                Value::Null => "-".to_owned(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect();
        text.push_str(&fields.join(" "));
        text.push('\n');
    }
    let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap();
}
