//! netchaos's `records` module (types, decoder, validator, encoder), compiled here from the very
//! same source files, on its own: the fuzz build then needs neither librdkafka nor the rest of the
//! crate, and takes a minute instead of a quarter of an hour. The module depends on nothing else
//! in netchaos (it names only itself through `crate::records`), which is what makes this work.
#![allow(dead_code, unreachable_pub)]

#[path = "../../src/records/mod.rs"]
pub mod records;
