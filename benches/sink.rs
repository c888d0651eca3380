//! The sink by stage (issue 18), on generated records already in memory:
//!
//! - `stage_validate`: `records::validate` over each record (records/s), on its fast path and
//!   through serde_json;
//! - `stage_compress`: the sink's gzip (libdeflate in 4 MiB members on every core) at each level
//!   0-9, the same on one thread, and zstd 3 (MB/s of plain lines);
//! - `stage_write`: one compressed batch stored as a new object in a local directory;
//! - `sink`: all of it, validate + batch + compress + write, on one runtime thread (the gzip
//!   members on every core).
//!
//! `scripts/bench-compression` draws the whole ratio/speed curve; `scripts/bench-sink` times the
//! sink end to end beside the original design's.

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
use netchaos::sink::gzip;
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
}

fn stage_validate(c: &mut Criterion) {
    let lines = records();
    let mut group = c.benchmark_group("stage_validate");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(10);
    group.bench_function("validate_generated_records", |b| {
        b.iter(|| lines.iter().filter(|line| netchaos::records::validate(line).is_ok()).count())
    });
    // The same records with a space in front: the fast path declines them, so this is what
    // serde_json costs (the path any record not in netchaos's own form takes).
    let padded: Vec<Vec<u8>> = lines.iter().map(|line| [b" ".as_slice(), line].concat()).collect();
    group.bench_function("validate_through_serde_json", |b| {
        b.iter(|| padded.iter().filter(|line| netchaos::records::validate(line).is_ok()).count())
    });
    group.finish();
}

/// One batch's JSON lines: the first 20,000 records (~14 MB, four gzip members).
fn batch_lines() -> Vec<u8> {
    records().iter().take(20_000).flat_map(|line| line.iter().copied().chain([b'\n'])).collect()
}

fn stage_compress(c: &mut Criterion) {
    let plain = batch_lines();
    let mut group = c.benchmark_group("stage_compress");
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.sample_size(10);
    for level in 0..=9 {
        group.bench_function(format!("gzip_level_{level}_all_cores"), |b| {
            b.iter(|| gzip::compress(&plain, level, gzip::MEMBER_BYTES, gzip::default_threads()).unwrap().len())
        });
        group.bench_function(format!("gzip_level_{level}_one_thread"), |b| {
            b.iter(|| gzip::compress(&plain, level, gzip::MEMBER_BYTES, 1).unwrap().len())
        });
    }
    group.bench_function("zstd_level_3", |b| b.iter(|| Compression::Zstd.compress_at(&plain, Some(3)).unwrap().len()));
    group.finish();
}

fn stage_write(c: &mut Criterion) {
    let body = Bytes::from(Compression::Gzip.compress(&batch_lines()).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let directory = tempfile::tempdir().unwrap();
    let storage = Storage::from_url(directory.path().to_str().unwrap()).unwrap();
    let mut group = c.benchmark_group("stage_write");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);
    let mut next = 0u64;
    group.bench_function("put_new_batch_object_local_directory", |b| {
        // Only the put is timed; each object is deleted after it, so the directory stays small.
        b.iter_custom(|iterations| {
            let mut spent = std::time::Duration::ZERO;
            for _ in 0..iterations {
                next += 1;
                let key = format!("data/part-{next:08}.json.gz");
                let started = std::time::Instant::now();
                assert!(runtime.block_on(storage.put_new(&key, body.clone())).unwrap(), "{key} was new");
                spent += started.elapsed();
                std::fs::remove_file(directory.path().join(&key)).unwrap();
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, sink_core, stage_validate, stage_compress, stage_write);
criterion_main!(benches);
