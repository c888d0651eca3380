//! `netchaos score`: a detector's alerts (or scores) against a run's ground truth. Exit 0, or 1
//! when a `--min-recall` / `--max-fp-per-hour` gate fails; 2 for bad input.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::score::matching::MatchMode;
use crate::score::truth::{Episode, Records, read_episodes};
use crate::score::{Input, ScoreError, Settings, alerts, report};

use super::UsageError;
use super::args::parse_duration;
use super::sink_args::{S3Args, open_store};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos score --alerts alerts.jsonl --episodes episodes.jsonl
  netchaos score --alerts alerts.jsonl --store ./netchaos-data          # episodes and records from the store
  netchaos score --scores scores.jsonl --store ./netchaos-data --json
  netchaos score --alerts alerts.jsonl --store ./lake --min-recall 0.9 --max-fp-per-hour 5   # a CI gate

Exit codes:
  0  scored (and the gates hold)
  1  a --min-recall or --max-fp-per-hour gate failed, or the store could not be reached
  2  bad input: a malformed alert, an alert with nothing to match on, an episodes file of another
     run, a store holding an object that cannot be read to its end";

#[derive(Debug, Args)]
pub(crate) struct ScoreArgs {
    /// The detector's alerts: JSON lines in the schema of docs/score.md, or OCSF Detection
    /// Findings (class 2004); `-` for stdin.
    #[arg(long)]
    alerts: Option<PathBuf>,
    /// Scores instead of (or beside) alerts: lines of `{event_id, score}` or
    /// `{time | window_start, entity?, score}`.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// The run's episodes file (default with --store: the episodes the store holds).
    #[arg(long)]
    episodes: Option<PathBuf>,
    /// The store the run landed in: its records (for event ids and damage) and episodes.
    #[arg(long, env = "NETCHAOS_STORE", conflicts_with = "records")]
    store: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// The run's records as JSON lines, instead of a store.
    #[arg(long)]
    records: Option<PathBuf>,
    /// The weakest matching rule: `entity` (event ids, else time and entity) or `time` (also
    /// time alone, for alerts without an entity).
    #[arg(long = "match", value_enum, default_value = "entity")]
    match_mode: MatchMode,
    /// The flow logs' aggregation window: the collar after an episode in which its records are
    /// still logged.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    window: Duration,
    /// Extra collar after an episode, beyond one window.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    slack: Duration,
    /// The run's logical span, `START..END` (RFC 3339); default: that of the records (with the
    /// store or records), else of the episodes and alerts.
    #[arg(long)]
    span: Option<String>,
    /// The time step of the ML metrics.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    bin: Duration,
    /// The width of a `window_start` score.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    score_window: Duration,
    /// VUS's largest buffer, in time steps (or records, for scores by event id).
    #[arg(long, default_value_t = 60)]
    vus_window: usize,
    /// A score at or above this is a positive, for P/R/F1 from scores.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Also print point-adjusted F1, labelled as inflated (a random detector can win it).
    #[arg(long)]
    legacy_pa: bool,
    /// Rounds of the random detector (the floor); 0 for none.
    #[arg(long, default_value_t = 5)]
    random_rounds: u32,
    /// The random detector's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write one CSV row per episode (episode, kind, difficulty, detected, time to detect, alerts,
    /// damage share).
    #[arg(long, value_name = "FILE.csv")]
    per_episode: Option<PathBuf>,
    /// Write one JSON line per alert: what it matched, and by which rule.
    #[arg(long, value_name = "FILE")]
    matches: Option<PathBuf>,
    /// Exit 1 unless the overall recall (episodes detected) is at least this.
    #[arg(long)]
    min_recall: Option<f64>,
    /// Exit 1 unless the overall false alerts per logical hour are at most this.
    #[arg(long)]
    max_fp_per_hour: Option<f64>,
}

