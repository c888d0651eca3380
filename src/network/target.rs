//! [`Target`]: what a scheduled episode aims at — a service, a host, a subnet, or any of them.
//!
//! A scenario names targets by what a user can know before the run: a service of the catalog
//! (`ssh`, `postgres`, `web-https`), a host's private address, or a subnet in CIDR notation. The
//! addresses and ids of the topology follow from the seed and its size.

use std::fmt;
use std::net::Ipv4Addr;

/// What a scheduled episode aims at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// Whatever the kind picks on its own.
    #[default]
    Any,
    /// A member host of this service (in any VPC), on the service's port where the kind has one.
    Service(String),
    /// This host, by its private address.
    Host(Ipv4Addr),
    /// A host inside this subnet.
    Subnet { network: Ipv4Addr, prefix: u8 },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Any => write!(f, "any"),
            Target::Service(name) => write!(f, "service {name}"),
            Target::Host(address) => write!(f, "host {address}"),
            Target::Subnet { network, prefix } => write!(f, "subnet {network}/{prefix}"),
        }
    }
}
