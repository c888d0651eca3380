//! Flags shared by the commands that sink (`sink`, `run`): when and how to cut batches
//! ([`SinkArgs`]), where to store them ([`StoreArgs`], [`S3Args`]), and what the process may use
//! and how it reports ([`ProcessArgs`]). Each is one `#[command(flatten)]` group, so a flag's
//! name, environment variable and default are written once; where a command says a flag's help
//! or default differently, it adjusts that one argument with `mut_arg`.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use clap::Args;

use crate::sink::compression::{Compression, GZIP_MAX_LEVEL};
use crate::sink::{RetryPolicy, S3Options, SinkSettings, Storage};

use super::UsageError;
use super::args::{parse_bytes, parse_duration};
use super::layout_args::LayoutArgs;
use super::metrics_args::MetricsArgs;

#[derive(Debug, Clone, Args)]
pub(crate) struct SinkArgs {
    /// Flush a partition's batch at this many records (valid and invalid together).
    #[arg(long, env = "SINK_MAX_RECORDS", default_value = "100000")]
    pub(crate) max_records: NonZeroU64,

    /// Flush a partition's batch at this many bytes (`32MiB`, `8MB`, or plain bytes), each message
    /// counted as the dead-letter entry it would become if rejected (a generated record: 1.7x its size).
    #[arg(long, env = "SINK_MAX_BYTES", default_value = "32MiB", value_parser = parse_bytes)]
    pub(crate) max_bytes: u64,

    /// Flush a partition's batch this long after its first record arrived, even if idle (at most
    /// `10y`).
    #[arg(long, env = "SINK_MAX_AGE", default_value = "60s", value_parser = parse_duration)]
    pub(crate) max_age: Duration,

    /// Compression of stored objects.
    #[arg(long, env = "SINK_COMPRESSION", default_value = "gzip", value_parser = parse_compression)]
    pub(crate) compression: Compression,

    /// Compression level: gzip 0-9 (default 5: ~14x on records; 6-9 store less, slower), zstd 1-22 (default 3).
    #[arg(long, env = "SINK_COMPRESSION_LEVEL")]
    pub(crate) compression_level: Option<i32>,

    /// Batches compressed and written in the background while the next ones fill (each holds up
    /// to --max-bytes of memory); 0 stores each batch before reading on. Offsets are committed
    /// only as batches become durable, in order.
    #[arg(long, env = "SINK_FLUSHES_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub(crate) flushes_in_flight: u16,

    /// Stop retrying a store operation that has kept failing this long (`30m`, `2h`, at most
    /// `10y`; `off` retries until the store is back) and exit 1: nothing past the stored batches
    /// is committed, and a rerun resumes from the store. Errors no retry can fix (a read-only or
    /// unwritable directory, a file where a directory must be, a symbolic-link loop) stop at once.
    #[arg(long, env = "SINK_GIVE_UP_AFTER", default_value = "30m", value_parser = parse_give_up_after)]
    pub(crate) give_up_after: GiveUpAfter,

    #[command(flatten)]
    pub(crate) layout: LayoutArgs,
}

/// `--give-up-after`: a duration, or `off` (`None`) for never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GiveUpAfter(pub(crate) Option<Duration>);

pub(crate) fn parse_give_up_after(text: &str) -> Result<GiveUpAfter, String> {
    if matches!(text.trim().to_ascii_lowercase().as_str(), "off" | "never") {
        return Ok(GiveUpAfter(None));
    }
    parse_duration(text).map(|duration| GiveUpAfter(Some(duration))).map_err(|error| format!("{error}, or `off` to retry for ever"))
}

impl SinkArgs {
    pub(crate) fn settings(&self, source: &str) -> Result<SinkSettings, UsageError> {
        let max_bytes = usize::try_from(self.max_bytes)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| UsageError("--max-bytes must be more than 0".into()))?;
        if self.max_age.is_zero() {
            return Err(UsageError("--max-age must be longer than 0s".into()));
        }
        let valid_levels = match self.compression {
            Compression::Gzip => 0..=GZIP_MAX_LEVEL,
            Compression::Zstd => 1..=22,
            Compression::None => 0..=0,
        };
        if let Some(level) = self.compression_level.filter(|level| !valid_levels.contains(level)) {
            return Err(UsageError(format!(
                "--compression-level {level} does not suit {}: use {}-{}",
                self.compression,
                valid_levels.start(),
                valid_levels.end()
            )));
        }
        Ok(SinkSettings {
            max_records: self.max_records,
            max_bytes,
            max_age: self.max_age,
            compression: self.compression,
            compression_level: self.compression_level,
            flushes_in_flight: usize::from(self.flushes_in_flight),
            retry: RetryPolicy { give_up_after: self.give_up_after.0, ..RetryPolicy::default() },
            layout: self.layout.layout()?,
            ..SinkSettings::new(source)
        })
    }
}

