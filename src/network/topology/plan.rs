//! What a [`TopologySize`] turns into: which account and region each VPC is in, its share of the
//! traffic, how many hosts of each role it runs, and the address plan that keeps every private
//! address unique.
//!
//! The default size is today's estate, and builds it exactly: the same three VPCs with their
//! names, accounts and weights, 39 hosts each in the [`FLEET`] counts, the same addresses. Larger
//! estates add VPCs in further real AWS regions (cycling through [`REGIONS`]), share the hosts out
//! evenly and keep each role's share of [`FLEET`].
//!
//! # The address plan
//!
//! VPC `v` owns `10.S.0.0/16`: S = 16, 32, …, 240 for the first fifteen VPCs (today's plan), then
//! 17, 33, …, 241 for the next fifteen, and so on, which keeps 64 VPCs apart. Each VPC has six
//! subnets, a public and a private one in each of three AZs, subnet `k` being `10.S.(16k).0/20`;
//! its hosts are numbered from `.11` up, [`SUBNET_HOSTS`] at most, below the subnet's broadcast
//! address. [`MAX_INSTANCES_PER_VPC`] is the most one VPC's busiest subnet holds.

use std::net::Ipv4Addr;

use super::Role;

/// Hosts per role in a VPC of today's size; larger and smaller VPCs keep these proportions.
pub(super) const FLEET: [(Role, usize); 9] = [
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

/// Hosts in a VPC of today's size: the sum of [`FLEET`].
const FLEET_HOSTS: usize = 39;

/// The most VPCs a topology has.
pub const MAX_VPCS: u32 = 64;

/// The most instances a topology has, over all its VPCs.
pub const MAX_INSTANCES: u32 = 100_000;

/// The most instances one VPC has: its busiest subnet (a private one) then holds about 3,840
/// hosts, under [`SUBNET_HOSTS`].
pub const MAX_INSTANCES_PER_VPC: u32 = 14_000;

/// Hosts a `/20` subnet holds in this plan: `.11` (offset 11) up to offset 4,094, below the
/// broadcast address.
pub const SUBNET_HOSTS: u32 = 4_084;

/// Subnets per VPC: a public and a private one in each of three AZs.
pub(super) const SUBNETS_PER_VPC: usize = 6;

/// An AWS region a VPC may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// As records name it: `eu-central-1`.
    pub name: &'static str,
    /// The prefix of its AZ ids: `euc1` (`euc1-az1`).
    pub code: &'static str,
}

/// The regions VPCs are placed in, in order (today's three first); the 14th VPC starts over.
/// Each has at least three AZs lettered a, b, c.
pub const REGIONS: [Region; 13] = [
    Region { name: "us-east-1", code: "use1" },
    Region { name: "eu-west-1", code: "euw1" },
    Region { name: "us-west-2", code: "usw2" },
    Region { name: "eu-central-1", code: "euc1" },
    Region { name: "ap-southeast-1", code: "apse1" },
    Region { name: "ap-southeast-2", code: "apse2" },
    Region { name: "ap-south-1", code: "aps1" },
    Region { name: "sa-east-1", code: "sae1" },
    Region { name: "us-east-2", code: "use2" },
    Region { name: "eu-west-2", code: "euw2" },
    Region { name: "ap-northeast-2", code: "apne2" },
    Region { name: "eu-north-1", code: "eun1" },
    Region { name: "eu-west-3", code: "euw3" },
];

/// Today's VPCs: (name, share of traffic) of the first three.
const TODAYS_VPCS: [(&str, f64); 3] = [("prod-use1", 0.5), ("prod-euw1", 0.35), ("staging-usw2", 0.15)];

/// Share of traffic of each VPC after today's three, before the shares are scaled to sum to 1:
/// a mid-sized production region.
const FURTHER_VPC_SHARE: f64 = 0.2;

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
    /// Today's estate: two accounts, three VPCs (us-east-1, eu-west-1, us-west-2), 39 instances
    /// each.
    fn default() -> Self {
        TopologySize { accounts: 2, vpcs: 3, instances: 117 }
    }
}

impl TopologySize {
    /// Whether the address plan holds this size; the error is one line saying what to change.
    pub fn check(&self) -> Result<(), String> {
        let TopologySize { accounts, vpcs, instances } = *self;
        if !(1..=MAX_VPCS).contains(&vpcs) {
            return Err(format!("`vpcs` must be 1 to {MAX_VPCS}, not {vpcs}"));
        }
        if !(1..=vpcs).contains(&accounts) {
            return Err(format!("`accounts` must be 1 to the number of VPCs ({vpcs}), not {accounts}: each account holds a VPC at least"));
        }
        let fewest = vpcs * FLEET.len() as u32;
        if instances < fewest {
            return Err(format!(
                "`instances` must be at least {fewest} for {vpcs} VPCs (one host of each of the {} roles in every VPC), not {instances}",
                FLEET.len()
            ));
        }
        if instances > MAX_INSTANCES {
            return Err(format!("`instances` must be at most {MAX_INSTANCES}, not {instances}"));
        }
        let busiest = instances.div_ceil(vpcs);
        if busiest > MAX_INSTANCES_PER_VPC {
            return Err(format!(
                "{instances} instances over {vpcs} VPCs put {busiest} in one VPC, more than its subnets hold ({MAX_INSTANCES_PER_VPC}): \
                 add VPCs (at least {}) or lower `instances`",
                instances.div_ceil(MAX_INSTANCES_PER_VPC)
            ));
        }
        Ok(())
    }

