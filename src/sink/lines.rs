//! JSON lines in, sink out: what `netchaos sink --from PATH|-` runs.
//!
//! Lines are split on `\n` only, and one trailing `\r` is stripped; the line index (from 0) is the
//! offset, in partition 0. An empty line is a line (the validator rejects it). Bytes pass through
//! untouched, so non-UTF-8 input reaches the validator as it is. A line longer than the record
//! limit is not held whole: only its first `MAX_RECORD_BYTES + 1 KiB` are kept, and it goes to the
//! DLQ as `too_large` with its real length. Reading is cancel-safe (all state lives in
//! [`LineReader`] between `fill_buf` calls), so the loop can `select!` between the next line, the
//! age timer and shutdown.
//!
//! A last line without a newline is where a stream ends, and counts as a line. A regular file may
//! still be being written, though: its unterminated last line may be a record cut in two, so with
//! [`LineOptions::hold_unterminated`] it is left unread (neither stored nor skipped by a rerun,
//! which resumes at it) and reported in [`LinesRead::held_back`].
//!
//! On shutdown the driver stops reading (after [`LineOptions::shutdown_grace`], or at the end of
//! input if that comes first), stores the complete lines it had already read into its buffer, and
//! flushes; a line it was in the middle of is reported in [`LinesRead::cut_by_shutdown`].

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::time::Instant;

use crate::records::{MAX_RECORD_BYTES, RejectReason, Rejection};
use crate::runtime::{Shutdown, publish_interval, sleep_until};

use super::{Sink, SinkError, SinkMessage};

/// Bytes of one line held in memory at most.
const LINE_CAP: usize = MAX_RECORD_BYTES + 1024;

/// Lines fed from the buffer between two checks of the timers and of shutdown.
const RUN_OF_LINES: usize = 512;

/// How [`run_lines_with`] treats its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LineOptions {
    /// The input is a regular file that may still grow: leave an unterminated last line unread.
    pub(crate) hold_unterminated: bool,
    /// After shutdown is asked for, read on this long at most, or until the end of input: a
    /// producer stopped by the same Ctrl-C closes the pipe within it, so what it emitted lands.
    pub(crate) shutdown_grace: Duration,
}

/// What [`run_lines_with`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LinesRead {
    /// Lines handed to the sink (stored, or skipped as already stored).
    pub(crate) lines: u64,
    /// Bytes of an unterminated last line left unread ([`LineOptions::hold_unterminated`]).
    pub(crate) held_back: Option<u64>,
    /// Bytes of a line that shutdown stopped the reading in the middle of (not stored).
    pub(crate) cut_by_shutdown: Option<u64>,
    /// True when reading stopped because shutdown was asked for, not at the end of input.
    pub(crate) stopped: bool,
}

/// Feeds every line of `reader` to `sink` (partition 0, offset = line index), flushing batches as
/// they age, until end of input or until `shutdown` is requested; then flushes everything. An
/// unterminated last line counts, and shutdown stops the reading at once.
pub async fn run_lines<R: AsyncBufRead + Unpin>(reader: R, sink: &mut Sink, shutdown: &Shutdown) -> Result<(), SinkError> {
    run_lines_with(reader, sink, shutdown, LineOptions::default()).await.map(|_| ())
}

/// [`run_lines`] with `options`: see [`LineOptions`].
pub(crate) async fn run_lines_with<R: AsyncBufRead + Unpin>(
    reader: R,
    sink: &mut Sink,
    shutdown: &Shutdown,
    options: LineOptions,
) -> Result<LinesRead, SinkError> {
    let mut lines = LineReader::new(reader);
    lines.hold_unterminated = options.hold_unterminated;
    let mut publish = publish_interval();
    let mut grace_ends: Option<Instant> = None;
    let mut stopped = false;
    loop {
        let deadline = sink.next_deadline();
        let step = tokio::select! {
            biased;
            () = shutdown.requested(), if grace_ends.is_none() => Step::Shutdown,
            () = sleep_until(grace_ends), if grace_ends.is_some() => Step::GraceOver,
            () = sleep_until(deadline) => Step::Expired,
            _ = publish.tick() => Step::Publish,
            line = lines.next_line() => Step::Line(line.map_err(SinkError::Input)?),
        };
        match step {
            Step::Line(Some(line)) => {
                feed_line(sink, line).await?;
                // The lines already in the buffer go in without a turn of the loop each: its
                // timers and the shutdown check are a lot of work beside a line, and a turn every
                // RUN_OF_LINES lines keeps them prompt.
                for _ in 1..RUN_OF_LINES {
                    let Some(line) = lines.buffered_line().map_err(SinkError::Input)? else { break };
                    feed_line(sink, line).await?;
                }
            }
            Step::Line(None) => break,
            Step::Expired => sink.flush_expired().await?,
            Step::Publish => sink.publish_metrics(),
            Step::Shutdown if !options.shutdown_grace.is_zero() => {
                tracing::info!(lines_read = lines.state.next_offset, grace = ?options.shutdown_grace, "shutdown requested: reading until the input ends or the grace passes");
                grace_ends = Some(Instant::now() + options.shutdown_grace);
            }
            Step::Shutdown | Step::GraceOver => {
                tracing::info!(lines_read = lines.state.next_offset, "shutdown requested: flushing what is buffered");
                stopped = true;
                break;
            }
        }
    }
    if stopped {
        // Lines already read into the buffer were read: store them, without reading more.
        while let Some(line) = lines.buffered_line().map_err(SinkError::Input)? {
            feed_line(sink, line).await?;
        }
    }
    let flushed = sink.flush_all().await;
    sink.publish_metrics();
    flushed?;
    let cut = (stopped && lines.state.line_len > 0).then_some(lines.state.line_len);
    Ok(LinesRead { lines: lines.state.next_offset, held_back: lines.held_back, cut_by_shutdown: cut, stopped })
}

