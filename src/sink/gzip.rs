//! Gzip through libdeflate, a batch cut into members that are compressed in parallel.
//!
//! A gzip file may hold several members back to back (RFC 1952, 2.2), and every reader we ship
//! to reads them as one stream (the test
//! `tests/it/gzip_readers.rs::multi_member_gzip_objects_read_whole_in_every_tool` reads a sink's
//! object with zcat, Python's `gzip`, pandas and DuckDB; Athena and Spark read them through
//! Hadoop's gzip codec, which is not tested here). So a batch is cut, at a line end after every
//! [`MEMBER_BYTES`], into members that are independent deflate streams, and those are compressed on up to `threads` threads at once:
//! a 32 MiB batch compresses in about half the wall time on two cores. Each member holds whole
//! lines. What the cut costs in ratio is the 32 KiB window that each member starts without and
//! 18 bytes of header and trailer: about 0.3 % at 4 MiB (measured in `scripts/bench-compression`).
//!
//! libdeflate compresses a whole buffer at a time. On one core it is no faster than zlib-rs at the
//! same ratio on our records: libdeflate 6 and zlib 5 both store 15.2×, at 239 and 260 MB/s
//! (`docs/compression-curve.csv`, zlib-rs with its CPU detection). What makes the sink's gzip fast
//! is the members on every core.
//! Its levels run 0 (stored) to 12; the sink takes 0–9 (10–12 are 18× slower and more, for
//! little or nothing, and need ~9 MB of state per thread).

use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use libdeflater::{CompressionLvl, Compressor};

/// Plain bytes per member, before the cut moves to the next line end.
pub const MEMBER_BYTES: usize = 4 << 20;

/// The highest libdeflate level.
pub const MAX_LEVEL: u32 = 12;

/// How many threads one batch is compressed on: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Compresses `plain` as gzip at `level` (0–12, clamped), in members of about `member_bytes`
/// cut at line ends, on up to `threads` threads (the calling one among them). The members are in
/// order: decompressed back to back they are `plain`. An empty input is one empty member.
///
/// Memory: each member is compressed into a zeroed buffer of its compress bound (calloc, whose
/// untouched pages are never resident) and kept at its compressed size, then the members are
/// joined; a batch so costs its compressed size twice at most, beside the plain bytes.
pub fn compress(plain: &[u8], level: u32, member_bytes: usize, threads: usize) -> io::Result<Vec<u8>> {
    let level = CompressionLvl::new(level.min(MAX_LEVEL) as i32).map_err(|_| io::Error::other("gzip level out of range"))?;
    let members = cut(plain, member_bytes);
    let threads = threads.clamp(1, members.len());
    let next = AtomicUsize::new(0);
    // Takes members off the shared counter until none is left.
    let work = || -> io::Result<Done> {
        let mut compressor = Compressor::new(level);
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(member) = members.get(index) else { return Ok(done) };
            done.push((index, compress_member(&mut compressor, member)?));
        }
    };
    let compressed: Vec<io::Result<Done>> = std::thread::scope(|scope| {
        // A thread that cannot be started leaves its share to the others and the calling one.
        let helpers: Vec<_> =
            (1..threads).filter_map(|_| std::thread::Builder::new().name("gzip".into()).spawn_scoped(scope, work).ok()).collect();
        let mut compressed = vec![work()];
        compressed
            .extend(helpers.into_iter().map(|handle| handle.join().unwrap_or_else(|_| Err(io::Error::other("a gzip thread panicked")))));
        compressed
    });
    let mut ordered: Vec<Vec<u8>> = vec![Vec::new(); members.len()];
    for done in compressed {
        for (index, bytes) in done? {
            ordered[index] = bytes;
        }
    }
    if ordered.len() == 1 {
        let mut only = ordered.pop().unwrap_or_default();
        only.shrink_to_fit();
        return Ok(only);
    }
    Ok(ordered.concat())
}

/// The members one thread compressed, each with its place in the batch.
type Done = Vec<(usize, Vec<u8>)>;

