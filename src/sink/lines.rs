//! JSON lines in, sink out: what `netchaos sink --from PATH|-` runs.
//!
//! Lines are split on `\n` only, and one trailing `\r` is stripped; the line index (from 0) is the
//! offset, in partition 0. A last line without a newline still counts; an empty line is a line
//! (the validator rejects it). Bytes pass through untouched, so non-UTF-8 input reaches the
//! validator as it is. A line longer than the record limit is not held whole: only its first
//! `MAX_RECORD_BYTES + 1 KiB` are kept, and it goes to the DLQ as `too_large` with its real length.
//! Reading is cancel-safe (all state lives in [`LineReader`] between `fill_buf` calls), so the
//! loop can `select!` between the next line, the age timer and shutdown.

use bytes::{Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::watch;

use tokio::time::Instant;

use crate::records::{MAX_RECORD_BYTES, RejectReason, Rejection};

use super::{Sink, SinkError, SinkMessage};

/// Bytes of one line held in memory at most.
const LINE_CAP: usize = MAX_RECORD_BYTES + 1024;

/// Feeds every line of `reader` to `sink` (partition 0, offset = line index), flushing batches as
/// they age, until end of input or until `shutdown` turns true; then flushes everything.
pub async fn run_lines<R: AsyncBufRead + Unpin>(reader: R, sink: &mut Sink, mut shutdown: watch::Receiver<bool>) -> Result<(), SinkError> {
    let mut lines = LineReader::new(reader);
    let mut publish = publish_interval();
    loop {
        let deadline = sink.next_deadline();
        let step = tokio::select! {
            biased;
            () = shutdown_requested(&mut shutdown) => Step::Shutdown,
            () = sleep_until(deadline) => Step::Expired,
            _ = publish.tick() => Step::Publish,
            line = lines.next_line() => Step::Line(line.map_err(SinkError::Input)?),
        };
        match step {
            Step::Line(Some(line)) => feed_line(sink, line).await?,
            Step::Line(None) => break,
            Step::Expired => sink.flush_expired().await?,
            Step::Publish => sink.publish_metrics(),
            Step::Shutdown => {
                tracing::info!(lines_read = lines.next_offset, "shutdown requested: flushing what is buffered");
                break;
            }
        }
    }
    let flushed = sink.flush_all().await;
    sink.publish_metrics();
    flushed
}

/// How often a driver adds the sink's counts to its metrics (stored batches publish at once).
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// The timer of [`PUBLISH_EVERY`]: one for the whole run, not one per message.
pub(crate) fn publish_interval() -> tokio::time::Interval {
    let mut interval = tokio::time::interval(PUBLISH_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

enum Step {
    Line(Option<Line>),
    Expired,
    /// Time to publish the metrics, even while no line comes.
    Publish,
    Shutdown,
}

async fn feed_line(sink: &mut Sink, line: Line) -> Result<(), SinkError> {
    let message = SinkMessage { partition: 0, offset: line.offset, payload: line.payload };
    if line.full_len <= message.payload.len() as u64 {
        return sink.push(message).await;
    }
    let rejection = Rejection {
        reason: RejectReason::TooLarge,
        field: None,
        detail: format!("{} bytes, the limit is {MAX_RECORD_BYTES}; only the first {} are kept here", line.full_len, message.payload.len()),
    };
    sink.push_rejected(message, rejection).await
}

/// Resolves once `shutdown` turns true; never if its sender is dropped without asking.
pub(crate) async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|requested| *requested).await.is_err() {
        // The sender is gone without asking for shutdown: run to the end of input.
        std::future::pending::<()>().await;
    }
}

/// Sleeps until `deadline`; forever when there is none.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// One line: its index and its bytes (without `\n` and one trailing `\r`), cut at [`LINE_CAP`].
#[derive(Debug)]
pub(super) struct Line {
    pub(super) offset: u64,
    pub(super) payload: Bytes,
    /// The line's real length; more than `payload.len()` when it was cut.
    pub(super) full_len: u64,
}

/// Splits an `AsyncBufRead` into capped lines, cancel-safely.
#[derive(Debug)]
pub(super) struct LineReader<R> {
    reader: R,
    /// The current line's kept bytes; split off (not copied) when the line is complete.
    line: BytesMut,
    /// The current line's length so far, kept or not.
    line_len: u64,
    last_byte: Option<u8>,
    next_offset: u64,
    finished: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(reader: R) -> Self {
        LineReader { reader, line: BytesMut::with_capacity(64 * 1024), line_len: 0, last_byte: None, next_offset: 0, finished: false }
    }

    /// The next line, or `None` at end of input.
    pub(super) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            // The only await: cancelling here loses nothing, the buffered bytes stay in `reader`.
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                self.finished = true;
                if self.line_len == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.take_line()));
            }
            if let Some(newline) = available.iter().position(|byte| *byte == b'\n') {
                let (line_part, consumed) = (&available[..newline], newline + 1);
                append_capped(&mut self.line, &mut self.line_len, &mut self.last_byte, line_part);
                self.reader.consume(consumed);
                return Ok(Some(self.take_line()));
            }
            let consumed = available.len();
            append_capped(&mut self.line, &mut self.line_len, &mut self.last_byte, available);
            self.reader.consume(consumed);
        }
    }

    fn take_line(&mut self) -> Line {
        let mut full_len = self.line_len;
        if self.last_byte == Some(b'\r') {
            full_len -= 1;
            if self.line.len() as u64 > full_len {
                self.line.truncate(self.line.len() - 1);
            }
        }
        if self.line.capacity() < LINE_CAP {
            self.line.reserve(64 * 1024);
        }
        let line = Line { offset: self.next_offset, payload: self.line.split().freeze(), full_len };
        self.next_offset += 1;
        self.line_len = 0;
        self.last_byte = None;
        line
    }
}

