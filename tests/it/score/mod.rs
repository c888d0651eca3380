//! `netchaos score` against hand-worked fixtures and against reference implementations.

mod reference;
