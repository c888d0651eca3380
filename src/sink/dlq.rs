//! Dead-letter entries: one JSON line per rejected message, with why, where from, and the message
//! itself.
//!
//! ```json
//! {"reason":"out_of_range","field":"dstport","detail":"...","source":"stdin","partition":0,
//!  "offset":17,"raw":"{\"event_type\":...}","raw_base64":null}
//! ```
//!
//! `raw` holds the message when it is valid UTF-8 (JSON escaping keeps the line a line even when
//! the message held newlines); otherwise `raw` is null and `raw_base64` holds it in standard base64,
//! so that no byte of a rejected message is lost and every entry is still one JSON object. The one
//! exception is a line over the record size limit read by `sink --from`: only its first
//! `MAX_RECORD_BYTES + 1 KiB` are kept (holding an unbounded line would break the memory bound), and
//! the entry's detail gives its real length.
//!
//! Its size is bounded before the message is validated ([`line_bound`]), which is what a batch
//! counts against `max_bytes` and so against the memory budget: `raw` is the message escaped (up
//! to 6 bytes per byte, `\u0001`) or in base64, and the rest is an envelope whose variable parts
//! are bounded by capping `field` and `detail` (at [`FIELD_CAP`] and [`DETAIL_CAP`] bytes of JSON,
//! cut with `…`).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::records::Rejection;

/// One dead-letter line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqEntry<'a> {
    /// The [`RejectReason`](crate::records::RejectReason) code.
    #[serde(borrow)]
    pub reason: Cow<'a, str>,
    #[serde(borrow)]
    pub field: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub detail: Cow<'a, str>,
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    pub partition: u32,
    pub offset: u64,
    #[serde(borrow)]
    pub raw: Option<Cow<'a, str>>,
    pub raw_base64: Option<String>,
}

/// Most bytes of JSON (escapes included) an entry's `field` keeps.
pub const FIELD_CAP: usize = 64;
/// Most bytes of JSON (escapes included) an entry's `detail` keeps.
pub const DETAIL_CAP: usize = 160;
/// Longest reject reason code (`ports_on_portless_protocol` is 26).
const REASON_BOUND: usize = 32;
/// `{"reason":"","field":"","detail":"","source":"","partition":0,"offset":0,"raw":"","raw_base64":null}`
/// and its newline: an entry with every string empty and one-digit numbers.
const EMPTY_LINE: usize = 101;
/// Digits a partition (u32) and an offset (u64) add beyond the one counted in [`EMPTY_LINE`].
const MORE_DIGITS: usize = 9 + 19;

/// The most bytes [`DlqEntry::write_line`] appends for `payload`, whatever it is rejected for, for
/// a source of `source_len` key-safe bytes: one pass over the payload.
pub fn line_bound(source_len: usize, payload: &[u8]) -> usize {
    let envelope = EMPTY_LINE + REASON_BOUND + FIELD_CAP + DETAIL_CAP + MORE_DIGITS + source_len;
    let (escaped, ascii) = escaped_len(payload);
    let raw = if ascii || std::str::from_utf8(payload).is_ok() { escaped } else { payload.len().div_ceil(3) * 4 };
    envelope + raw
}

/// The length of `bytes` as a JSON string's content (serde_json's escapes: `\"`, `\\`, `\n` and
/// the other short ones, `\u00XX` for other control bytes), and whether they are all ASCII.
fn escaped_len(bytes: &[u8]) -> (usize, bool) {
    // This runs for every message a sink takes: byte-wide counters over chunks of at most 255
    // bytes, which the compiler vectorises; the short escapes are counted only when there are
    // control bytes at all (a valid record has none but whitespace).
    let (mut quoted, mut control, mut high) = (0usize, 0usize, 0usize);
    for chunk in bytes.chunks(255) {
        let (mut chunk_quoted, mut chunk_control, mut chunk_high) = (0u8, 0u8, 0u8);
        for &byte in chunk {
            chunk_quoted += u8::from(byte == b'"') + u8::from(byte == b'\\');
            chunk_control += u8::from(byte < 0x20);
            chunk_high += u8::from(byte >= 0x80);
        }
        quoted += usize::from(chunk_quoted);
        control += usize::from(chunk_control);
        high += usize::from(chunk_high);
    }
    let short = if control == 0 { 0 } else { bytes.iter().filter(|byte| matches!(byte, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)).count() };
    (bytes.len() + quoted + 5 * control - 4 * short, high == 0)
}

