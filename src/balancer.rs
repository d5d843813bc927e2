//! Choosing the loop that serves a new connection.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::handle::LoopShared;

/// The connection counts of the loops, as a balancer sees them.
#[derive(Debug, Clone, Copy)]
pub struct LoopLoads<'a> {
    loops: &'a [LoopShared],
}

impl<'a> LoopLoads<'a> {
    pub(crate) fn new(loops: &'a [LoopShared]) -> Self {
        LoopLoads { loops }
    }

    /// How many loops there are (at least one).
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    /// Always false: an engine has at least one loop.
    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// Connections loop `i` owns or is about to own.
    pub fn connections(&self, i: usize) -> usize {
        self.loops[i].connections()
    }
}

/// Picks a loop for each accepted connection. Runs on the acceptor thread
/// (`nr-accept`). A panic in `pick` is caught: that connection goes to the
/// next loop in turn and the acceptor goes on.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use netreactor::{LoadBalancer, LoopLoads};
///
/// /// Everything on loop 0.
/// struct First;
///
/// impl LoadBalancer for First {
///     fn pick(&self, _peer: Option<SocketAddr>, _loads: LoopLoads<'_>) -> usize {
///         0
///     }
/// }
/// ```
pub trait LoadBalancer: Send + Sync + 'static {
    /// The index of the loop, in `0..loads.len()` (taken modulo the count).
    fn pick(&self, peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize;
}

/// The built-in strategies, or your own.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum LoadBalancing {
    /// Each loop in turn (the default).
    #[default]
    RoundRobin,
    /// The loop with the fewest connections.
    LeastConnections,
    /// A hash of the peer's IP address (not its port), so all connections
    /// from one host share a loop.
    SourceAddrHash,
    /// A balancer of your own.
    Custom(Arc<dyn LoadBalancer>),
}

impl fmt::Debug for LoadBalancing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadBalancing::RoundRobin => f.write_str("RoundRobin"),
            LoadBalancing::LeastConnections => f.write_str("LeastConnections"),
            LoadBalancing::SourceAddrHash => f.write_str("SourceAddrHash"),
            LoadBalancing::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl LoadBalancing {
    pub(crate) fn into_balancer(self) -> Arc<dyn LoadBalancer> {
        match self {
            LoadBalancing::RoundRobin => Arc::new(RoundRobin::default()),
            LoadBalancing::LeastConnections => Arc::new(LeastConnections),
            LoadBalancing::SourceAddrHash => Arc::new(SourceAddrHash),
            LoadBalancing::Custom(b) => b,
        }
    }
}

/// Each loop in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl LoadBalancer for RoundRobin {
    fn pick(&self, _peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % loads.len()
    }
}

/// The loop with the fewest connections; ties go to the lowest index.
#[derive(Debug, Default)]
pub struct LeastConnections;

impl LoadBalancer for LeastConnections {
    fn pick(&self, _peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        (0..loads.len()).min_by_key(|&i| loads.connections(i)).unwrap_or(0)
    }
}

/// FNV-1a of the peer's IP address (IPv4-mapped IPv6 counts as IPv4).
#[derive(Debug, Default)]
pub struct SourceAddrHash;

impl LoadBalancer for SourceAddrHash {
    fn pick(&self, peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        peer.map_or(0, |p| (ip_hash(p.ip()) % loads.len() as u64) as usize)
    }
}

fn ip_hash(ip: IpAddr) -> u64 {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let fnv1a = |bytes: &[u8]| {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    match ip {
        IpAddr::V4(v4) => fnv1a(&v4.octets()),
        IpAddr::V6(v6) => fnv1a(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_hash_ignores_the_port_and_maps_v4_in_v6() {
        let a: SocketAddr = "10.1.2.3:1000".parse().unwrap();
        let b: SocketAddr = "10.1.2.3:2000".parse().unwrap();
        let c: SocketAddr = "[::ffff:10.1.2.3]:3000".parse().unwrap();
        let d: SocketAddr = "10.1.2.4:1000".parse().unwrap();
        assert_eq!(ip_hash(a.ip()), ip_hash(b.ip()));
        assert_eq!(ip_hash(a.ip()), ip_hash(c.ip()));
        assert_ne!(ip_hash(a.ip()), ip_hash(d.ip()));
    }
}