/// What the process needs beside the sink's batches: the runtime, librdkafka's own buffers, the
/// compressed objects being uploaded, the code.
const BASELINE_BYTES: u64 = 32 << 20;

/// Lowers `settings.max_bytes` so that the sink's batches fit `budget` beside `reserved` bytes
/// (e.g. the Kafka consumer's prefetch queue) and [`BASELINE_BYTES`].
///
/// The batches: one open batch per partition, and the `flushes_in_flight + 1` batches being
/// written, each of which is briefly held twice while it is split and compressed (its raw buffer,
/// which becomes its JSON lines in place, beside its DLQ lines or its compressed objects; at most
/// that many are split at once); everything else a write holds is compressed. So
/// `partitions + 2 × (flushes_in_flight + 1)` buffers of up to `max_bytes` each, and one spare
/// buffer kept for the next batch. A batch counts
/// against `max_bytes` what it costs once split, every message as the DLQ entry it would become if
/// rejected (escaped up to 6 bytes for 1, in an envelope), not its raw bytes: so its raw bytes, its
/// split lines and its compressed objects each fit one buffer, valid or not. A piece layout's
/// write holds [`Layout::extra_buffers`](crate::sink::layout::Layout::extra_buffers) more: the
/// pieces' bodies before compression (OCSF's JSON is 1.8× the records).
pub(crate) fn fit_memory_budget(settings: &mut SinkSettings, budget: u64, partitions: u64, reserved: u64) -> Result<(), UsageError> {
    let per_write = 2 + settings.layout.extra_buffers();
    // One more: the spare buffer a written batch leaves for the next (`sink::batch::Spare`).
    let buffers = partitions + per_write * (settings.flushes_in_flight as u64 + 1) + 1;
    let available = budget.saturating_sub(BASELINE_BYTES + reserved);
    let per_buffer = usize::try_from(available / buffers).unwrap_or(usize::MAX);
    match NonZeroUsize::new(per_buffer.min(settings.max_bytes.get())) {
        Some(max_bytes) if per_buffer >= 1 << 20 => {
            if max_bytes < settings.max_bytes {
                tracing::info!(
                    max_bytes = max_bytes.get(),
                    asked = settings.max_bytes.get(),
                    partitions,
                    "--max-bytes lowered to fit --memory-budget"
                );
            }
            settings.max_bytes = max_bytes;
            Ok(())
        }
        _ => Err(UsageError(format!(
            "--memory-budget {} MiB leaves less than 1 MiB per batch for {partitions} partitions and {} writes in flight \
             (after {} MiB for the process and its buffers): raise it, or lower --flushes-in-flight",
            budget >> 20,
            settings.flushes_in_flight,
            (BASELINE_BYTES + reserved) >> 20
        ))),
    }
}

pub(crate) fn parse_compression(text: &str) -> Result<Compression, String> {
    text.trim().parse::<Compression>().map_err(|error| error.to_string())
}

/// How to reach an `s3://` store; credentials come from the standard `AWS_*` variables or the
/// shared credentials file (`AWS_PROFILE`).
#[derive(Debug, Clone, Args)]
pub(crate) struct S3Args {
    /// S3-compatible endpoint for `s3://` stores, e.g. `http://127.0.0.1:19000` (default: AWS).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub(crate) s3_endpoint: Option<String>,

    /// Region of the bucket (default: AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long, env = "AWS_REGION")]
    pub(crate) s3_region: Option<String>,

    /// Virtual-hosted addressing (`bucket.host/key`) instead of path style (`host/bucket/key`).
    #[arg(long)]
    pub(crate) s3_virtual_hosted: bool,
}

/// Where batches land. `--store` is required here; `run` gives it a default.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Where batches land: a local directory, a `file://` URL or `s3://bucket/prefix`.
    #[arg(long, env = "NETCHAOS_STORE")]
    pub(crate) store: String,

    #[command(flatten)]
    pub(crate) s3: S3Args,
}