/// One member as a gzip member of its own, in a buffer of its compressed size.
fn compress_member(compressor: &mut Compressor, member: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = vec![0; compressor.gzip_compress_bound(member.len())];
    let written = compressor.gzip_compress(member, &mut out).map_err(io::Error::other)?;
    out.truncate(written);
    Ok(out)
}

/// `plain` cut into members: each ends at the first line end at or after `member_bytes` from its
/// start (or at the end of `plain`); at least one, empty when `plain` is.
fn cut(plain: &[u8], member_bytes: usize) -> Vec<&[u8]> {
    let member_bytes = member_bytes.max(1);
    let mut members = Vec::with_capacity(plain.len() / member_bytes + 1);
    let mut rest = plain;
    while rest.len() > member_bytes {
        let end = memchr::memchr(b'\n', &rest[member_bytes - 1..]).map_or(rest.len(), |at| member_bytes + at);
        let (member, after) = rest.split_at(end);
        members.push(member);
        rest = after;
    }
    if !rest.is_empty() || members.is_empty() {
        members.push(rest);
    }
    members
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    fn gunzip(compressed: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::MultiGzDecoder::new(compressed).read_to_end(&mut plain).unwrap();
        plain
    }

    /// The number of members: each starts with the gzip magic and holds a deflate stream that
    /// flate2 reads one at a time.
    fn members(compressed: &[u8]) -> usize {
        let mut rest = compressed;
        let mut count = 0;
        while !rest.is_empty() {
            let mut decoder = flate2::bufread::GzDecoder::new(rest);
            io::copy(&mut decoder, &mut io::sink()).unwrap();
            rest = decoder.into_inner();
            count += 1;
        }
        count
    }

    proptest! {
        #[test]
        fn members_concatenate_to_the_input(
            lines in proptest::collection::vec("[ -~]{0,300}", 0..400),
            member_bytes in 1usize..5_000,
            threads in 1usize..5,
            level in 0u32..=12,
        ) {
            let plain: Vec<u8> = lines.iter().flat_map(|line| line.bytes().chain([b'\n'])).collect();
            let compressed = compress(&plain, level, member_bytes, threads).unwrap();
            prop_assert_eq!(gunzip(&compressed), plain.clone());
            prop_assert_eq!(members(&compressed), cut(&plain, member_bytes).len());
        }

        #[test]
        fn cuts_fall_after_line_ends_and_lose_nothing(plain in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..3_000), member_bytes in 1usize..700) {
            let members = cut(&plain, member_bytes);
            prop_assert_eq!(members.concat(), plain.clone());
            for member in &members[..members.len() - 1] {
                prop_assert!(member.len() >= member_bytes);
                prop_assert_eq!(member.last(), Some(&b'\n'));
                prop_assert!(!member[member_bytes - 1..member.len() - 1].contains(&b'\n'), "the cut is the first line end past the size");
            }
        }
    }

    #[test]
    fn a_large_batch_is_many_members_compressed_on_many_threads() {
        let line = b"{\"version\":2,\"account_id\":\"123456789012\",\"interface_id\":\"eni-0a1b2c3d\"}\n";
        let plain: Vec<u8> = line.iter().copied().cycle().take(10 * MEMBER_BYTES + 12_345).collect();
        let compressed = compress(&plain, 6, MEMBER_BYTES, 3).unwrap();
        assert_eq!(members(&compressed), 11);
        assert_eq!(gunzip(&compressed), plain);
        assert_eq!(compressed, compress(&plain, 6, MEMBER_BYTES, 1).unwrap(), "threads change the speed, not the bytes");
    }

    #[test]
    fn an_empty_input_is_one_empty_member_and_levels_clamp() {
        let empty = compress(b"", 6, MEMBER_BYTES, 4).unwrap();
        assert_eq!(members(&empty), 1);
        assert_eq!(gunzip(&empty), b"");
        assert_eq!(gunzip(&compress(b"abc\n", 99, MEMBER_BYTES, 1).unwrap()), b"abc\n");
        let stored = compress(&[7u8; 1000], 0, MEMBER_BYTES, 1).unwrap();
        assert!(stored.len() > 1000, "level 0 stores: {}", stored.len());
    }
}
