//! `event_id`: `<run id>-<worker>-<sequence>`, unique across a run and across generator instances.
//!
//! The run id is 16 lower-case hex digits derived from the seed and the instance id; the worker is
//! the generator lane that made the record and the sequence counts that lane's records from 0. A
//! manifest that gives each lane's count therefore names exactly the set of emitted ids, which is
//! what lets `verify` prove loss and duplication instead of guessing.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a run id in hex digits.
pub const RUN_ID_LEN: usize = 16;

/// Longest textual event id: run id, two dashes, u32 and u64 in decimal.
const MAX_EVENT_ID_LEN: usize = RUN_ID_LEN + 2 + 10 + 20;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId<'a> {
    pub run_id: Cow<'a, str>,
    pub worker: u32,
    pub seq: u64,
}

impl<'a> EventId<'a> {
    pub fn new(run_id: &'a str, worker: u32, seq: u64) -> Self {
        EventId { run_id: Cow::Borrowed(run_id), worker, seq }
    }

    /// Parses `<16 hex>-<worker>-<seq>`; `None` when the text is not of that form.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (rest, seq) = text.rsplit_once('-')?;
        let (run_id, worker) = rest.rsplit_once('-')?;
        if !is_run_id(run_id) || !is_decimal(worker) || !is_decimal(seq) {
            return None;
        }
        Some(EventId { run_id: Cow::Borrowed(run_id), worker: worker.parse().ok()?, seq: seq.parse().ok()? })
    }

    pub fn into_owned(self) -> EventId<'static> {
        EventId { run_id: Cow::Owned(self.run_id.into_owned()), worker: self.worker, seq: self.seq }
    }

    /// Writes the textual form into `buffer` and returns it, without allocating.
    fn render<'b>(&self, buffer: &'b mut [u8; MAX_EVENT_ID_LEN]) -> &'b str {
        let mut worker_digits = itoa::Buffer::new();
        let mut seq_digits = itoa::Buffer::new();
        let parts =
            [self.run_id.as_bytes(), b"-", worker_digits.format(self.worker).as_bytes(), b"-", seq_digits.format(self.seq).as_bytes()];
        let mut len = 0;
        for part in parts {
            let end = (len + part.len()).min(MAX_EVENT_ID_LEN);
            buffer[len..end].copy_from_slice(&part[..end - len]);
            len = end;
        }
        // Every part is ASCII (the run id is checked hex when parsed and generated from hex), so
        // any prefix is valid UTF-8; fall back to an empty id rather than panic if it ever is not.
        std::str::from_utf8(&buffer[..len]).unwrap_or("")
    }
}

/// True for exactly 16 lower-case hex digits.
pub(crate) fn is_run_id(text: &str) -> bool {
    text.len() == RUN_ID_LEN && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_decimal(text: &str) -> bool {
    !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'))
}

impl fmt::Display for EventId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.run_id, self.worker, self.seq)
    }
}

impl Serialize for EventId<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0u8; MAX_EVENT_ID_LEN];
        serializer.serialize_str(self.render(&mut buffer))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for EventId<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text: Cow<'de, str> = crate::records::borrow_str(deserializer)?;
        let expected = &"an event id `<16 hex digits>-<worker>-<sequence>`";
        match text {
            Cow::Borrowed(borrowed) => {
                EventId::parse(borrowed).ok_or_else(|| de::Error::invalid_value(Unexpected::Str(borrowed), expected))
            }
            Cow::Owned(owned) => {
                EventId::parse(&owned).map(EventId::into_owned).ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&owned), expected))
            }
        }
    }
}

impl JsonSchema for EventId<'_> {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("EventId")
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "`<run id: 16 hex digits>-<worker>-<sequence>`, unique across runs and generator instances",
            "pattern": "^[0-9a-f]{16}-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = EventId::new("00ff00ff00ff00ff", 3, 1_234_567);
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(text, "\"00ff00ff00ff00ff-3-1234567\"");
        let back: EventId<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "abc",
            "00ff00ff00ff00ff-3",
            "00FF00FF00FF00FF-1-2",
            "00ff00ff00ff00ff-01-2",
            "00ff00ff00ff00ff-1-x",
            "0ff00ff00ff00ff-1-2",
        ] {
            assert!(EventId::parse(bad).is_none(), "{bad} parsed");
        }
    }
}
