//! `netchaos ctl`: the command-line client of a running generator's control API
//! (`docs/control-api.md`). One subcommand per endpoint; each sends one request and prints the
//! answer, for people (a line, a table) or with `--json` as the server wrote it.
//!
//! The flags are resolved first (`--addr`, `--token`), in one step that can fail with one line.
//! Every failure is one line on stderr, `netchaos ctl: ...`, and its exit code says whose it is:
//! 2 a request refused (a 4xx, or the flags), 1 a server that cannot be reached or failed.

mod client;
mod render;
mod sse;

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{Map, Value, json};

use client::{Address, Client, CtlError, Token};

pub(crate) const EXAMPLES: &str = "Examples:
  netchaos ctl status
  netchaos ctl inject port_scan --target 'service ssh' --for 2m
  netchaos ctl inject data_exfiltration --difficulty subtle --param exfil_bytes=50MB --at 2026-12-02T10:05:00Z
  netchaos ctl episodes
  netchaos ctl end 9c0f1e2d3a4b5c6d-s0
  netchaos ctl rate 50000 --ramp 1m
  netchaos ctl speed max
  netchaos ctl chaos --latency-spike-prob 0.01 --difficulty subtle
  netchaos ctl pause && netchaos ctl resume
  netchaos ctl watch
  netchaos ctl --addr http://10.0.0.5:9760/ --token \"$TOKEN\" --json status | jq .rate";

#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// The control API: HOST:PORT or http://HOST:PORT/, as the generator's --control-addr.
    #[arg(long, global = true, env = "NETCHAOS_CONTROL_ADDR", default_value = "127.0.0.1:9760", value_name = "ADDR")]
    addr: String,

    /// The server's --control-token, sent as `Authorization: Bearer`; never printed.
    #[arg(long, global = true, env = "NETCHAOS_CONTROL_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<Token>,

    /// Print the server's JSON answer as it is, one line (for `watch`, one line per event:
    /// `{"event": NAME, "data": ...}`, the data as the server sent it).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Logical time, speed, target and achieved rate, counts, active episodes.
    Status,
    /// Active and finished episodes, as a table.
    Episodes,
    /// Inject an episode of KIND (port_scan, beaconing, ...): prints its id and when it starts.
    Inject(InjectArgs),
    /// End an episode early.
    End {
        /// Its id, as `episodes` lists it.
        id: String,
    },
    /// A new target rate, records per second.
    Rate {
        eps: f64,
        /// Reach it linearly over this much logical time (`30s`, `1m`).
        #[arg(long, value_name = "DURATION")]
        ramp: Option<String>,
    },
    /// A new speed: a multiple of real time, or `max`.
    Speed {
        #[arg(value_parser = parse_speed)]
        speed: SpeedArg,
    },
    /// New background probabilities or difficulty.
    Chaos(ChaosArgs),
    /// Hold the run at its current logical time.
    Pause,
    /// Go on after a pause.
    Resume,
    /// Follow the event stream, one line per event, until the run ends or Ctrl-C.
    Watch {
        /// Stop after this many events (the once-a-second status not counted).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Show the once-a-second status events too.
        #[arg(long)]
        status: bool,
    },
}

#[derive(Debug, Args)]
struct InjectArgs {
    /// The anomaly kind.
    kind: String,
    /// `overt` or `subtle` (the kind's first by default).
    #[arg(long)]
    difficulty: Option<String>,
    /// `any`, `host 10.16.0.11`, `service ssh`, `subnet 10.16.16.0/20`.
    #[arg(long)]
    target: Option<String>,
    /// How long it lasts in logical time (default 5m, at most 24h).
    #[arg(long = "for", value_name = "DURATION")]
    duration: Option<String>,
    /// When it starts: a logical time (RFC 3339), not before the run's.
    #[arg(long, value_name = "TIME", conflicts_with = "delay")]
    at: Option<String>,
    /// When it starts: this much logical time from now (`30s`).
    #[arg(long = "in", id = "delay", value_name = "DURATION")]
    delay: Option<String>,
    /// How strong, in (0, 100] (1 by default).
    #[arg(long)]
    intensity: Option<f64>,
    /// A parameter of the kind, NAME=VALUE (`ports=200`, `exfil_bytes=50MB`); repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    parameters: Vec<(String, Value)>,
}

