//! Helpers for the sink's and verify's tests: real generated records, temporary stores, and a
//! reader of what landed.

use std::num::NonZeroU32;
use std::sync::OnceLock;

use crate::chaos::data_exfiltration::EXFIL_BYTES;
use crate::chaos::{ChaosSettings, EpisodeSummary};
use crate::generator::{self, Chunk, ChunkSink, GeneratorSettings, RunManifest};
use crate::records::PerKind;
use crate::runtime::Shutdown;

use super::Storage;
use super::keys::{self, ObjectKind, ParsedKey};

/// What a small generator run emitted: its lines in emission order and its manifest.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub(crate) lines: Vec<Vec<u8>>,
    pub(crate) manifest: RunManifest,
}

#[derive(Default)]
struct CollectLines(Vec<Vec<u8>>);

impl ChunkSink for CollectLines {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        self.0.extend(chunk.lines().map(<[u8]>::to_vec));
        Ok(())
    }

    fn write_episode(&mut self, _episode: &EpisodeSummary) -> anyhow::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub(crate) fn generator_settings(seed: u64, workers: u32, count: u64) -> GeneratorSettings {
    GeneratorSettings {
        seed,
        instance_id: 0,
        workers: NonZeroU32::new(workers).unwrap(),
        eps: 0.0,
        count: Some(count),
        duration: None,
        start_time_ms: 1_780_000_000_000,
        chaos: ChaosSettings::new(PerKind::of(&[
            (crate::records::AnomalyKind::LatencySpike, 0.05),
            (crate::records::AnomalyKind::PortScan, 0.05),
            (crate::records::AnomalyKind::DataExfiltration, 0.02),
            (crate::records::AnomalyKind::ConnectionReset, 0.03),
        ]))
        .with(&EXFIL_BYTES, 200_000),
        firewall_ratio: 0.3,
        plan: Default::default(),
    }
}

/// Runs the real generator.
pub(crate) fn generate(seed: u64, workers: u32, count: u64) -> Generated {
    let mut collected = CollectLines::default();
    let report = generator::generate(&generator_settings(seed, workers, count), &mut collected, &Shutdown::new());
    assert!(report.error.is_none(), "{:?}", report.error);
    Generated { lines: collected.0, manifest: report.manifest }
}

/// 500 valid records of both kinds, generated once per test binary.
pub(crate) fn valid_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| generate(11, 2, 500).lines)
}

/// A valid vpc_flow record as a JSON value, to mutate into invalid ones.
pub(crate) fn valid_flow() -> serde_json::Value {
    let line = valid_lines().iter().find(|line| line.starts_with(br#"{"event_type":"vpc_flow""#)).unwrap();
    serde_json::from_slice(line).unwrap()
}

pub(crate) fn temp_storage() -> (tempfile::TempDir, Storage) {
    let directory = tempfile::tempdir().unwrap();
    let storage = Storage::from_url(directory.path().to_str().unwrap()).unwrap();
    (directory, storage)
}

/// Every stored object of `kind`, decompressed, ordered by partition then first offset.
pub(crate) async fn read_objects(storage: &Storage, kind: ObjectKind) -> Vec<(ParsedKey, Vec<u8>)> {
    let mut objects = Vec::new();
    for (key, _) in storage.list(kind.root()).await.unwrap() {
        let parsed = keys::parse_key(&key).unwrap();
        let body = storage.get(&key).await.unwrap();
        objects.push((parsed.clone(), parsed.compression.decompress(&body).unwrap()));
    }
    objects.sort_by_key(|(parsed, _)| (parsed.partition, parsed.first));
    objects
}

/// The lines of a JSON-lines body.
pub(crate) fn lines_of(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).map(<[u8]>::to_vec).collect()
}
