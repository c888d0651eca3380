//! Millisecond timestamps written as RFC 3339 UTC (`2026-11-27T20:37:11.123Z`).
//!
//! Formatting is hand-rolled (civil-from-days) because it runs once per firewall record on the
//! generator's hot path; parsing is strict: exactly the form we write, so that a record that
//! passes validation is one that netchaos could have written.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Unix time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

const TEXT_LEN: usize = 24;

/// Earliest and latest instants accepted: years 1970 through 9999.
const MIN_MILLIS: i64 = 0;
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    pub fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    fn render(self, out: &mut [u8; TEXT_LEN]) -> &str {
        let millis = self.0.clamp(MIN_MILLIS, MAX_MILLIS);
        let days = millis.div_euclid(86_400_000);
        let in_day = millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
        let fields: [(usize, i64, usize); 7] =
            [(0, year, 4), (5, month, 2), (8, day, 2), (11, hour, 2), (14, minute, 2), (17, second, 2), (20, milli, 3)];
        out.copy_from_slice(b"0000-00-00T00:00:00.000Z");
        for (start, value, width) in fields {
            let mut rest = value;
            for position in (start..start + width).rev() {
                out[position] = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
        }
        // Only ASCII digits and separators were written above.
        std::str::from_utf8(out).unwrap_or("1970-01-01T00:00:00.000Z")
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds optional); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let shape_ok = match bytes.len() {
            20 => bytes[19] == b'Z',
            24 => bytes[19] == b'.' && bytes[23] == b'Z',
            _ => false,
        };
        if !shape_ok || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' || bytes[13] != b':' || bytes[16] != b':' {
            return None;
        }
        let number = |from: usize, to: usize| -> Option<i64> {
            bytes[from..to].iter().try_fold(0i64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
        };
        let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
        let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
        let milli = if bytes.len() == 24 { number(20, 23)? } else { 0 };
        if year < 1970
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Timestamp(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli))
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buffer = [0u8; TEXT_LEN];
        f.write_str(self.render(&mut buffer))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0u8; TEXT_LEN];
        serializer.serialize_str(self.render(&mut buffer))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Cow<'de, str> = crate::records::borrow_str(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&text), &"an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS.mmmZ`"))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "RFC 3339 UTC time with milliseconds",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_418_530_010_123).to_string(), "2014-12-14T04:06:50.123Z");
        assert_eq!(Timestamp(951_782_400_000).to_string(), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parse_inverts_format_across_centuries() {
        for millis in (0..4_000_000_000_000i64).step_by(7_777_777_777) {
            let text = Timestamp(millis).to_string();
            assert_eq!(Timestamp::parse(&text), Some(Timestamp(millis)), "{text}");
        }
    }

    #[test]
    fn parse_rejects_impossible_dates_and_other_forms() {
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00+01:00",
            "2024-01-01T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
        assert!(Timestamp::parse("2024-02-29T23:59:59Z").is_some());
    }
}
