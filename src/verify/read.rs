//! Reading one stored object as lines, in bounded memory whatever the object holds.
//!
//! An object is decompressed as a stream (gzip members / zstd frames in order, or plain bytes) and
//! cut into lines as it inflates, so memory is the decoder's window, a 64 KiB read buffer and at
//! most one line, never the inflated object. A line longer than [`MAX_LINE_BYTES`] or an object
//! that inflates to more than [`MAX_PLAIN_BYTES`] stops the read with a [`ReadError`]: the
//! object cannot be audited within bounds, and the audit says so (a gzip bomb of one endless line
//! costs 4 MiB, not the gigabytes it inflates to). The lines read before the error have been
//! handed out; the caller reports the object as damaged either way.

use std::io::{BufRead, BufReader, ErrorKind, Read};

use crate::sink::Compression;

/// Longest line read. A data line is a validated record (at most 16 KiB); a DLQ line is an
/// envelope around a rejected message of at most 17 KiB, escaped (up to 6 bytes per byte): both
/// far below this.
pub(super) const MAX_LINE_BYTES: usize = 4 << 20;

/// Most bytes an object may inflate to. The sink's batches are bounded by `--max-bytes`, itself
/// bounded by `--memory-budget`: far smaller than this.
pub(super) const MAX_PLAIN_BYTES: u64 = 4 << 30;

/// zstd windows above 2^27 bytes (128 MiB) are refused: zstd's own default limit, set here so
/// that the decoder's memory does not depend on the library's default.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Why an object could not be read to its end within bounds.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error("a line longer than {} MiB", MAX_LINE_BYTES >> 20)]
    LineTooLong,
    #[error("more than {} GiB once decompressed", MAX_PLAIN_BYTES >> 30)]
    TooLarge,
    #[error("cannot decompress it as {compression}: {source}")]
    Decode { compression: Compression, source: std::io::Error },
}

/// Calls `each` with every non-empty line of `body` (decompressed as `compression`), without its
/// newline; the last line need not end in one.
pub(super) fn for_each_line(body: &[u8], compression: Compression, mut each: impl FnMut(&[u8])) -> Result<(), ReadError> {
    let failed = |source| ReadError::Decode { compression, source };
    match compression {
        Compression::Gzip => lines_of(flate2::read::MultiGzDecoder::new(body), compression, &mut each),
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(failed)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(failed)?;
            lines_of(decoder, compression, &mut each)
        }
        Compression::None => lines_of(body, compression, &mut each),
    }
}

fn lines_of(plain: impl Read, compression: Compression, each: &mut impl FnMut(&[u8])) -> Result<(), ReadError> {
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, plain.take(MAX_PLAIN_BYTES + 1));
    // The start of a line that spans reads; empty while lines fit in the read buffer.
    let mut pending: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(source) => return Err(ReadError::Decode { compression, source }),
        };
        if available.is_empty() {
            break;
        }
        let consumed = match memchr::memchr(b'\n', available) {
            Some(end) if pending.is_empty() => {
                if end > MAX_LINE_BYTES {
                    return Err(ReadError::LineTooLong);
                }
                if end > 0 {
                    each(&available[..end]);
                }
                end + 1
            }
            Some(end) => {
                if pending.len() + end > MAX_LINE_BYTES {
                    return Err(ReadError::LineTooLong);
                }
                pending.extend_from_slice(&available[..end]);
                each(&pending);
                pending.clear();
                end + 1
            }
            None => {
                if pending.len() + available.len() > MAX_LINE_BYTES {
                    return Err(ReadError::LineTooLong);
                }
                pending.extend_from_slice(available);
                available.len()
            }
        };
        reader.consume(consumed);
        total += consumed as u64;
        if total > MAX_PLAIN_BYTES {
            return Err(ReadError::TooLarge);
        }
    }
    if !pending.is_empty() {
        each(&pending);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(plain: &[u8], compression: Compression) -> Result<Vec<Vec<u8>>, ReadError> {
        let body = compression.compress(plain).unwrap();
        let mut found = Vec::new();
        for_each_line(&body, compression, |line| found.push(line.to_vec()))?;
        Ok(found)
    }

    #[test]
    fn cuts_lines_across_reads_and_skips_empty_ones() {
        // Lines longer than the read buffer, short ones, empty ones and a last line without a newline.
        let long = vec![b'x'; READ_BUFFER_BYTES * 3 + 17];
        let mut plain = Vec::new();
        for line in [&b"a"[..], b"", &long, b"bc", b"", b""] {
            plain.extend_from_slice(line);
            plain.push(b'\n');
        }
        plain.extend_from_slice(b"tail");
        for compression in Compression::ALL {
            let found = lines(&plain, compression).unwrap();
            assert_eq!(found, vec![b"a".to_vec(), long.clone(), b"bc".to_vec(), b"tail".to_vec()], "{compression}");
        }
    }

    #[test]
    fn a_line_over_the_bound_stops_the_read() {
        let mut plain = b"first\n".to_vec();
        plain.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1));
        plain.extend_from_slice(b"\nlast\n");
        for compression in Compression::ALL {
            let mut found = Vec::new();
            let body = compression.compress(&plain).unwrap();
            let error = for_each_line(&body, compression, |line| found.push(line.to_vec())).unwrap_err();
            assert!(matches!(error, ReadError::LineTooLong), "{compression}: {error}");
            assert_eq!(found, vec![b"first".to_vec()], "{compression}");
        }
        // Exactly the bound is still a line.
        let at_bound = vec![b'z'; MAX_LINE_BYTES];
        assert_eq!(lines(&at_bound, Compression::Gzip).unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let error = for_each_line(b"not gzip at all", Compression::Gzip, |_| {}).unwrap_err();
        assert!(error.to_string().starts_with("cannot decompress it as gzip"), "{error}");
        assert!(for_each_line(b"not zstd", Compression::Zstd, |_| {}).is_err());
    }
}
