//! The address plan: accounts, regions and AZs, VPCs, subnets in private ranges, instances with
//! ENIs, services with their ports and callers, and external peers.
//!
//! Built once from the seed and a [`TopologySize`] (accounts, VPCs, instances; the default is
//! the estate of three VPCs the generator always had; the `plan` submodule says how other sizes
//! are laid out and which it refuses) and shared read-only by every lane, so the same hosts and
//! services recur across records and across record kinds (a flow and the firewall session of the
//! same conversation name the same addresses). Identifiers have AWS's shapes (`eni-` + 17 hex,
//! 12-digit accounts, `use1-az1`), addresses come from 10.0.0.0/8 inside and from public ranges outside.

use std::net::Ipv4Addr;

use crate::records::{AppProto, protocol};

use super::random::{LaneRng, between, hex, rng_for, unit};

mod catalog;
mod plan;

use catalog::SERVICE_CATALOG;
pub use catalog::service_names;
use plan::{FLEET, VpcPlan};
pub use plan::{MAX_INSTANCES, MAX_INSTANCES_PER_VPC, MAX_VPCS, REGIONS, Region, SUBNET_HOSTS, TopologySize};

/// Roles a host plays; services are offered by roles and called by roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Web,
    Api,
    Auth,
    Database,
    Cache,
    Broker,
    Search,
    Bastion,
    Worker,
}

impl Role {
    /// Every role, in declaration order (`role as usize` is its index here).
    pub const ALL: [Role; 9] =
        [Role::Web, Role::Api, Role::Auth, Role::Database, Role::Cache, Role::Broker, Role::Search, Role::Bastion, Role::Worker];
}

/// Who calls a service.
#[derive(Debug, Clone, Copy)]
pub enum Callers {
    /// Clients on the internet (an internet-facing service).
    Internet,
    /// Hosts of these roles in the same VPC.
    Roles(&'static [Role]),
}

/// First octets of public address space (no private, loopback, link-local, CGNAT or multicast).
const PUBLIC_FIRST_OCTETS: [u8; 24] =
    [3, 13, 18, 20, 23, 31, 34, 35, 44, 52, 54, 64, 66, 72, 81, 85, 91, 104, 107, 142, 151, 185, 203, 212];

#[derive(Debug)]
pub struct Vpc {
    pub account_id: String,
    pub region: &'static str,
    pub vpc_id: String,
    pub name: String,
    pub firewall_name: String,
    /// Its share of all traffic (the VPCs' shares sum to 1).
    pub weight: f64,
    /// Indices into [`Topology::services`] of this VPC's services.
    pub services: Vec<usize>,
    /// Indices into [`Topology::hosts`] of this VPC's hosts.
    pub hosts: Vec<usize>,
}

#[derive(Debug)]
pub struct Subnet {
    pub vpc: usize,
    pub subnet_id: String,
    pub az_id: String,
    pub availability_zone: String,
    pub public: bool,
    /// Its network address; the subnet is a `/20` (see the address plan in `plan.rs`).
    pub network: Ipv4Addr,
}

#[derive(Debug)]
pub struct Host {
    pub subnet: usize,
    pub vpc: usize,
    pub role: Role,
    pub address: Ipv4Addr,
    pub interface_id: String,
    pub instance_id: Option<String>,
}

#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    pub vpc: usize,
    pub port: u16,
    pub protocol: u8,
    pub app_proto: AppProto,
    pub callers: Callers,
    pub weight: f64,
    pub response_median: f64,
    /// Hosts offering the service.
    pub members: Vec<usize>,
    /// Hosts calling it (empty for internet-facing services).
    pub clients: Vec<usize>,
}

