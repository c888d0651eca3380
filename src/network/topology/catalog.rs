//! The service catalog: what every VPC runs, on which port, for which callers, and how much of
//! its traffic each service draws.

use crate::records::AppProto;

use super::{Callers, Role};

pub(super) struct ServiceTemplate {
    pub(super) name: &'static str,
    pub(super) role: Role,
    pub(super) port: u16,
    pub(super) app_proto: AppProto,
    pub(super) callers: Callers,
    /// Share of a VPC's service traffic.
    pub(super) weight: f64,
    /// Median response size in bytes.
    pub(super) response_median: f64,
}

pub(super) const SERVICE_CATALOG: [ServiceTemplate; 9] = [
    ServiceTemplate {
        name: "web-https",
        role: Role::Web,
        port: 443,
        app_proto: AppProto::Tls,
        callers: Callers::Internet,
        weight: 0.22,
        response_median: 18_000.0,
    },
    ServiceTemplate {
        name: "web-http",
        role: Role::Web,
        port: 80,
        app_proto: AppProto::Http,
        callers: Callers::Internet,
        weight: 0.04,
        response_median: 600.0,
    },
    ServiceTemplate {
        name: "api",
        role: Role::Api,
        port: 8080,
        app_proto: AppProto::Http,
        callers: Callers::Roles(&[Role::Web]),
        weight: 0.24,
        response_median: 4_000.0,
    },
    ServiceTemplate {
        name: "auth",
        role: Role::Auth,
        port: 8443,
        app_proto: AppProto::Tls,
        callers: Callers::Roles(&[Role::Web, Role::Api]),
        weight: 0.08,
        response_median: 1_500.0,
    },
    ServiceTemplate {
        name: "postgres",
        role: Role::Database,
        port: 5432,
        app_proto: AppProto::Postgresql,
        callers: Callers::Roles(&[Role::Api, Role::Worker]),
        weight: 0.14,
        response_median: 6_000.0,
    },
    ServiceTemplate {
        name: "redis",
        role: Role::Cache,
        port: 6379,
        app_proto: AppProto::Redis,
        callers: Callers::Roles(&[Role::Api, Role::Web]),
        weight: 0.12,
        response_median: 800.0,
    },
    ServiceTemplate {
        name: "kafka",
        role: Role::Broker,
        port: 9092,
        app_proto: AppProto::Kafka,
        callers: Callers::Roles(&[Role::Api, Role::Worker]),
        weight: 0.10,
        response_median: 12_000.0,
    },
    ServiceTemplate {
        name: "search",
        role: Role::Search,
        port: 9200,
        app_proto: AppProto::Http,
        callers: Callers::Roles(&[Role::Api]),
        weight: 0.05,
        response_median: 9_000.0,
    },
    ServiceTemplate {
        name: "ssh",
        role: Role::Bastion,
        port: 22,
        app_proto: AppProto::Ssh,
        callers: Callers::Internet,
        weight: 0.01,
        response_median: 30_000.0,
    },
];

/// The names of the services of the catalog, each offered in every VPC: what a scenario's
/// `target: {service: …}` may name.
pub fn service_names() -> impl Iterator<Item = &'static str> {
    SERVICE_CATALOG.iter().map(|template| template.name)
}
