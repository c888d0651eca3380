//! The address plan: accounts, regions and AZs, VPCs, subnets in private ranges, instances with
//! ENIs, services with their ports and callers, and external peers.
//!
//! Built once from the seed and shared read-only by every lane, so the same hosts and services
//! recur across records and across record kinds (a flow and the firewall session of the same
//! conversation name the same addresses). Identifiers have AWS's shapes (`eni-` + 17 hex, 12-digit
//! accounts, `use1-az1`), addresses come from 10.0.0.0/8 inside and from public ranges outside.

use std::net::Ipv4Addr;

use crate::records::{AppProto, protocol};

use super::random::{LaneRng, between, hex, rng_for, unit};

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

/// Who calls a service.
#[derive(Debug, Clone, Copy)]
pub enum Callers {
    /// Clients on the internet (an internet-facing service).
    Internet,
    /// Hosts of these roles in the same VPC.
    Roles(&'static [Role]),
}

struct ServiceTemplate {
    name: &'static str,
    role: Role,
    port: u16,
    app_proto: AppProto,
    callers: Callers,
    /// Share of a VPC's service traffic.
    weight: f64,
    /// Median response size in bytes.
    response_median: f64,
}

const SERVICE_CATALOG: [ServiceTemplate; 9] = [
    ServiceTemplate {
        name: "web-https",
        role: Role::Web,
        port: 443,
        app_proto: AppProto::Tls,
        callers: Callers::Internet,
        weight: 0.22,
        response_median: 18_000.0,
    },
    ServiceTemplate {
        name: "web-http",
        role: Role::Web,
        port: 80,
        app_proto: AppProto::Http,
        callers: Callers::Internet,
        weight: 0.04,
        response_median: 600.0,
    },
    ServiceTemplate {
        name: "api",
        role: Role::Api,
        port: 8080,
        app_proto: AppProto::Http,
        callers: Callers::Roles(&[Role::Web]),
        weight: 0.24,
        response_median: 4_000.0,
    },
    ServiceTemplate {
        name: "auth",
        role: Role::Auth,
        port: 8443,
        app_proto: AppProto::Tls,
        callers: Callers::Roles(&[Role::Web, Role::Api]),
        weight: 0.08,
        response_median: 1_500.0,
    },
    ServiceTemplate {
        name: "postgres",
        role: Role::Database,
        port: 5432,
        app_proto: AppProto::Postgresql,
        callers: Callers::Roles(&[Role::Api, Role::Worker]),
        weight: 0.14,
        response_median: 6_000.0,
    },
    ServiceTemplate {
        name: "redis",
        role: Role::Cache,
        port: 6379,
        app_proto: AppProto::Redis,
        callers: Callers::Roles(&[Role::Api, Role::Web]),
        weight: 0.12,
        response_median: 800.0,
    },
    ServiceTemplate {
        name: "kafka",
        role: Role::Broker,
        port: 9092,
        app_proto: AppProto::Kafka,
        callers: Callers::Roles(&[Role::Api, Role::Worker]),
        weight: 0.10,
        response_median: 12_000.0,
    },
    ServiceTemplate {
        name: "search",
        role: Role::Search,
        port: 9200,
        app_proto: AppProto::Http,
        callers: Callers::Roles(&[Role::Api]),
        weight: 0.05,
        response_median: 9_000.0,
    },
    ServiceTemplate {
        name: "ssh",
        role: Role::Bastion,
        port: 22,
        app_proto: AppProto::Ssh,
        callers: Callers::Internet,
        weight: 0.01,
        response_median: 30_000.0,
    },
];

/// Hosts per role in each VPC.
const FLEET: [(Role, usize); 9] = [
    (Role::Web, 6),
    (Role::Api, 10),
    (Role::Auth, 2),
    (Role::Database, 3),
    (Role::Cache, 3),
    (Role::Broker, 3),
    (Role::Search, 3),
    (Role::Bastion, 1),
    (Role::Worker, 8),
];

struct VpcTemplate {
    account: usize,
    region: &'static str,
    region_code: &'static str,
    name: &'static str,
    /// Share of all traffic.
    weight: f64,
}

const VPC_PLAN: [VpcTemplate; 3] = [
    VpcTemplate { account: 0, region: "us-east-1", region_code: "use1", name: "prod-use1", weight: 0.5 },
    VpcTemplate { account: 0, region: "eu-west-1", region_code: "euw1", name: "prod-euw1", weight: 0.35 },
    VpcTemplate { account: 1, region: "us-west-2", region_code: "usw2", name: "staging-usw2", weight: 0.15 },
];

/// First octets of public address space (no private, loopback, link-local, CGNAT or multicast).
const PUBLIC_FIRST_OCTETS: [u8; 24] =
    [3, 13, 18, 20, 23, 31, 34, 35, 44, 52, 54, 64, 66, 72, 81, 85, 91, 104, 107, 142, 151, 185, 203, 212];

/// How big the simulated estate is: what a scenario's `topology` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopologySize {
    /// AWS accounts the VPCs belong to.
    pub accounts: u32,
    pub vpcs: u32,
    /// Instances (each with one ENI) over all VPCs.
    pub instances: u32,
}

