//! Transport: how generated records travel to the sink in one process. The in-process bounded
//! queue of `netchaos run` lives here; the distributed transport, Apache Kafka, is
//! [`crate::kafka`].

pub mod queue;
