//! The comparison of two profiles: one [`Row`] per measure, each with the two inputs' summaries,
//! the distance, and a verdict by thresholds stated in the row itself (`close` and `far`), so that
//! the table and the JSON say what "close" meant.
//!
//! Thresholds, and why (see `docs/fidelity.md` for the figures they were set against):
//! - total-variation distances: close ≤ 0.10, far > 0.30 (a tenth of the mass moved is what two
//!   seeds of netchaos differ by at most on a few thousand records);
//! - EMD of log1p values: close ≤ 0.25, far > 0.50 (natural-log units: 0.25 is a factor of 1.28
//!   in a typical size or duration, 0.5 a factor of 1.65; ×3 sizes move it by ln 3 ≈ 1.1);
//! - rank EMD over the larger mean rank: close ≤ 0.20, far > 0.50 (two seeds of netchaos differ
//!   by up to 0.17, mostly in how many external peers they draw);
//! - top-10 destination ports shared: close ≥ 7 of 10, far < 4 of 10;
//! - a domain check's pass share: close within 2 points of the reference, far beyond 10;
//! - per-minute autocorrelation, the largest difference over lags 1..k: close ≤ 0.2, far > 0.4;
//! - Hurst estimate: close within 0.1, far beyond 0.2 (0.5 is no long memory, 1 the most).

use serde::Serialize;

use super::checks::Check;
use super::distance::{autocorrelation, earth_movers, rank_earth_movers, total_variation};
use super::profile::{AddressCounts, NO_BYTE, NO_PORT, Profile, RESERVOIR_SEED, RESERVOIR_SIZE, Reservoir};
use crate::generator::hurst::aggregated_variance;

/// Ports from here up are one class ("ephemeral") in the port rows' verdict: Linux's default
/// `ip_local_port_range` starts at 32768 and IANA's dynamic range at 49152, so these are client
/// ports drawn at random, whose exact values two samples of the same traffic never share.
pub const EPHEMERAL_FROM: usize = 32_768;

/// What a row's verdict says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Close,
    Fair,
    Far,
    /// Not computed: the inputs are too short or hold nothing the measure applies to.
    NotApplicable,
}

/// Which way a row's figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// One measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// A stable name for machines: `dstport_tvd`, `check_dns_udp`, `hurst`...
    pub key: String,
    /// What the table prints.
    pub measure: String,
    /// The reference's own figure or summary, as printed.
    pub reference: String,
    pub candidate: String,
    /// Per-input figures where the measure has one (a check's pass share, H, lag-1 ACF).
    pub reference_value: Option<f64>,
    pub candidate_value: Option<f64>,
    /// The figure the verdict is on (a distance, or the top-10 overlap).
    pub distance: Option<f64>,
    /// NetShare's own figure where ours differs from it (exact-port TVD, raw-value EMD, raw rank EMD).
    pub netshare: Option<f64>,
    pub better: Better,
    /// The verdict's thresholds: close up to (or, for `higher`, from) `close`; far beyond `far`.
    pub close: f64,
    pub far: f64,
    pub verdict: Verdict,
}

/// One input, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSummary {
    pub name: String,
    pub flows: u64,
    /// Flows with an address pair (not NODATA / SKIPDATA).
    pub traffic: u64,
    pub firewall_skipped: u64,
    pub distinct_srcaddr: u64,
    pub distinct_dstaddr: u64,
    /// Over `MAX_TRACKED_ADDRESSES` distinct addresses: the rank figures are approximate.
    pub addresses_approximate: bool,
    /// More records than the reservoir holds: the EMD figures are on a sample.
    pub sizes_sampled: bool,
    pub minutes: usize,
}

/// How a comparison was made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub max_lag: usize,
    pub reservoir_size: usize,
    pub reservoir_seed: u64,
    pub ephemeral_ports_from: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub reference: InputSummary,
    pub candidate: InputSummary,
    pub settings: Settings,
    pub rows: Vec<Row>,
}

impl Report {
    /// How many rows have each verdict: (close, fair, far, not applicable).
    pub fn tally(&self) -> (usize, usize, usize, usize) {
        let count = |verdict: Verdict| self.rows.iter().filter(|row| row.verdict == verdict).count();
        (count(Verdict::Close), count(Verdict::Fair), count(Verdict::Far), count(Verdict::NotApplicable))
    }

    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.key == key)
    }
}