#[derive(Debug, Args)]
struct ChaosArgs {
    #[arg(long, value_name = "P")]
    latency_spike_prob: Option<f64>,
    #[arg(long, value_name = "P")]
    data_exfil_prob: Option<f64>,
    #[arg(long, value_name = "P")]
    conn_reset_prob: Option<f64>,
    /// `overt` or `subtle`.
    #[arg(long)]
    difficulty: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SpeedArg {
    Times(f64),
    Max,
}

fn parse_speed(text: &str) -> Result<SpeedArg, String> {
    match text.trim() {
        "max" => Ok(SpeedArg::Max),
        number => number.parse().map(SpeedArg::Times).map_err(|_| format!("`{text}` is not a speed: a number (0.5, 10) or `max`")),
    }
}

/// `NAME=VALUE`: a whole number stays a number, anything else (`50MB`) is sent as text.
fn parse_param(text: &str) -> Result<(String, Value), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not NAME=VALUE (e.g. ports=200)"))?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || value.is_empty() {
        return Err(format!("`{text}` is not NAME=VALUE (e.g. ports=200)"));
    }
    let value = value.parse::<u64>().map_or_else(|_| json!(value), |number| json!(number));
    Ok((name.to_owned(), value))
}

/// Runs the subcommand; its own errors are reported here, as `netchaos ctl: ...`.
pub(crate) fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let outcome = resolve(&args).and_then(|client| runtime.block_on(dispatch(&client, &args)));
    Ok(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // A stderr that is gone has nobody to tell.
            let _ = writeln!(std::io::stderr().lock(), "netchaos ctl: {error}");
            ExitCode::from(error.exit_code())
        }
    })
}

/// The flags, checked: where to connect, with what token.
fn resolve(args: &CtlArgs) -> Result<Client, CtlError> {
    let address: Address = args.addr.parse().map_err(CtlError::Usage)?;
    if args.token.as_ref().is_some_and(Token::is_blank) {
        return Err(CtlError::Usage("--token is empty: give the server's token, or leave the flag out".into()));
    }
    Ok(Client::new(address, args.token.clone()))
}

