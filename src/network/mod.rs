//! The simulated network: the address plan ([`topology`]), one conversation and how it renders as a
//! record ([`session`]), the seeded randomness every draw comes from ([`random`]), the mix of
//! normal conversations ([`baseline`]), and what a scheduled episode aims at ([`target`]). The
//! generator and the chaos kinds both build on it; it depends only on
//! [`records`](crate::records).

pub mod baseline;
pub mod random;
pub mod session;
pub mod target;
pub mod topology;
