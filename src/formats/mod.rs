//! Record formats other than netchaos's own JSON: what AWS writes to S3 (VPC Flow Logs as text
//! and as Parquet, Network Firewall's Suricata EVE JSON), OCSF Network Activity for Security Lake,
//! and the Athena DDL that reads them. Each is a pure function of a validated
//! [`Record`](crate::records::Record): the sink ([`crate::sink`]) and `generate --format` call
//! these, and nothing here knows where the bytes go.
