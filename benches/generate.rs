//! Hot functions of the generator and the validator: records generated and serialized per
//! second on one thread, and records validated per second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netchaos::chaos::data_exfiltration::EXFIL_BYTES;
use netchaos::chaos::{ChaosSettings, EpisodeSummary};
use netchaos::generator::{Chunk, ChunkSink, GeneratorSettings, generate};
use netchaos::records::{AnomalyKind, PerKind};
use netchaos::runtime::Shutdown;

const RECORDS: u64 = 200_000;

/// Discards what it is given, like `--output /dev/null`, but keeps one copy for the validator bench.
#[derive(Default)]
struct NullSink {
    kept: Vec<u8>,
}

impl ChunkSink for NullSink {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        if self.kept.len() < 4 << 20 {
            self.kept.extend_from_slice(&chunk.data);
        }
        black_box(chunk.data.len());
        Ok(())
    }
    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()> {
        black_box(episode);
        Ok(())
    }
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn settings() -> GeneratorSettings {
    GeneratorSettings {
        seed: 1,
        instance_id: 0,
        workers: NonZeroU32::MIN,
        eps: 0.0,
        count: Some(RECORDS),
        duration: None,
        start_time_ms: 1_767_225_600_000,
        chaos: ChaosSettings::new(PerKind::of(&[
            (AnomalyKind::LatencySpike, 0.01),
            (AnomalyKind::DataExfiltration, 0.005),
            (AnomalyKind::ConnectionReset, 0.01),
        ]))
        .with(&EXFIL_BYTES, 10_000_000),
        firewall_ratio: 0.25,
        plan: Default::default(),
    }
}

fn generate_and_serialize(c: &mut Criterion) {
    let settings = settings();
    let mut group = c.benchmark_group("generator");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    // One traffic lane, no scan lane: the per-core cost of generating and serializing.
    group.bench_function("generate_serialize_one_lane", |b| {
        b.iter(|| {
            let mut sink = NullSink::default();
            let report = generate(&settings, &mut sink, &Shutdown::new());
            black_box(report.manifest.records)
        })
    });
    group.finish();
}

fn validate(c: &mut Criterion) {
    let mut sink = NullSink::default();
    generate(&settings(), &mut sink, &Shutdown::new());
    let lines: Vec<&[u8]> = sink.kept.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
    let mut group = c.benchmark_group("validator");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(10);
    group.bench_function("validate_generated_records", |b| {
        b.iter(|| lines.iter().filter(|line| netchaos::records::validate(line).is_ok()).count())
    });
    group.finish();
}

criterion_group!(benches, generate_and_serialize, validate);
criterion_main!(benches);
