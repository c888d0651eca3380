//! The sink core on one thread: validate + batch + compress + write to a local directory, from
//! records already in memory. Also the compression codecs alone, in MB/s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netchaos::chaos::data_exfiltration::EXFIL_BYTES;
use netchaos::chaos::{ChaosSettings, EpisodeSummary};
use netchaos::generator::{Chunk, ChunkSink, GeneratorSettings, generate};
use netchaos::records::{AnomalyKind, PerKind};
use netchaos::runtime::Shutdown;
use netchaos::sink::compression::Compression;
use netchaos::sink::{Sink, SinkMessage, SinkSettings, Storage};

const RECORDS: u64 = 100_000;

#[derive(Default)]
struct Keep(Vec<u8>);

impl ChunkSink for Keep {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        self.0.extend_from_slice(&chunk.data);
        Ok(())
    }
    fn write_episode(&mut self, _episode: &EpisodeSummary) -> anyhow::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn records() -> Vec<Bytes> {
    let settings = GeneratorSettings {
        seed: 1,
        instance_id: 0,
        workers: NonZeroU32::new(2).unwrap(),
        eps: 0.0,
        count: Some(RECORDS),
        duration: None,
        start_time_ms: 1_767_225_600_000,
        chaos: ChaosSettings::new(PerKind::of(&[
            (AnomalyKind::LatencySpike, 0.01),
            (AnomalyKind::PortScan, 0.01),
            (AnomalyKind::DataExfiltration, 0.005),
            (AnomalyKind::ConnectionReset, 0.01),
        ]))
        .with(&EXFIL_BYTES, 10_000_000),
        firewall_ratio: 0.25,
        plan: Default::default(),
    };
    let mut keep = Keep::default();
    generate(&settings, &mut keep, &Shutdown::new());
    Bytes::from(keep.0).split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(Bytes::copy_from_slice).collect()
}

fn sink_core(c: &mut Criterion) {
    let lines = records();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("sink");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(10);
    for compression in [Compression::Gzip, Compression::Zstd] {
        group.bench_function(format!("validate_batch_{compression}_write_local"), |b| {
            b.iter(|| {
                let directory = tempfile::tempdir().unwrap();
                let storage = Storage::from_url(directory.path().to_str().unwrap()).unwrap();
                let settings = SinkSettings { compression, ..SinkSettings::new("bench") };
                let mut sink = Sink::new(storage, settings);
                runtime.block_on(async {
                    for (offset, payload) in lines.iter().enumerate() {
                        sink.push(SinkMessage { partition: 0, offset: offset as u64, payload: payload.clone() }).await.unwrap();
                    }
                    sink.flush_all().await.unwrap();
                });
                black_box(sink.stats().records_valid)
            })
        });
    }
    group.finish();

    let plain: Vec<u8> = lines.iter().flat_map(|line| line.iter().copied().chain([b'\n'])).collect();
    let mut codecs = c.benchmark_group("compression");
    codecs.throughput(Throughput::Bytes(plain.len() as u64));
    codecs.sample_size(10);
    for (compression, level) in [(Compression::Gzip, 2), (Compression::Gzip, 6), (Compression::Zstd, 3)] {
        codecs.bench_function(format!("{compression}_level_{level}"), |b| {
            b.iter(|| compression.compress_at(&plain, Some(level)).unwrap().len())
        });
    }
    codecs.finish();
}

criterion_group!(benches, sink_core);
criterion_main!(benches);
