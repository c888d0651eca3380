//! Object compression: gzip (the default), zstd or none, chosen per sink and told apart by the
//! object key's extension (`.json.gz`, `.json.zst`, `.json`).
//!
//! Gzip is libdeflate in members compressed on every core ([`super::gzip`]), levels 0 (stored)
//! to 9 ([`GZIP_MAX_LEVEL`]). Measured on 60,000 netchaos records (43 MB) by
//! `scripts/bench-compression`, which keeps the whole curve in `docs/compression-curve.csv` and
//! `docs/compression-curve.svg` (2 cores, AMD EPYC VM; MB/s is wall time on both cores for gzip,
//! one core for zstd; the curve of 2026-12-06's evening, the `sink --from` times of its morning):
//!
//! | codec   | ratio | MB/s | whole `sink --from`, 200,000 records |
//! |---------|-------|------|------|
//! | gzip 2  | 12.1  | 698  | 0.47 s, 11.9 MB |
//! | gzip 4  | 13.2  | 629  | 0.51 s, 10.9 MB |
//! | gzip 5  | 14.2  | 583  | 0.53 s, 10.2 MB |
//! | gzip 6  | 15.2  | 444  | 0.64 s,  9.5 MB |
//! | gzip 7  | 15.9  | 301  | |
//! | gzip 9  | 16.7  | 181  | |
//! | zstd 3  | 17.6  | 885  | |
//!
//! The default is gzip 5 ([`GZIP_LEVEL`], why there). Where gzip is the bottleneck and the
//! readers allow it, zstd (level 3, its default) beats it on both ratio and speed. An empty input
//! compresses to a valid empty stream (a 23-byte gzip member, a 9-byte zstd frame, a 0-byte
//! file), which is what lets the sink write a data object for a batch that held only invalid
//! records.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::gzip;

/// Default gzip level, the knee of the measured curve (the table above): from 4 to 5 the store
/// shrinks 7 % for 4 % of the sink's speed, from 5 to 6 it shrinks 7 % more for 15 %, and from 6
/// to 7 5 % for half the speed. Level 5 stores 25 % less than the old default (zlib level 2,
/// 10.6×) at nearly its speed. `--compression-level 6` comes within 2.5 % of zlib's level 6 on the
/// same batch, 7 beats it.
pub const GZIP_LEVEL: u32 = 5;

/// The highest gzip level the sink takes. libdeflate goes to 12, but on our records its levels
/// 10–12 store no less than 8–9 (10 stores more) at 5–33 MB/s, and each of their compressors
/// holds ~9 MB of state that the memory budget does not count.
pub const GZIP_MAX_LEVEL: i32 = 9;

/// The gzip level for a sink's `--compression-level`: the default when none, else clamped to
/// 0–[`GZIP_MAX_LEVEL`].
pub fn gzip_level(level: Option<i32>) -> u32 {
    level.map_or(GZIP_LEVEL, |level| level.clamp(0, GZIP_MAX_LEVEL) as u32)
}

/// Default zstd level: the zstd default.
pub const ZSTD_LEVEL: i32 = 3;

/// How objects are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub const ALL: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::None];

    /// The object key's extension, including `.json`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => ".json.gz",
            Compression::Zstd => ".json.zst",
            Compression::None => ".json",
        }
    }

    /// The codec named by a key's extension; `None` when the key is not a JSON-lines object.
    pub fn from_key(key: &str) -> Option<Compression> {
        // Longest extensions first: every key ending in `.json.gz` does not end in `.json`, but
        // checking `.json` last keeps the intent obvious.
        [Compression::Gzip, Compression::Zstd, Compression::None].into_iter().find(|codec| key.ends_with(codec.extension()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// Compresses a whole batch at the default level.
    pub fn compress(self, plain: &[u8]) -> std::io::Result<Vec<u8>> {
        self.compress_at(plain, None)
    }

    /// Compresses a whole batch at `level` (gzip 0–9, clamped; zstd 1–22), or the codec's default.
    pub fn compress_at(self, plain: &[u8], level: Option<i32>) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::Gzip => gzip::compress(plain, gzip_level(level), gzip::MEMBER_BYTES, gzip::default_threads()),
            Compression::Zstd => zstd::stream::encode_all(plain, level.unwrap_or(ZSTD_LEVEL)),
            Compression::None => Ok(plain.to_vec()),
        }
    }

    /// Decompresses a whole object (every gzip member / zstd frame, in order).
    pub fn decompress(self, compressed: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::Gzip => {
                let mut plain = Vec::with_capacity(compressed.len() * 8);
                flate2::read::MultiGzDecoder::new(compressed).read_to_end(&mut plain)?;
                Ok(plain)
            }
            Compression::Zstd => zstd::stream::decode_all(compressed),
            Compression::None => Ok(compressed.to_vec()),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compression name that is not `gzip`, `zstd` or `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression `{0}`: use gzip, zstd or none")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "gzip" | "gz" => Ok(Compression::Gzip),
            "zstd" | "zst" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            _ => Err(UnknownCompression(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_gzip_level_is_the_default_when_none_and_clamped_to_the_sinks_range() {
        assert_eq!(gzip_level(None), GZIP_LEVEL);
        assert_eq!(gzip_level(Some(6)), 6);
        assert_eq!(gzip_level(Some(12)), GZIP_MAX_LEVEL as u32);
        assert_eq!(gzip_level(Some(-3)), 0);
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..20_000)) {
            for codec in Compression::ALL {
                let compressed = codec.compress(&plain).unwrap();
                prop_assert_eq!(codec.decompress(&compressed).unwrap(), plain.clone(), "{}", codec);
            }
        }

        #[test]
        fn json_lines_round_trip(lines in proptest::collection::vec("[ -~]{0,200}", 0..200)) {
            let plain: Vec<u8> = lines.iter().flat_map(|line| line.bytes().chain([b'\n'])).collect();
            for codec in Compression::ALL {
                let compressed = codec.compress(&plain).unwrap();
                prop_assert_eq!(codec.decompress(&compressed).unwrap(), plain.clone());
            }
        }
    }

    #[test]
    fn empty_input_is_a_valid_empty_stream() {
        for codec in Compression::ALL {
            let compressed = codec.compress(b"").unwrap();
            assert_eq!(codec.decompress(&compressed).unwrap(), b"");
        }
        assert_eq!(
            Compression::Gzip.compress(b"").unwrap().len(),
            23,
            "an empty gzip object is a header, one empty block (libdeflate writes 5 bytes), a trailer"
        );
        assert_eq!(Compression::Zstd.compress(b"").unwrap().len(), 9, "an empty zstd object is one empty frame");
        assert_eq!(Compression::None.compress(b"").unwrap().len(), 0);
    }

    #[test]
    fn extension_names_the_codec() {
        for codec in Compression::ALL {
            let key = format!("data/part-00000-1-2{}", codec.extension());
            assert_eq!(Compression::from_key(&key), Some(codec));
        }
        assert_eq!(Compression::from_key("data/part.json.bz2"), None);
        assert_eq!(Compression::from_key("manifests/manifest.txt"), None);
    }

    #[test]
    fn parses_names() {
        assert_eq!("gzip".parse::<Compression>(), Ok(Compression::Gzip));
        assert_eq!("ZSTD".parse::<Compression>(), Ok(Compression::Zstd));
        assert_eq!("none".parse::<Compression>(), Ok(Compression::None));
        assert!("lz4".parse::<Compression>().unwrap_err().to_string().contains("use gzip, zstd or none"));
    }
}