    /// Where VPC `vpc` of this size is, what it is called and how many hosts it has.
    pub(super) fn vpc_plan(&self, vpc: usize) -> VpcPlan {
        let vpcs = self.vpcs as usize;
        let region = REGIONS[vpc % REGIONS.len()];
        let name = match TODAYS_VPCS.get(vpc) {
            Some((name, _)) => (*name).to_owned(),
            None if vpc < REGIONS.len() => format!("prod-{}", region.code),
            None => format!("prod-{}-{}", region.code, vpc / REGIONS.len() + 1),
        };
        let instances = self.instances as usize;
        VpcPlan {
            // Contiguous, even blocks: today's VPCs 0 and 1 in the first account, 2 in the second.
            account: vpc * self.accounts as usize / vpcs,
            region,
            name,
            weight: self.vpc_weights()[vpc],
            hosts: instances / vpcs + usize::from(vpc < instances % vpcs),
            second_octet: second_octet(vpc),
        }
    }

    /// Each VPC's share of the traffic, summing to 1: today's 0.5, 0.35, 0.15 for the first three,
    /// [`FURTHER_VPC_SHARE`] for each further one, scaled.
    fn vpc_weights(&self) -> Vec<f64> {
        let raw: Vec<f64> =
            (0..self.vpcs as usize).map(|vpc| TODAYS_VPCS.get(vpc).map_or(FURTHER_VPC_SHARE, |(_, share)| *share)).collect();
        let total: f64 = raw.iter().sum();
        // Today's shares already sum to exactly 1.0 and stay bit for bit as they are.
        if total == 1.0 { raw } else { raw.iter().map(|share| share / total).collect() }
    }
}

/// One VPC of a [`TopologySize`].
#[derive(Debug)]
pub(super) struct VpcPlan {
    /// Index of its account.
    pub account: usize,
    pub region: Region,
    pub name: String,
    pub weight: f64,
    pub hosts: usize,
    /// S of its `10.S.0.0/16`.
    pub second_octet: u8,
}

/// The second octet of VPC `vpc`'s `/16` (see the module doc); distinct for the first 240 VPCs.
fn second_octet(vpc: usize) -> u8 {
    debug_assert!(vpc < 240);
    (16 * (vpc % 15 + 1) + vpc / 15) as u8
}

/// The network address of subnet `offset` (0–5) of the VPC with this second octet, a `/20`.
pub(super) fn subnet_network(second_octet: u8, offset: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, second_octet, (offset * 16) as u8, 0)
}

/// The `number`th host (from 1) of a subnet.
pub(super) fn host_address(subnet: Ipv4Addr, number: u32) -> Ipv4Addr {
    debug_assert!((1..=SUBNET_HOSTS).contains(&number));
    Ipv4Addr::from(u32::from(subnet) + 10 + number)
}

