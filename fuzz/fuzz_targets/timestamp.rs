//! The strict RFC 3339 parser of firewall timestamps: never panics, and what it accepts prints
//! back to the same text (with milliseconds) and parses to the same instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netchaos_fuzz::records::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(parsed) = Timestamp::parse(text) else { return };
    let printed = parsed.to_string();
    assert_eq!(Timestamp::parse(&printed), Some(parsed), "{text} printed as {printed}");
    let expected = if text.len() == 20 { format!("{}.000Z", &text[..19]) } else { text.to_owned() };
    assert_eq!(printed, expected);
});
