//! Millisecond timestamps written as RFC 3339 UTC (`2026-11-27T20:37:11.123Z`), and the one range
//! of time records may carry.
//!
//! # The time range
//!
//! Records carry instants from [`Timestamp::EARLIEST`] (1970-01-01T00:00:00.000Z, the Unix epoch)
//! through [`Timestamp::LATEST`] (9999-12-31T23:59:59.999Z, the last instant with the four-digit
//! year RFC 3339 allows). The validator rejects anything outside it as `out_of_range`: a firewall
//! `timestamp` (here, in [`Timestamp::parse_checked`]) and a flow's `start` / `end` Unix seconds
//! (within [`Timestamp::EARLIEST_SECONDS`]`..=`[`Timestamp::LATEST_SECONDS`], in the validator).
//! The encoders never move an instant into the range: one outside it is written as it is, in the
//! ISO 8601 expanded-year form (`+10000-01-01T00:00:00.000Z`, `1969-12-31T23:59:59.999Z`), which
//! the validator then rejects with that reason. The generator stays inside by construction:
//! `--start-time` is bounded so that the longest schedule a run can have still ends before
//! [`Timestamp::LATEST`].
//!
//! Formatting is hand-rolled (civil-from-days) because it runs once per firewall record on the
//! generator's hot path; parsing is strict: exactly the form we write, so that a record that
//! passes validation is one that netchaos could have written.

use std::borrow::Cow;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Unix time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// Longest rendering: a sign, the 9 digits of the largest year an `i64` of milliseconds reaches,
/// and the 20 characters after the year.
const TEXT_CAPACITY: usize = 32;

/// A rendered timestamp on the stack.
struct Rendered {
    bytes: [u8; TEXT_CAPACITY],
    len: usize,
}

impl Rendered {
    fn as_str(&self) -> &str {
        // Only ASCII digits, signs and separators are ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("1970-01-01T00:00:00.000Z")
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn number(&mut self, value: i64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut rest = value.unsigned_abs();
        let mut used = 0;
        while rest > 0 || used < width {
            digits[used] = b'0' + (rest % 10) as u8;
            rest /= 10;
            used += 1;
        }
        for position in (0..used).rev() {
            self.push(digits[position]);
        }
    }
}

/// Why a timestamp text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    /// Not `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, or not a real date and time.
    Malformed,
    /// A real instant, outside [`Timestamp::EARLIEST`]`..=`[`Timestamp::LATEST`].
    OutOfRange,
}

impl Timestamp {
    /// The first instant records may carry: 1970-01-01T00:00:00.000Z.
    pub const EARLIEST: Timestamp = Timestamp(0);
    /// The last instant records may carry: 9999-12-31T23:59:59.999Z.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799_999);
    /// [`Timestamp::EARLIEST`] in Unix seconds, for flow `start` / `end`.
    pub const EARLIEST_SECONDS: i64 = 0;
    /// [`Timestamp::LATEST`] in whole Unix seconds, for flow `start` / `end`.
    pub const LATEST_SECONDS: i64 = 253_402_300_799;

    pub fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// The wall clock, to the millisecond (the epoch if the clock reads before it). Record times
    /// never come from it, only run and flush times.
    pub fn now() -> Self {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64);
        Timestamp(millis)
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Whether the instant lies in the range records may carry.
    pub fn in_range(self) -> bool {
        (Self::EARLIEST..=Self::LATEST).contains(&self)
    }

