//! Service address allocation: cluster IPs from `10.96.0.0/12` (`10.96.0.1` is the
//! `kubernetes` Service's) and node ports from 30000–32767, as the real API server's
//! allocators hand them out, released when a Service goes.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use parking_lot::Mutex;
use rand::Rng;

/// First address of the service range.
const BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
/// Addresses in a /12.
const SIZE: u32 = 1 << 20;
/// The node-port range.
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The address or port is taken.
    #[error("provided {0} is already allocated")]
    Taken(&'static str),
    /// It lies outside the range.
    #[error("provided {0} is not in the valid range")]
    OutOfRange(&'static str),
    /// Nothing is free.
    #[error("range is full")]
    Full,
}

#[derive(Debug, Default)]
struct Used {
    ips: HashSet<u32>,
    ports: HashSet<u16>,
}

/// Cluster-IP and node-port allocators.
#[derive(Debug, Default)]
pub struct Allocators {
    used: Mutex<Used>,
}

impl Allocators {
    /// Empty allocators.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves `ip` when given (it must be in range and free), else a random free one.
    pub fn allocate_ip(&self, ip: Option<Ipv4Addr>) -> Result<Ipv4Addr, AllocError> {
        let mut used = self.used.lock();
        if let Some(ip) = ip {
            let n = u32::from(ip);
            if !(BASE + 1..BASE + SIZE - 1).contains(&n) {
                return Err(AllocError::OutOfRange("IP"));
            }
            if !used.ips.insert(n) {
                return Err(AllocError::Taken("IP"));
            }
            return Ok(ip);
        }
        if used.ips.len() as u32 >= SIZE - 3 {
            return Err(AllocError::Full);
        }
        let mut rng = rand::rng();
        loop {
            // Upstream prefers the upper part of the range for dynamic allocation,
            // leaving the low addresses for static assignment.
            let n = BASE + rng.random_range(16..SIZE - 1);
            if used.ips.insert(n) {
                return Ok(Ipv4Addr::from(n));
            }
        }
    }

    /// Releases an IP.
    pub fn release_ip(&self, ip: Ipv4Addr) {
        self.used.lock().ips.remove(&u32::from(ip));
    }

    /// Reserves `port` when given, else a random free node port.
    pub fn allocate_port(&self, port: Option<u16>) -> Result<u16, AllocError> {
        let mut used = self.used.lock();
        if let Some(p) = port {
            if !NODE_PORTS.contains(&p) {
                return Err(AllocError::OutOfRange("port"));
            }
            if !used.ports.insert(p) {
                return Err(AllocError::Taken("port"));
            }
            return Ok(p);
        }
        let total = (*NODE_PORTS.end() - *NODE_PORTS.start()) as usize + 1;
        if used.ports.len() >= total {
            return Err(AllocError::Full);
        }
        let mut rng = rand::rng();
        loop {
            let p = rng.random_range(NODE_PORTS);
            if used.ports.insert(p) {
                return Ok(p);
            }
        }
    }

    /// Releases a node port.
    pub fn release_port(&self, port: u16) {
        self.used.lock().ports.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_unique_and_in_range() {
        let a = Allocators::new();
        let fixed = a.allocate_ip(Some(Ipv4Addr::new(10, 96, 0, 1))).unwrap();
        assert_eq!(fixed, Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(
            a.allocate_ip(Some(Ipv4Addr::new(10, 96, 0, 1))),
            Err(AllocError::Taken("IP"))
        );
        assert_eq!(
            a.allocate_ip(Some(Ipv4Addr::new(192, 168, 0, 1))),
            Err(AllocError::OutOfRange("IP"))
        );
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let ip = a.allocate_ip(None).unwrap();
            let o = ip.octets();
            assert_eq!(o[0], 10);
            assert!((96..112).contains(&o[1]));
            assert!(seen.insert(ip));
        }
        a.release_ip(fixed);
        assert!(a.allocate_ip(Some(fixed)).is_ok());
    }

    #[test]
    fn node_ports_exhaust_and_release() {
        let a = Allocators::new();
        let total = (*NODE_PORTS.end() - *NODE_PORTS.start()) as usize + 1;
        for _ in 0..total {
            a.allocate_port(None).unwrap();
        }
        assert_eq!(a.allocate_port(None), Err(AllocError::Full));
        a.release_port(30100);
        assert_eq!(a.allocate_port(None), Ok(30100));
        assert_eq!(
            a.allocate_port(Some(80)),
            Err(AllocError::OutOfRange("port"))
        );
    }
}
