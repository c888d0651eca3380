//! The output wrapper that counts each chunk into the [`GeneratorMetrics`] as the output takes it.

use crate::chaos::EpisodeSummary;
use crate::metrics::GeneratorMetrics;

use super::{Chunk, ChunkSink};

/// Wraps the generator's output: counts each chunk once, as generated and, for outputs without
/// delivery reports of their own, as delivered once the output took it.
pub struct MeteredOutput<'a> {
    inner: &'a mut dyn ChunkSink,
    metrics: GeneratorMetrics,
    /// The in-process queue has no acknowledgement: what it took counts as delivered.
    accepted_is_delivered: bool,
}

impl std::fmt::Debug for MeteredOutput<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("MeteredOutput").field("metrics", &self.metrics).finish_non_exhaustive()
    }
}

impl<'a> MeteredOutput<'a> {
    /// `accepted_is_delivered`: count what `inner` accepts as delivered too (outputs without
    /// delivery reports of their own).
    pub fn new(inner: &'a mut dyn ChunkSink, metrics: GeneratorMetrics, accepted_is_delivered: bool) -> Self {
        MeteredOutput { inner, metrics, accepted_is_delivered }
    }
}

impl ChunkSink for MeteredOutput<'_> {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        // Generated before the output sees it, so that generated >= delivered at every scrape
        // (Kafka may acknowledge a chunk's first records before the chunk is all sent).
        let metrics = &self.metrics;
        for (counter, count) in metrics.generated.iter().zip(chunk.by_event_type) {
            counter.inc_by(count);
        }
        for (kind, count) in chunk.by_label.kinds.iter() {
            metrics.anomalies[kind].inc_by(*count);
        }
        for (kind, count) in chunk.episodes_started.iter() {
            metrics.episodes_started[kind].inc_by(*count);
        }
        metrics.bytes.inc_by(chunk.data.len() as u64);
        let by_event_type = chunk.by_event_type;
        self.inner.write_chunk(chunk)?;
        if self.accepted_is_delivered {
            for (counter, count) in self.metrics.delivered.iter().zip(by_event_type) {
                counter.inc_by(count);
            }
        }
        Ok(())
    }

    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()> {
        self.inner.write_episode(episode)?;
        self.metrics.episodes_completed[episode.kind].inc();
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.inner.finish()
    }

    fn write_command(&mut self, entry: &super::control::Entry) -> anyhow::Result<()> {
        self.inner.write_command(entry)
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;
    use crate::records::{PerKind, PerLabel};

    /// An output that takes every other chunk.
    #[derive(Default)]
    struct Picky {
        calls: u32,
    }

    impl ChunkSink for Picky {
        fn write_chunk(&mut self, _chunk: Chunk) -> anyhow::Result<()> {
            self.calls += 1;
            anyhow::ensure!(self.calls % 2 == 1, "refused");
            Ok(())
        }

        fn write_episode(&mut self, _episode: &EpisodeSummary) -> anyhow::Result<()> {
            Ok(())
        }

        fn finish(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_metered_output_counts_what_was_generated_and_what_its_output_took() {
        let metrics = GeneratorMetrics::default();
        let mut inner = Picky::default();
        let mut output = MeteredOutput::new(&mut inner, metrics.clone(), true);
        let chunk = || Chunk {
            records: 5,
            data: vec![b'x'; 100],
            by_event_type: [3, 2],
            by_label: PerLabel {
                normal: 1,
                kinds: PerKind::of(&[
                    (crate::records::AnomalyKind::LatencySpike, 1),
                    (crate::records::AnomalyKind::PortScan, 0),
                    (crate::records::AnomalyKind::DataExfiltration, 3),
                    (crate::records::AnomalyKind::ConnectionReset, 0),
                ]),
            },
            episodes_started: PerKind::of(&[
                (crate::records::AnomalyKind::LatencySpike, 0),
                (crate::records::AnomalyKind::PortScan, 0),
                (crate::records::AnomalyKind::DataExfiltration, 1),
                (crate::records::AnomalyKind::ConnectionReset, 0),
            ]),
            ..Chunk::default()
        };
        output.write_chunk(chunk()).unwrap();
        assert!(output.write_chunk(chunk()).is_err());
        output.write_chunk(chunk()).unwrap();
        assert_eq!(metrics.generated.each_ref().map(Counter::get), [9, 6]);
        assert_eq!(metrics.delivered.each_ref().map(Counter::get), [6, 4], "the refused chunk was not delivered");
        assert_eq!(
            metrics.anomalies.each_ref().map(Counter::get),
            PerKind::of(&[
                (crate::records::AnomalyKind::LatencySpike, 3),
                (crate::records::AnomalyKind::PortScan, 0),
                (crate::records::AnomalyKind::DataExfiltration, 9),
                (crate::records::AnomalyKind::ConnectionReset, 0)
            ])
        );
        assert_eq!(
            metrics.episodes_started.each_ref().map(Counter::get),
            PerKind::of(&[
                (crate::records::AnomalyKind::LatencySpike, 0),
                (crate::records::AnomalyKind::PortScan, 0),
                (crate::records::AnomalyKind::DataExfiltration, 3),
                (crate::records::AnomalyKind::ConnectionReset, 0)
            ])
        );
        assert_eq!(metrics.bytes.get(), 300);
        assert_eq!(metrics.generated_records(), 15);
        assert_eq!(metrics.delivered_records(), 10);
    }
}
