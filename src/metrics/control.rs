//! [`ControlMetrics`]: what the control server was asked, by endpoint and outcome.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The endpoints of the control API, as the `endpoint` label names them.
pub const CONTROL_ENDPOINTS: &[&str] =
    &["status", "episodes", "inject", "end", "rate", "speed", "chaos", "pause", "resume", "events", "console", "other"];

/// Requests to the control API: `accepted` (2xx) or `rejected` (4xx), per endpoint.
#[derive(Debug, Clone, Default)]
pub struct ControlMetrics {
    requests: Family<[(&'static str, &'static str); 2], Counter>,
}

impl ControlMetrics {
    /// Counts one answer to `endpoint` (one of [`CONTROL_ENDPOINTS`]).
    pub fn count(&self, endpoint: &'static str, accepted: bool) {
        self.requests.get_or_create(&[("endpoint", endpoint), ("outcome", if accepted { "accepted" } else { "rejected" })]).inc();
    }

    /// Registers `netchaos_control_requests_total`, with every endpoint's series at 0.
    pub fn register(&self, registry: &mut Registry) {
        for endpoint in CONTROL_ENDPOINTS {
            for outcome in ["accepted", "rejected"] {
                let _ = self.requests.get_or_create(&[("endpoint", endpoint), ("outcome", outcome)]);
            }
        }
        registry.register(
            "netchaos_control_requests",
            "Requests to the live control API, by endpoint and outcome (accepted: 2xx; rejected: 4xx)",
            self.requests.clone(),
        );
    }
}
