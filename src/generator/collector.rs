//! The collector: merges lane chunks in schedule order and hands them to the output.
//!
//! Slice *k* of every lane is written before slice *k + 1* of any, lanes in worker order, so the
//! same settings always give the same byte stream however the threads were scheduled. A lane that
//! runs unpaced sends nothing for a slice it has nothing for; the collector looks at the next
//! chunk of every lane and writes the earliest slice first, so a skipped slice changes nothing. Only what
//! the output accepted is counted: after Ctrl-C or an output error, the tally is exactly what was
//! emitted, which is what the manifest reports.

use std::collections::VecDeque;
use std::sync::mpsc::Receiver;

use crate::chaos::EpisodeSummary;
use crate::records::{PerKind, PerLabel};
use crate::runtime::Shutdown;

use super::Chunk;

/// Where generated chunks go: a file, stdout, the in-process queue, Kafka.
pub trait ChunkSink {
    /// Takes one chunk (by value: the in-process queue passes it on without copying). An error
    /// stops the run.
    fn write_chunk(&mut self, chunk: Chunk) -> anyhow::Result<()>;

    /// Records one ground-truth episode whose records have all been accepted.
    fn write_episode(&mut self, episode: &EpisodeSummary) -> anyhow::Result<()>;

    /// Called once after the last chunk.
    fn finish(&mut self) -> anyhow::Result<()>;

    /// Records one live command (the Kafka output puts it on the episodes topic).
    fn write_command(&mut self, _entry: &super::control::Entry) -> anyhow::Result<()> {
        Ok(())
    }
}

/// What was emitted, per lane and in total.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records accepted by the output, per lane (indexed like the schedule's lanes).
    pub lane_records: Vec<u64>,
    pub by_event_type: [u64; 2],
    pub by_label: PerLabel<u64>,
    /// Episodes per kind, complete or cut short (look-alikes not among them).
    pub episodes: PerKind<u64>,
    /// Occurrences of each benign look-alike.
    pub benign: std::collections::BTreeMap<&'static str, u64>,
    pub bytes: u64,
}

impl Tally {
    pub fn records(&self) -> u64 {
        self.lane_records.iter().sum()
    }
}

/// Merges `lanes` (one receiver per lane, in schedule order, each handing over its chunks in
/// batches) into `sink` until every lane is done.
pub fn collect(lanes: Vec<Receiver<Vec<Chunk>>>, sink: &mut dyn ChunkSink, stop: &Shutdown) -> (Tally, anyhow::Result<()>) {
    let mut tally = Tally { lane_records: vec![0; lanes.len()], ..Tally::default() };
    // Each lane's chunks received and not yet written; the lane is done once it is empty and
    // its channel closed.
    let mut queued: Vec<VecDeque<Chunk>> = lanes.iter().map(|_| VecDeque::new()).collect();
    let refill = |queue: &mut VecDeque<Chunk>, receiver: &Receiver<Vec<Chunk>>| {
        while queue.is_empty() {
            match receiver.recv() {
                Ok(batch) => queue.extend(batch),
                Err(_) => return,
            }
        }
    };
    for (queue, receiver) in queued.iter_mut().zip(&lanes) {
        refill(queue, receiver);
    }
    let mut failure: Option<anyhow::Error> = None;
    while let Some(slice) = queued.iter().filter_map(|queue| queue.front().map(|chunk| chunk.slice)).min() {
        for (lane, (queue, receiver)) in queued.iter_mut().zip(&lanes).enumerate() {
            // A lane may have several chunks for one slice (its last one carries open episodes).
            while queue.front().is_some_and(|chunk| chunk.slice == slice) {
                let Some(chunk) = queue.pop_front() else { break };
                refill(queue, receiver);
                if failure.is_some() {
                    // Keep draining so that lanes blocked on a full channel can see the stop flag.
                    continue;
                }
                if let Err(error) = accept(sink, chunk, lane, &mut tally) {
                    stop.request();
                    failure = Some(error);
                }
            }
        }
    }
    let result = match failure {
        Some(error) => Err(error),
        None => sink.finish(),
    };
    (tally, result)
}

fn accept(sink: &mut dyn ChunkSink, mut chunk: Chunk, lane: usize, tally: &mut Tally) -> anyhow::Result<()> {
    let episodes = std::mem::take(&mut chunk.episodes);
    if chunk.records > 0 {
        let (records, bytes, by_event_type, by_label) = (chunk.records, chunk.data.len() as u64, chunk.by_event_type, chunk.by_label);
        sink.write_chunk(chunk)?;
        tally.lane_records[lane] += records;
        tally.bytes += bytes;
        for (total, add) in tally.by_event_type.iter_mut().zip(by_event_type) {
            *total += add;
        }
        tally.by_label.add(&by_label);
    }
    for episode in &episodes {
        sink.write_episode(episode)?;
        match episode.lookalike {
            Some(name) => *tally.benign.entry(name).or_default() += 1,
            None => tally.episodes[episode.kind] += 1,
        }
    }
    Ok(())
}