impl Default for TopologySize {
    /// Today's estate: two accounts, three VPCs (us-east-1, eu-west-1, us-west-2), 43 instances each.
    fn default() -> Self {
        TopologySize { accounts: 2, vpcs: 3, instances: 129 }
    }
}

#[derive(Debug)]
pub struct Vpc {
    pub account_id: String,
    pub region: &'static str,
    pub vpc_id: String,
    pub name: &'static str,
    pub firewall_name: String,
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
    pub fn new(seed: u64) -> Self {
        let mut rng = rng_for(seed, 0x7090_1067);
        let accounts: Vec<String> = (0..2).map(|_| (0..12).map(|_| char::from(b'0' + between(&mut rng, 0, 9) as u8)).collect()).collect();
        let mut topology = Topology {
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
        for (vpc_index, plan) in VPC_PLAN.iter().enumerate() {
            topology.add_vpc(&mut rng, vpc_index, plan, &accounts);
        }
        topology
    }

    fn add_vpc(&mut self, rng: &mut LaneRng, vpc_index: usize, plan: &VpcTemplate, accounts: &[String]) {
        self.vpcs.push(Vpc {
            account_id: accounts[plan.account].clone(),
            region: plan.region,
            vpc_id: format!("vpc-{}", hex(rng, 17)),
            name: plan.name,
            firewall_name: format!("nfw-{}", plan.name),
            weight: plan.weight,
            services: Vec::new(),
            hosts: Vec::new(),
        });
        let second_octet = 16 + vpc_index as u8 * 16;
        let az_letters = ['a', 'b', 'c'];
        let subnet_base = self.subnets.len();
        for (az, letter) in az_letters.iter().enumerate() {
            for public in [true, false] {
                self.subnets.push(Subnet {
                    vpc: vpc_index,
                    subnet_id: format!("subnet-{}", hex(rng, 17)),
                    az_id: format!("{}-az{}", plan.region_code, az + 1),
                    availability_zone: format!("{}{letter}", plan.region),
                    public,
                });
            }
        }
        let mut host_counter = [0u8; 6];
        for (role, count) in FLEET {
            for replica in 0..count {
                let az = replica % 3;
                let public = matches!(role, Role::Web | Role::Bastion);
                let subnet_offset = az * 2 + usize::from(!public);
                host_counter[subnet_offset] += 1;
                let third_octet = (subnet_offset * 16) as u8;
                self.hosts.push(Host {
                    subnet: subnet_base + subnet_offset,
                    vpc: vpc_index,
                    role,
                    address: Ipv4Addr::new(10, second_octet, third_octet, 10 + host_counter[subnet_offset]),
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

    pub fn subnet_of(&self, host: &Host) -> &Subnet {
        &self.subnets[host.subnet]
    }

    pub fn vpc_of(&self, host: &Host) -> &Vpc {
        &self.vpcs[host.vpc]
    }
}

fn public_addresses(rng: &mut LaneRng, count: usize) -> Vec<Ipv4Addr> {
    (0..count)
        .map(|_| {
            let first = PUBLIC_FIRST_OCTETS[(unit(rng) * PUBLIC_FIRST_OCTETS.len() as f64) as usize];
            Ipv4Addr::new(first, between(rng, 0, 255) as u8, between(rng, 0, 255) as u8, between(rng, 1, 254) as u8)
        })
        .collect()
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
