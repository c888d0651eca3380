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

impl Target {
    /// The forms [`Target::parse`] takes, for a message.
    pub const FORMS: &'static str =
        "any, service NAME (e.g. service ssh), host ADDRESS (e.g. host 10.16.0.11), subnet CIDR (e.g. subnet 10.16.16.0/20)";

    /// `any`, `service ssh`, `host 10.16.0.11` or `subnet 10.16.16.0/20` (what [`Display`](fmt::Display)
    /// writes), with addresses inside the topology's 10.0.0.0/8 and a service of its catalog.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        let (what, value) = text.split_once(char::is_whitespace).map_or((text, ""), |(what, value)| (what, value.trim()));
        match what {
            "any" if value.is_empty() => Ok(Target::Any),
            "service" => {
                let names: Vec<&str> = super::topology::service_names().collect();
                if names.contains(&value) {
                    Ok(Target::Service(value.to_owned()))
                } else {
                    Err(format!("unknown service `{value}`; the services are {}", names.join(", ")))
                }
            }
            "host" => match value.parse::<Ipv4Addr>() {
                Ok(address) if address.octets()[0] == 10 => Ok(Target::Host(address)),
                Ok(address) => Err(format!("host {address} is outside the topology's addresses, 10.0.0.0/8")),
                Err(_) => Err(format!("`{value}` is not an IPv4 address")),
            },
            "subnet" => {
                let parsed = value
                    .split_once('/')
                    .and_then(|(address, prefix)| Some((address.parse::<Ipv4Addr>().ok()?, prefix.parse::<u8>().ok()?)));
                let Some((network, prefix)) = parsed.filter(|(network, prefix)| (8..=32).contains(prefix) && network.octets()[0] == 10)
                else {
                    return Err(format!("`{value}` is not a subnet of 10.0.0.0/8 in CIDR notation"));
                };
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                if u32::from(network) & !mask != 0 {
                    return Err(format!("`{value}` has host bits set"));
                }
                Ok(Target::Subnet { network, prefix })
            }
            _ => Err(format!("`{text}` is not a target")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_back_what_they_write() {
        for text in ["any", "service ssh", "host 10.16.0.11", "subnet 10.16.16.0/20"] {
            assert_eq!(Target::parse(text).map(|target| target.to_string()), Ok(text.to_owned()));
        }
        for bad in ["anything", "service nope", "host 192.168.0.1", "host x", "subnet 10.16.16.1/20", "subnet 10.0.0.0/4", ""] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
