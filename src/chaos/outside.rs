//! Internet addresses that the baseline never talks to: a command-and-control server, a mining
//! pool, a proxy in front of one. A detector that keeps a history of destinations sees them as
//! new; nothing in the topology's lists of clients, SaaS endpoints, resolvers, NTP servers or
//! background scanners is one of them.

use std::net::Ipv4Addr;

use crate::network::random::{LaneRng, between, pick};
use crate::network::topology::Topology;

/// First octets of public space where rented servers (VPS and bullet-proof hosting) often sit.
const HOSTING_FIRST_OCTETS: [u8; 12] = [5, 37, 45, 89, 91, 103, 141, 176, 185, 193, 194, 217];

/// A public address outside every list of `topology`'s external peers, drawn from `rng`.
pub(super) fn unseen_address(rng: &mut LaneRng, topology: &Topology) -> Ipv4Addr {
    loop {
        let address = Ipv4Addr::new(
            *pick(rng, &HOSTING_FIRST_OCTETS),
            between(rng, 0, 255) as u8,
            between(rng, 0, 255) as u8,
            between(rng, 1, 254) as u8,
        );
        let known = [
            &topology.internet_clients,
            &topology.saas_endpoints,
            &topology.ntp_servers,
            &topology.dns_resolvers,
            &topology.internet_noise_sources,
        ]
        .iter()
        .any(|list| list.contains(&address));
        // About 7,000 listed addresses in 12 × 2^24: a redraw is rare, and the loop ends.
        if !known {
            return address;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::random::rng_for;

    #[test]
    fn the_addresses_are_public_and_unlisted() {
        let topology = Topology::new(3);
        let mut rng = rng_for(3, 3);
        for _ in 0..2_000 {
            let address = unseen_address(&mut rng, &topology);
            assert!(!address.is_private() && !address.is_loopback() && !address.is_link_local() && !address.is_multicast());
            assert!(!topology.internet_clients.contains(&address) && !topology.saas_endpoints.contains(&address));
        }
    }
}
