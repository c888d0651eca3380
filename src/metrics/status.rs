//! The live status line of `generate` and `sink`: a thread that reads the metrics twice a second,
//! keeps the achieved-rate gauge current, and, when stderr is a terminal, redraws one line.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::records::PerKind;

use super::{GeneratorMetrics, SinkMetrics};

const TICK: Duration = Duration::from_millis(500);

/// Whether a status line stands on stderr now (a log line clears it first; see [`LogWriter`]).
static DRAWN: AtomicBool = AtomicBool::new(false);

/// Stderr for log lines: clears a status line standing there first, so that a log line starts at
/// the left margin (the next tick draws the status line again, below it). A stderr that is gone
/// (its pipe closed) takes every line and shows none: logging must never stop the work.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        let written = if DRAWN.swap(false, Ordering::Relaxed) {
            stderr.write_all(b"\r\x1b[2K").and_then(|()| stderr.write(buffer))
        } else {
            stderr.write(buffer)
        };
        match written {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(buffer.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stderr().flush() {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// What the line shows.
enum Source {
    Generator(GeneratorMetrics),
    Sink(SinkMetrics),
    /// `netchaos run`: both ends in one process, whether it is stopping, and each anomaly kind's
    /// name on the line.
    Run {
        generator: GeneratorMetrics,
        sink: SinkMetrics,
        stopping: Box<dyn Fn() -> bool + Send>,
        /// Boxed: the variants stay near one size.
        kind_names: Box<PerKind<&'static str>>,
    },
}

impl Source {
    /// The count the rate is computed from.
    fn count(&self) -> u64 {
        match self {
            Source::Generator(metrics) | Source::Run { generator: metrics, .. } => metrics.generated_records(),
            Source::Sink(metrics) => metrics.consumed.get(),
        }
    }

    fn render(&self, rate: f64) -> String {
        match self {
            Source::Generator(metrics) => format!(
                "generated {} ({:.0}/s) | delivered {} | delivery errors {}",
                metrics.generated_records(),
                rate,
                metrics.delivered_records(),
                metrics.delivery_errors.get()
            ),
            Source::Sink(metrics) => format!(
                "consumed {} ({:.0}/s) | stored {} valid, {} invalid | lag {} | store retries {}{}",
                metrics.consumed.get(),
                rate,
                metrics.valid.get(),
                metrics.invalid_records(),
                metrics.total_lag().map_or_else(|| "?".to_owned(), |lag| lag.to_string()),
                metrics.store_retries.get(),
                if metrics.paused.get() > 0 { " | paused: the store is not taking batches" } else { "" }
            ),
            Source::Run { generator, sink, stopping, kind_names } => {
                let anomalies: Vec<String> =
                    kind_names.iter().map(|(kind, name)| format!("{name} {}", generator.anomalies[kind].get())).collect();
                format!(
                    "{} records ({:.0}/s) | {} | {} batches | {} -> {}{}",
                    generator.generated_records(),
                    rate,
                    anomalies.join(" "),
                    sink.batches(),
                    human_bytes(sink.uncompressed_bytes()),
                    human_bytes(sink.compressed_bytes()),
                    if stopping() { " | stopping, flushing" } else { "" }
                )
            }
        }
    }
}

/// `1.5 MiB`, `300 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A running status thread; [`StatusLine::finish`] stops it and clears the line.
#[derive(Debug)]
pub struct StatusLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    live: bool,
}

impl StatusLine {
    /// For the generator: keeps `netchaos_achieved_rate_records_per_second` current; draws the
    /// line when `live`.
    pub fn generator(metrics: GeneratorMetrics, live: bool) -> Self {
        Self::start(Source::Generator(metrics), live)
    }

    /// For the sink: draws the line when `live` (else there is nothing to do).
    pub fn sink(metrics: SinkMetrics, live: bool) -> Self {
        Self::start(Source::Sink(metrics), live)
    }

    /// For `netchaos run`: the generator's achieved rate, and a line of both ends when `live`
    /// (saying so once `stopping` returns true), each kind's records under its name in `kind_names`.
    pub fn run(
        generator: GeneratorMetrics,
        sink: SinkMetrics,
        stopping: impl Fn() -> bool + Send + 'static,
        kind_names: PerKind<&'static str>,
        live: bool,
    ) -> Self {
        Self::start(Source::Run { generator, sink, stopping: Box::new(stopping), kind_names: Box::new(kind_names) }, live)
    }

    fn start(source: Source, live: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        // The generator's achieved-rate gauge is kept current even when nothing is drawn.
        let needed = live || !matches!(source, Source::Sink(_));
        let thread = needed.then(|| {
            let stop = stop.clone();
            std::thread::Builder::new().name("status".into()).spawn(move || tick(&source, live, &stop)).ok()
        });
        StatusLine { stop, thread: thread.flatten(), live }
    }

    /// Stops the thread and clears the line (the caller's summary takes its place).
    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
            if self.live {
                DRAWN.store(false, Ordering::Relaxed);
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "\r\x1b[2K");
                let _ = stderr.flush();
            }
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn tick(source: &Source, live: bool, stop: &AtomicBool) {
    // The rate is taken over the last second: two ticks.
    let mut samples = std::collections::VecDeque::from([(Instant::now(), source.count())]);
    while !stop.load(Ordering::Relaxed) {
        // Woken early by `finish`, so that a command's exit never waits for a tick.
        std::thread::park_timeout(TICK);
        let now = (Instant::now(), source.count());
        samples.push_back(now);
        while samples.len() > 3 {
            samples.pop_front();
        }
        let (then, before) = samples.front().copied().unwrap_or(now);
        let seconds = now.0.duration_since(then).as_secs_f64();
        let rate = if seconds > 0.0 { now.1.saturating_sub(before) as f64 / seconds } else { 0.0 };
        if let Source::Generator(metrics) | Source::Run { generator: metrics, .. } = source {
            metrics.achieved_rate.set(rate);
        }
        if live && !stop.load(Ordering::Relaxed) {
            let mut stderr = std::io::stderr().lock();
            // A status line that cannot be drawn is not worth failing the run for.
            let _ = write!(stderr, "\r\x1b[2K{}", source.render(rate));
            let _ = stderr.flush();
            DRAWN.store(true, Ordering::Relaxed);
        }
    }
}
