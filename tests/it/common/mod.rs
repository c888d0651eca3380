//! Helpers shared by the integration tests: an in-memory chunk sink and settings builders.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;

pub mod browser;
pub mod cli;
pub mod dashboard;
pub mod http;
pub mod kafka;
pub mod prometheus;
pub mod reliability;

use netchaos::chaos::data_exfiltration::EXFIL_BYTES;
use netchaos::chaos::{ChaosSettings, EpisodeSummary};
use netchaos::generator::{Chunk, ChunkSink, GenerateReport, GeneratorSettings, generate};
use netchaos::records::PerKind;
use netchaos::runtime::Shutdown;

/// Keeps everything the generator emits.
#[derive(Default)]
pub struct MemorySink {
    pub data: Vec<u8>,
    pub episodes: Vec<EpisodeSummary>,
    /// Sleep this long per chunk, to emulate a slow consumer.
    pub delay: Option<std::time::Duration>,
}

impl ChunkSink for MemorySink {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        if let Some(delay) = self.delay {
            std::thread::sleep(delay);
        }
        self.data.extend_from_slice(&chunk.data);
        Ok(())
    }

    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()> {
        self.episodes.push(episode.clone());
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl MemorySink {
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.data.split(|byte| *byte == b'\n').filter(|line| !line.is_empty())
    }
}

pub fn chaos(latency_spike: f64, port_scan: f64, data_exfil: f64, conn_reset: f64) -> ChaosSettings {
    use netchaos::records::AnomalyKind;
    let probability = PerKind::from_fn(|kind| match kind {
        AnomalyKind::LatencySpike => latency_spike,
        AnomalyKind::PortScan => port_scan,
        AnomalyKind::DataExfiltration => data_exfil,
        AnomalyKind::ConnectionReset => conn_reset,
        #[allow(unreachable_patterns)]
        _ => 0.0,
    });
    ChaosSettings::new(probability).with(&EXFIL_BYTES, 10_000_000)
}

pub fn settings(seed: u64, workers: u32, count: u64, chaos: ChaosSettings) -> GeneratorSettings {
    GeneratorSettings {
        seed,
        instance_id: 0,
        workers: NonZeroU32::new(workers).expect("workers > 0"),
        eps: 0.0,
        count: Some(count),
        duration: None,
        start_time_ms: 1_767_225_600_000,
        chaos,
        firewall_ratio: 0.25,
        plan: Default::default(),
    }
}

pub fn run(settings: &GeneratorSettings) -> (MemorySink, GenerateReport) {
    let mut sink = MemorySink::default();
    let report = generate(settings, &mut sink, &Shutdown::new());
    assert!(report.error.is_none(), "generation failed: {:?}", report.error);
    (sink, report)
}
