//! The ML metrics of `netchaos score`, as pure functions.
