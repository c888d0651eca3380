//! Record formats other than netchaos's own JSON: what AWS writes to S3 (VPC Flow Logs as text
//! and as Parquet, Network Firewall's Suricata EVE JSON), OCSF Network Activity for Security Lake,
//! and the Athena DDL that reads them. Each is a pure function of a validated
//! [`Record`](crate::records::Record): the sink ([`crate::sink`]) and `generate --format` call
//! these, and nothing here knows where the bytes go.

pub mod athena;
pub mod aws_flow;
pub mod flow_parquet;
mod json_object;
pub mod network_firewall;
pub mod ocsf;
mod ocsf_parquet;
