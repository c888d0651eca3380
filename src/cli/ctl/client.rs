//! The control API's client: one HTTP/1.1 request per connection (hyper over a tokio
//! `TcpStream`), the token in `Authorization: Bearer`, and every failure as a [`CtlError`] that
//! knows its exit code: 2 when the server refused the request (a 4xx), 1 when it could not be
//! reached or failed (a 5xx, a broken answer).
//!
//! The token never reaches a message or a `Debug` print: [`Token`] redacts itself.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::control::DEFAULT_PORT;

/// How long to wait for the server to accept the connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, once connected (not the event stream, which lasts).
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong, as one line, with its exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CtlError {
    /// The user's own mistake, found before asking the server.
    #[error("{0}")]
    Usage(String),
    /// Nothing answered (refused, timed out, closed without an answer).
    #[error("cannot reach the control API at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The server refused the request: a 4xx, with its reason.
    #[error("{status}: {message}")]
    Refused { status: Status, message: String },
    /// The server failed: a 5xx, or an answer that is not what the API gives.
    #[error("the control API at {address} failed: {message}")]
    Server { address: String, message: String },
}

impl CtlError {
    /// 2 for a request the server or the flags refused, 1 for a server that failed or is not there.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) | CtlError::Refused { .. } => 2,
            CtlError::Unreachable { .. } | CtlError::Server { .. } => 1,
        }
    }
}

/// An HTTP status as people read it: `409 Conflict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status(pub(crate) StatusCode);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.canonical_reason() {
            Some(reason) => write!(f, "{} {reason}", self.0.as_u16()),
            None => write!(f, "{}", self.0.as_u16()),
        }
    }
}

/// The bearer token: printed by nothing.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

impl From<String> for Token {
    fn from(text: String) -> Self {
        Token(text)
    }
}

impl Token {
    pub(crate) fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

// By hand: a derived Debug would print the secret.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Where the control API is: a host (a name or an IP, without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    host: String,
    port: u16,
}

impl Address {
    /// `host:port`, an IPv6 host in brackets: the `Host` header and what messages name.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

impl FromStr for Address {
    type Err = String;

    /// `HOST:PORT`, `HOST` (port 9760), `http://HOST:PORT/`, `[::1]:9760`; `off` is a mistake.
    fn from_str(text: &str) -> Result<Self, String> {
        let given = text.trim();
        if given.eq_ignore_ascii_case("off") || given.eq_ignore_ascii_case("none") {
            return Err(format!(
                "the control address is `{given}` (is NETCHAOS_CONTROL_ADDR=off?): pass --addr HOST:PORT, where the generator serves its control API"
            ));
        }
        if given.len() >= 8 && given[..8].eq_ignore_ascii_case("https://") {
            return Err(format!("`{given}`: the control API serves plain HTTP: pass --addr HOST:PORT or http://HOST:PORT/"));
        }
        let rest = if given.len() >= 7 && given[..7].eq_ignore_ascii_case("http://") { &given[7..] } else { given };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let bad = |why: &str| format!("`{given}` is not a control address ({why}): pass --addr HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}");
        if rest.is_empty() {
            return Err(bad("no host"));
        }
        if rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace) {
            return Err(bad("only a host and a port, no path"));
        }
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("an unclosed `[`"))?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(|| bad("text after `]` that is not `:PORT`"))?)),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => return Err(bad("write an IPv6 address in brackets, [::1]:9760")),
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port.parse::<u16>().ok().filter(|port| *port != 0).ok_or_else(|| bad("the port is not 1 to 65535"))?,
        };
        Ok(Address { host: host.to_owned(), port })
    }
}

/// A client of one control server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    address: Address,
    token: Option<Token>,
}

impl Client {
    pub(crate) fn new(address: Address, token: Option<Token>) -> Self {
        Client { address, token }
    }

    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// `method path` with a JSON `body`: the answer's JSON text when the server accepted it.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<String, CtlError> {
        let exchange = async {
            let response = self.send(method, path, body).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|error| self.broken(&error.to_string()))?.to_bytes();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if status.is_success() { Ok(text) } else { Err(self.refusal(status, &text)) }
        };
        tokio::time::timeout(ANSWER_TIMEOUT, exchange).await.unwrap_or_else(|_| {
            Err(CtlError::Unreachable {
                address: self.address.to_string(),
                reason: format!("no answer within {}s", ANSWER_TIMEOUT.as_secs()),
            })
        })
    }

    /// `GET path`, for a stream: the body as it comes, once the server said 200.
    pub(crate) async fn stream(&self, path: &str) -> Result<Incoming, CtlError> {
        let response = tokio::time::timeout(ANSWER_TIMEOUT, self.send(Method::GET, path, None)).await.unwrap_or_else(|_| {
            Err(CtlError::Unreachable { address: self.address.to_string(), reason: "no answer to the event stream request".into() })
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let bytes = response.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
        Err(self.refusal(status, String::from_utf8_lossy(&bytes).trim()))
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response<Incoming>, CtlError> {
        let unreachable = |reason: String| CtlError::Unreachable { address: self.address.to_string(), reason };
        let connect = TcpStream::connect((self.address.host.as_str(), self.address.port));
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                return Err(unreachable(format!("{error} (is `netchaos generate` or `run` serving it? see its --control-addr)")));
            }
            Err(_) => return Err(unreachable(format!("no connection within {}s", CONNECT_TIMEOUT.as_secs()))),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| unreachable(format!("the connection failed: {error}")))?;
        // The connection is driven on its own task until the answer (or the stream) is read; its
        // errors show as the request's.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = self.request(method, path, body)?;
        sender
            .send_request(request)
            .await
            .map_err(|error| unreachable(format!("the server closed the connection without an answer: {error}")))
    }

    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Request<Full<Bytes>>, CtlError> {
        let payload = body.map_or_else(Bytes::new, |body| Bytes::from(body.to_string()));
        let mut builder = Request::builder().method(method).uri(path).header(header::HOST, self.address.authority());
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(Token(token)) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| CtlError::Usage("the token has characters a header cannot carry: use printable ASCII".into()))?;
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder.body(Full::new(payload)).map_err(|error| CtlError::Usage(format!("cannot make the request: {error}")))
    }

    /// The error of a non-2xx answer whose body is `text`.
    fn refusal(&self, status: StatusCode, text: &str) -> CtlError {
        let reason = reason(text);
        if status.is_client_error() {
            let message = match status {
                StatusCode::UNAUTHORIZED if self.token.is_some() => {
                    "the server refused the token: pass its --control-token as --token (or NETCHAOS_CONTROL_TOKEN)".to_owned()
                }
                StatusCode::UNAUTHORIZED => "the server needs a token: pass --token (or set NETCHAOS_CONTROL_TOKEN)".to_owned(),
                _ => reason,
            };
            CtlError::Refused { status: Status(status), message }
        } else {
            CtlError::Server { address: self.address.to_string(), message: format!("{}: {reason}", Status(status)) }
        }
    }

    fn broken(&self, why: &str) -> CtlError {
        CtlError::Server { address: self.address.to_string(), message: format!("the answer broke off: {why}") }
    }
}

