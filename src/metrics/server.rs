//! The `/metrics` endpoint: a small HTTP/1 server (hyper) on a thread of its own, so that serving
//! a scrape never competes with the generator's lanes or the sink's runtime for a task slot.

use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;

/// `--metrics-addr`: where to serve, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddr {
    Off,
    At(SocketAddr),
}

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(MetricsAddr::Off);
        }
        text.parse::<SocketAddr>()
            .map(MetricsAddr::At)
            .map_err(|_| format!("`{text}` is not an address like 127.0.0.1:9750 (or `off` to serve no metrics)"))
    }
}

/// A running metrics endpoint; it serves until the process exits.
#[derive(Debug)]
pub struct MetricsServer {
    address: SocketAddr,
}

impl MetricsServer {
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics address cannot be bound (a port in use, an address not of this machine, a port
/// below 1024 without the right): the user's to fix, so the CLI reports it as a usage error.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {address}: {source} (pass another --metrics-addr, or `off`)")]
pub struct BindError {
    pub address: SocketAddr,
    pub source: std::io::Error,
}

/// Serves `registry` on `addr`. `is_default` says the address was not asked for: when another
/// process (another netchaos, say) holds that port, the metrics move to a free port with a warning
/// instead of failing the run. An address given explicitly must be free; one that cannot be bound
/// is a [`BindError`].
pub fn serve(addr: MetricsAddr, is_default: bool, registry: Registry) -> anyhow::Result<Option<MetricsServer>> {
    let MetricsAddr::At(wanted) = addr else { return Ok(None) };
    let listener = match TcpListener::bind(wanted) {
        Ok(listener) => listener,
        Err(error) if is_default && error.kind() == std::io::ErrorKind::AddrInUse => {
            let fallback = SocketAddr::new(wanted.ip(), 0);
            let listener = TcpListener::bind(fallback).map_err(|source| BindError { address: fallback, source })?;
            tracing::warn!(
                wanted = %wanted,
                serving = %listener.local_addr()?,
                "the default metrics port is in use (another netchaos?): metrics are served on another port; pass --metrics-addr to choose"
            );
            listener
        }
        Err(source) => return Err(BindError { address: wanted, source }.into()),
    };
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let registry = Arc::new(registry);
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cannot start the metrics server");
                return;
            }
        };
        runtime.block_on(accept_loop(listener, registry));
    })?;
    tracing::info!(%address, "serving metrics on http://{address}/metrics");
    Ok(Some(MetricsServer { address }))
}

async fn accept_loop(listener: TcpListener, registry: Arc<Registry>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot serve metrics");
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: do not spin on it.
                tracing::debug!(%error, "a metrics connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let registry = registry.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&request, &registry)) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "a metrics connection ended with an error");
            }
        });
    }
}

fn respond(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "text/plain", "netchaos serves its metrics on /metrics\n".into());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET /metrics\n".into());
    }
    let mut body = String::with_capacity(16 * 1024);
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => reply(StatusCode::OK, CONTENT_TYPE, body),
        Err(error) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("cannot encode the metrics: {error}\n")),
    }
}