pub(crate) fn run(args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    check_flags(args)?;
    let storage = match &args.store {
        Some(store) => {
            let local = store.strip_prefix("file://").unwrap_or(store);
            if (!store.contains("://") || store.starts_with("file://")) && !Path::new(local).is_dir() {
                return Err(UsageError(format!("there is no store at {store}: check --store")).into());
            }
            Some(open_store(store, &args.s3)?)
        }
        None => None,
    };
    let runtime = crate::runtime::start(2)?;
    let episodes = match (&args.episodes, &storage) {
        (Some(path), _) => read_episodes(&read_input(path, "--episodes")?, &path.display().to_string()).map_err(usage)?,
        (None, Some(storage)) => runtime.block_on(stored_episodes(storage))?,
        (None, None) => return Err(UsageError("give --episodes FILE (or --store, whose episodes are used)".into()).into()),
    };
    let records = match (&args.records, &storage) {
        (Some(path), _) => Some(read_records(path, &episodes)?),
        (None, Some(storage)) => Some(runtime.block_on(stored_records(storage, &episodes))?),
        (None, None) => None,
    };
    let alerts = match &args.alerts {
        Some(path) => alerts::read_alerts(&read_input(path, "--alerts")?, &path.display().to_string()).map_err(usage)?,
        None => Vec::new(),
    };
    let scores = match &args.scores {
        Some(path) => Some(alerts::read_scores(&read_input(path, "--scores")?, &path.display().to_string()).map_err(usage)?),
        None => None,
    };
    let span = match &args.span {
        Some(text) => parse_span(text)?,
        None => default_span(&episodes, records.as_ref(), &alerts),
    };
    if !episodes.iter().any(|episode| episode.start_ms <= span.1 && episode.end_ms >= span.0) {
        return Err(UsageError(format!(
            "the span {}..{} holds none of the run's episodes: give the --span of the run (or leave it out)",
            crate::records::Timestamp::from_unix_millis(span.0),
            crate::records::Timestamp::from_unix_millis(span.1)
        ))
        .into());
    }
    let settings = Settings {
        collar_ms: millis(args.window) + millis(args.slack),
        mode: args.match_mode,
        span,
        bin_ms: millis(args.bin).max(1),
        window_ms: millis(args.score_window).max(1),
        vus_window: args.vus_window,
        threshold: args.threshold,
        legacy_pa: args.legacy_pa,
        random_rounds: args.random_rounds,
        seed: args.seed,
    };
    let input = Input { episodes: &episodes, records: records.as_ref(), alerts: &alerts, scores: scores.as_ref() };
    let (report, matched) = crate::score::score(&input, &settings).map_err(usage)?;
    if let Some(path) = &args.per_episode {
        std::fs::write(path, report::per_episode_csv(&input, &matched)).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.matches {
        std::fs::write(path, report::matches(&input, &matched)).with_context(|| format!("writing {}", path.display()))?;
    }
    let text = if args.json { serde_json::to_string_pretty(&report).context("encoding the report")? } else { report.table() };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    gates(args, report.overall())
}

fn check_flags(args: &ScoreArgs) -> Result<(), UsageError> {
    if args.alerts.is_none() && args.scores.is_none() {
        return Err(UsageError("give --alerts FILE or --scores FILE: what the detector said".into()));
    }
    let stdin =
        [&args.alerts, &args.scores, &args.episodes, &args.records].iter().filter(|path| path.as_deref() == Some(Path::new("-"))).count();
    if stdin > 1 {
        return Err(UsageError("only one of --alerts, --scores, --episodes and --records can read stdin (`-`)".into()));
    }
    if let Some(value) = args.min_recall.filter(|value| !(0.0..=1.0).contains(value)) {
        return Err(UsageError(format!("--min-recall {value} is not a fraction between 0 and 1")));
    }
    if !args.threshold.is_finite() {
        return Err(UsageError(format!("--threshold {} is not a finite score", args.threshold)));
    }
    for (flag, value) in [("--bin", args.bin), ("--score-window", args.score_window)] {
        if value.as_millis() == 0 {
            return Err(UsageError(format!("{flag} 0 is no time step: give at least 1ms (e.g. 1s)")));
        }
    }
    if let Some(value) = args.max_fp_per_hour.filter(|value| !value.is_finite() || *value < 0.0) {
        return Err(UsageError(format!("--max-fp-per-hour {value} is not a number of alerts per hour, 0 or more")));
    }
    if args.vus_window == 0 || args.vus_window > 100_000 {
        return Err(UsageError(format!("--vus-window {} is outside 1-100000 time steps", args.vus_window)));
    }
    if args.random_rounds > 1_000 {
        return Err(UsageError(format!("--random-rounds {} is more than 1000: a few rounds give a steady floor", args.random_rounds)));
    }
    Ok(())
}

/// 0, or 1 with a line per failed gate.
fn gates(args: &ScoreArgs, overall: &crate::score::soc::Soc) -> anyhow::Result<ExitCode> {
    let mut failed = Vec::new();
    if let Some(minimum) = args.min_recall {
        let recall = overall.recall.unwrap_or(0.0);
        if recall < minimum {
            failed.push(format!("recall {recall:.3} is below --min-recall {minimum}"));
        }
    }
    if let Some(maximum) = args.max_fp_per_hour
        && overall.false_alerts_per_hour > maximum
    {
        failed.push(format!("{:.2} false alerts per hour is above --max-fp-per-hour {maximum}", overall.false_alerts_per_hour));
    }
    for line in &failed {
        let _ = writeln!(std::io::stderr(), "netchaos: gate failed: {line}");
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn usage(error: ScoreError) -> anyhow::Error {
    UsageError(error.to_string()).into()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// A file's text (`-`: stdin), gzip-decompressed when it ends in `.gz`.
fn read_input(path: &Path, flag: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
    } else {
        bytes = std::fs::read(path).map_err(|error| UsageError(format!("cannot read {flag} {}: {error}", path.display())))?;
    }
    if path.extension().is_some_and(|extension| extension == "gz") {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .map_err(|error| UsageError(format!("{flag} {} is not gzip: {error}", path.display())))?;
        bytes = plain;
    }
    let text = String::from_utf8(bytes).map_err(|_| UsageError(format!("{flag} {} is not UTF-8 text: give JSON lines", path.display())))?;
    // A byte-order mark, as some Windows tools write, is not part of the first line.
    Ok(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
}

fn episode_index(episodes: &[Episode]) -> HashMap<&str, u32> {
    episodes.iter().enumerate().map(|(index, episode)| (episode.id.as_str(), index as u32)).collect()
}

/// The run's records, read a line at a time (a day's records need not fit in memory as text).
fn read_records(path: &Path, episodes: &[Episode]) -> anyhow::Result<Records> {
    use std::io::BufRead;
    let name = path.display().to_string();
    let file: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|error| UsageError(format!("cannot read --records {name}: {error}")))?)
    };
    let plain: Box<dyn Read> =
        if path.extension().is_some_and(|extension| extension == "gz") { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { file };
    let index = episode_index(episodes);
    let mut records = Records::new(episodes);
    let mut reader = std::io::BufReader::with_capacity(1 << 16, plain);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|error| UsageError(format!("cannot read --records {name}: {error}")))?;
        if read == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        records.add(text, &index, &|| format!("{name}:{number}")).map_err(usage)?;
    }
    records.finish();
    Ok(records)
}