fn verdict(distance: Option<f64>, better: Better, close: f64, far: f64) -> Verdict {
    match (distance, better) {
        (None, _) => Verdict::NotApplicable,
        (Some(d), Better::Lower) if d <= close => Verdict::Close,
        (Some(d), Better::Lower) if d <= far => Verdict::Fair,
        (Some(_), Better::Lower) => Verdict::Far,
        (Some(d), Better::Higher) if d >= close => Verdict::Close,
        (Some(d), Better::Higher) if d >= far => Verdict::Fair,
        (Some(_), Better::Higher) => Verdict::Far,
    }
}

/// A row builder: the parts each measure fills in.
struct Figures {
    key: String,
    measure: String,
    reference: String,
    candidate: String,
    values: (Option<f64>, Option<f64>),
    distance: Option<f64>,
    netshare: Option<f64>,
}

fn row(figures: Figures, better: Better, close: f64, far: f64) -> Row {
    Row {
        key: figures.key,
        measure: figures.measure,
        reference: figures.reference,
        candidate: figures.candidate,
        reference_value: figures.values.0,
        candidate_value: figures.values.1,
        distance: figures.distance.filter(|d| d.is_finite()),
        netshare: figures.netshare,
        better,
        close,
        far,
        verdict: verdict(figures.distance.filter(|d| d.is_finite()), better, close, far),
    }
}

/// A categorical field: its key, the two inputs' counts, and how a category prints.
type Categorical<'a> = (&'a str, &'a [u64], &'a [u64], fn(usize) -> String);

/// Compares `candidate` with `reference`, autocorrelation over lags `1..=max_lag`.
pub fn compare(reference_name: &str, reference: &Profile, candidate_name: &str, candidate: &Profile, max_lag: usize) -> Report {
    let mut rows = Vec::new();
    for (key, label, ours, theirs) in
        [("srcaddr", "source", &reference.srcaddr, &candidate.srcaddr), ("dstaddr", "destination", &reference.dstaddr, &candidate.dstaddr)]
    {
        rows.push(rank_row(key, label, ours, theirs));
    }
    for (key, ours, theirs) in [("srcport", &reference.srcport, &candidate.srcport), ("dstport", &reference.dstport, &candidate.dstport)] {
        let exact = total_variation(ours, theirs);
        let merged = total_variation(&merge_ephemeral(ours), &merge_ephemeral(theirs));
        let figures = Figures {
            key: format!("{key}_tvd"),
            measure: format!("{key} TVD (ephemeral merged)"),
            reference: top_share(ours, port_label),
            candidate: top_share(theirs, port_label),
            values: (None, None),
            distance: Some(merged),
            netshare: Some(exact),
        };
        rows.push(row(figures, Better::Lower, 0.10, 0.30));
    }
    let categorical: [Categorical<'_>; 4] = [
        ("protocol", &reference.protocol, &candidate.protocol, protocol_label),
        ("action", &reference.action, &candidate.action, action_label),
        ("tcp_flags", &reference.tcp_flags, &candidate.tcp_flags, flags_label),
        ("log_status", &reference.log_status, &candidate.log_status, status_label),
    ];
    for (key, ours, theirs, label) in categorical {
        let figures = Figures {
            key: format!("{key}_tvd"),
            measure: format!("{key} TVD"),
            reference: top_share(ours, label),
            candidate: top_share(theirs, label),
            values: (None, None),
            distance: Some(total_variation(ours, theirs)),
            netshare: None,
        };
        rows.push(row(figures, Better::Lower, 0.10, 0.30));
    }
    for (key, unit, ours, theirs) in [
        ("duration", "s", &reference.duration_seconds, &candidate.duration_seconds),
        ("packets", "", &reference.packets, &candidate.packets),
        ("bytes", "", &reference.bytes, &candidate.bytes),
    ] {
        rows.push(emd_row(key, unit, ours, theirs));
    }
    rows.push(top_ports_row(&reference.dstport, &candidate.dstport));
    for check in Check::ALL {
        rows.push(check_row(check, reference, candidate));
    }
    let (reference_series, candidate_series) = (reference.per_minute(), candidate.per_minute());
    rows.push(autocorrelation_row(reference_series.as_deref(), candidate_series.as_deref(), max_lag));
    rows.push(hurst_row(reference_series.as_deref(), candidate_series.as_deref()));
    Report {
        reference: summary(reference_name, reference),
        candidate: summary(candidate_name, candidate),
        settings: Settings {
            max_lag,
            reservoir_size: RESERVOIR_SIZE,
            reservoir_seed: RESERVOIR_SEED,
            ephemeral_ports_from: EPHEMERAL_FROM,
        },
        rows,
    }
}

