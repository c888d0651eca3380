//! How close a candidate's flow logs are to a reference export of real ones (`netchaos fidelity`).
//!
//! Each input (netchaos JSON lines, the AWS VPC flow log text format, or a store's landed
//! records) is read once into a [`Profile`] in bounded memory; [`compare`] turns two profiles
//! into a [`Report`] of the measures synthetic-flow papers report: NetShare's distances (Yin et
//! al., SIGCOMM 2022, `eval/dist_metrics.py`: address-rank EMD, port and protocol TVD, EMD on
//! durations and sizes), the top-10 destination-port overlap, Ring et al.'s domain checks (2019)
//! and the per-minute autocorrelation and Hurst estimate. `docs/fidelity.md` says what each one
//! means and how its thresholds were chosen.
//!
//! Layout: [`flow`] parses records of both formats, [`read`] reads inputs, [`profile`] counts,
//! [`distance`] and [`checks`] hold the measures, [`report`] compares and [`table`] prints.

pub mod checks;
pub mod distance;
pub mod flow;
pub mod profile;
pub mod read;
pub mod report;
mod table;

pub use profile::Profile;
pub use read::{profile_file, profile_reader, profile_store};
pub use report::{Report, Row, Verdict, compare};

/// Why an input cannot be compared: each is the user's to fix, and says how.
#[derive(Debug, thiserror::Error)]
pub enum FidelityError {
    #[error("cannot read {name}: {reason}")]
    Unreadable { name: String, reason: String },
    #[error("{name}:{line}: {reason}")]
    Format { name: String, line: u64, reason: String },
    #[error("the store {name}, record {record}: {reason}")]
    StoreRecord { name: String, record: u64, reason: String },
    #[error("{name} holds no flow records{}: give netchaos JSON lines or an AWS flow log", if *firewall > 0 { format!(" (only {firewall} firewall records)") } else { String::new() })]
    NoFlows { name: String, firewall: u64 },
    #[error("cannot read the store {name}: {reason}")]
    Store { name: String, reason: String },
}