enum Step {
    Line(Option<Line>),
    Expired,
    /// Time to publish the metrics, even while no line comes.
    Publish,
    Shutdown,
    /// The shutdown grace has passed.
    GraceOver,
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
    state: LineState,
    finished: bool,
    /// Leave an unterminated last line unread (see [`LineOptions::hold_unterminated`]).
    pub(super) hold_unterminated: bool,
    /// Bytes of the unterminated last line left unread.
    pub(super) held_back: Option<u64>,
}

/// The line being read.
#[derive(Debug)]
struct LineState {
    /// The current line's kept bytes; split off (not copied) when the line is complete.
    line: BytesMut,
    /// The current line's length so far, kept or not.
    line_len: u64,
    last_byte: Option<u8>,
    next_offset: u64,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(reader: R) -> Self {
        let state = LineState { line: BytesMut::with_capacity(64 * 1024), line_len: 0, last_byte: None, next_offset: 0 };
        LineReader { reader, state, finished: false, hold_unterminated: false, held_back: None }
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
                return Ok(self.end_of_input());
            }
            let (consumed, complete) = self.state.absorb(available);
            self.reader.consume(consumed);
            if complete {
                return Ok(Some(self.state.take_line()));
            }
        }
    }

    /// The next line among the bytes already read (the buffer, a read that has completed), without
    /// waiting for more; `None` when no complete line is there.
    pub(super) fn buffered_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if self.finished {
                return Ok(None);
            }
            let available = match Pin::new(&mut self.reader).poll_fill_buf(&mut context) {
                Poll::Pending => return Ok(None),
                Poll::Ready(available) => available?,
            };
            if available.is_empty() {
                return Ok(self.end_of_input());
            }
            let (consumed, complete) = self.state.absorb(available);
            Pin::new(&mut self.reader).consume(consumed);
            if complete {
                return Ok(Some(self.state.take_line()));
            }
        }
    }

    fn end_of_input(&mut self) -> Option<Line> {
        self.finished = true;
        if self.state.line_len == 0 {
            return None;
        }
        if self.hold_unterminated {
            self.held_back = Some(self.state.line_len);
            return None;
        }
        Some(self.state.take_line())
    }
}

impl LineState {
    /// Takes bytes of `available` up to and including the first newline: how many it took, and
    /// whether they completed a line.
    fn absorb(&mut self, available: &[u8]) -> (usize, bool) {
        match memchr::memchr(b'\n', available) {
            Some(newline) => {
                self.append_capped(&available[..newline]);
                (newline + 1, true)
            }
            None => {
                self.append_capped(available);
                (available.len(), false)
            }
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

    fn append_capped(&mut self, bytes: &[u8]) {
        let Some(last) = bytes.last() else {
            return;
        };
        self.last_byte = Some(*last);
        self.line_len += bytes.len() as u64;
        let room = LINE_CAP.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], chunk: usize) -> Vec<(u64, Vec<u8>, u64)> {
        read_all_holding(input, chunk, false).await.0
    }

    async fn read_all_holding(input: &[u8], chunk: usize, hold: bool) -> (Vec<(u64, Vec<u8>, u64)>, Option<u64>) {
        // A tiny internal buffer exercises lines that span many `fill_buf` calls.
        let reader = tokio::io::BufReader::with_capacity(chunk, input);
        let mut lines = LineReader::new(reader);
        lines.hold_unterminated = hold;
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            out.push((line.offset, line.payload.to_vec(), line.full_len));
        }
        (out, lines.held_back)
    }

    #[tokio::test]
    async fn a_held_back_unterminated_last_line_is_left_unread() {
        for chunk in [1, 3, 1024] {
            let (lines, held) = read_all_holding(b"a\nbb\n{\"cut", chunk, true).await;
            assert_eq!(lines, vec![(0, b"a".to_vec(), 1), (1, b"bb".to_vec(), 2)], "chunk {chunk}");
            assert_eq!(held, Some(5));
            let (lines, held) = read_all_holding(b"a\nbb\n", chunk, true).await;
            assert_eq!((lines.len(), held), (2, None), "a terminated file holds nothing back");
            let (lines, held) = read_all_holding(b"a\n{\"cut", chunk, false).await;
            assert_eq!((lines[1].clone(), held), ((1, b"{\"cut".to_vec(), 5), None), "a stream's last line counts");
        }
    }

    #[tokio::test]
    async fn buffered_lines_are_taken_without_waiting_for_more_input() {
        let (mut writer, reader) = tokio::io::duplex(1 << 16);
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"one\ntwo\nthree\nhal").await.unwrap();
        let mut lines = LineReader::new(tokio::io::BufReader::new(reader));
        assert_eq!(lines.next_line().await.unwrap().unwrap().payload, Bytes::from_static(b"one"));
        // The writer stays open: `next_line` would wait; `buffered_line` returns what is there.
        let mut rest = Vec::new();
        while let Some(line) = lines.buffered_line().unwrap() {
            rest.push((line.offset, line.payload.to_vec()));
        }
        assert_eq!(rest, vec![(1, b"two".to_vec()), (2, b"three".to_vec())]);
        assert_eq!(lines.state.line_len, 3, "the cut line's bytes are known, and not a line");
        drop(writer);
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
