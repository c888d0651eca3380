//! `netchaos score` against hand-worked fixtures and against reference implementations.

mod inputs;
mod reference;
mod soc;
mod walkthrough;
