//! `--metrics-addr`, shared by `generate`, `sink` and `run`.

use clap::Args;
use prometheus_client::registry::Registry;

use crate::metrics::{BindError, MetricsAddr, MetricsServer, register_build_info, serve};

use super::UsageError;

/// Default metrics ports, one per command, so that a generator and a sink on one machine can both
/// be scraped without flags.
pub(crate) const GENERATE_PORT: u16 = 9750;
pub(crate) const SINK_PORT: u16 = 9751;
pub(crate) const RUN_PORT: u16 = 9752;

#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// Serve Prometheus metrics on http://ADDR/metrics, or `off`. Default 127.0.0.1:9750 for
    /// generate, :9751 for sink, :9752 for run (a default port already taken moves to a free one,
    /// with a warning).
    #[arg(long, env = "NETCHAOS_METRICS_ADDR", value_name = "ADDR")]
    pub(crate) metrics_addr: Option<MetricsAddr>,
}

impl MetricsArgs {
    /// Starts the endpoint for `command` with what `register` adds to the registry.
    pub(crate) fn serve(
        &self,
        command: &'static str,
        default_port: u16,
        register: impl FnOnce(&mut Registry),
    ) -> anyhow::Result<Option<MetricsServer>> {
        let (addr, is_default) = match self.metrics_addr {
            Some(addr) => (addr, false),
            None => (MetricsAddr::At(std::net::SocketAddr::from(([127, 0, 0, 1], default_port))), true),
        };
        if addr == MetricsAddr::Off {
            return Ok(None);
        }
        let mut registry = Registry::default();
        register_build_info(&mut registry, command);
        register(&mut registry);
        serve(addr, is_default, registry).map_err(|error| match error.downcast::<BindError>() {
            Ok(unbindable) => UsageError(unbindable.to_string()).into(),
            Err(other) => other,
        })
    }
}
