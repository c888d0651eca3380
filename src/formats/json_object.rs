//! A small JSON object writer for the formats here: keys in the order written, commas placed by
//! the writer, strings escaped as serde_json escapes them (a fast path when nothing needs it).
//!
//! The formats render one object per record on the sink's path, so they write bytes straight into
//! the caller's buffer instead of building a `serde_json::Value` per record.

use std::io::Write;
use std::net::IpAddr;

/// An open JSON object (or the inside of one) being written into `out`.
pub(crate) struct JsonObject<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> JsonObject<'o> {
    /// Writes `{` and returns the object; [`JsonObject::close`] writes the `}`.
    pub(crate) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    pub(crate) fn close(self) {
        self.out.push(b'}');
    }

    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub(crate) fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        write_string(self.out, value);
    }

    pub(crate) fn unsigned(&mut self, name: &str, value: u64) {
        self.key(name);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// An OCSF `long_t` (a signed 64-bit integer, an Int64 column in Parquet): `value`, or
    /// `i64::MAX` for the larger ones a valid record can hold (validation bounds no counter or
    /// session id that high), so that one record cannot make a whole Parquet piece unwritable.
    pub(crate) fn long(&mut self, name: &str, value: u64) {
        self.signed(name, i64::try_from(value).unwrap_or(i64::MAX));
    }

    pub(crate) fn signed(&mut self, name: &str, value: i64) {
        self.key(name);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub(crate) fn boolean(&mut self, name: &str, value: bool) {
        self.key(name);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub(crate) fn address(&mut self, name: &str, value: IpAddr) {
        self.key(name);
        // Display of an address is ASCII without quotes or backslashes; a Vec write cannot fail.
        let _ = write!(self.out, "\"{value}\"");
    }

    /// A nested object, filled in by `fill`.
    pub(crate) fn object(&mut self, name: &str, fill: impl FnOnce(&mut JsonObject<'_>)) {
        self.key(name);
        let mut inner = JsonObject::open(self.out);
        fill(&mut inner);
        inner.close();
    }

    /// An array of strings.
    pub(crate) fn strings<'s>(&mut self, name: &str, values: impl IntoIterator<Item = &'s str>) {
        self.key(name);
        self.out.push(b'[');
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            write_string(self.out, value);
        }
        self.out.push(b']');
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\') {
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        return;
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_with_escapes_and_nesting() {
        let mut out = Vec::new();
        let mut object = JsonObject::open(&mut out);
        object.string("plain", "a");
        object.string("odd", "quo\"te\n");
        object.unsigned("u", u64::MAX);
        object.signed("i", -3);
        object.boolean("b", true);
        object.address("ip", "2001:db8::1".parse().unwrap());
        object.object("inner", |inner| inner.unsigned("x", 1));
        object.object("empty", |_| {});
        object.strings("list", ["p", "q"]);
        object.close();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"plain": "a", "odd": "quo\"te\n", "u": u64::MAX, "i": -3, "b": true, "ip": "2001:db8::1",
                "inner": {"x": 1}, "empty": {}, "list": ["p", "q"]})
        );
    }
}