/// `text` whole when its JSON form fits `cap` bytes, else its longest such head and `…`.
fn capped(text: &str, cap: usize) -> Cow<'_, str> {
    if escaped_len(text.as_bytes()).0 <= cap {
        return Cow::Borrowed(text);
    }
    const ELLIPSIS: &str = "…";
    let mut used = 0;
    let mut end = 0;
    for (index, character) in text.char_indices() {
        let mut buffer = [0u8; 4];
        let width = escaped_len(character.encode_utf8(&mut buffer).as_bytes()).0;
        if used + width + ELLIPSIS.len() > cap {
            break;
        }
        used += width;
        end = index + character.len_utf8();
    }
    Cow::Owned(format!("{}{ELLIPSIS}", &text[..end]))
}

impl<'a> DlqEntry<'a> {
    pub fn new(rejection: &'a Rejection, source: &'a str, partition: u32, offset: u64, payload: &'a [u8]) -> Self {
        let (raw, raw_base64) = match std::str::from_utf8(payload) {
            Ok(text) => (Some(Cow::Borrowed(text)), None),
            Err(_) => (None, Some(encode_base64(payload))),
        };
        debug_assert!(rejection.reason.as_str().len() <= REASON_BOUND, "REASON_BOUND covers every reason");
        DlqEntry {
            reason: Cow::Borrowed(rejection.reason.as_str()),
            field: rejection.field.as_deref().map(|field| capped(field, FIELD_CAP)),
            detail: capped(&rejection.detail, DETAIL_CAP),
            source: Cow::Borrowed(source),
            partition,
            offset,
            raw,
            raw_base64,
        }
    }

    /// The rejected message's bytes, from `raw` or `raw_base64`.
    pub fn payload(&self) -> Option<Vec<u8>> {
        match (&self.raw, &self.raw_base64) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(encoded)) => decode_base64(encoded),
            (None, None) => None,
        }
    }

    /// Appends the entry and its newline to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        // Every field is a string, an integer or null: serializing into memory cannot fail, and if
        // it ever did the entry would still be one line, so record the failure in it.
        if let Err(error) = serde_json::to_writer(&mut *out, self) {
            out.extend_from_slice(format!("{{\"reason\":\"{}\",\"detail\":\"unserializable entry: {error}\"}}", self.reason).as_bytes());
        }
        out.push(b'\n');
    }
}

/// Where rejected messages go instead of DLQ objects: in the Kafka mode, a DLQ topic.
///
/// The sink publishes a batch's rejected messages before it stores the batch's data object and
/// commits nothing until both are done; a failed publication is retried like a failed store write.
/// A crash between the two, or a retry after a publication that failed part-way, publishes the
/// batch's rejects again: the topic holds every rejected message at least once, and its headers
/// (source topic, partition, offset) tell copies apart.
pub trait DeadLetterTopic: Send + Sync + fmt::Debug {
    /// The topic's name, for logs and errors.
    fn name(&self) -> &str;

    /// Publishes one batch's DLQ lines (one [`DlqEntry`] per line) and resolves once every one
    /// is acknowledged. After an error the whole batch is published again.
    fn publish(&self, lines: Bytes) -> BoxFuture<'static, Result<(), String>>;
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4) with `=` padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let triple = (u32::from(group[0]) << 16)
            | (u32::from(group.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(group.get(2).copied().unwrap_or(0));
        let sextets = [triple >> 18, triple >> 12, triple >> 6, triple];
        let emitted = group.len() + 1;
        for (position, sextet) in sextets.into_iter().enumerate() {
            let character = if position < emitted { ALPHABET[(sextet & 0x3f) as usize] } else { b'=' };
            out.push(char::from(character));
        }
    }
    out
}

