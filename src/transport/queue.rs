//! The in-process bounded queue that joins generator and sink in `netchaos run`.
//!
//! The generator's collector hands over whole chunks (one lane's slice of JSON lines) through a
//! bounded channel: when the sink falls behind, `blocking_send` waits, the collector waits, and the
//! lanes wait on their own bounded channels; nothing is ever dropped, and memory stays bounded by
//! `capacity` chunks plus the lanes' buffers. On the sink side a chunk becomes messages without
//! copying: partition = the lane (worker), offset = the lane's sequence number, payload = a slice
//! of the chunk's buffer.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::chaos::EpisodeSummary;
use crate::generator::{Chunk, ChunkSink};
use crate::sink::SinkMessage;

/// The generator's end of the queue.
#[derive(Debug)]
pub struct QueueProducer {
    sender: mpsc::Sender<Chunk>,
    /// Ground-truth episodes, kept until the run ends and they can be stored beside the data.
    pub episodes: Vec<EpisodeSummary>,
}

/// A bounded queue of `capacity` chunks. What goes through it is counted by the generator's
/// metrics ([`crate::generator::MeteredOutput`]), not here.
pub fn bounded(capacity: usize) -> (QueueProducer, mpsc::Receiver<Chunk>) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (QueueProducer { sender, episodes: Vec::new() }, receiver)
}

/// The sink has stopped taking chunks.
#[derive(Debug, thiserror::Error)]
#[error("the sink stopped taking records")]
pub struct SinkGone;

impl ChunkSink for QueueProducer {
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()> {
        // Blocks while the queue is full: backpressure, never a drop.
        self.sender.blocking_send(chunk).map_err(|_| SinkGone)?;
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

/// Splits a chunk into sink messages that share its buffer.
pub fn messages(chunk: Chunk) -> impl Iterator<Item = SinkMessage> {
    let partition = chunk.worker;
    let first_seq = chunk.first_seq;
    let records = chunk.records as usize;
    let data = Bytes::from(chunk.data);
    let mut start = 0usize;
    (0..records).map(move |index| {
        let end = data[start..].iter().position(|byte| *byte == b'\n').map_or(data.len(), |position| start + position);
        let payload = data.slice(start..end);
        start = (end + 1).min(data.len());
        SinkMessage { partition, offset: first_seq + index as u64, payload }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::PerLabel;

    #[test]
    fn messages_slice_lines_with_lane_offsets() {
        let chunk = Chunk { worker: 3, first_seq: 10, records: 3, data: b"{\"a\":1}\n{\"b\":2}\n{}\n".to_vec(), ..Chunk::default() };
        let messages: Vec<SinkMessage> = messages(chunk).collect();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].payload, Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(messages[2].payload, Bytes::from_static(b"{}"));
        assert!(messages.iter().all(|message| message.partition == 3));
        assert_eq!(messages.iter().map(|message| message.offset).collect::<Vec<_>>(), vec![10, 11, 12]);
    }

    #[test]
    fn a_full_queue_blocks_instead_of_dropping() {
        let (mut producer, mut receiver) = bounded(1);
        let sender = std::thread::spawn(move || {
            for index in 0..5u64 {
                let chunk = Chunk {
                    records: 1,
                    first_seq: index,
                    data: b"{}\n".to_vec(),
                    by_label: PerLabel { normal: 1, ..PerLabel::default() },
                    ..Chunk::default()
                };
                producer.write_chunk(chunk).expect("queue open");
            }
        });
        let mut seen = Vec::new();
        while let Some(chunk) = receiver.blocking_recv() {
            seen.push(chunk.first_seq);
        }
        sender.join().expect("producer");
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
