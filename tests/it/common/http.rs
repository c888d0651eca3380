//! A plain HTTP/1.1 client over a real socket, for the control API's tests: one request per
//! connection, and a reader of a server-sent event stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One answer: its status and its body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {self:?}"))
    }
}

/// `method path` with `body` and extra `headers` to 127.0.0.1:`port`.
pub fn call(port: u16, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    try_call(port, method, path, body, headers).unwrap_or_else(|error| panic!("{method} {path} on :{port}: {error}"))
}

/// [`call`], or why nothing answered (nothing listens, the connection closed without an answer).
pub fn try_call(port: u16, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("connect: {error}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    // A server that answers before reading a large body may close early: what came is the answer.
    let _ = stream.write_all(request.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP answer: {response:?}"))?;
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    Ok(Reply { status, headers: head.to_ascii_lowercase(), body: body.to_owned() })
}

pub fn get(port: u16, path: &str) -> Reply {
    call(port, "GET", path, None, &[])
}

/// Waits until something answers on `port`.
pub fn wait_for_server(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on :{port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server-sent event stream, read event by event.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub fn open(port: u16, path: &str) -> Events {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
        Events { reader: BufReader::new(stream) }
    }

    /// The next event (name, data), skipping the HTTP head and chunk-size lines.
    pub fn next(&mut self) -> Option<(String, serde_json::Value)> {
        let mut name = None;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if let Some(event) = line.strip_prefix("event: ") {
                name = Some(event.to_owned());
            } else if let (Some(data), Some(event)) = (line.strip_prefix("data: "), name.as_ref()) {
                return Some((event.clone(), serde_json::from_str(data).unwrap_or(serde_json::Value::Null)));
            }
        }
    }

    /// The first event named `name` whose data `matches`, within `limit`.
    pub fn find(&mut self, name: &str, limit: Duration, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.next() {
                Some((event, data)) if event == name && matches(&data) => return data,
                Some(_) => {}
                None => break,
            }
        }
        panic!("no `{name}` event came");
    }
}