#[derive(Debug)]
pub struct Topology {
    /// The size it was built to.
    pub size: TopologySize,
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    /// Internet clients of public services, most popular first.
    pub internet_clients: Vec<Ipv4Addr>,
    /// SaaS APIs and package mirrors hosts call out to.
    pub saas_endpoints: Vec<Ipv4Addr>,
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Public DNS resolvers outside the VPC (the VPC's own resolver never shows in flow logs).
    pub dns_resolvers: Vec<Ipv4Addr>,
    /// Sources of the internet's background noise of probes.
    pub internet_noise_sources: Vec<Ipv4Addr>,
}

impl Topology {
    /// Today's estate ([`TopologySize::default`]) from `seed`.
    pub fn new(seed: u64) -> Self {
        Topology::build(seed, TopologySize::default())
    }

    /// An estate of `size` from `seed`; the error, when the address plan cannot hold `size`, is
    /// [`TopologySize::check`]'s. The default size gives exactly [`Topology::new`]'s estate.
    pub fn with_size(seed: u64, size: TopologySize) -> Result<Self, String> {
        size.check()?;
        Ok(Topology::build(seed, size))
    }

    /// The estate of a `size` that passed [`TopologySize::check`] (the default size does).
    fn build(seed: u64, size: TopologySize) -> Self {
        debug_assert_eq!(size.check(), Ok(()));
        let mut rng = rng_for(seed, 0x7090_1067);
        let accounts: Vec<String> =
            (0..size.accounts).map(|_| (0..12).map(|_| char::from(b'0' + between(&mut rng, 0, 9) as u8)).collect()).collect();
        let mut topology = Topology {
            size,
            vpcs: Vec::new(),
            subnets: Vec::new(),
            hosts: Vec::new(),
            services: Vec::new(),
            internet_clients: public_addresses(&mut rng, 4000),
            saas_endpoints: public_addresses(&mut rng, 60),
            ntp_servers: public_addresses(&mut rng, 4),
            dns_resolvers: public_addresses(&mut rng, 12),
            internet_noise_sources: public_addresses(&mut rng, 3000),
        };
        for vpc_index in 0..size.vpcs as usize {
            topology.add_vpc(&mut rng, vpc_index, size.vpc_plan(vpc_index), &accounts);
        }
        topology
    }

    fn add_vpc(&mut self, rng: &mut LaneRng, vpc_index: usize, plan: VpcPlan, accounts: &[String]) {
        self.vpcs.push(Vpc {
            account_id: accounts[plan.account].clone(),
            region: plan.region.name,
            vpc_id: format!("vpc-{}", hex(rng, 17)),
            firewall_name: format!("nfw-{}", plan.name),
            name: plan.name,
            weight: plan.weight,
            services: Vec::new(),
            hosts: Vec::new(),
        });
        let az_letters = ['a', 'b', 'c'];
        let subnet_base = self.subnets.len();
        for (az, letter) in az_letters.iter().enumerate() {
            for public in [true, false] {
                self.subnets.push(Subnet {
                    vpc: vpc_index,
                    subnet_id: format!("subnet-{}", hex(rng, 17)),
                    az_id: format!("{}-az{}", plan.region.code, az + 1),
                    availability_zone: format!("{}{letter}", plan.region.name),
                    public,
                    network: plan::subnet_network(plan.second_octet, az * 2 + usize::from(!public)),
                });
            }
        }
        let mut hosts_in_subnet = [0u32; plan::SUBNETS_PER_VPC];
        for ((role, _), count) in FLEET.iter().zip(plan::role_counts(plan.hosts)) {
            for replica in 0..count {
                let offset = subnet_offset(*role, replica);
                hosts_in_subnet[offset] += 1;
                self.hosts.push(Host {
                    subnet: subnet_base + offset,
                    vpc: vpc_index,
                    role: *role,
                    address: plan::host_address(self.subnets[subnet_base + offset].network, hosts_in_subnet[offset]),
                    interface_id: format!("eni-{}", hex(rng, 17)),
                    instance_id: Some(format!("i-{}", hex(rng, 17))),
                });
                let host_index = self.hosts.len() - 1;
                self.vpcs[vpc_index].hosts.push(host_index);
            }
        }
        for template in &SERVICE_CATALOG {
            let members = self.hosts_of(vpc_index, template.role);
            let clients = match template.callers {
                Callers::Internet => Vec::new(),
                Callers::Roles(roles) => roles.iter().flat_map(|role| self.hosts_of(vpc_index, *role)).collect(),
            };
            self.services.push(Service {
                name: template.name,
                vpc: vpc_index,
                port: template.port,
                protocol: protocol::TCP,
                app_proto: template.app_proto,
                callers: template.callers,
                weight: template.weight,
                response_median: template.response_median,
                members,
                clients,
            });
            let service_index = self.services.len() - 1;
            self.vpcs[vpc_index].services.push(service_index);
        }
    }