async fn dispatch(client: &Client, args: &CtlArgs) -> Result<(), CtlError> {
    let json = args.json;
    match &args.command {
        CtlCommand::Status => {
            let text = client.call(Method::GET, "/v1/status", None).await?;
            show(client, json, &text, render::status)
        }
        CtlCommand::Episodes => {
            let text = client.call(Method::GET, "/v1/episodes", None).await?;
            show(client, json, &text, render::episodes)
        }
        CtlCommand::Inject(inject) => {
            let text = client.call(Method::POST, "/v1/episodes", Some(&injection(inject))).await?;
            show(client, json, &text, |answer| render::injected(&inject.kind, answer))
        }
        CtlCommand::End { id } => {
            let path = format!("/v1/episodes/{}", escape_path(id));
            let text = client.call(Method::DELETE, &path, None).await?;
            show(client, json, &text, |answer| render::applied(&format!("ending {id}"), answer))
        }
        CtlCommand::Rate { eps, ramp } => {
            let mut body = json!({"eps": eps});
            if let Some(ramp) = ramp {
                body["ramp"] = json!(ramp);
            }
            let text = client.call(Method::PUT, "/v1/rate", Some(&body)).await?;
            let over = ramp.as_ref().map(|ramp| format!(" over {ramp}")).unwrap_or_default();
            show(client, json, &text, |answer| render::applied(&format!("rate {eps}/s{over}"), answer))
        }
        CtlCommand::Speed { speed } => {
            let (body, what) = match speed {
                SpeedArg::Max => (json!({"speed": "max"}), "speed max".to_owned()),
                SpeedArg::Times(times) => (json!({"speed": times}), format!("speed {times}x")),
            };
            let text = client.call(Method::PUT, "/v1/speed", Some(&body)).await?;
            show(client, json, &text, |answer| render::applied(&what, answer))
        }
        CtlCommand::Chaos(chaos) => {
            let mut body = Map::new();
            for (name, value) in [
                ("latency_spike_prob", chaos.latency_spike_prob),
                ("data_exfil_prob", chaos.data_exfil_prob),
                ("conn_reset_prob", chaos.conn_reset_prob),
            ] {
                if let Some(value) = value {
                    body.insert(name.to_owned(), json!(value));
                }
            }
            if let Some(difficulty) = &chaos.difficulty {
                body.insert("difficulty".to_owned(), json!(difficulty));
            }
            if body.is_empty() {
                return Err(CtlError::Usage(
                    "chaos changes nothing without --latency-spike-prob, --data-exfil-prob, --conn-reset-prob or --difficulty".into(),
                ));
            }
            let text = client.call(Method::PUT, "/v1/chaos", Some(&Value::Object(body))).await?;
            show(client, json, &text, |answer| render::applied("chaos changed", answer))
        }
        CtlCommand::Pause => {
            let text = client.call(Method::POST, "/v1/pause", None).await?;
            show(client, json, &text, |answer| render::applied("paused", answer))
        }
        CtlCommand::Resume => {
            let text = client.call(Method::POST, "/v1/resume", None).await?;
            show(client, json, &text, |answer| render::applied("resumed", answer))
        }
        CtlCommand::Watch { count, status } => watch(client, json, *count, *status).await,
    }
}

/// The body of `POST /v1/episodes`: only what was given, the server's defaults for the rest.
fn injection(inject: &InjectArgs) -> Value {
    let mut body = Map::new();
    body.insert("kind".into(), json!(inject.kind));
    for (name, value) in [
        ("difficulty", &inject.difficulty),
        ("target", &inject.target),
        ("duration", &inject.duration),
        ("at", &inject.at),
        ("in", &inject.delay),
    ] {
        if let Some(value) = value {
            body.insert(name.into(), json!(value));
        }
    }
    if let Some(intensity) = inject.intensity {
        body.insert("intensity".into(), json!(intensity));
    }
    if !inject.parameters.is_empty() {
        body.insert("parameters".into(), Value::Object(inject.parameters.iter().cloned().collect()));
    }
    Value::Object(body)
}