    /// RFC 3339 inside the range; the ISO 8601 expanded-year form (`+10000-...`, `-000001-...`)
    /// for years past 9999 or before year 0. Never clamped.
    fn render(self) -> Rendered {
        let days = self.0.div_euclid(86_400_000);
        let in_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
        let mut out = Rendered { bytes: [0; TEXT_CAPACITY], len: 0 };
        if (0..=9999).contains(&year) {
            out.number(year, 4);
        } else {
            out.push(if year < 0 { b'-' } else { b'+' });
            out.number(year, 6);
        }
        for (separator, value, width) in
            [(b'-', month, 2), (b'-', day, 2), (b'T', hour, 2), (b':', minute, 2), (b':', second, 2), (b'.', milli, 3)]
        {
            out.push(separator);
            out.number(value, width);
        }
        out.push(b'Z');
        out
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds optional) inside the range; `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::parse_checked(text).ok()
    }

    /// [`Timestamp::parse`], saying whether a refused text is malformed or a real instant outside
    /// the range (a four-digit year before 1970, or the expanded form this type writes for those).
    pub fn parse_checked(text: &str) -> Result<Self, TimestampError> {
        let (expanded, rest) = match text.as_bytes().first() {
            Some(b'+' | b'-') => (true, &text[1..]),
            _ => (false, text),
        };
        let year_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if year_digits < 4 || (!expanded && year_digits != 4) || (expanded && year_digits < 6) || year_digits > 9 {
            return Err(TimestampError::Malformed);
        }
        let year_text = &rest[..year_digits];
        let bytes = &rest.as_bytes()[year_digits..];
        let shape_ok = match bytes.len() {
            16 => bytes[15] == b'Z',
            20 => bytes[15] == b'.' && bytes[19] == b'Z',
            _ => false,
        };
        if !shape_ok || bytes[0] != b'-' || bytes[3] != b'-' || bytes[6] != b'T' || bytes[9] != b':' || bytes[12] != b':' {
            return Err(TimestampError::Malformed);
        }
        let number = |from: usize, to: usize| -> Result<i64, TimestampError> {
            bytes[from..to]
                .iter()
                .try_fold(0i64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
                .ok_or(TimestampError::Malformed)
        };
        let magnitude: i64 = year_text.parse().map_err(|_| TimestampError::Malformed)?;
        let year = if text.starts_with('-') { -magnitude } else { magnitude };
        let (month, day) = (number(1, 3)?, number(4, 6)?);
        let (hour, minute, second) = (number(7, 9)?, number(10, 12)?, number(13, 15)?);
        let milli = if bytes.len() == 20 { number(16, 19)? } else { 0 };
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
            return Err(TimestampError::Malformed);
        }
        // The expanded form is only ever written for years outside 0-9999, so outside the range.
        if expanded {
            return Err(if (0..=9999).contains(&year) { TimestampError::Malformed } else { TimestampError::OutOfRange });
        }
        let days = days_from_civil(year, month, day);
        let timestamp = Timestamp(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli);
        if !timestamp.in_range() {
            return Err(TimestampError::OutOfRange);
        }
        Ok(timestamp)
    }
}

fn is_leap(year: i64) -> bool {
    (year.rem_euclid(4) == 0 && year.rem_euclid(100) != 0) || year.rem_euclid(400) == 0
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
        f.write_str(self.render().as_str())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.render().as_str())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Cow<'de, str> = crate::records::borrow_str(deserializer)?;
        match Timestamp::parse_checked(&text) {
            Ok(timestamp) => Ok(timestamp),
            Err(TimestampError::Malformed) => {
                Err(de::Error::invalid_value(Unexpected::Str(&text), &"an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS.mmmZ`"))
            }
            // Not "invalid value": the validator names this one `out_of_range`.
            Err(TimestampError::OutOfRange) => Err(de::Error::custom(format_args!(
                "`{text}` is outside the time range records may carry, {} to {}",
                Timestamp::EARLIEST,
                Timestamp::LATEST
            ))),
        }
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

    #[test]
    fn the_range_ends_are_exact_and_the_encoder_does_not_clamp_past_them() {
        assert_eq!(Timestamp::EARLIEST.to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::LATEST.to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::LATEST_SECONDS, Timestamp::LATEST.unix_seconds());
        assert_eq!(Timestamp::parse("9999-12-31T23:59:59.999Z"), Some(Timestamp::LATEST));
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z"), Some(Timestamp::EARLIEST));
        // One millisecond past either end is written as it is, and refused as out of range.
        let after = Timestamp(Timestamp::LATEST.0 + 1);
        assert_eq!(after.to_string(), "+010000-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::parse_checked(&after.to_string()), Err(TimestampError::OutOfRange));
        let before = Timestamp(-1);
        assert_eq!(before.to_string(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::parse_checked(&before.to_string()), Err(TimestampError::OutOfRange));
        assert_eq!(serde_json::to_string(&Timestamp(i64::MAX)).unwrap(), "\"+292278994-08-17T07:12:55.807Z\"");
        assert_eq!(Timestamp(i64::MIN).to_string(), "-292275055-05-16T16:47:04.192Z");
        for extreme in [i64::MAX, i64::MIN, i64::MAX / 2, -86_400_000 * 366 * 10_000] {
            assert_eq!(Timestamp::parse_checked(&Timestamp(extreme).to_string()), Err(TimestampError::OutOfRange), "{extreme}");
        }
    }

    #[test]
    fn expanded_years_inside_0_to_9999_and_odd_shapes_are_malformed() {
        for bad in ["+002024-01-01T00:00:00Z", "-000000-01-01T00:00:00Z", "+99999-01-01T00:00:00Z", "+1234567890-01-01T00:00:00Z", "+", "-"]
        {
            assert_eq!(Timestamp::parse_checked(bad), Err(TimestampError::Malformed), "{bad}");
        }
    }
}