fn append_capped(line: &mut BytesMut, line_len: &mut u64, last_byte: &mut Option<u8>, bytes: &[u8]) {
    let Some(last) = bytes.last() else {
        return;
    };
    *last_byte = Some(*last);
    *line_len += bytes.len() as u64;
    let room = LINE_CAP.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..room.min(bytes.len())]);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], chunk: usize) -> Vec<(u64, Vec<u8>, u64)> {
        // A tiny internal buffer exercises lines that span many `fill_buf` calls.
        let reader = tokio::io::BufReader::with_capacity(chunk, input);
        let mut lines = LineReader::new(reader);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push((line.offset, line.payload.to_vec(), line.full_len));
        }
        out
    }

    #[tokio::test]
    async fn splits_on_newline_and_strips_one_carriage_return() {
        for chunk in [1, 2, 3, 7, 1024] {
            let lines = read_all(b"a\r\nbb\n\n\r\r\nlast", chunk).await;
            assert_eq!(
                lines,
                vec![(0, b"a".to_vec(), 1), (1, b"bb".to_vec(), 2), (2, vec![], 0), (3, b"\r".to_vec(), 1), (4, b"last".to_vec(), 4)],
                "chunk {chunk}"
            );
        }
        assert_eq!(read_all(b"x\n", 4).await, vec![(0, b"x".to_vec(), 1)]);
        assert_eq!(read_all(b"", 4).await, vec![]);
        assert_eq!(read_all(b"\n", 4).await, vec![(0, vec![], 0)]);
    }

    #[tokio::test]
    async fn passes_bytes_through_untouched() {
        let lines = read_all(b"\xff\xfe{}\n", 2).await;
        assert_eq!(lines, vec![(0, b"\xff\xfe{}".to_vec(), 4)]);
    }

    #[tokio::test]
    async fn caps_what_an_overlong_line_holds() {
        let long = vec![b'x'; LINE_CAP * 3];
        let mut input = long.clone();
        input.extend_from_slice(b"\r\nnext\n");
        let lines = read_all(&input, 4096).await;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1.len(), LINE_CAP);
        assert_eq!(lines[0].2, (LINE_CAP * 3) as u64);
        assert_eq!(lines[1], (1, b"next".to_vec(), 4));
    }
}
