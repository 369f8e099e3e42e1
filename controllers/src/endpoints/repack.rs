//! Upstream `endpoints.RepackSubsets` (`pkg/api/v1/endpoints`): subsets built one
//! address and one port at a time are regrouped so that each subset holds every
//! address offering exactly the same ports — addresses of pods whose named
//! `targetPort` resolves to different numbers land in different subsets — with an
//! address not ready on any port counted not ready on it.
//!
//! Upstream orders ports and subsets by a hash of their Go representation; this one
//! orders them by their fields, which is as deterministic (the order is what makes
//! "nothing changed" comparable) but not the same order.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset};

/// An address's identity (upstream `addressKey`): its IP and the uid of the pod it
/// points to, so equal IPs from different pods stay apart.
type AddressKey = (String, String);

/// A port as a map key: name, number, protocol, appProtocol. Number `-1` is the
/// sentinel of addresses without ports (headless Services without ports).
type PortKey = (String, i32, String, String);

/// Which addresses offer a port, and whether each is ready on it.
type AddressReadiness = BTreeMap<AddressKey, bool>;

fn address_key(a: &EndpointAddress) -> AddressKey {
    let uid = a.target_ref.as_ref().and_then(|r| r.uid.clone());
    (a.ip.clone(), uid.unwrap_or_default())
}

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
        p.app_protocol.clone().unwrap_or_default(),
    )
}

fn port_of(key: &PortKey) -> EndpointPort {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    EndpointPort {
        name: opt(&key.0),
        port: key.1,
        protocol: opt(&key.2),
        app_protocol: opt(&key.3),
    }
}

/// Regroups `subsets` as upstream's `RepackSubsets`: one subset per distinct set of
/// (address, readiness) pairs, holding every port that set offers; addresses
/// (by IP, then pod uid) and subsets sorted. An address keeps the first full copy
/// seen (its targetRef, hostname, nodeName).
pub fn repack_subsets(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut all: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    let mut by_port: BTreeMap<PortKey, AddressReadiness> = BTreeMap::new();
    let sentinel: PortKey = (String::new(), -1, String::new(), String::new());
    for subset in subsets {
        let ports: Vec<PortKey> = match subset.ports.as_deref() {
            Some(ports) if !ports.is_empty() => ports.iter().map(port_key).collect(),
            _ => vec![sentinel.clone()],
        };
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        for (address, is_ready) in ready.chain(not_ready) {
            let key = address_key(address);
            all.entry(key.clone()).or_insert_with(|| address.clone());
            for port in &ports {
                // Not ready on a port trumps ready on it.
                let seen = by_port.entry(port.clone()).or_default();
                let entry = seen.entry(key.clone()).or_insert(is_ready);
                *entry = *entry && is_ready;
            }
        }
    }
    let mut by_addresses: BTreeMap<AddressReadiness, BTreeSet<PortKey>> = BTreeMap::new();
    for (port, addresses) in by_port {
        let ports = by_addresses.entry(addresses).or_default();
        if port.1 > 0 {
            ports.insert(port);
        }
    }
    by_addresses
        .into_iter()
        .map(|(addresses, ports)| {
            let pick = |want: bool| -> Option<Vec<EndpointAddress>> {
                let list: Vec<EndpointAddress> = addresses
                    .iter()
                    .filter(|(_, ready)| **ready == want)
                    .filter_map(|(k, _)| all.get(k).cloned())
                    .collect();
                (!list.is_empty()).then_some(list)
            };
            let ports: Vec<EndpointPort> = ports.iter().map(port_of).collect();
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn addr(ip: &str, uid: &str) -> EndpointAddress {
        EndpointAddress {
            ip: ip.into(),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                uid: Some(uid.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn port(name: &str, n: i32) -> EndpointPort {
        EndpointPort {
            name: Some(name.into()),
            port: n,
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    fn one(ready: bool, a: EndpointAddress, ports: &[EndpointPort]) -> EndpointSubset {
        EndpointSubset {
            addresses: ready.then(|| vec![a.clone()]),
            not_ready_addresses: (!ready).then(|| vec![a]),
            ports: (!ports.is_empty()).then(|| ports.to_vec()),
        }
    }

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn addresses_with_the_same_ports_share_one_subset() {
        let input = [
            one(true, addr("10.0.0.2", "b"), &[port("http", 8080)]),
            one(true, addr("10.0.0.1", "a"), &[port("http", 8080)]),
            one(false, addr("10.0.0.3", "c"), &[port("http", 8080)]),
        ];
        let out = repack_subsets(&input);
        assert_eq!(out.len(), 1);
        assert_eq!(ips(&out[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&out[0].not_ready_addresses), ["10.0.0.3"]);
        assert_eq!(out[0].ports, Some(vec![port("http", 8080)]));
    }

    #[test]
    fn different_resolved_ports_give_different_subsets() {
        let input = [
            one(true, addr("10.0.0.1", "a"), &[port("http", 8080)]),
            one(true, addr("10.0.0.2", "b"), &[port("http", 9090)]),
            one(true, addr("10.0.0.3", "c"), &[port("http", 9090)]),
        ];
        let out = repack_subsets(&input);
        assert_eq!(out.len(), 2);
        let by_port: BTreeMap<i32, Vec<&str>> = out
            .iter()
            .map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses)))
            .collect();
        assert_eq!(by_port[&8080], ["10.0.0.1"]);
        assert_eq!(by_port[&9090], ["10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn an_address_on_several_ports_gets_them_all_in_one_subset() {
        let input = [
            one(true, addr("10.0.0.1", "a"), &[port("http", 80)]),
            one(true, addr("10.0.0.1", "a"), &[port("metrics", 9090)]),
        ];
        let out = repack_subsets(&input);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].ports,
            Some(vec![port("http", 80), port("metrics", 9090)])
        );
    }

    #[test]
    fn not_ready_on_one_port_is_not_ready_on_it_only() {
        let input = [
            one(true, addr("10.0.0.1", "a"), &[port("http", 80)]),
            one(false, addr("10.0.0.1", "a"), &[port("http", 80)]),
        ];
        let out = repack_subsets(&input);
        assert_eq!(out.len(), 1);
        assert!(out[0].addresses.is_none());
        assert_eq!(ips(&out[0].not_ready_addresses), ["10.0.0.1"]);
    }

    #[test]
    fn addresses_without_ports_are_kept_in_a_portless_subset() {
        let input = [
            one(true, addr("10.0.0.1", "a"), &[]),
            one(true, addr("10.0.0.2", "b"), &[]),
        ];
        let out = repack_subsets(&input);
        assert_eq!(out.len(), 1);
        assert_eq!(ips(&out[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert!(out[0].ports.is_none());
    }

    #[test]
    fn equal_ips_of_different_pods_stay_apart() {
        let input = [
            one(true, addr("10.0.0.1", "a"), &[port("http", 80)]),
            one(true, addr("10.0.0.1", "b"), &[port("http", 80)]),
        ];
        let out = repack_subsets(&input);
        assert_eq!(ips(&out[0].addresses), ["10.0.0.1", "10.0.0.1"]);
    }

    #[test]
    fn repacking_is_idempotent() {
        let input = [
            one(true, addr("10.0.0.1", "a"), &[port("http", 8080)]),
            one(false, addr("10.0.0.2", "b"), &[port("http", 9090)]),
            one(true, addr("10.0.0.3", "c"), &[port("http", 8080)]),
        ];
        let once = repack_subsets(&input);
        assert_eq!(repack_subsets(&once), once);
    }
}
