//! The integration tests, as one test binary with a module per area.
//!
//! Every test binary links the whole library and librdkafka; one binary links them once, where one
//! file per area under `tests/` linked them once per file. Run an area with its module name as the
//! filter, e.g. `cargo test --test it kafka::` or `cargo test --test it run_pipeline::`.
//!
//! The areas that need the stack of `scripts/stack up` (Kafka, the S3 server, Prometheus) read its
//! addresses from `NETCHAOS_TEST_*` and fail without it, never skip. Each takes
//! [`common::kafka::serial`]: one at a time across every module, since some stop a broker or the S3
//! server for a while (separate binaries used to keep them apart; one binary runs them side by side).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

// Records, the generator and chaos.
mod canonical;
mod chaos_episodes;
mod chaos_kinds;
mod generator_records;
mod logical_clock;
mod scenario_runs;
mod scheduled_episodes;
mod validation;

// The binary against bad flags, signals and hostile input.
mod cli_generate;
mod ctl;
mod hardening;
mod scenario;
mod verify_hostile;

// Live control: the API against a running generator, its journal and replay.
mod control;

// Scoring detectors against the ground truth; fidelity to real logs.
mod fidelity;
mod score;

// AWS's native formats, read by third-party readers.
mod aws_formats;
mod aws_layout;
mod aws_security;
mod gzip_readers;

// The sink and its stores.
mod run_pipeline;
mod sink_age_trigger;
mod sink_sources;
mod storage_conformance;

// Against the Kafka cluster and the S3 server: delivery, crashes, failpoints, the crash campaign.
mod crash_campaign;
mod kafka;
mod kafka_reliability;
mod ordered_writes;
mod s3_sink;

// Operations: metrics, the dashboard, the compose stack.
mod compose;
mod dashboard;
mod observability;

// Live control: the web console in a real browser.
mod console;