async fn stored_episodes(storage: &crate::sink::Storage) -> anyhow::Result<Vec<Episode>> {
    let mut episodes = Vec::new();
    for (key, _) in storage.list("episodes/").await.context("listing the store's episodes")? {
        let body = storage.get(&key).await.context("reading the store's episodes")?;
        let text = String::from_utf8(body.to_vec()).map_err(|_| UsageError(format!("{key} is not UTF-8")))?;
        episodes.extend(read_episodes(&text, &key).map_err(usage)?);
    }
    if episodes.is_empty() {
        return Err(UsageError("the store holds no episodes (under episodes/): give --episodes FILE".into()).into());
    }
    crate::score::truth::check_unique(&episodes, "the store's episodes/").map_err(usage)?;
    Ok(episodes)
}

async fn stored_records(storage: &crate::sink::Storage, episodes: &[Episode]) -> anyhow::Result<Records> {
    let index = episode_index(episodes);
    let mut records = Records::new(episodes);
    let mut failure = None;
    let mut count = 0u64;
    crate::verify::for_each_record(storage, |line| {
        count += 1;
        if failure.is_none() {
            failure = records.add(line, &index, &|| format!("stored record {count}")).err();
        }
    })
    .await
    .map_err(|error| UsageError(error.to_string()))?;
    if let Some(error) = failure {
        return Err(usage(error));
    }
    records.finish();
    Ok(records)
}

fn parse_span(text: &str) -> anyhow::Result<(i64, i64)> {
    let wrong = || UsageError(format!("--span `{text}` is not START..END in RFC 3339 (2026-01-01T00:00:00Z..2026-01-02T00:00:00Z)"));
    let (start, end) = text.split_once("..").ok_or_else(wrong)?;
    let start = alerts::parse_rfc3339(start.trim()).ok_or_else(wrong)?;
    let end = alerts::parse_rfc3339(end.trim()).ok_or_else(wrong)?;
    if end <= start {
        return Err(UsageError(format!("--span `{text}` is empty or ends before it starts: give START..END with END later")).into());
    }
    Ok((start, end))
}

/// The records' span (widened to the episodes'), else the episodes' and alerts'.
fn default_span(episodes: &[Episode], records: Option<&Records>, alerts: &[alerts::Alert]) -> (i64, i64) {
    let mut span = (i64::MAX, i64::MIN);
    let mut widen = |start: i64, end: i64| span = (span.0.min(start), span.1.max(end));
    for episode in episodes.iter() {
        widen(episode.start_ms, episode.end_ms);
    }
    match records.and_then(|records| records.span) {
        Some((start, end)) => widen(start, end),
        None => alerts.iter().filter_map(|alert| alert.span).for_each(|(start, end)| widen(start, end)),
    }
    (span.0, span.1.max(span.0 + 1))
}
