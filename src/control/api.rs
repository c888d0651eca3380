//! Routing, the safety checks (token, origin, body size) and the answers of the control API.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::generator::control::{Action, Entry, EpisodeState, FieldError, MAX_ACTIVE_INJECTED, Refusal, request};
use crate::records::Timestamp;

use super::{Context, MAX_BODY};

type Body = BoxBody<Bytes, Infallible>;

const CONSOLE: &str = include_str!("console.html");

/// An answer with a JSON body.
fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

fn field_error(error: &FieldError) -> Response<Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({ "error": format!("{}: {}", error.field, error.message), "field": error.field, "allowed": error.allowed }),
    )
}

fn refusal(refusal: Refusal) -> Response<Body> {
    match refusal {
        Refusal::Conflict(message) => error(StatusCode::CONFLICT, &message),
    }
}

/// The metrics label of a request.
fn endpoint(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (_, "/") => "console",
        (_, "/v1/status") => "status",
        (&Method::POST, "/v1/episodes") => "inject",
        (_, "/v1/episodes") => "episodes",
        (_, path) if path.starts_with("/v1/episodes/") => "end",
        (_, "/v1/rate") => "rate",
        (_, "/v1/speed") => "speed",
        (_, "/v1/chaos") => "chaos",
        (_, "/v1/pause") => "pause",
        (_, "/v1/resume") => "resume",
        (_, "/v1/events") => "events",
        _ => "other",
    }
}

