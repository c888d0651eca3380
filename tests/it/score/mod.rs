//! `netchaos score` against hand-worked fixtures and against reference implementations.
mod inputs;
mod soc;
mod walkthrough;