fn summary(name: &str, profile: &Profile) -> InputSummary {
    InputSummary {
        name: name.to_owned(),
        flows: profile.flows,
        traffic: profile.traffic,
        firewall_skipped: profile.firewall_skipped,
        distinct_srcaddr: profile.srcaddr.distinct(),
        distinct_dstaddr: profile.dstaddr.distinct(),
        addresses_approximate: profile.srcaddr.approximate() || profile.dstaddr.approximate(),
        sizes_sampled: profile.bytes.seen() > RESERVOIR_SIZE as u64 || profile.duration_seconds.seen() > RESERVOIR_SIZE as u64,
        minutes: profile.per_minute().map_or(0, |series| series.len()),
    }
}

fn rank_row(key: &str, label: &str, reference: &AddressCounts, candidate: &AddressCounts) -> Row {
    let (reference_sorted, candidate_sorted) = (reference.sorted(), candidate.sorted());
    let raw = rank_earth_movers(&reference_sorted, &candidate_sorted);
    // Raw ranks grow with the number of addresses: the verdict is on the EMD over the larger
    // mean rank (a record's expected rank), 0 for the same distribution, at most 2.
    let scale = mean_rank(&reference_sorted).max(mean_rank(&candidate_sorted)).max(1.0);
    let figures = Figures {
        key: format!("{key}_rank_emd"),
        measure: format!("{label} address rank EMD / mean rank"),
        reference: format!("{} addresses", reference.distinct()),
        candidate: format!("{} addresses", candidate.distinct()),
        values: (None, None),
        distance: Some(raw / scale),
        netshare: Some(raw),
    };
    row(figures, Better::Lower, 0.20, 0.50)
}

/// The mean rank of a record, ranks from 1 for the most frequent address.
fn mean_rank(sorted: &[u64]) -> f64 {
    let total: u64 = sorted.iter().sum();
    let weighted: f64 = sorted.iter().enumerate().map(|(at, count)| (at + 1) as f64 * *count as f64).sum();
    if total == 0 { 0.0 } else { weighted / total as f64 }
}

fn emd_row(key: &str, unit: &str, reference: &Reservoir, candidate: &Reservoir) -> Row {
    let log = |values: &[f64]| values.iter().map(|value| value.ln_1p()).collect::<Vec<f64>>();
    let (mut reference_log, mut candidate_log) = (log(reference.values()), log(candidate.values()));
    let empty = reference_log.is_empty() || candidate_log.is_empty();
    let distance = (!empty).then(|| earth_movers(&mut reference_log, &mut candidate_log));
    let raw = (!empty).then(|| earth_movers(&mut reference.values().to_vec(), &mut candidate.values().to_vec()));
    let figures = Figures {
        key: format!("{key}_emd"),
        measure: format!("{key} EMD (log1p)"),
        reference: median(reference.values()).map_or("-".into(), |m| format!("median {}{unit}", compact(m))),
        candidate: median(candidate.values()).map_or("-".into(), |m| format!("median {}{unit}", compact(m))),
        values: (None, None),
        distance,
        netshare: raw,
    };
    row(figures, Better::Lower, 0.25, 0.50)
}

fn top_ports_row(reference: &[u64], candidate: &[u64]) -> Row {
    let (ours, theirs) = (top_ports(reference, 10), top_ports(candidate, 10));
    let shared = ours.iter().filter(|port| theirs.contains(port)).count();
    let out_of = ours.len().max(theirs.len());
    let list = |ports: &[usize]| {
        ports.iter().take(5).map(|port| port.to_string()).collect::<Vec<_>>().join(",") + if ports.len() > 5 { ",…" } else { "" }
    };
    let figures = Figures {
        key: "dstport_top10_overlap".into(),
        measure: "top-10 dstport shared".into(),
        reference: list(&ours),
        candidate: list(&theirs),
        values: (None, None),
        distance: (out_of > 0).then(|| shared as f64 / out_of as f64),
        netshare: None,
    };
    row(figures, Better::Higher, 0.7, 0.4)
}

fn check_row(check: Check, reference: &Profile, candidate: &Profile) -> Row {
    let share = |profile: &Profile| {
        let (applicable, passed) = profile.checks.of(check);
        (applicable > 0).then(|| passed as f64 / applicable as f64)
    };
    let text = |profile: &Profile| {
        let (applicable, passed) = profile.checks.of(check);
        if applicable == 0 { "none apply".to_owned() } else { format!("{:.1}% of {applicable}", 100.0 * passed as f64 / applicable as f64) }
    };
    let (ours, theirs) = (share(reference), share(candidate));
    let key = serde_json::to_value(check).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default();
    let figures = Figures {
        key: format!("check_{key}"),
        measure: check.rule().into(),
        reference: text(reference),
        candidate: text(candidate),
        values: (ours, theirs),
        distance: ours.zip(theirs).map(|(a, b)| (a - b).abs()),
        netshare: None,
    };
    row(figures, Better::Lower, 0.02, 0.10)
}