    fn hosts_of(&self, vpc: usize, role: Role) -> Vec<usize> {
        self.vpcs[vpc].hosts.iter().copied().filter(|index| self.hosts[*index].role == role).collect()
    }

    /// Whether `host` is reachable from the internet: it sits in a public subnet (behind the
    /// internet gateway, with a public address), as web servers and bastions do. The internet's
    /// background of probes knocks on these.
    pub fn is_exposed(&self, host: &Host) -> bool {
        self.subnet_of(host).public
    }

    pub fn subnet_of(&self, host: &Host) -> &Subnet {
        &self.subnets[host.subnet]
    }

    pub fn vpc_of(&self, host: &Host) -> &Vpc {
        &self.vpcs[host.vpc]
    }

    /// The regions the VPCs are in, each once, in the order of the VPCs.
    pub fn regions(&self) -> Vec<&'static str> {
        let mut regions: Vec<&'static str> = Vec::new();
        for vpc in &self.vpcs {
            if !regions.contains(&vpc.region) {
                regions.push(vpc.region);
            }
        }
        regions
    }

    /// The host with this private address.
    pub fn host_at(&self, address: Ipv4Addr) -> Option<&Host> {
        self.hosts.iter().find(|host| host.address == address)
    }

    /// Whether a host has this address: what a scenario's `target: {host: …}` must name.
    pub fn has_host(&self, address: Ipv4Addr) -> bool {
        self.host_at(address).is_some()
    }

    /// The hosts inside `network/prefix` (a `prefix` over 32 counts as 32).
    pub fn hosts_in_subnet(&self, network: Ipv4Addr, prefix: u8) -> impl Iterator<Item = &Host> + '_ {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
        let network = u32::from(network) & mask;
        self.hosts.iter().filter(move |host| u32::from(host.address) & mask == network)
    }

    /// Whether a host lies inside `network/prefix`: what a scenario's `target: {subnet: …}` must
    /// hold.
    pub fn subnet_has_host(&self, network: Ipv4Addr, prefix: u8) -> bool {
        self.hosts_in_subnet(network, prefix).next().is_some()
    }
}

/// Which of its VPC's six subnets the `replica`th host of `role` is in: AZs in turn, web servers
/// and bastions in the public subnets.
fn subnet_offset(role: Role, replica: usize) -> usize {
    let az = replica % 3;
    let public = matches!(role, Role::Web | Role::Bastion);
    az * 2 + usize::from(!public)
}

fn public_addresses(rng: &mut LaneRng, count: usize) -> Vec<Ipv4Addr> {
    (0..count).map(|_| public_address(rng)).collect()
}

