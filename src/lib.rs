//! netchaos: a network-telemetry chaos engine and ingestion pipeline.
//!
//! # Layout: modules depend only downward
//!
//! Lowest first; each module uses only those before it in this list (checked by
//! `cargo test --lib layering`, whose `LAYERS` is this order). The data flows from the generator
//! through a transport (the in-process queue or Kafka) into the sink.
//!
//! - [`runtime`]: the tokio runtime, the one [`Shutdown`](runtime::Shutdown) request every command
//!   stops by (Ctrl-C, SIGTERM), and the timers the drivers' loops share.
//! - [`records`]: the two record kinds, their JSON form, the JSON Schema, the one strict
//!   validation function, and timestamps (the wall clock too).
//! - [`formats`]: what AWS writes (VPC Flow Logs text and Parquet, Network Firewall EVE JSON),
//!   OCSF, and the Athena DDL that reads them: pure functions of a record.
//! - [`metrics`]: the Prometheus metric handles each stage counts into, the `/metrics` endpoint,
//!   the live status line. It knows no stage.
//! - [`network`]: the simulated network: the address plan (topology), one conversation and its
//!   records (session), seeded randomness, realistic baseline traffic.
//! - [`chaos`]: anomaly episodes, one file per kind, and the scheduler that holds each kind's
//!   fraction to its probability.
//! - [`generator`]: the rate schedule, the worker lanes and the ordered writer, the run manifest,
//!   and live control (commands at logical times, the journal, the pace).
//! - [`scenario`]: scenario files, read and checked, into a run's timeline.
//! - [`control`]: the control server: the HTTP API, its events and the web console.
//! - [`sink`]: validation, the dead-letter queue, per-partition batching by records / bytes / age,
//!   compression, object storage, recovery for exactly-once keys.
//! - [`transport`]: the in-process bounded queue that joins generator and sink in `netchaos run`.
//! - [`kafka`]: the distributed mode through Apache Kafka: the producer, the consumer-group driver
//!   of the sink, the DLQ topic, topic creation.
//! - [`verify`]: audits a store against generator manifests (lost, duplicated, invalid).
//! - [`score`]: a detector's alerts or scores against a run's ground truth: SOC figures and the
//!   ML metrics (range-based, affiliation, VUS).
//! - [`fidelity`]: how close a candidate's flow logs are to a reference export of real ones.
//! - [`cli`]: one module per subcommand, thin; logic lives in the library.

#![forbid(unsafe_code)]

pub mod chaos;
pub mod cli;
pub mod control;
pub mod fidelity;
pub mod formats;
pub mod generator;
pub mod kafka;
pub mod metrics;
pub mod network;
pub mod records;
pub mod runtime;
pub mod scenario;
pub mod score;
pub mod sink;
pub mod transport;
pub mod verify;

#[cfg(test)]
mod layering;
