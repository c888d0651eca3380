//! The control server: JSON over HTTP under `/v1`, server-sent events, and the web console at `/`,
//! on a thread of its own (hyper, HTTP/1), in front of a running generator's
//! [`Control`](crate::generator::control::Control). The contract is `docs/control-api.md`.
//!
//! Safety: it binds to loopback unless given a token (the CLI refuses otherwise); with a token,
//! every request but the console page must carry it (401); a request from another origin is
//! refused (403) unless `--control-cors` names it; bodies are limited to [`MAX_BODY`]. The token
//! is never logged, journalled or written to the manifest.

mod api;

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::chaos::ChaosSettings;
use crate::generator::control::Control;
use crate::metrics::ControlMetrics;

/// Largest request body, bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The default port on loopback.
pub const DEFAULT_PORT: u16 = 9760;

/// `--control-addr`: where to serve, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlAddr {
    Off,
    At(SocketAddr),
}

impl FromStr for ControlAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "off" | "none" => Ok(ControlAddr::Off),
            address => address
                .parse()
                .map(ControlAddr::At)
                .map_err(|_| format!("`{address}` is not an address: write IP:PORT (127.0.0.1:{DEFAULT_PORT}) or `off`")),
        }
    }
}

/// What the server needs to know of the run beyond its [`Control`].
#[derive(Debug)]
pub struct RunFacts {
    /// t0, Unix ms.
    pub start_ms: i64,
    /// The flags' rate; 0: unpaced (no rate, no speed).
    pub eps: f64,
    /// The background chaos the run started with.
    pub chaos: ChaosSettings,
}

/// What every request handler shares.
#[derive(Debug)]
struct Context {
    control: Arc<Control>,
    facts: RunFacts,
    /// The background chaos with the accepted live changes (for the probabilities' sum).
    chaos: Mutex<ChaosSettings>,
    token: Option<String>,
    cors: Option<String>,
    metrics: ControlMetrics,
}

/// How the server is set up.
#[derive(Debug)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    /// Whether `addr` is the default (a busy default port falls back to another port).
    pub is_default: bool,
    pub token: Option<String>,
    pub cors: Option<String>,
}

/// A running control server.
#[derive(Debug)]
pub struct ControlServer {
    address: SocketAddr,
}

impl ControlServer {
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// Starts serving `control` on its own thread.
pub fn serve(settings: ServerSettings, control: Arc<Control>, facts: RunFacts, metrics: ControlMetrics) -> anyhow::Result<ControlServer> {
    let wanted = settings.addr;
    let listener = match TcpListener::bind(wanted) {
        Ok(listener) => listener,
        Err(error) if settings.is_default && error.kind() == std::io::ErrorKind::AddrInUse => {
            let listener = TcpListener::bind(SocketAddr::new(wanted.ip(), 0))?;
            tracing::warn!(
                wanted = %wanted,
                serving = %listener.local_addr()?,
                "the default control port is in use (another netchaos?): the control API is on another port; pass --control-addr to choose"
            );
            listener
        }
        Err(error) => anyhow::bail!("cannot serve the control API on {wanted}: {error}; choose another --control-addr, or `off`"),
    };
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let context =
        Arc::new(Context { control, chaos: Mutex::new(facts.chaos.clone()), facts, token: settings.token, cors: settings.cors, metrics });
    std::thread::Builder::new().name("control".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(accept_loop(listener, context)),
            Err(error) => tracing::error!(%error, "cannot start the control server"),
        }
    })?;
    tracing::info!(%address, "control API and console on http://{address}/");
    Ok(ControlServer { address })
}

async fn accept_loop(listener: TcpListener, context: Arc<Context>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot serve the control API");
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::debug!(%error, "a control connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let context = context.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let context = context.clone();
                async move { Ok::<_, Infallible>(api::respond(request, context).await) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "a control connection ended with an error");
            }
        });
    }
}