impl StoreArgs {
    /// Opens the store, or explains what was wrong with its name.
    pub(crate) fn open(&self) -> Result<Storage, UsageError> {
        open_store(&self.store, &self.s3)
    }
}

/// What the sinking process may use and how it reports: its memory, its metrics endpoint, its
/// status line and summary on stderr, and the summary as JSON on stdout.
#[derive(Debug, Args)]
pub(crate) struct ProcessArgs {
    /// Memory for the sink: batch buffers for every partition (with --brokers every partition of
    /// the topic, as this member may own them all), the writes in flight, the Kafka prefetch queue
    /// (an eighth, at most 64 MiB) and the process; `--max-bytes` is lowered to fit it.
    #[arg(long, env = "NETCHAOS_MEMORY_BUDGET", default_value = "512MiB", value_parser = parse_bytes)]
    pub(crate) memory_budget: u64,

    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,

    /// No live status line and no summary on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// Print the summary as one JSON object on stdout when done (also with --quiet); the README
    /// lists its fields.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Opens the store a user named, or explains what was wrong with the name.
pub(crate) fn open_store(url: &str, s3: &S3Args) -> Result<Storage, UsageError> {
    let options = S3Options { endpoint: s3.s3_endpoint.clone(), region: s3.s3_region.clone(), virtual_hosted: s3.s3_virtual_hosted };
    Storage::open(url, &options).map_err(|error| UsageError(format!("cannot open the store `{url}`: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn fitted(budget: u64, partitions: u64, reserved: u64, flushes_in_flight: usize) -> Result<usize, UsageError> {
        let mut settings = SinkSettings { flushes_in_flight, ..SinkSettings::new("t") };
        fit_memory_budget(&mut settings, budget, partitions, reserved).map(|()| settings.max_bytes.get())
    }

    #[test]
    fn the_memory_budget_lowers_max_bytes_to_fit_every_buffer() {
        // 6 partitions, 2 writes in flight: 6 open batches + 2 × 3 writing + 1 spare = 13 buffers.
        assert_eq!(fitted(512 * MIB, 6, 64 * MIB, 2).unwrap(), 32 << 20, "the default fits: unchanged");
        let max_bytes = fitted(160 * MIB, 6, 20 * MIB, 2).unwrap() as u64;
        assert_eq!(max_bytes, (160 - 32 - 20) * MIB / 13);
        assert!(max_bytes * 13 + 32 * MIB + 20 * MIB <= 160 * MIB);
        // More writes in flight, smaller batches.
        assert!(fitted(160 * MIB, 6, 20 * MIB, 4).unwrap() < max_bytes as usize);
        // OCSF's pieces are larger than the records: 6 + 2 × 3 + 2 × 3 + 1 buffers.
        let mut ocsf = SinkSettings { flushes_in_flight: 2, ..SinkSettings::new("t") };
        ocsf.layout.flows = crate::sink::layout::Output::Ocsf;
        ocsf.layout.firewall = crate::sink::layout::Output::Ocsf;
        fit_memory_budget(&mut ocsf, 160 * MIB, 6, 20 * MIB).unwrap();
        assert_eq!(ocsf.max_bytes.get() as u64, (160 - 32 - 20) * MIB / 19);
    }

    #[test]
    fn give_up_after_takes_a_bounded_duration_or_off() {
        assert_eq!(parse_give_up_after("3s"), Ok(GiveUpAfter(Some(Duration::from_secs(3)))));
        assert_eq!(parse_give_up_after("off"), Ok(GiveUpAfter(None)));
        assert_eq!(parse_give_up_after(" Never "), Ok(GiveUpAfter(None)));
        assert!(parse_give_up_after("500000000000y").unwrap_err().contains("longer than the 10y"));
        assert!(parse_give_up_after("soon").unwrap_err().contains("or `off`"));
        assert_eq!(
            parse_give_up_after("30m").map(|limit| limit.0),
            Ok(Some(RetryPolicy::DEFAULT_GIVE_UP_AFTER)),
            "the flag's default is the library's"
        );
    }

    #[test]
    fn a_budget_too_small_for_one_mib_per_batch_is_refused() {
        let error = fitted(40 * MIB, 6, 4 * MIB, 2).unwrap_err();
        assert!(error.0.contains("--memory-budget 40 MiB") && error.0.contains("raise it"), "{}", error.0);
    }
}