/// A random address of public address space (no private, loopback, link-local, CGNAT or
/// multicast range): an internet host met once.
pub fn public_address(rng: &mut LaneRng) -> Ipv4Addr {
    let first = PUBLIC_FIRST_OCTETS[(unit(rng) * PUBLIC_FIRST_OCTETS.len() as f64) as usize];
    Ipv4Addr::new(first, between(rng, 0, 255) as u8, between(rng, 0, 255) as u8, between(rng, 1, 254) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plan() {
        let a = Topology::new(42);
        let b = Topology::new(42);
        assert_eq!(a.hosts.len(), b.hosts.len());
        assert!(a.hosts.iter().zip(&b.hosts).all(|(x, y)| x.interface_id == y.interface_id && x.address == y.address));
        assert_ne!(Topology::new(43).hosts[0].interface_id, a.hosts[0].interface_id);
    }

    #[test]
    fn addresses_are_private_inside_and_public_outside() {
        let topology = Topology::new(1);
        assert!(topology.hosts.iter().all(|host| host.address.is_private()));
        let unique: std::collections::HashSet<_> = topology.hosts.iter().map(|host| host.address).collect();
        assert_eq!(unique.len(), topology.hosts.len(), "host addresses collide");
        for address in topology.internet_clients.iter().chain(&topology.dns_resolvers) {
            assert!(!address.is_private() && !address.is_loopback() && !address.is_link_local(), "{address}");
        }
    }

    /// Every invariant of an estate of `size`, whatever the size.
    fn check_estate(topology: &Topology, size: TopologySize) {
        assert_eq!(topology.size, size);
        assert_eq!(topology.vpcs.len(), size.vpcs as usize);
        assert_eq!(topology.hosts.len(), size.instances as usize);
        assert_eq!(topology.subnets.len(), size.vpcs as usize * 6);
        assert_eq!(topology.services.len(), size.vpcs as usize * SERVICE_CATALOG.len());
        let accounts: std::collections::HashSet<&str> = topology.vpcs.iter().map(|vpc| vpc.account_id.as_str()).collect();
        assert_eq!(accounts.len(), size.accounts as usize, "{size:?}");
        let weights: f64 = topology.vpcs.iter().map(|vpc| vpc.weight).sum();
        assert!((weights - 1.0).abs() < 1e-9, "{size:?}: weights sum to {weights}");
        let mut addresses: Vec<Ipv4Addr> = topology.hosts.iter().map(|host| host.address).collect();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), topology.hosts.len(), "{size:?}: host addresses collide");
        for host in &topology.hosts {
            let subnet = topology.subnet_of(host);
            assert!(host.address.is_private(), "{}", host.address);
            assert_eq!(u32::from(host.address) & !0xfff, u32::from(subnet.network), "{} outside {}/20", host.address, subnet.network);
            assert_eq!(subnet.vpc, host.vpc);
            assert_eq!(subnet.public, matches!(host.role, Role::Web | Role::Bastion));
        }
        for (index, vpc) in topology.vpcs.iter().enumerate() {
            for (role, _) in FLEET {
                assert!(vpc.hosts.iter().any(|host| topology.hosts[*host].role == role), "VPC {index} has no {role:?}");
            }
        }
        for service in &topology.services {
            assert!(!service.members.is_empty(), "{}", service.name);
            if matches!(service.callers, Callers::Roles(_)) {
                assert!(!service.clients.is_empty(), "{}", service.name);
            }
            let vpc_of_members = service.members.iter().chain(&service.clients).map(|host| topology.hosts[*host].vpc);
            assert!(vpc_of_members.into_iter().all(|vpc| vpc == service.vpc), "{} crosses VPCs", service.name);
        }
    }

    #[test]
    fn the_default_size_is_todays_estate() {
        let today = Topology::new(9);
        let sized = Topology::with_size(9, TopologySize::default()).unwrap();
        check_estate(&today, TopologySize::default());
        assert_eq!(today.hosts.len(), 117, "three VPCs of the 39-host fleet");
        let describe = |topology: &Topology| -> Vec<String> {
            let vpcs =
                topology.vpcs.iter().map(|vpc| format!("{} {} {} {} {}", vpc.account_id, vpc.region, vpc.vpc_id, vpc.name, vpc.weight));
            let hosts = topology.hosts.iter().map(|host| format!("{} {} {:?}", host.address, host.interface_id, host.role));
            vpcs.chain(hosts).collect()
        };
        assert_eq!(describe(&today), describe(&sized));
        assert_eq!(today.vpcs.iter().map(|vpc| vpc.weight).collect::<Vec<_>>(), [0.5, 0.35, 0.15]);
        assert_eq!(today.vpcs.iter().map(|vpc| vpc.name.as_str()).collect::<Vec<_>>(), ["prod-use1", "prod-euw1", "staging-usw2"]);
        assert_eq!(today.vpcs[0].account_id, today.vpcs[1].account_id);
        assert_ne!(today.vpcs[1].account_id, today.vpcs[2].account_id);
        assert_eq!(today.regions(), ["us-east-1", "eu-west-1", "us-west-2"]);
        assert_eq!((today.hosts[0].address, today.hosts[116].address), (Ipv4Addr::new(10, 16, 0, 11), Ipv4Addr::new(10, 48, 48, 21)));
    }

    #[test]
    fn sizes_are_honoured() {
        for size in [
            TopologySize { accounts: 1, vpcs: 1, instances: 9 },
            TopologySize { accounts: 1, vpcs: 2, instances: 50 },
            TopologySize { accounts: 3, vpcs: 5, instances: 1_001 },
            TopologySize { accounts: 4, vpcs: 16, instances: 2_000 },
        ] {
            check_estate(&Topology::with_size(3, size).unwrap(), size);
        }
        let five = Topology::with_size(3, TopologySize { accounts: 2, vpcs: 5, instances: 500 }).unwrap();
        assert_eq!(five.regions(), ["us-east-1", "eu-west-1", "us-west-2", "eu-central-1", "ap-southeast-1"]);
        assert_eq!(five.subnets[24].az_id, "apse1-az1");
        assert_eq!(five.subnets[24].availability_zone, "ap-southeast-1a");
        assert!(Topology::with_size(3, TopologySize { accounts: 1, vpcs: 65, instances: 1_000 }).unwrap_err().contains("`vpcs`"));
    }

    #[test]
    fn the_largest_sizes_build() {
        for size in [
            TopologySize { accounts: 8, vpcs: MAX_VPCS, instances: MAX_INSTANCES },
            TopologySize { accounts: 1, vpcs: 1, instances: MAX_INSTANCES_PER_VPC },
        ] {
            let topology = Topology::with_size(11, size).unwrap();
            check_estate(&topology, size);
            assert_eq!(topology.regions().len(), REGIONS.len().min(size.vpcs as usize));
        }
    }

    #[test]
    fn hosts_and_subnets_are_found_by_address() {
        let topology = Topology::new(2);
        let host = &topology.hosts[40];
        assert!(std::ptr::eq(topology.host_at(host.address).unwrap(), host));
        assert!(topology.has_host(host.address));
        assert!(!topology.has_host(Ipv4Addr::new(10, 16, 0, 200)));
        assert!(!topology.has_host(Ipv4Addr::new(192, 168, 1, 1)));
        assert!(topology.subnet_has_host(Ipv4Addr::new(10, 32, 0, 0), 16));
        assert!(topology.subnet_has_host(Ipv4Addr::new(10, 0, 0, 0), 8));
        assert!(topology.subnet_has_host(host.address, 32));
        assert!(!topology.subnet_has_host(Ipv4Addr::new(10, 64, 0, 0), 16));
        assert!(!topology.subnet_has_host(Ipv4Addr::new(10, 16, 96, 0), 20));
        assert_eq!(topology.hosts_in_subnet(Ipv4Addr::new(10, 16, 0, 0), 12).count(), 39);
        assert_eq!(topology.hosts_in_subnet(Ipv4Addr::new(0, 0, 0, 0), 0).count(), 117);
    }

    #[test]
    fn service_names_are_the_catalog() {
        let names: Vec<&str> = service_names().collect();
        assert_eq!(names, ["web-https", "web-http", "api", "auth", "postgres", "redis", "kafka", "search", "ssh"]);
        let topology = Topology::new(1);
        assert!(topology.services.iter().all(|service| names.contains(&service.name)));
    }

    #[test]
    fn every_service_has_members_and_internal_ones_have_clients() {
        let topology = Topology::new(5);
        for service in &topology.services {
            assert!(!service.members.is_empty(), "{}", service.name);
            if matches!(service.callers, Callers::Roles(_)) {
                assert!(!service.clients.is_empty(), "{}", service.name);
            }
        }
    }
}
