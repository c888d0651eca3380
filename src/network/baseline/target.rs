//! What a scheduled episode's [`Target`] names in the topology: [`Baseline::target_host`] for the
//! kinds aimed at one host, [`Baseline::target_service`] for the kinds aimed at a service.
//!
//! A target that names nothing in the topology (an address no host has, a subnet with no host in
//! it) gives `None`, and the kind picks on its own; the scenario's checks refuse such targets
//! before a run ([`Topology::has_host`], [`Topology::subnet_has_host`]).
//!
//! [`Topology::has_host`]: crate::network::topology::Topology::has_host
//! [`Topology::subnet_has_host`]: crate::network::topology::Topology::subnet_has_host

use crate::network::random::{LaneRng, pick};
use crate::network::session::{Endpoint, Session};
use crate::network::target::Target;
use crate::network::topology::{Host, Service};

use super::Baseline;

/// A service an episode aims at, pinned to the targeted host when the target names one.
#[derive(Debug, Clone, Copy)]
pub struct ServiceTarget<'t> {
    pub service: &'t Service,
    /// The targeted host, when it serves the service: it serves every conversation.
    pub server: Option<&'t Host>,
    /// The targeted host, when it only calls the service: every conversation comes from it.
    pub client: Option<&'t Host>,
}

impl<'t> ServiceTarget<'t> {
    /// The whole service, any member serving, any caller calling.
    pub fn whole(service: &'t Service) -> Self {
        ServiceTarget { service, server: None, client: None }
    }

    /// The host every conversation involves, when the target pinned one.
    pub fn host(&self) -> Option<&'t Host> {
        self.server.or(self.client)
    }
}

