//! A reader of server-sent events: bytes in, as the connection delivers them (an event may be
//! split anywhere, several may come at once), whole events out. It keeps what the control server
//! sends: `event:` and `data:` lines, an empty line ending each event; comments (`:`) and other
//! fields are skipped, several `data:` lines are joined with newlines, as the format says.

/// One event: its name (`message` when none was given) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) data: String,
}

/// Events so far, and the start of the next.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
}

/// A longest line kept: a stream that never ends its line is not an event stream.
const MAX_LINE: usize = 1 << 20;

impl Parser {
    /// The events `bytes` completes.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte != b'\n' {
                if self.partial.len() < MAX_LINE {
                    self.partial.push(byte);
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.partial);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let data = self.data.take();
            let name = self.name.take();
            return data.map(|data| Event { name: name.unwrap_or_else(|| "message".to_owned()), data });
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> Event {
        Event { name: name.to_owned(), data: data.to_owned() }
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = b"event: status\ndata: {\"records\": 1}\n\nevent: episode_start\r\ndata: {\"episode_id\": \"r-s0\"}\r\n\r\n";
        let whole = Parser::default().feed(stream);
        assert_eq!(whole, [event("status", "{\"records\": 1}"), event("episode_start", "{\"episode_id\": \"r-s0\"}")]);
        for cut in 0..stream.len() {
            let mut parser = Parser::default();
            let mut events = parser.feed(&stream[..cut]);
            events.extend(parser.feed(&stream[cut..]));
            assert_eq!(events, whole, "cut at {cut}");
        }
        let mut parser = Parser::default();
        let one_by_one: Vec<Event> = stream.iter().flat_map(|byte| parser.feed(&[*byte])).collect();
        assert_eq!(one_by_one, whole);
    }

    #[test]
    fn comments_are_skipped_and_data_lines_join() {
        let events = Parser::default().feed(b": keep-alive\n\ndata: a\ndata:b\nid: 7\n\nevent: x\n\n");
        // The comment alone and the event without data are no events.
        assert_eq!(events, [event("message", "a\nb")]);
    }

    #[test]
    fn an_unfinished_event_waits_for_its_empty_line() {
        let mut parser = Parser::default();
        assert!(parser.feed(b"event: end\ndata: {}\n").is_empty());
        assert_eq!(parser.feed(b"\n"), [event("end", "{}")]);
    }
}
