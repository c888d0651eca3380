//! An episode's `target`: `any`, a service of the topology's catalog, a host or a subnet inside
//! the topology's 10.0.0.0/8, parsed into a [`Target`].

use std::net::Ipv4Addr;

use crate::network::target::Target;
use crate::network::topology::service_names;

use super::error::{Errors, suggestion};
use super::read;
use super::yaml::{Node, Value};

const TARGET_FIX: &str = "write `target: any`, `target: {service: ssh}`, `target: {host: 10.16.0.11}` or `target: {subnet: 10.16.16.0/20}`";

/// `any`, `{service: NAME}`, `{host: ADDRESS}` or `{subnet: CIDR}`; addresses inside the topology's 10.0.0.0/8.
pub(super) fn target(errors: &mut Errors, node: &Node) -> Option<Target> {
    if let Value::Scalar { text, .. } = &node.value {
        if text.trim() == "any" {
            return Some(Target::Any);
        }
        errors.node(node, format!("`target` is `{text}`"), TARGET_FIX);
        return None;
    }
    let fields = read::fields(errors, node, "target", &["service", "host", "subnet"], TARGET_FIX)?;
    let given: Vec<_> = fields.entries().collect();
    let [(what, _, value)] = given.as_slice() else {
        errors.at(fields.position, format!("`target` names {} things", given.len()), format!("name one: {TARGET_FIX}"));
        return None;
    };
    let text = read::scalar(errors, value, what, "a name or an address", "ssh")?.trim();
    match *what {
        "service" => {
            if service_names().any(|name| name == text) {
                return Some(Target::Service(text.to_owned()));
            }
            errors.node(value, format!("unknown service `{text}`"), suggestion(text, service_names().collect::<Vec<_>>(), "service"));
        }
        "host" => match text.parse::<Ipv4Addr>() {
            Ok(address) if address.octets()[0] == 10 => return Some(Target::Host(address)),
            Ok(address) => errors.node(
                value,
                format!("host {address} is outside the topology's addresses, 10.0.0.0/8"),
                "write a host address of the topology, e.g. `host: 10.16.0.11`",
            ),
            Err(_) => errors.node(
                value,
                format!("`{text}` is not an IPv4 address"),
                "write four numbers 0-255 separated by dots, e.g. `host: 10.16.0.11`",
            ),
        },
        _ => return subnet(errors, value, text),
    }
    None
}

fn subnet(errors: &mut Errors, node: &Node, text: &str) -> Option<Target> {
    let parsed = text.split_once('/').and_then(|(address, prefix)| Some((address.parse::<Ipv4Addr>().ok()?, prefix.parse::<u8>().ok()?)));
    let Some((network, prefix)) = parsed.filter(|(_, prefix)| *prefix <= 32) else {
        errors.node(
            node,
            format!("`{text}` is not a subnet in CIDR notation"),
            "write an address, `/` and a prefix length 0-32, e.g. `subnet: 10.16.16.0/20`",
        );
        return None;
    };
    if network.octets()[0] != 10 || prefix < 8 {
        errors.node(
            node,
            format!("subnet {text} is not inside the topology's addresses, 10.0.0.0/8"),
            "write a subnet of 10.0.0.0/8 with a prefix of 8 or more, e.g. `subnet: 10.16.16.0/20`",
        );
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let base = Ipv4Addr::from(u32::from(network) & mask);
    if base != network {
        errors.node(node, format!("`{text}` has host bits set"), format!("did you mean `{base}/{prefix}`?"));
        return None;
    }
    Some(Target::Subnet { network, prefix })
}
