//! netchaos: a network-telemetry chaos engine and ingestion pipeline.
//!
//! # Layout: the data flows left to right
//!
//! - [`records`]: the two record kinds, their JSON form, the JSON Schema and the one strict
//!   validation function.
//! - [`network`]: the simulated network: the address plan (topology), one conversation and its
//!   records (session), seeded randomness, realistic baseline traffic.
//! - [`generator`]: the rate schedule, the worker lanes and the ordered writer, the run manifest.
//! - [`chaos`]: anomaly episodes, one file per kind, and the scheduler that holds each kind's
//!   fraction to its probability.
//! - [`transport`]: the in-process bounded queue that joins generator and sink in `netchaos run`.
//! - [`kafka`]: the distributed mode through Apache Kafka: the producer, the consumer-group driver
//!   of the sink, the DLQ topic, topic creation.
//! - [`sink`]: validation, the dead-letter queue, per-partition batching by records / bytes / age,
//!   compression, object storage, recovery for exactly-once keys.
//! - [`verify`]: audits a store against generator manifests (lost, duplicated, invalid).
//! - [`cli`]: one module per subcommand, thin; logic lives in the library.
//!
//! Beneath them all, [`runtime`]: the tokio runtime, the one [`Shutdown`](runtime::Shutdown)
//! request every command stops by (Ctrl-C, SIGTERM), and the timers the drivers' loops share.

#![forbid(unsafe_code)]

pub mod chaos;
pub mod cli;
pub mod generator;
pub mod kafka;
pub mod metrics;
pub mod network;
pub mod records;
pub mod runtime;
pub mod sink;
pub mod transport;
pub mod verify;