/// Decodes standard padded base64; `None` for anything else.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let groups = bytes.len() / 4;
    for (index, group) in bytes.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|byte| **byte == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut triple = 0u32;
        for byte in &group[..4 - padding] {
            let value = ALPHABET.iter().position(|candidate| candidate == byte)?;
            triple = (triple << 6) | value as u32;
        }
        triple <<= 6 * padding as u32;
        let decoded = [(triple >> 16) as u8, (triple >> 8) as u8, triple as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RejectReason;
    use proptest::prelude::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
            assert_eq!(decode_base64(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(encode_base64(&[0xff, 0xfe, 0x00]), "//4A");
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(decode_base64(&encode_base64(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn the_empty_line_constant_is_an_empty_entry() {
        let rejection = Rejection { reason: RejectReason::Empty, field: Some(String::new()), detail: String::new() };
        let mut entry = DlqEntry::new(&rejection, "", 0, 0, b"");
        entry.reason = Cow::Borrowed("");
        let mut out = Vec::new();
        entry.write_line(&mut out);
        assert_eq!(out.len(), EMPTY_LINE, "{}", String::from_utf8_lossy(&out));
    }

    fn any_rejection() -> impl Strategy<Value = Rejection> {
        let reasons = [RejectReason::InvalidJson, RejectReason::NotUtf8, RejectReason::UnknownField, RejectReason::TooLarge];
        (0..reasons.len(), proptest::option::of(any::<String>()), any::<String>(), 0usize..400).prop_map(
            move |(reason, field, detail, repeat)| Rejection {
                reason: reasons[reason],
                field: field.map(|field| field.repeat(repeat % 7 + 1)),
                detail: detail.repeat(repeat),
            },
        )
    }

    proptest! {
        #[test]
        fn a_line_never_exceeds_its_bound(
            payload in proptest::collection::vec(any::<u8>(), 0..600),
            text in "\\PC{0,200}",
            controls in proptest::collection::vec(0u8..0x20, 0..300),
            rejection in any_rejection(),
            partition: u32,
            offset: u64,
        ) {
            for payload in [payload.clone(), text.into_bytes(), controls] {
                let mut out = Vec::new();
                DlqEntry::new(&rejection, "stdin-source.1", partition, offset, &payload).write_line(&mut out);
                prop_assert!(out.len() <= line_bound("stdin-source.1".len(), &payload), "{} > bound", out.len());
                let entry: DlqEntry<'_> = serde_json::from_slice(&out).unwrap();
                prop_assert_eq!(entry.payload().unwrap(), payload.clone(), "the payload is kept whole");
                prop_assert!(entry.detail.len() <= DETAIL_CAP && entry.field.as_ref().is_none_or(|field| field.len() <= FIELD_CAP));
            }
        }
    }

    #[test]
    fn escaped_lengths_match_serde_json() {
        for text in ["", "plain", "\"q\"", "back\\slash", "\n\t\r\u{8}\u{c}", "\u{1}\u{1f}", "é€😀", "\u{7f}"] {
            let serialized = serde_json::to_string(text).unwrap();
            assert_eq!(escaped_len(text.as_bytes()).0 + 2, serialized.len(), "{text:?}");
        }
        assert_eq!(capped("short", 10), "short");
        let controls = "\u{1}".repeat(100);
        let cut = capped(&controls, 20);
        assert_eq!(cut, format!("{}…", "\u{1}".repeat(2)), "two escapes of 6 bytes and the ellipsis fit 20");
    }

    #[test]
    fn entries_keep_text_as_text_and_bytes_as_base64() {
        let rejection = Rejection { reason: RejectReason::OutOfRange, field: Some("dstport".into()), detail: "70000 > 65535".into() };
        let mut out = Vec::new();
        DlqEntry::new(&rejection, "stdin", 2, 17, b"{\"a\":\n1}").write_line(&mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"reason": "out_of_range", "field": "dstport", "detail": "70000 > 65535", "source": "stdin",
                "partition": 2, "offset": 17, "raw": "{\"a\":\n1}", "raw_base64": null})
        );

        let binary = [b'{', 0xff, b'}'];
        let not_utf8 = Rejection { reason: RejectReason::NotUtf8, field: None, detail: "invalid UTF-8 at byte 1".into() };
        let mut out = Vec::new();
        DlqEntry::new(&not_utf8, "stdin", 0, 3, &binary).write_line(&mut out);
        let entry: DlqEntry<'_> = serde_json::from_slice(&out).unwrap();
        assert_eq!(entry.raw, None);
        assert_eq!(entry.field, None);
        assert_eq!(entry.payload().unwrap(), binary);
    }
}