/// Answers one request.
pub(super) async fn respond(request: Request<Incoming>, context: Arc<Context>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let endpoint = endpoint(&method, &path);
    let origin = request.headers().get(header::ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    let cross_allowed = origin.as_deref().is_some_and(|origin| context.cors.as_deref() == Some(origin));
    let same_origin = origin.as_deref().is_none_or(|origin| origin == format!("http://{host}"));
    let mut response = if context.token.is_none() && !loopback_host(&host) {
        // A page from another site whose name was made to point at 127.0.0.1 (DNS rebinding) is
        // same-origin to the browser: without a token, only a loopback name may reach the API.
        error(
            StatusCode::FORBIDDEN,
            "the Host header does not name a loopback address: open the console at http://127.0.0.1:PORT/, or serve with --control-token",
        )
    } else if !same_origin && !cross_allowed {
        error(StatusCode::FORBIDDEN, "cross-origin requests are refused; allow an origin with --control-cors ORIGIN")
    } else if method == Method::OPTIONS {
        let mut response = Response::new(Full::new(Bytes::new()).boxed());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, DELETE"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        response
    } else if path.starts_with("/v1/") && !authorised(&request, &context) {
        let mut response = error(StatusCode::UNAUTHORIZED, "this control API needs its token: send `Authorization: Bearer TOKEN`");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    } else {
        route(request, method, &path, &context).await
    };
    if cross_allowed && let Some(origin) = origin.as_deref().and_then(|origin| HeaderValue::from_str(origin).ok()) {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    context.metrics.count(endpoint, response.status().is_success());
    response
}

/// Whether a Host header names this machine by a loopback address or `localhost`.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

fn authorised(request: &Request<Incoming>, context: &Context) -> bool {
    let Some(token) = &context.token else { return true };
    let given =
        request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(|value| value.strip_prefix("Bearer "));
    // Compared in full, whatever the first difference, so that timing tells nothing.
    given.is_some_and(|given| given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
}

async fn route(request: Request<Incoming>, method: Method, path: &str, context: &Arc<Context>) -> Response<Body> {
    let allowed = |methods: &[Method]| methods.contains(&method);
    let not_allowed = |what: &str| error(StatusCode::METHOD_NOT_ALLOWED, &format!("{path} takes {what}"));
    match path {
        "/" if allowed(&[Method::GET, Method::HEAD]) => {
            let mut response = Response::new(Full::new(Bytes::from_static(CONSOLE.as_bytes())).boxed());
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            response
        }
        "/v1/status" if allowed(&[Method::GET]) => json_response(StatusCode::OK, &status(context)),
        "/v1/episodes" if allowed(&[Method::GET]) => json_response(StatusCode::OK, &context.control.view.episodes()),
        "/v1/episodes" if allowed(&[Method::POST]) => match body(request).await {
            Ok(map) => inject(&map, context),
            Err(response) => response,
        },
        "/v1/events" if allowed(&[Method::GET]) => events(context.clone()),
        "/v1/rate" | "/v1/speed" | "/v1/chaos" if allowed(&[Method::PUT]) => match body(request).await {
            Ok(map) => change(path, &map, context),
            Err(response) => response,
        },
        "/v1/pause" | "/v1/resume" if allowed(&[Method::POST]) => pace(path == "/v1/pause", context),
        _ if path.starts_with("/v1/episodes/") && allowed(&[Method::DELETE]) => end(&path["/v1/episodes/".len()..], context),
        "/" | "/v1/status" | "/v1/events" => not_allowed("GET"),
        "/v1/episodes" => not_allowed("GET and POST"),
        "/v1/rate" | "/v1/speed" | "/v1/chaos" => not_allowed("PUT"),
        "/v1/pause" | "/v1/resume" => not_allowed("POST"),
        _ if path.starts_with("/v1/episodes/") => not_allowed("DELETE"),
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no such path {path}: see docs/control-api.md (GET /v1/status, /v1/episodes, /v1/events)"),
        ),
    }
}

/// The body as a JSON object, or the error answer (413 past [`MAX_BODY`]).
async fn body(request: Request<Incoming>) -> Result<serde_json::Map<String, Value>, Response<Body>> {
    let bytes = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(problem) if problem.is::<http_body_util::LengthLimitError>() => {
            return Err(error(StatusCode::PAYLOAD_TOO_LARGE, &format!("the body is over {MAX_BODY} bytes")));
        }
        Err(problem) => return Err(error(StatusCode::BAD_REQUEST, &format!("cannot read the body: {problem}"))),
    };
    request::object(&bytes).map_err(|problem| field_error(&problem))
}

fn status(context: &Context) -> Value {
    let control = &context.control;
    let mut status = control.view.status(context.facts.start_ms);
    if let Some(object) = status.as_object_mut() {
        object.insert("run_id".into(), json!(control.run_id()));
        object.insert("speed".into(), control.pacer.speed().map_or(json!("max"), |speed| json!(speed)));
        object.insert("paused".into(), json!(control.pacer.is_paused()));
        object.insert("commands".into(), json!(control.entries().len()));
        object.insert("replay".into(), json!(control.is_replay()));
    }
    status
}

/// The logical ms from t0 a command accepted now takes effect at.
fn now_ms(context: &Context) -> u64 {
    context.control.horizon_ns().div_ceil(1_000_000)
}

fn applied(context: &Context, entry: &Entry) -> Value {
    json!({
        "command": entry.command,
        "at": Timestamp::from_unix_millis(context.facts.start_ms + entry.offset_ms as i64),
        "offset_ms": entry.offset_ms,
    })
}

/// Accepts `action`, tells the view, and answers with `status` and the entry.
fn accept(
    context: &Context,
    action: Action,
    status: StatusCode,
    extra: impl FnOnce(&Entry, &mut serde_json::Map<String, Value>),
) -> Response<Body> {
    match context.control.accept(action) {
        Ok(entry) => {
            context.control.view.command(&entry, Timestamp::from_unix_millis(context.facts.start_ms + entry.offset_ms as i64));
            let mut body = applied(context, &entry);
            if let Some(object) = body.as_object_mut() {
                extra(&entry, object);
            }
            json_response(status, &body)
        }
        Err(problem) => refusal(problem),
    }
}

fn inject(map: &serde_json::Map<String, Value>, context: &Context) -> Response<Body> {
    let (injection, delay_ms) = match request::injection(map, now_ms(context), context.facts.start_ms) {
        Ok(parsed) => parsed,
        Err(problem) => return field_error(&problem),
    };
    if context.control.view.active_injected() >= MAX_ACTIVE_INJECTED {
        return error(StatusCode::CONFLICT, &format!("{MAX_ACTIVE_INJECTED} injected episodes are active: end one first"));
    }
    let start_ms = context.facts.start_ms;
    accept(context, Action::Inject(injection), StatusCode::CREATED, |entry, body| {
        if let Action::Inject(injection) = &entry.action {
            body.insert("episode_id".into(), json!(injection.episode_id));
        }
        body.insert("starts".into(), json!(Timestamp::from_unix_millis(start_ms + (entry.offset_ms + delay_ms) as i64)));
    })
}

fn end(id: &str, context: &Context) -> Response<Body> {
    match context.control.view.episode_state(id) {
        EpisodeState::Unknown => error(StatusCode::NOT_FOUND, &format!("no episode {id}: GET /v1/episodes lists them")),
        EpisodeState::Finished => error(StatusCode::CONFLICT, &format!("episode {id} has already finished")),
        EpisodeState::Active => accept(context, Action::End { episode_id: id.to_owned() }, StatusCode::OK, |_, body| {
            body.insert("episode_id".into(), json!(id));
        }),
    }
}

fn change(path: &str, map: &serde_json::Map<String, Value>, context: &Context) -> Response<Body> {
    let unpaced = context.facts.eps == 0.0;
    match path {
        "/v1/rate" | "/v1/speed" if unpaced => {
            error(StatusCode::CONFLICT, "this run is unpaced (--eps 0): it has no rate or speed to change; start it with --eps N")
        }
        "/v1/rate" => match request::rate(map) {
            Ok(action) => accept(context, action, StatusCode::OK, |_, _| {}),
            Err(problem) => field_error(&problem),
        },
        "/v1/speed" => match request::speed(map) {
            Ok(action) => {
                let speed = match action {
                    Action::Speed { speed } => speed,
                    _ => None,
                };
                let response = accept(context, action, StatusCode::OK, |_, _| {});
                if response.status().is_success() {
                    context.control.pacer.set_speed(speed, context.control.horizon_ns());
                }
                response
            }
            Err(problem) => field_error(&problem),
        },
        _ => {
            let mut chaos = context.chaos.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match request::chaos(map, &chaos) {
                Ok((change, next)) => {
                    let response = accept(context, Action::Chaos(change), StatusCode::OK, |_, _| {});
                    if response.status().is_success() {
                        *chaos = next;
                    }
                    response
                }
                Err(problem) => field_error(&problem),
            }
        }
    }
}

fn pace(pause: bool, context: &Context) -> Response<Body> {
    let pacer = &context.control.pacer;
    match (pause, pacer.is_paused()) {
        (true, true) => error(StatusCode::CONFLICT, "the run is already paused: POST /v1/resume"),
        (false, false) => error(StatusCode::CONFLICT, "the run is not paused"),
        (true, false) => {
            let response = accept(context, Action::Pause, StatusCode::OK, |_, _| {});
            if response.status().is_success() {
                pacer.pause(context.control.horizon_ns());
            }
            response
        }
        (false, true) => {
            let response = accept(context, Action::Resume, StatusCode::OK, |_, _| {});
            if response.status().is_success() {
                pacer.resume();
            }
            response
        }
    }
}

/// `GET /v1/events`: the view's events as they come, and the status once a second, until the run
/// ends or the reader goes.
fn events(context: Arc<Context>) -> Response<Body> {
    let receiver = context.control.view.subscribe();
    let ticker = tokio::time::interval(Duration::from_secs(1));
    let stream = futures::stream::unfold((receiver, ticker, context, false), |(mut receiver, mut ticker, context, done)| async move {
        if done {
            return None;
        }
        loop {
            let (name, data) = tokio::select! {
                event = receiver.recv() => match event {
                    Ok(event) => (event.name, event.data),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
                _ = ticker.tick() => ("status", status(&context).to_string()),
            };
            let done = name == "ended";
            let frame = Frame::data(Bytes::from(format!("event: {name}\ndata: {data}\n\n")));
            return Some((Ok::<_, Infallible>(frame), (receiver, ticker, context, done)));
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn only_loopback_names_are_loopback_hosts() {
        for host in ["127.0.0.1:9760", "127.0.0.1", "127.1.2.3:80", "localhost:9760", "LOCALHOST", "[::1]:9760"] {
            assert!(loopback_host(host), "{host}");
        }
        for host in ["", "evil.example:9760", "10.0.0.1:9760", "0.0.0.0:9760", "[::]:9760", "127.0.0.1.evil.example", "localhost.evil:1"] {
            assert!(!loopback_host(host), "{host}");
        }
    }
}
