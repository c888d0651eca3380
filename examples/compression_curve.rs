//! The compression curve behind the sink's default gzip level (issue 18): for each codec and
//! level, the ratio and the speed on netchaos's own records, as CSV on stdout.
//!
//!   cargo run --release --example compression_curve -- RECORDS.jsonl [ROUNDS]
//!
//! Codecs: `zlib` (gzip through flate2 and zlib-rs, the sink's codec before issue 18, and the
//! same deflate as the original design's Python `gzip`), `libdeflate` (one member, one thread),
//! `netchaos` (what the sink ships: libdeflate in 4 MiB members on every core) and `zstd`. Each
//! round times every setting once, in turn, so that drift on the machine spreads over all of
//! them; the figures are medians. `records_per_s` is per core for the one-thread codecs and the
//! wall rate for `netchaos`. `scripts/bench-compression` runs this and draws the plot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Instant;

use netchaos::sink::gzip;

#[derive(Clone, Copy)]
enum Codec {
    Zlib,
    Libdeflate,
    Netchaos,
    Zstd,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Zlib => "zlib",
            Codec::Libdeflate => "libdeflate",
            Codec::Netchaos => "netchaos",
            Codec::Zstd => "zstd",
        }
    }

    fn compress(self, plain: &[u8], level: u32) -> Vec<u8> {
        match self {
            Codec::Zlib => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                encoder.write_all(plain).unwrap();
                encoder.finish().unwrap()
            }
            Codec::Libdeflate => gzip::compress(plain, level, usize::MAX, 1).unwrap(),
            Codec::Netchaos => gzip::compress(plain, level, gzip::MEMBER_BYTES, gzip::default_threads()).unwrap(),
            Codec::Zstd => zstd::stream::encode_all(plain, level as i32).unwrap(),
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: compression_curve RECORDS.jsonl [ROUNDS]");
    let rounds: usize = args.next().map_or(3, |rounds| rounds.parse().expect("ROUNDS is a number"));
    let plain = std::fs::read(&path).expect("read the records");
    let records = memchr::memchr_iter(b'\n', &plain).count() as f64;
    let mut settings = Vec::new();
    settings.extend((1..=9).map(|level| (Codec::Zlib, level)));
    settings.extend((1..=12).map(|level| (Codec::Libdeflate, level)));
    settings.extend((1..=12).map(|level| (Codec::Netchaos, level)));
    settings.extend([1, 3, 6, 9, 12, 15].map(|level| (Codec::Zstd, level)));
    let mut seconds = vec![Vec::new(); settings.len()];
    let mut sizes = vec![0usize; settings.len()];
    for round in 0..rounds {
        for (index, (codec, level)) in settings.iter().enumerate() {
            let started = Instant::now();
            let compressed = codec.compress(&plain, *level);
            seconds[index].push(started.elapsed().as_secs_f64());
            sizes[index] = compressed.len();
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!("codec,level,ratio,mb_per_s,records_per_s,compressed_bytes");
    for (index, (codec, level)) in settings.iter().enumerate() {
        seconds[index].sort_by(f64::total_cmp);
        let median = seconds[index][seconds[index].len() / 2];
        println!(
            "{},{level},{:.3},{:.1},{:.0},{}",
            codec.name(),
            plain.len() as f64 / sizes[index] as f64,
            plain.len() as f64 / median / 1e6,
            records / median,
            sizes[index]
        );
    }
}
