//! The simulated network: the address plan ([`topology`]), one conversation and how it renders as a
//! record ([`session`]), the seeded randomness every draw comes from ([`random`]), and the mix of
//! normal conversations ([`baseline`]). The generator and the chaos kinds both build on it; it
//! depends only on [`records`](crate::records).

pub mod baseline;
pub mod random;
pub mod session;
pub mod topology;