/// The reason an error answer gives: its `error`, and what is `allowed`; the text itself when it is
/// not the API's JSON.
pub(crate) fn reason(text: &str) -> String {
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return if text.is_empty() { "no reason given".to_owned() } else { text.lines().next().unwrap_or_default().to_owned() };
    };
    let error = body.get("error").and_then(Value::as_str).unwrap_or("no reason given");
    match body.get("allowed").and_then(Value::as_str).filter(|allowed| !allowed.is_empty()) {
        Some(allowed) => format!("{error} (allowed: {allowed})"),
        None => error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Result<Address, String> {
        text.parse()
    }

    #[test]
    fn addresses_take_host_port_or_an_http_url() {
        for (text, authority) in [
            ("127.0.0.1:9761", "127.0.0.1:9761"),
            ("http://127.0.0.1:9761/", "127.0.0.1:9761"),
            ("HTTP://localhost:80", "localhost:80"),
            ("localhost", "localhost:9760"),
            ("[::1]:9762", "[::1]:9762"),
            ("http://[::1]/", "[::1]:9760"),
            (" 10.0.0.5:1 ", "10.0.0.5:1"),
        ] {
            assert_eq!(address(text).map(|address| address.authority()), Ok(authority.to_owned()), "{text}");
        }
    }

    #[test]
    fn off_and_malformed_addresses_are_refused_with_what_to_pass() {
        let off = address("off").unwrap_err();
        assert!(off.contains("--addr") && off.contains("NETCHAOS_CONTROL_ADDR"), "{off}");
        for text in ["", "http://", ":9760", "host:0", "host:70000", "host:port", "::1", "[::1", "[::1]x", "h:1/v1", "https://h:1/"] {
            let error = address(text).unwrap_err();
            assert!(error.contains("--addr"), "{text}: {error}");
        }
    }

    #[test]
    fn the_token_is_redacted_from_debug() {
        let token = Token::from("s3cret".to_owned());
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        let client = Client::new(address("127.0.0.1:1").unwrap(), Some(token));
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn a_refusal_names_the_field_and_what_is_allowed() {
        let text = r#"{"error": "kind: unknown kind `nope`", "field": "kind", "allowed": "port_scan, beaconing"}"#;
        assert_eq!(reason(text), "kind: unknown kind `nope` (allowed: port_scan, beaconing)");
        assert_eq!(reason(r#"{"error": "episode x has already finished"}"#), "episode x has already finished");
        assert_eq!(reason("<html>oops</html>\nmore"), "<html>oops</html>");
        assert_eq!(reason(""), "no reason given");
    }

    #[test]
    fn exit_codes_tell_a_refused_request_from_an_absent_server() {
        let client = Client::new(address("127.0.0.1:1").unwrap(), None);
        let conflict = client.refusal(StatusCode::CONFLICT, r#"{"error": "the run is not paused"}"#);
        assert_eq!(conflict.to_string(), "409 Conflict: the run is not paused");
        assert_eq!(conflict.exit_code(), 2);
        let unauthorised = client.refusal(StatusCode::UNAUTHORIZED, "{}");
        assert!(unauthorised.to_string().starts_with("401 Unauthorized: the server needs a token"), "{unauthorised}");
        assert_eq!(unauthorised.exit_code(), 2);
        let failed = client.refusal(StatusCode::INTERNAL_SERVER_ERROR, "boom");
        assert_eq!(failed.exit_code(), 1);
        assert!(failed.to_string().contains("500 Internal Server Error: boom"), "{failed}");
        let wrong = Client::new(address("127.0.0.1:1").unwrap(), Some(Token::from("t".to_owned())));
        assert!(wrong.refusal(StatusCode::UNAUTHORIZED, "{}").to_string().contains("refused the token"));
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable_with_exit_code_1() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = Client::new(address(&format!("127.0.0.1:{port}")).unwrap(), None);
        let error = client.call(Method::GET, "/v1/status", None).await.unwrap_err();
        assert_eq!(error.exit_code(), 1, "{error}");
        assert!(error.to_string().starts_with(&format!("cannot reach the control API at 127.0.0.1:{port}: ")), "{error}");
    }
}