impl<'t> Baseline<'t> {
    /// A host `target` names: a member of the named service (in any VPC), the host with that
    /// address, a host inside the subnet; `None` for [`Target::Any`] or when no host matches.
    pub fn target_host(&self, rng: &mut LaneRng, target: &Target) -> Option<&'t Host> {
        let topology = self.topology;
        match target {
            Target::Any => None,
            Target::Service(name) => {
                let members: Vec<usize> = topology
                    .services
                    .iter()
                    .filter(|service| service.name == name)
                    .flat_map(|service| service.members.iter().copied())
                    .collect();
                (!members.is_empty()).then(|| &topology.hosts[*pick(rng, &members)])
            }
            Target::Host(address) => topology.host_at(*address),
            Target::Subnet { network, prefix } => {
                let inside: Vec<&'t Host> = topology.hosts_in_subnet(*network, *prefix).collect();
                (!inside.is_empty()).then(|| *pick(rng, &inside))
            }
        }
    }

    /// The service `target` names: the named service (in one VPC, drawn evenly), or for a host or
    /// subnet target a service the host serves (else one it calls), pinned to that host; `None`
    /// for [`Target::Any`] or when nothing matches.
    pub fn target_service(&self, rng: &mut LaneRng, target: &Target) -> Option<ServiceTarget<'t>> {
        let topology = self.topology;
        match target {
            Target::Any => None,
            Target::Service(name) => {
                let services: Vec<&'t Service> = topology.services.iter().filter(|service| service.name == name).collect();
                (!services.is_empty()).then(|| ServiceTarget::whole(pick::<&Service>(rng, &services)))
            }
            Target::Host(_) | Target::Subnet { .. } => {
                let host = self.target_host(rng, target)?;
                let is_host = |index: &usize| topology.hosts[*index].address == host.address;
                let in_vpc = || topology.vpcs[host.vpc].services.iter().map(|index| &topology.services[*index]);
                let served: Vec<&'t Service> = in_vpc().filter(|service| service.members.iter().any(is_host)).collect();
                if !served.is_empty() {
                    return Some(ServiceTarget { server: Some(host), ..ServiceTarget::whole(pick::<&Service>(rng, &served)) });
                }
                let called: Vec<&'t Service> = in_vpc().filter(|service| service.clients.iter().any(is_host)).collect();
                (!called.is_empty()).then(|| ServiceTarget { client: Some(host), ..ServiceTarget::whole(pick::<&Service>(rng, &called)) })
            }
        }
    }

    /// A normal conversation with the target's service, from its pinned client or a caller drawn
    /// from `rng`, served by its pinned server or a drawn member (unpinned: the draws of
    /// [`Baseline::client_of`] then [`Baseline::service_session`]).
    pub fn target_session(&self, rng: &mut LaneRng, target: &ServiceTarget<'t>) -> Session<'t> {
        let client = match target.client {
            Some(host) => Endpoint::Host(host),
            None => self.client_of(rng, target.service),
        };
        self.service_session_on(rng, target.service, client, target.server)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::network::random::rng_for;
    use crate::network::topology::{Role, Topology};

    #[test]
    fn each_target_names_a_matching_host() {
        let topology = Topology::new(4);
        let baseline = Baseline::new(&topology);
        let mut rng = rng_for(4, 4);
        assert!(baseline.target_host(&mut rng, &Target::Any).is_none());
        for _ in 0..50 {
            let host = baseline.target_host(&mut rng, &Target::Service("postgres".into())).unwrap();
            assert_eq!(host.role, Role::Database);
            let inside = baseline.target_host(&mut rng, &Target::Subnet { network: Ipv4Addr::new(10, 32, 16, 0), prefix: 20 }).unwrap();
            assert_eq!(u32::from(inside.address) >> 12, u32::from(Ipv4Addr::new(10, 32, 16, 0)) >> 12);
        }
        let chosen = &topology.hosts[70];
        assert!(std::ptr::eq(baseline.target_host(&mut rng, &Target::Host(chosen.address)).unwrap(), chosen));
        assert!(baseline.target_host(&mut rng, &Target::Host(Ipv4Addr::new(10, 99, 0, 1))).is_none());
        assert!(baseline.target_host(&mut rng, &Target::Service("telnet".into())).is_none());
        assert!(baseline.target_host(&mut rng, &Target::Subnet { network: Ipv4Addr::new(10, 16, 96, 0), prefix: 20 }).is_none());
    }

    #[test]
    fn a_host_target_pins_the_service_it_serves_or_calls() {
        let topology = Topology::new(4);
        let baseline = Baseline::new(&topology);
        let mut rng = rng_for(5, 5);
        let named = baseline.target_service(&mut rng, &Target::Service("redis".into())).unwrap();
        assert_eq!((named.service.name, named.host().is_none()), ("redis", true));
        let database = topology.hosts.iter().find(|host| host.role == Role::Database).unwrap();
        let served = baseline.target_service(&mut rng, &Target::Host(database.address)).unwrap();
        assert_eq!((served.service.name, served.server.map(|host| host.address)), ("postgres", Some(database.address)));
        let worker = topology.hosts.iter().find(|host| host.role == Role::Worker).unwrap();
        let called = baseline.target_service(&mut rng, &Target::Host(worker.address)).unwrap();
        assert!(["postgres", "kafka"].contains(&called.service.name) && called.client.is_some() && called.server.is_none());
        for _ in 0..20 {
            let session = baseline.target_session(&mut rng, &called);
            assert_eq!(session.client.address(), worker.address);
            assert_eq!(session.server_port, called.service.port);
            let session = baseline.target_session(&mut rng, &served);
            assert_eq!((session.server.address(), session.server_port), (database.address, 5432));
        }
        assert!(baseline.target_service(&mut rng, &Target::Any).is_none());
        assert!(baseline.target_service(&mut rng, &Target::Host(Ipv4Addr::new(10, 99, 0, 1))).is_none());
    }

    #[test]
    fn an_unpinned_target_session_draws_as_before() {
        let topology = Topology::new(6);
        let baseline = Baseline::new(&topology);
        let service = &topology.services[2];
        let (mut before, mut after) = (rng_for(6, 6), rng_for(6, 6));
        for _ in 0..100 {
            let client = baseline.client_of(&mut before, service);
            let old = baseline.service_session(&mut before, service, client);
            let new = baseline.target_session(&mut after, &ServiceTarget::whole(service));
            assert_eq!(format!("{old:?}"), format!("{new:?}"));
        }
    }
}