/// An episode id in a path: the bytes a path cannot hold, percent-encoded.
fn escape_path(id: &str) -> String {
    id.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Prints an answer: as it is with `--json`, else as `human` renders it.
fn show(client: &Client, json: bool, text: &str, human: impl FnOnce(&Value) -> String) -> Result<(), CtlError> {
    if json {
        println!("{text}");
        return Ok(());
    }
    let answer: Value = serde_json::from_str(text)
        .map_err(|error| CtlError::Server { address: client.address().to_string(), message: format!("its answer is not JSON: {error}") })?;
    print!("{}", human(&answer));
    Ok(())
}

/// `watch`: the events until the server ends the stream (the run is over), `count` of them, or
/// Ctrl-C; all end with exit code 0.
async fn watch(client: &Client, json: bool, count: Option<u64>, show_status: bool) -> Result<(), CtlError> {
    let mut body = client.stream("/v1/events").await?;
    let mut parser = sse::Parser::default();
    let mut watcher = Watcher { json, show_status, left: count, clock: render::Clock::default() };
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    while watcher.left != Some(0) {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = &mut interrupted => return Ok(()),
        };
        // The end of the stream, or a connection the server dropped as it exited: the run is over.
        let Some(Ok(frame)) = frame else { return Ok(()) };
        let Ok(data) = frame.into_data() else { continue };
        for event in parser.feed(&data) {
            if !watcher.print(&event) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// What `watch` prints, and how many events it has left to print.
#[derive(Debug)]
struct Watcher {
    json: bool,
    show_status: bool,
    left: Option<u64>,
    clock: render::Clock,
}

impl Watcher {
    /// Prints one event (unless it is a status and those are not wanted); false once no more is to
    /// come or wanted.
    fn print(&mut self, event: &sse::Event) -> bool {
        if self.left == Some(0) {
            return false;
        }
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        let is_status = event.name == "status";
        if is_status {
            self.clock.learn(&data);
        }
        if !is_status || self.show_status {
            if self.json {
                // The data as the server wrote it, with the event's name beside it.
                let raw = match (&data, event.data.contains('\n')) {
                    (Value::Null, _) => json!(event.data).to_string(),
                    (_, true) => data.to_string(),
                    (_, false) => event.data.trim().to_owned(),
                };
                println!("{{\"event\":{},\"data\":{raw}}}", json!(event.name));
            } else {
                println!("{}", render::event(&self.clock, &event.name, &data));
            }
        }
        if !is_status && let Some(left) = &mut self.left {
            *left -= 1;
        }
        event.name != "ended" && self.left != Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbers_when_whole_and_text_otherwise() {
        assert_eq!(parse_param("ports=200"), Ok(("ports".into(), json!(200))));
        assert_eq!(parse_param("exfil_bytes = 50MB"), Ok(("exfil_bytes".into(), json!("50MB"))));
        for bad in ["ports", "=3", "ports=", ""] {
            assert!(parse_param(bad).unwrap_err().contains("NAME=VALUE"), "{bad}");
        }
    }

    #[test]
    fn speeds_are_numbers_or_max() {
        assert_eq!(parse_speed("max"), Ok(SpeedArg::Max));
        assert_eq!(parse_speed("2.5"), Ok(SpeedArg::Times(2.5)));
        assert!(parse_speed("fast").unwrap_err().contains("`max`"));
    }

    #[test]
    fn an_injection_sends_only_what_was_given() {
        let mut inject = InjectArgs {
            kind: "port_scan".into(),
            difficulty: None,
            target: Some("service ssh".into()),
            duration: Some("10m".into()),
            at: None,
            delay: Some("30s".into()),
            intensity: Some(2.0),
            parameters: vec![("ports".into(), json!(200))],
        };
        assert_eq!(
            injection(&inject),
            json!({"kind": "port_scan", "target": "service ssh", "duration": "10m", "in": "30s", "intensity": 2.0, "parameters": {"ports": 200}})
        );
        inject = InjectArgs { target: None, duration: None, delay: None, intensity: None, parameters: Vec::new(), ..inject };
        assert_eq!(injection(&inject), json!({"kind": "port_scan"}));
    }

    #[test]
    fn ids_are_escaped_in_paths() {
        assert_eq!(escape_path("9c0f-s12"), "9c0f-s12");
        assert_eq!(escape_path("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn watch_counts_events_but_not_statuses_and_stops_at_the_end() {
        let event = |name: &str| sse::Event { name: name.into(), data: "{}".into() };
        let mut watcher = Watcher { json: true, show_status: false, left: Some(2), clock: render::Clock::default() };
        assert!(watcher.print(&event("status")));
        assert!(watcher.print(&event("inject")));
        assert_eq!(watcher.left, Some(1));
        assert!(!watcher.print(&event("episode_start")));
        let mut unbounded = Watcher { json: true, show_status: true, left: None, clock: render::Clock::default() };
        assert!(unbounded.print(&event("rate")));
        assert!(!unbounded.print(&event("ended")));
    }
}
