//! Address management: a pool's pod CIDR split into one /24 per node, and per-node
//! allocation of pod addresses from `.2` to `.254` (`.1` is the node's own address).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use parking_lot::Mutex;

/// A pool CIDR that cannot be split into per-node /24s.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    /// Not `a.b.c.d/len` with an IPv4 address.
    #[error("invalid IPv4 CIDR {0:?}")]
    Invalid(String),
    /// The prefix is longer than /24, so it holds no whole /24.
    #[error("pod CIDR {0} is smaller than a /24")]
    TooSmall(String),
    /// The pool has more nodes than /24s in its CIDR.
    #[error("pod CIDR {cidr} holds only {max} node subnets; node index {index} does not fit")]
    Exhausted {
        /// The pool's CIDR.
        cidr: String,
        /// How many /24s it holds.
        max: u64,
        /// The index that did not fit.
        index: u32,
    },
}

/// One node's share of its pool's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeSubnet {
    /// The /24's network address.
    pub network: Ipv4Addr,
}

impl NodeSubnet {
    /// The subnet as `a.b.c.0/24`.
    pub fn cidr(&self) -> String {
        format!("{}/24", self.network)
    }

    /// The node's InternalIP (and the `hostIP` of its pods): the `.1` address.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.nth(1)
    }

    /// The address `offset` into the subnet.
    pub fn nth(&self, offset: u8) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + u32::from(offset))
    }
}

/// The `index`-th /24 of `cidr` (e.g. `10.244.0.0/16`, 3 → `10.244.3.0/24`).
pub fn node_subnet(cidr: &str, index: u32) -> Result<NodeSubnet, CidrError> {
    let invalid = || CidrError::Invalid(cidr.to_string());
    let (addr, len) = cidr.split_once('/').ok_or_else(invalid)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| invalid())?;
    let len: u32 = len.parse().map_err(|_| invalid())?;
    if len > 32 {
        return Err(invalid());
    }
    if len > 24 {
        return Err(CidrError::TooSmall(cidr.to_string()));
    }
    let max = 1u64 << (24 - len);
    if u64::from(index) >= max {
        return Err(CidrError::Exhausted {
            cidr: cidr.to_string(),
            max,
            index,
        });
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let base = u32::from(addr) & mask;
    Ok(NodeSubnet {
        network: Ipv4Addr::from(base + (index << 8)),
    })
}

/// Pod address allocation for all nodes: which offsets of each node's /24 are taken
/// and by which pod (keyed by pod UID), so a restart can re-reserve addresses it sees.
#[derive(Debug, Default)]
pub struct PodIpAllocator {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    used: HashMap<String, BTreeSet<u8>>,
    by_pod: HashMap<String, (String, u8)>,
}

/// The first and last offsets handed to pods.
const FIRST: u8 = 2;
const LAST: u8 = 254;

impl PodIpAllocator {
    /// The offset held by pod `uid` on `node`, allocating the lowest free one if it
    /// holds none; `None` when the node's /24 is full.
    pub fn allocate(&self, node: &str, uid: &str) -> Option<u8> {
        let mut inner = self.inner.lock();
        if let Some((n, offset)) = inner.by_pod.get(uid)
            && n == node
        {
            return Some(*offset);
        }
        let used = inner.used.entry(node.to_string()).or_default();
        let offset = (FIRST..=LAST).find(|o| !used.contains(o))?;
        used.insert(offset);
        inner
            .by_pod
            .insert(uid.to_string(), (node.to_string(), offset));
        Some(offset)
    }

    /// Records that pod `uid` already holds `offset` on `node` (seen after a restart).
    pub fn reserve(&self, node: &str, uid: &str, offset: u8) {
        let mut inner = self.inner.lock();
        inner
            .used
            .entry(node.to_string())
            .or_default()
            .insert(offset);
        inner
            .by_pod
            .insert(uid.to_string(), (node.to_string(), offset));
    }

    /// Frees the address of pod `uid`, if it holds one.
    pub fn release(&self, uid: &str) {
        let mut inner = self.inner.lock();
        if let Some((node, offset)) = inner.by_pod.remove(uid)
            && let Some(used) = inner.used.get_mut(&node)
        {
            used.remove(&offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_subnets_are_consecutive_slash_24s() {
        let s = node_subnet("10.244.0.0/16", 3).unwrap();
        assert_eq!(s.cidr(), "10.244.3.0/24");
        assert_eq!(s.host_ip(), Ipv4Addr::new(10, 244, 3, 1));
        assert_eq!(
            node_subnet("10.0.0.0/8", 300).unwrap().cidr(),
            "10.1.44.0/24"
        );
        assert_eq!(
            node_subnet("10.244.0.0/16", 256),
            Err(CidrError::Exhausted {
                cidr: "10.244.0.0/16".into(),
                max: 256,
                index: 256
            })
        );
        assert!(matches!(
            node_subnet("10.0.0.0/25", 0),
            Err(CidrError::TooSmall(_))
        ));
        assert!(matches!(node_subnet("nope", 0), Err(CidrError::Invalid(_))));
    }

    #[test]
    fn allocation_is_lowest_free_stable_per_pod_and_reusable() {
        let a = PodIpAllocator::default();
        assert_eq!(a.allocate("n", "p1"), Some(2));
        assert_eq!(a.allocate("n", "p2"), Some(3));
        assert_eq!(a.allocate("n", "p1"), Some(2), "same pod, same address");
        a.release("p1");
        a.reserve("n", "p9", 4);
        assert_eq!(a.allocate("n", "p3"), Some(2));
        assert_eq!(a.allocate("n", "p4"), Some(5));
        assert_eq!(a.allocate("other", "p5"), Some(2));
        for i in 0..253 {
            a.allocate("full", &format!("f{i}"));
        }
        assert_eq!(a.allocate("full", "one-too-many"), None);
    }
}