/// Hosts of each [`FLEET`] role in a VPC of `hosts` hosts: the [`FLEET`] counts scaled (largest
/// remainders get the hosts rounding leaves over), each role at least one. `hosts` is at least the
/// number of roles; a VPC of 39 hosts gets exactly [`FLEET`].
pub(super) fn role_counts(hosts: usize) -> [usize; FLEET.len()] {
    debug_assert!(hosts >= FLEET.len());
    let mut counts = FLEET.map(|(_, count)| (hosts * count / FLEET_HOSTS).max(1));
    let mut remainders = FLEET.map(|(_, count)| hosts * count % FLEET_HOSTS);
    let mut assigned: usize = counts.iter().sum();
    while assigned < hosts {
        let role = (0..FLEET.len()).max_by_key(|role| (remainders[*role], std::cmp::Reverse(*role))).unwrap_or(0);
        counts[role] += 1;
        remainders[role] = 0;
        assigned += 1;
    }
    // Raising the rarest roles to one host may have given out too many: the largest give them back.
    while assigned > hosts {
        let role = (0..FLEET.len()).max_by_key(|role| (counts[*role], std::cmp::Reverse(*role))).unwrap_or(0);
        counts[role] -= 1;
        assigned -= 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todays_size_is_todays_fleet_and_vpcs() {
        assert_eq!(FLEET.iter().map(|(_, count)| count).sum::<usize>(), FLEET_HOSTS);
        assert_eq!(role_counts(FLEET_HOSTS), FLEET.map(|(_, count)| count));
        let size = TopologySize::default();
        assert_eq!(size.check(), Ok(()));
        let plans: Vec<VpcPlan> = (0..3).map(|vpc| size.vpc_plan(vpc)).collect();
        let summary: Vec<(usize, &str, &str, f64, usize, u8)> = plans
            .iter()
            .map(|plan| (plan.account, plan.region.name, plan.name.as_str(), plan.weight, plan.hosts, plan.second_octet))
            .collect();
        assert_eq!(
            summary,
            [
                (0, "us-east-1", "prod-use1", 0.5, 39, 16),
                (0, "eu-west-1", "prod-euw1", 0.35, 39, 32),
                (1, "us-west-2", "staging-usw2", 0.15, 39, 48)
            ]
        );
    }

    #[test]
    fn role_counts_keep_the_fleet_proportions_with_every_role_present() {
        for hosts in [9, 10, 17, 38, 40, 100, 1_563, MAX_INSTANCES_PER_VPC as usize] {
            let counts = role_counts(hosts);
            assert_eq!(counts.iter().sum::<usize>(), hosts, "{hosts}: {counts:?}");
            assert!(counts.iter().all(|count| *count >= 1), "{hosts}: {counts:?}");
            if hosts >= 100 {
                for ((_, fleet), count) in FLEET.iter().zip(counts) {
                    let expected = hosts as f64 * *fleet as f64 / FLEET_HOSTS as f64;
                    assert!((count as f64 - expected).abs() <= 1.0, "{hosts}: {count} for {expected}");
                }
            }
        }
    }

    #[test]
    fn vpcs_get_distinct_networks_regions_cycle_and_weights_sum_to_one() {
        let size = TopologySize { accounts: 5, vpcs: MAX_VPCS, instances: MAX_INSTANCES };
        let plans: Vec<VpcPlan> = (0..MAX_VPCS as usize).map(|vpc| size.vpc_plan(vpc)).collect();
        let mut octets: Vec<u8> = plans.iter().map(|plan| plan.second_octet).collect();
        octets.sort_unstable();
        octets.dedup();
        assert_eq!(octets.len(), plans.len());
        let mut names: Vec<&str> = plans.iter().map(|plan| plan.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), plans.len(), "VPC names repeat");
        assert_eq!(plans[3].region.name, "eu-central-1");
        assert_eq!(plans[4].region.name, "ap-southeast-1");
        assert_eq!(plans[13].region, plans[0].region);
        let total: f64 = plans.iter().map(|plan| plan.weight).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(plans.iter().all(|plan| plan.weight > 0.0));
        let mut accounts: Vec<usize> = plans.iter().map(|plan| plan.account).collect();
        accounts.dedup();
        assert_eq!(accounts, [0, 1, 2, 3, 4], "every account gets a contiguous block of VPCs");
        assert_eq!(plans.iter().map(|plan| plan.hosts).sum::<usize>(), MAX_INSTANCES as usize);
        assert!(plans.iter().all(|plan| plan.hosts.abs_diff(plans[0].hosts) <= 1));
    }

    #[test]
    fn the_busiest_subnet_of_the_largest_vpc_fits() {
        let counts = role_counts(MAX_INSTANCES_PER_VPC as usize);
        let mut per_subnet = [0usize; SUBNETS_PER_VPC];
        for ((role, _), count) in FLEET.iter().zip(counts) {
            for replica in 0..count {
                per_subnet[super::super::subnet_offset(*role, replica)] += 1;
            }
        }
        assert!(per_subnet.iter().all(|hosts| *hosts <= SUBNET_HOSTS as usize), "{per_subnet:?}");
        assert_eq!(host_address(subnet_network(16, 5), SUBNET_HOSTS), Ipv4Addr::new(10, 16, 95, 254));
    }

    #[test]
    fn sizes_the_plan_cannot_hold_are_refused_with_what_to_change() {
        let refused = [
            (TopologySize { accounts: 1, vpcs: 0, instances: 100 }, "`vpcs` must be 1 to 64"),
            (TopologySize { accounts: 1, vpcs: 65, instances: 1_000 }, "`vpcs` must be 1 to 64"),
            (TopologySize { accounts: 0, vpcs: 3, instances: 117 }, "`accounts` must be 1 to the number of VPCs (3)"),
            (TopologySize { accounts: 4, vpcs: 3, instances: 117 }, "`accounts` must be 1 to"),
            (TopologySize { accounts: 1, vpcs: 3, instances: 26 }, "at least 27 for 3 VPCs"),
            (TopologySize { accounts: 1, vpcs: 64, instances: 100_001 }, "at most 100000"),
            (TopologySize { accounts: 1, vpcs: 2, instances: 30_000 }, "add VPCs (at least 3)"),
        ];
        for (size, message) in refused {
            let error = size.check().expect_err(&format!("{size:?} passed"));
            assert!(error.contains(message), "{size:?}: {error}");
        }
        for size in [
            TopologySize { accounts: 1, vpcs: 1, instances: 9 },
            TopologySize { accounts: 1, vpcs: 1, instances: MAX_INSTANCES_PER_VPC },
            TopologySize { accounts: 64, vpcs: 64, instances: MAX_INSTANCES },
        ] {
            assert_eq!(size.check(), Ok(()), "{size:?}");
        }
    }
}
