//! Transport: how generated records travel to the sink. The in-process bounded queue of
//! `netchaos run` lives here; everything that touches Kafka joins it in a later issue.

pub mod queue;