/// The fewest minutes an autocorrelation is computed on.
const MIN_ACF_MINUTES: usize = 30;

fn autocorrelation_row(reference: Option<&[f64]>, candidate: Option<&[f64]>, max_lag: usize) -> Row {
    // A few minutes give an autocorrelation of noise (any 2 minutes give r1 = -0.5): none is
    // computed below half an hour, or three times the largest lag.
    let enough = MIN_ACF_MINUTES.max(3 * max_lag);
    let acf = |series: Option<&[f64]>| {
        series.filter(|series| series.len() >= enough).map(|series| autocorrelation(series, max_lag)).unwrap_or_default()
    };
    let (ours, theirs) = (acf(reference), acf(candidate));
    let distance = ours.iter().zip(&theirs).filter_map(|(a, b)| Some((a.as_ref()? - b.as_ref()?).abs())).reduce(f64::max);
    let lag1 = |acf: &[Option<f64>]| acf.first().copied().flatten();
    let text = |acf: &[Option<f64>], series: Option<&[f64]>| {
        lag1(acf).map_or("too short".to_owned(), |r| format!("r1 {r:.2} ({} min)", series.map_or(0, <[f64]>::len)))
    };
    let figures = Figures {
        key: "per_minute_acf".into(),
        measure: format!("per-minute count ACF, max |Δ| lag 1..{max_lag}"),
        reference: text(&ours, reference),
        candidate: text(&theirs, candidate),
        values: (lag1(&ours), lag1(&theirs)),
        distance,
        netshare: None,
    };
    row(figures, Better::Lower, 0.2, 0.4)
}

fn hurst_row(reference: Option<&[f64]>, candidate: Option<&[f64]>) -> Row {
    let hurst = |series: Option<&[f64]>| series.and_then(|series| aggregated_variance(series, 1));
    let (ours, theirs) = (hurst(reference), hurst(candidate));
    let text = |h: Option<f64>| h.map_or("too short".to_owned(), |h| format!("H {h:.2}"));
    let figures = Figures {
        key: "hurst".into(),
        measure: "Hurst, per-minute counts (agg. variance)".into(),
        reference: text(ours),
        candidate: text(theirs),
        values: (ours, theirs),
        distance: ours.zip(theirs).map(|(a, b)| (a - b).abs()),
        netshare: None,
    };
    row(figures, Better::Lower, 0.1, 0.2)
}

fn merge_ephemeral(ports: &[u64]) -> Vec<u64> {
    let mut merged = ports[..EPHEMERAL_FROM].to_vec();
    merged.push(ports[EPHEMERAL_FROM..NO_PORT].iter().sum());
    merged.push(ports[NO_PORT]);
    merged
}

/// The `k` most frequent destination ports (not "none"), ties to the lower port.
fn top_ports(ports: &[u64], k: usize) -> Vec<usize> {
    let mut seen: Vec<(usize, u64)> = ports[..NO_PORT].iter().copied().enumerate().filter(|(_, count)| *count > 0).collect();
    seen.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    seen.into_iter().take(k).map(|(port, _)| port).collect()
}

fn top_share(counts: &[u64], label: fn(usize) -> String) -> String {
    let total: u64 = counts.iter().sum();
    let top = counts.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
    match top {
        Some((category, &count)) if total > 0 => format!("{} {:.0}%", label(category), 100.0 * count as f64 / total as f64),
        _ => "-".into(),
    }
}

fn port_label(port: usize) -> String {
    if port == NO_PORT { "none".into() } else { format!(":{port}") }
}

fn protocol_label(number: usize) -> String {
    match number {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        NO_BYTE => "none".into(),
        other => other.to_string(),
    }
}

fn action_label(at: usize) -> String {
    ["ACCEPT", "REJECT", "none"].get(at).copied().unwrap_or("?").into()
}

fn flags_label(flags: usize) -> String {
    if flags == NO_BYTE { "none".into() } else { format!("flags {flags}") }
}

fn status_label(at: usize) -> String {
    ["OK", "NODATA", "SKIPDATA", "none"].get(at).copied().unwrap_or("?").into()
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// 1234 → "1234", 1234567 → "1.2M".
fn compact(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e4 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}
